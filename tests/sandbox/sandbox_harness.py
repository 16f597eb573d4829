"""Helpers for sandbox tests: run a function in a forked child, try an action for its errno."""

from __future__ import annotations

import os
import select
import signal
import time
from collections.abc import Callable
from typing import Any

import msgspec

from symphony_core.testing.sandbox import (
    Recorder,
    accepted_weakenings,
    cgroup_unavailable,
    own_cgroups,
    sandbox_unavailable,
    zygote_children,
)

# The shared helpers are re-exported for the tests of this directory.
__all__ = [
    "ChildFailed",
    "Recorder",
    "accepted_weakenings",
    "cgroup_unavailable",
    "outcome",
    "own_cgroups",
    "run_in_child",
    "sandbox_unavailable",
    "zygote_children",
]


class ChildFailed(AssertionError):
    """The function raised in the child."""


def outcome(action: Callable[[], object]) -> int | str:
    """Return ``"ok"`` if ``action()`` succeeds, else the errno of its ``OSError``."""
    try:
        action()
    except OSError as exc:
        return exc.errno if exc.errno is not None else -1
    return "ok"


def run_in_child(fn: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Fork, run ``fn`` in the child (its own session), return its msgpack-able result.

    Irreversible restrictions (Landlock, seccomp, namespaces) are applied there, never
    in the test runner.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.close(read_end)
            os.setsid()
            try:
                payload = {"ok": True, "value": fn()}
            except BaseException as exc:
                payload = {"ok": False, "value": f"{type(exc).__name__}: {exc}"}
            data = msgspec.msgpack.encode(payload)
            os.write(write_end, len(data).to_bytes(4, "little") + data)
        finally:
            os._exit(0)
    os.close(write_end)
    data = b""
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("child did not answer")
            ready, _, _ = select.select([read_end], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(read_end, 1 << 16)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(read_end)
        if data == b"":
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    if len(data) < 4:
        raise ChildFailed("child died without an answer")
    result = msgspec.msgpack.decode(data[4:])
    if not result["ok"]:
        raise ChildFailed(result["value"])
    return result["value"]
