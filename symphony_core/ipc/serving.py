"""The serving side of a connection: dispatch to handlers, cancellation, streaming out.

Plain handlers run inline on the event loop (the fast path) and their answers join the
others of the same read; coroutine handlers, awaitables and iterators run as tasks, which
a Cancel from the peer cancels. Streamed results go out in chunks, never more than the
peer's credit ahead.

A batch frame (protocol version 2) is served item by item exactly like single requests;
the answers of the items that finish at once (plain results, errors) leave together in
one ResponseBatch frame (split only to fit the peer's frame cap), and items that run as
tasks are answered on their own as they finish.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterable
from itertools import islice
from typing import Any, Final

from symphony_core.ipc.batches import refusal_data
from symphony_core.ipc.endpoint import _CHUNKABLE, _CLOSED, Endpoint
from symphony_core.ipc.errors import (
    FrameTooLargeError,
    HandlerError,
    IpcError,
)
from symphony_core.ipc.handlers import Handler, is_stream_result
from symphony_core.ipc.protocol import (
    BatchItemsError,
    Cancel,
    Credit,
    ErrorCode,
    ErrorResponse,
    Heartbeat,
    HeartbeatAck,
    Notification,
    Params,
    Request,
    RequestBatch,
    RequestRun,
    Response,
    ResponseBatch,
    ResultRun,
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

    def _on_request_batch(self, message: RequestBatch) -> None:
        if not self._batches:
            self._unnegotiated(message)
            return
        runs = message.runs
        total = len(runs[0].params) if len(runs) == 1 else sum(len(run.params) for run in runs)
        self._serve_runs(runs, total, [])

    def _on_batch_items(self, error: BatchItemsError) -> None:
        """A batch with invalid requests: answer those, serve the others."""
        if not self._batches:
            self._unnegotiated(error)
            return
        _log.warning("batch from %s: %s", self.name, error.message, extra={"peer": self.name})
        total = sum(len(run.params) for run in error.runs) + len(error.rejected)
        self._serve_runs(error.runs, total, list(error.rejected))

    def _serve_runs(self, runs: list[RequestRun], total: int, errors: list[ErrorResponse]) -> None:
        """Serve a batch of ``total`` requests (or refuse it whole); send the answers."""
        done: list[ResultRun] = []
        if total > self._batch_limit:
            self._refuse_batch(runs, total, errors)
        else:
            for run in runs:
                self._serve_run(run, done, errors)
        self._send_answers(done, errors)

    def _refuse_batch(
        self, runs: list[RequestRun], total: int, errors: list[ErrorResponse]
    ) -> None:
        limit, name = self._batch_limit, self._batch_limit_name
        text = (
            f"a batch of {total} requests exceeds this side's limit of {limit} per batch "
            f"({name}); send at most {limit} requests per batch frame"
        )
        _log.warning("refused a batch from %s: %s", self.name, text, extra={"peer": self.name})
        data = refusal_data(name, limit, total)
        code = ErrorCode.INVALID_REQUEST
        for run in runs:
            first = run.first_id
            errors += [ErrorResponse(first + i, code, text, data) for i in range(len(run.params))]

    def _serve_run(
        self, run: RequestRun, done: list[ResultRun], errors: list[ErrorResponse]
    ) -> None:
        """Serve each request of ``run`` as if it had come alone; collect ready answers.

        Requests that run as tasks (coroutine handlers, awaitable or streamed results)
        answer on their own when they finish.
        """
        first, method, params_list = run.first_id, run.method, run.params
        n = len(params_list)
        handler: Handler | None = self._handlers.get(method)
        if handler is None:
            text = f"no method {method!r} here"
            code = ErrorCode.METHOD_NOT_FOUND
            errors += [ErrorResponse(first + i, code, text) for i in range(n)]
            return
        index = 0
        while index < n:
            if self._served or handler.is_async:
                self._serve_item(first + index, handler, params_list[index], done, errors)
                index += 1
            else:
                index = self._serve_plain(first, index, handler, params_list, done, errors)

    def _serve_plain(
        self,
        first: int,
        index: int,
        handler: Handler,
        params_list: list[Params],
        done: list[ResultRun],
        errors: list[ErrorResponse],
    ) -> int:
        """Call a plain handler for ``params_list[index:]`` while nothing runs as a task.

        The hot path of batches: no per-request checks beyond what a plain result
        needs. Returns the index of the first request it did not handle (after an
        error or a result that has to finish as a task, the rest start from there).
        """
        fn = handler.fn
        results: list[Any] = []
        append = results.append
        params: Any = None
        try:
            for params in islice(params_list, index, None) if index else params_list:
                # Handler.invoke, inlined.
                if type(params) is list:
                    result = fn(*params)
                elif params is None:
                    result = fn()
                else:
                    result = fn(**params)
                if type(result) not in _INLINE and (
                    inspect.isawaitable(result) or is_stream_result(result)
                ):
                    # It finishes as a task and answers on its own.
                    rid = first + index + len(results)
                    self._served[rid] = self._loop.create_task(
                        self._finish_task(rid, handler, result)
                    )
                    break
                append(result)
            else:
                if results:
                    done.append(ResultRun(first + index, results))
                return len(params_list)
        except Exception as exc:
            errors.append(self._failure(first + index + len(results), handler, params, exc))
        if results:
            done.append(ResultRun(first + index, results))
        return index + len(results) + 1

    def _serve_item(
        self,
        rid: int,
        handler: Handler,
        params: Params,
        done: list[ResultRun],
        errors: list[ErrorResponse],
    ) -> None:
        """Serve one request of a batch with every check a single request gets."""
        served = self._served
        if rid in served:
            errors.append(
                ErrorResponse(rid, ErrorCode.INVALID_REQUEST, f"request id {rid} is already open")
            )
            return
        if len(served) >= self.limits.max_concurrent:
            self._drop_unsolicited("request over the concurrency limit")
            errors.append(
                ErrorResponse(
                    rid,
                    ErrorCode.BUSY,
                    f"{self.limits.max_concurrent} requests are already being served",
                )
            )
            return
        if handler.is_async:
            served[rid] = self._loop.create_task(self._serve_task(rid, handler, params))
            return
        try:
            result = handler.invoke(params)
        except Exception as exc:
            errors.append(self._failure(rid, handler, params, exc))
            return
        if type(result) in _INLINE or not (inspect.isawaitable(result) or is_stream_result(result)):
            last = done[-1] if done else None
            if last is not None and last.first_id + len(last.results) == rid:
                last.results.append(result)
            else:
                done.append(ResultRun(rid, [result]))
        else:
            served[rid] = self._loop.create_task(self._finish_task(rid, handler, result))

    def _send_answers(self, done: list[ResultRun], errors: list[ErrorResponse]) -> None:
        """Send answers in as few ResponseBatch frames as the peer's frame cap allows.

        An answer that cannot be sent (too large, not msgpack-native) is replaced by the
        error saying so, as for a single request.
        """
        if self._state == _CLOSED or not (done or errors):
            return
        if not errors and len(done) == 1 and len(done[0].results) == 1:
            self._send_result(done[0].first_id, done[0].results[0])
            return
        if not done and len(errors) == 1:
            error = errors[0]
            self._send_error(error.id, error.code, error.message, error.data)
            return
        try:
            self._send(ResponseBatch(done, errors))
        except (FrameTooLargeError, TypeError):
            # Too big for one frame, or a result msgpack cannot carry: split until the
            # culprit is alone, where it gets the error a single answer gets.
            if len(done) > 1:
                half = len(done) // 2
                self._send_answers(done[:half], [])
                self._send_answers(done[half:], errors)
            elif done and len(done[0].results) > 1:
                run = done[0]
                half = len(run.results) // 2
                self._send_answers([ResultRun(run.first_id, run.results[:half])], [])
                self._send_answers([ResultRun(run.first_id + half, run.results[half:])], errors)
            elif len(errors) > 1:
                half = len(errors) // 2
                self._send_answers(done, errors[:half])
                self._send_answers([], errors[half:])
            else:
                self._send_answers(done, [])
                self._send_answers([], errors)

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

    def _send_error(self, rid: int | None, code: int, message: str, data: Any = None) -> None:
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
        answer = self._failure(rid, handler, params, exc, params_known=params_known)
        self._send_error(rid, answer.code, answer.message, answer.data)

    def _failure(
        self,
        rid: int,
        handler: Handler,
        params: Params,
        exc: Exception,
        *,
        params_known: bool = True,
    ) -> ErrorResponse:
        """The error answer for a handler that raised ``exc``."""
        if isinstance(exc, _ResultError):
            return ErrorResponse(rid, exc.rpc_code, str(exc)[:4000])
        if isinstance(exc, HandlerError):
            return ErrorResponse(rid, exc.code_value, exc.message[:4000], exc.data)
        if isinstance(exc, TypeError) and params_known and not handler.params_fit(params):
            return ErrorResponse(
                rid,
                ErrorCode.INVALID_PARAMS,
                f"params do not fit {handler.name}(): {exc}"[:4000],
            )
        if isinstance(exc, IpcError):
            data: dict[str, Any] = {"type": type(exc).__name__, "code": exc.code}
        else:
            data = {"type": type(exc).__name__}
        _log.debug("handler %s failed", handler.name, exc_info=exc)
        return ErrorResponse(
            rid, ErrorCode.HANDLER_FAILED, f"{type(exc).__name__}: {exc}"[:4000], data
        )

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
