"""Run a coroutine to completion from synchronous code, with or without a running loop.

A synchronous hook call whose implementations include ``async def`` ones still has to
return their results. Without an event loop in the calling thread, the coroutine runs
in a fresh loop right there (:func:`asyncio.run`). With a loop already running in the
thread, that loop cannot be re-entered nor blocked on its own work, so the coroutine runs
in a fresh loop on a helper thread while the caller waits. The caller's context
variables are carried over in both cases.

The second case blocks the caller's loop for the duration of the call: async code
should ``await relay.acall(...)`` instead, which runs the implementations on its own
loop. An async implementation that waits for something only the caller's loop can
deliver would wait forever in that case; that is why the async path exists.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_coroutine_sync"]

_T = TypeVar("_T")


def run_coroutine_sync(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` to completion and return its result (or raise its exception).

    Args:
        coro: A coroutine that has not started.

    Returns:
        The coroutine's result.
    """
    # Imported here: only async implementations need an event loop, and asyncio is the
    # largest import of the hook layer.
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    return _run_on_helper_thread(coro)


def _run_on_helper_thread(coro: Coroutine[Any, Any, _T]) -> _T:
    import asyncio

    context = contextvars.copy_context()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = context.run(asyncio.run, coro)
        except BaseException as exc:  # re-raised in the caller's thread below
            box["error"] = exc

    thread = threading.Thread(target=target, name="symphony-hook-bridge", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        error: BaseException = box["error"]
        raise error
    result: _T = box["result"]
    return result
