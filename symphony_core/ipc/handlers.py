"""Handler tables: the methods one side of a connection serves.

A handler is any callable. JSON-RPC params map onto it the usual way: an array is passed
positionally, a map by keyword, no params as no arguments. A handler may return a value,
an awaitable, or an iterator / async iterator, which is sent as a stream (bytes objects
larger than the chunk size are split). Coroutine functions run as tasks, so they can be
cancelled; plain functions run inline on the event loop, which is the fast path, so they
must not block for long.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from symphony_core.ipc.errors import IpcUsageError
from symphony_core.ipc.protocol import MAX_NAME_LENGTH, Params

__all__ = ["Handler", "HandlerTable", "is_stream_result"]

_METHOD: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*(?:[./:][A-Za-z_][A-Za-z0-9_\-]*)*\Z")
# Values that are certainly plain results: checked by exact type, before anything slower.
_PLAIN: Final[frozenset[type]] = frozenset(
    {type(None), bool, int, float, str, bytes, bytearray, memoryview, list, tuple, dict}
)


def is_stream_result(value: Any) -> bool:
    """Return True if a handler's result should be sent as a stream.

    Iterators, generators and async iterators stream; containers, strings and bytes do
    not (they are iterable but are one value).
    """
    kind = type(value)
    if kind in _PLAIN:
        return False
    return hasattr(kind, "__anext__") or hasattr(kind, "__next__")


@dataclass(frozen=True, slots=True)
class Handler:
    """One registered method.

    Attributes:
        name: The method name callers use.
        fn: The callable.
        is_async: Whether ``fn`` is a coroutine function (run as a cancellable task).
    """

    name: str
    fn: Callable[..., Any]
    is_async: bool = field(default=False)

    def invoke(self, params: Params) -> Any:
        """Call the handler with JSON-RPC ``params`` (positional, named or none)."""
        if params is None:
            return self.fn()
        if isinstance(params, list):
            return self.fn(*params)
        return self.fn(**params)

    def params_fit(self, params: Params) -> bool:
        """Return whether ``params`` bind to the handler's signature.

        Used after a ``TypeError`` to tell bad params from a bug inside the handler;
        a callable without an inspectable signature is given the benefit of the doubt.
        """
        try:
            signature = inspect.signature(self.fn)
        except (TypeError, ValueError):
            return True
        try:
            if params is None:
                signature.bind()
            elif isinstance(params, list):
                signature.bind(*params)
            else:
                signature.bind(**params)
        except TypeError:
            return False
        return True


class HandlerTable(Mapping[str, Handler]):
    """An immutable mapping of method names to handlers.

    Args:
        handlers: Method name -> callable. Names are dotted or slashed words
            (``echo``, ``textops.tokenize``); the ``rpc.`` prefix is reserved by
            JSON-RPC.

    Raises:
        IpcUsageError: A name is invalid or reserved, or a value is not callable.
    """

    __slots__ = ("_handlers",)

    def __init__(self, handlers: Mapping[str, Callable[..., Any]] | None = None) -> None:
        table: dict[str, Handler] = {}
        for name, fn in (handlers or {}).items():
            if not isinstance(name, str) or len(name) > MAX_NAME_LENGTH or not _METHOD.match(name):
                raise IpcUsageError(
                    f"invalid method name {name!r}",
                    hint="use words of letters, digits, '_' or '-' joined by '.', '/' or ':'",
                )
            if name.startswith("rpc."):
                raise IpcUsageError(f"method name {name!r} uses the reserved 'rpc.' prefix")
            if not callable(fn):
                raise IpcUsageError(f"handler for {name!r} is not callable: {fn!r}")
            table[name] = Handler(name, fn, _is_coroutine_function(fn))
        self._handlers = table

    def __getitem__(self, name: str) -> Handler:
        return self._handlers[name]

    def get(self, name: str, default: Any = None) -> Any:
        """Return the handler for ``name``, or ``default``."""
        return self._handlers.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._handlers)

    def __len__(self) -> int:
        return len(self._handlers)


def _is_coroutine_function(fn: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004 - a callable object's method
    return call is not None and inspect.iscoroutinefunction(call)
