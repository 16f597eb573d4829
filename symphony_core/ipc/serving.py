"""The serving side of a connection: dispatch to handlers, cancellation, streaming out.

Plain handlers run inline on the event loop (the fast path) and their answers join the
others of the same read; coroutine handlers, awaitables and iterators run as tasks, which
a Cancel from the peer cancels. Streamed results go out in chunks, never more than the
peer's credit ahead.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterable
from typing import Any, Final

from symphony_core.ipc.endpoint import _CHUNKABLE, _CLOSED, Endpoint
from symphony_core.ipc.errors import (
    FrameTooLargeError,
    HandlerError,
    IpcError,
)
from symphony_core.ipc.handlers import Handler, is_stream_result
from symphony_core.ipc.protocol import (
    Cancel,
    Credit,
    ErrorCode,
    ErrorResponse,
    Heartbeat,
    HeartbeatAck,
    Notification,
    Params,
    Request,
    Response,
    StreamChunk,
    StreamEnd,
)
from symphony_core.ipc.streams import StreamCredit
from symphony_core.log import get_logger

__all__ = ["Serving"]

_log = get_logger("ipc.connection")


class Serving(Endpoint):
    """Serve the peer's requests and notifications from the handler table."""

    def _on_request(self, message: Request) -> None:
        handler: Handler | None = self._handlers.get(message.method)
        rid = message.id
        if handler is None:
            self._send_error(rid, ErrorCode.METHOD_NOT_FOUND, f"no method {message.method!r} here")
            return
        served = self._served
        if rid in served:
            self._send_error(rid, ErrorCode.INVALID_REQUEST, f"request id {rid} is already open")
            return
        if len(served) >= self.limits.max_concurrent:
            self._drop_unsolicited("request over the concurrency limit")
            self._send_error(
                rid,
                ErrorCode.BUSY,
                f"{self.limits.max_concurrent} requests are already being served",
            )
            return
        if handler.is_async:
            served[rid] = self._loop.create_task(self._serve_task(rid, handler, message.params))
            return
        try:
            result = handler.invoke(message.params)
        except Exception as exc:
            self._send_failure(rid, handler, message.params, exc)
            return
        if type(result) in _INLINE or not (inspect.isawaitable(result) or is_stream_result(result)):
            self._send_result(rid, result)
        else:
            served[rid] = self._loop.create_task(self._finish_task(rid, handler, result))

    async def _serve_task(self, rid: int, handler: Handler, params: Params) -> None:
        try:
            result = await handler.invoke(params)
            await self._complete(rid, handler, result)
        except asyncio.CancelledError:
            self._send_error(rid, ErrorCode.REQUEST_CANCELLED, "request cancelled")
        except Exception as exc:
            self._send_failure(rid, handler, params, exc)
        finally:
            self._served.pop(rid, None)

    async def _finish_task(self, rid: int, handler: Handler, result: Any) -> None:
        try:
            if inspect.isawaitable(result):
                result = await result
            await self._complete(rid, handler, result)
        except asyncio.CancelledError:
            self._send_error(rid, ErrorCode.REQUEST_CANCELLED, "request cancelled")
        except Exception as exc:
            self._send_failure(rid, handler, None, exc, params_known=False)
        finally:
            self._served.pop(rid, None)

    async def _complete(self, rid: int, handler: Handler, result: Any) -> None:
        if is_stream_result(result):
            await self._pump(rid, handler, result)
            return
        if self._write_paused:
            await self._writable(may_raise=False)
        self._send_result(rid, result)

    async def _pump(self, rid: int, handler: Handler, source: Any) -> None:
        credit = self._credits[rid] = StreamCredit(self._peer_window)
        seq = 0
        chunk_size = self.limits.stream_chunk_size
        try:
            if hasattr(source, "__anext__"):
                async for item in source:
                    seq = await self._emit(rid, seq, item, credit, chunk_size)
            else:
                for item in source:
                    seq = await self._emit(rid, seq, item, credit, chunk_size)
            self._send_quiet(StreamEnd(rid, seq))
        finally:
            self._credits.pop(rid, None)
            await _aclose_source(source)

    async def _emit(
        self, rid: int, seq: int, item: Any, credit: StreamCredit, chunk_size: int
    ) -> int:
        if isinstance(item, _CHUNKABLE) and len(item) > chunk_size:
            view = memoryview(item).cast("B")
            pieces: Iterable[Any] = (
                view[i : i + chunk_size] for i in range(0, len(view), chunk_size)
            )
        else:
            pieces = (item,)
        for piece in pieces:
            await credit.take()
            if self._write_paused:
                await self._writable(may_raise=False)
            if self._state == _CLOSED:
                raise self._closed_error()
            try:
                self._send(StreamChunk(rid, seq, piece))
            except FrameTooLargeError as exc:
                raise _ResultError(
                    ErrorCode.RESULT_TOO_LARGE,
                    f"stream item {seq} of {exc.size} bytes exceeds the peer's "
                    f"{exc.limit}-byte frame cap; yield smaller items",
                ) from None
            except TypeError as exc:
                raise _ResultError(
                    ErrorCode.RESULT_NOT_SERIALIZABLE,
                    f"stream item {seq} is not msgpack-native: {exc}",
                ) from None
            seq += 1
        return seq

    def _send_result(self, rid: int, result: Any) -> None:
        if self._state == _CLOSED:
            return
        try:
            self._send(Response(rid, result))
        except FrameTooLargeError as exc:
            self._send_error(
                rid,
                ErrorCode.RESULT_TOO_LARGE,
                f"result of {exc.size} bytes exceeds the peer's {exc.limit}-byte frame cap; "
                "return an iterator to stream it",
            )
        except TypeError as exc:
            self._send_error(
                rid, ErrorCode.RESULT_NOT_SERIALIZABLE, f"result is not msgpack-native: {exc}"
            )

    def _send_error(self, rid: int, code: int, message: str, data: Any = None) -> None:
        if self._state == _CLOSED:
            return
        try:
            self._send(ErrorResponse(rid, code, message[:4000], data))
        except (FrameTooLargeError, TypeError):
            self._send_quiet(ErrorResponse(rid, code, message[:4000]))

    def _send_failure(
        self,
        rid: int,
        handler: Handler,
        params: Params,
        exc: Exception,
        *,
        params_known: bool = True,
    ) -> None:
        if isinstance(exc, _ResultError):
            self._send_error(rid, exc.rpc_code, str(exc))
        elif isinstance(exc, HandlerError):
            self._send_error(rid, exc.code_value, exc.message, exc.data)
        elif isinstance(exc, TypeError) and params_known and not handler.params_fit(params):
            self._send_error(
                rid,
                ErrorCode.INVALID_PARAMS,
                f"params do not fit {handler.name}(): {exc}",
            )
        else:
            if isinstance(exc, IpcError):
                data: dict[str, Any] = {"type": type(exc).__name__, "code": exc.code}
            else:
                data = {"type": type(exc).__name__}
            _log.debug("handler %s failed", handler.name, exc_info=exc)
            self._send_error(rid, ErrorCode.HANDLER_FAILED, f"{type(exc).__name__}: {exc}", data)

    def _on_cancel(self, message: Cancel) -> None:
        task = self._served.get(message.id)
        if task is not None:
            task.cancel()

    def _on_credit(self, message: Credit) -> None:
        credit = self._credits.get(message.id)
        if credit is not None:
            credit.add(message.n)

    def _on_notification(self, message: Notification) -> None:
        if not self._guard.admit():
            self._drop_unsolicited("notification", counted=True)
            return
        handler: Handler | None = self._handlers.get(message.method)
        if handler is None:
            _log.debug("%s sent notification %r with no handler", self.name, message.method)
            return
        if handler.is_async:
            if len(self._notify_tasks) >= self.limits.max_concurrent:
                self._drop_unsolicited("notification (handlers busy)")
                return
            task = self._loop.create_task(self._notify_task(handler, message.params))
            self._notify_tasks.add(task)
            task.add_done_callback(self._notify_tasks.discard)
            return
        try:
            result = handler.invoke(message.params)
            if inspect.isawaitable(result):
                task = self._loop.create_task(_await(result))
                self._notify_tasks.add(task)
                task.add_done_callback(self._notify_tasks.discard)
        except Exception:
            _log.warning("notification handler %s failed", handler.name, exc_info=True)

    async def _notify_task(self, handler: Handler, params: Params) -> None:
        try:
            await handler.invoke(params)
        except Exception:
            _log.warning("notification handler %s failed", handler.name, exc_info=True)

    def _on_heartbeat(self, message: Heartbeat) -> None:
        if not self._guard.admit():
            self._drop_unsolicited("heartbeat", counted=True)
            return
        self._send_quiet(HeartbeatAck(message.seq))


_INLINE: Final[frozenset[type]] = frozenset(
    {type(None), bool, int, float, str, bytes, bytearray, list, tuple, dict}
)


class _ResultError(Exception):
    def __init__(self, rpc_code: int, message: str) -> None:
        super().__init__(message)
        self.rpc_code = rpc_code


async def _await(awaitable: Any) -> None:
    try:
        await awaitable
    except Exception:
        _log.warning("notification handler failed", exc_info=True)


async def _aclose_source(source: Any) -> None:
    if inspect.isasyncgen(source):
        await source.aclose()
    elif inspect.isgenerator(source):
        source.close()
