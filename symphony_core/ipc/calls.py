"""The calling side of a connection: requests, batches, streams, timeouts, answers.

Timeouts use one timer per connection, armed at the earliest deadline, rather than one
per call. A caller that gives up (timeout or cancellation) sends the peer a Cancel, and
the late answer is absorbed without being counted against the peer.
"""

from __future__ import annotations

import asyncio
import os
import select
from collections.abc import Sequence
from typing import Any

from symphony_core.ipc.endpoint import _CLOSED, _CURRENT, _OPEN, DEFAULT, Endpoint, Timeout
from symphony_core.ipc.errors import (
    IpcUsageError,
    ProtocolError,
    RemoteError,
    RequestTimeoutError,
)
from symphony_core.ipc.protocol import (
    Cancel,
    Credit,
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
from symphony_core.ipc.streams import RemoteStream, StreamReceiver
from symphony_core.log import get_logger

__all__ = ["Calls"]

_log = get_logger("ipc.connection")


class _RemoteFailure(Exception):
    """Carries an ErrorResponse to the waiting call, which raises RemoteError."""

    def __init__(self, message: ErrorResponse) -> None:
        super().__init__(message.message)
        self.response = message


class _StreamAnswer(Exception):
    """A plain call was answered with a stream; the call raises IpcUsageError."""


def _stream_answer_error(method: str, peer: str) -> IpcUsageError:
    return IpcUsageError(
        f"{method!r} answers with a stream; use Connection.stream() to call it", peer=peer
    )


class _Batch:
    __slots__ = ("future", "method", "remaining", "results", "return_exceptions")

    def __init__(
        self, future: asyncio.Future[list[Any]], method: str, n: int, return_exceptions: bool
    ) -> None:
        self.future = future
        self.method = method
        self.remaining = n
        self.results: list[Any] = [None] * n
        self.return_exceptions = return_exceptions


class _BatchSlot:
    __slots__ = ("batch", "index")

    def __init__(self, batch: _Batch, index: int) -> None:
        self.batch = batch
        self.index = index

    def _on_result(self, result: Any) -> None:
        batch = self.batch
        batch.results[self.index] = result
        batch.remaining -= 1
        if batch.remaining == 0 and not batch.future.done():
            batch.future.set_result(batch.results)

    def _on_error(self, error: BaseException) -> None:
        batch = self.batch
        if batch.return_exceptions:
            self._on_result(error)
        elif not batch.future.done():
            batch.future.set_exception(error)


class Calls(Endpoint):
    """Call the peer and route its answers back to the callers."""

    async def call(self, method: str, params: Params = None, *, timeout: Timeout = DEFAULT) -> Any:
        """Call ``method`` on the peer and return its result.

        Args:
            method: The peer's method name.
            params: Positional (list) or named (dict) arguments, msgpack-native values.
            timeout: Seconds to wait for the answer (``None``: forever); by default
                ``limits.call_timeout``. On timeout the peer is sent a Cancel.

        Raises:
            RemoteError: The peer answered with an error.
            RequestTimeoutError: No answer in time.
            ConnectionClosedError: The connection closed first.
            BusBusyError: Too much in flight and ``when_busy`` is ``"raise"``.
            FrameTooLargeError: The request exceeds the peer's frame cap.
            IpcUsageError: The params are not msgpack-native.
        """
        if self._state != _OPEN:
            raise self._closed_error()
        if len(self._pending) >= self._max_in_flight:
            await self._acquire_slot()
        if self._write_paused:
            await self._writable()
        rid = self._next_id
        self._next_id = rid + 1
        self._encode_request(Request(rid, method, params))
        future: asyncio.Future[Any] = self._loop.create_future()
        self._pending[rid] = future
        seconds = self._default_timeout if timeout is DEFAULT else timeout
        if seconds is not None:
            self._arm_deadline(rid, method, seconds)
        try:
            if self._spin_budget and len(self._pending) == 1 and self._spin_for(future):
                return future.result()
            return await future
        except _RemoteFailure as failure:
            raise self._remote_error(failure.response, method) from None
        except _StreamAnswer:
            raise _stream_answer_error(method, self.name) from None
        except asyncio.CancelledError:
            if self._pending.pop(rid, None) is not None:
                self._cancel_sent(rid)
            raise
        finally:
            if seconds is not None:
                self._deadlines.pop(rid, None)

    async def call_batch(
        self,
        method: str,
        params_list: Sequence[Params],
        *,
        timeout: Timeout = DEFAULT,
        return_exceptions: bool = False,
    ) -> list[Any]:
        """Call ``method`` once per params, sending the requests together; return results.

        The requests leave in as few writes as the limits allow and one waiter collects
        the answers, which makes this much cheaper per call than many :meth:`call`.

        Args:
            method: The peer's method name.
            params_list: One params value per call.
            timeout: Seconds for the whole batch (see :meth:`call`).
            return_exceptions: Put a failed call's exception in its place in the result
                list instead of raising the first one.

        Raises:
            RemoteError: A call failed (unless ``return_exceptions``); the rest are
                cancelled.
            RequestTimeoutError: Not all answers arrived in time.
        """
        if self._state != _OPEN:
            raise self._closed_error()
        if not params_list:
            return []
        future: asyncio.Future[list[Any]] = self._loop.create_future()
        batch = _Batch(future, method, len(params_list), return_exceptions)
        ids: list[int] = []
        pending = self._pending
        seconds = self._default_timeout if timeout is DEFAULT else timeout
        timer = (
            self._loop.call_later(seconds, self._expire_batch, batch, ids, seconds)
            if seconds is not None
            else None
        )
        try:
            for index, params in enumerate(params_list):
                if len(pending) >= self._max_in_flight:
                    await self._acquire_slot()
                if self._write_paused:
                    await self._writable()
                self._cork()
                rid = self._next_id
                self._next_id = rid + 1
                self._encode_request(Request(rid, method, params))
                pending[rid] = _BatchSlot(batch, index)
                ids.append(rid)
            return await future
        except _RemoteFailure as failure:
            raise self._remote_error(failure.response, method) from None
        finally:
            if timer is not None:
                timer.cancel()
            for rid in ids:
                if pending.pop(rid, None) is not None:
                    self._cancel_sent(rid)

    def stream(
        self, method: str, params: Params = None, *, timeout: Timeout = DEFAULT
    ) -> RemoteStream:
        """Call ``method`` and receive its result as a stream of chunks.

        The request is sent on first use of the returned iterator. At most
        ``limits.stream_window`` chunks are buffered; the producer waits for the
        consumer beyond that.

        Args:
            method: The peer's method name.
            params: Positional or named arguments.
            timeout: Longest wait for any one chunk (see :meth:`call`).
        """
        seconds = self._default_timeout if timeout is DEFAULT else timeout
        return RemoteStream(self, method, params, window=self.limits.stream_window, timeout=seconds)

    async def _open_stream(self, stream: StreamReceiver, method: str, params: Params) -> int:
        if self._state != _OPEN:
            raise self._closed_error()
        if len(self._pending) >= self._max_in_flight:
            await self._acquire_slot()
        if self._write_paused:
            await self._writable()
        rid = self._next_id
        self._next_id = rid + 1
        self._encode_request(Request(rid, method, params))
        self._pending[rid] = stream
        return rid

    async def notify(self, method: str, params: Params = None) -> None:
        """Send a notification (a call without an answer).

        Raises:
            ConnectionClosedError: The connection is closed.
            BusBusyError: The peer's queue is full and ``when_busy`` is ``"raise"``.
        """
        self._check_open()
        if self._write_paused:
            await self._writable()
        self._encode_request(Notification(method, params))

    def _encode_request(self, message: Request | Notification) -> None:
        try:
            self._send(message)
        except TypeError as exc:
            raise IpcUsageError(
                f"params of {message.method!r} are not msgpack-native: {exc}",
                peer=self.name,
                hint="pass only None, bool, int, float, str, bytes, lists and dicts",
            ) from None

    async def heartbeat(self, timeout: float = 5.0) -> float:
        """Probe the peer; return the round trip in seconds.

        Raises:
            RequestTimeoutError: No answer within ``timeout`` seconds.
            ConnectionClosedError: The connection closed first.
        """
        self._check_open()
        seq = self._next_heartbeat
        self._next_heartbeat = seq + 1
        future: asyncio.Future[None] = self._loop.create_future()
        self._heartbeats[seq] = future
        started = self._loop.time()
        self._send(Heartbeat(seq))
        try:
            async with asyncio.timeout(timeout):
                await future
        except TimeoutError:
            raise RequestTimeoutError(
                f"{self.name} did not answer a heartbeat within {timeout} s",
                peer=self.name,
                hint="the process may be hung or overloaded",
            ) from None
        finally:
            self._heartbeats.pop(seq, None)
        return self._loop.time() - started

    def _spin_for(self, future: asyncio.Future[Any]) -> bool:
        """Wait briefly for ``future``'s answer on the socket itself; True if it came.

        The optional fast path (``limits.spin_wait``): instead of a round through the
        event loop (two more loop iterations and a task wake-up), poll our own fd for a
        few microseconds and decode the answer in place. Only when nothing else in the
        loop is ready to run and nothing of ours waits to be written; a miss makes it
        back off, so a slow peer costs at most one budget now and then.
        """
        if self._spin_skip:
            self._spin_skip -= 1
            return False
        ready = getattr(self._loop, "_ready", None)
        fd = self._read_fd
        transport = self._transport
        if (
            ready is None
            or ready
            or fd < 0
            or self._out
            or transport is None
            or transport.get_write_buffer_size()
            or self._read_paused
            or self._state != _OPEN
        ):
            return False
        try:
            readable, _, _ = select.select([fd], [], [], self._spin_budget)
        except (OSError, ValueError):
            self._spin_budget = 0.0
            return False
        if not readable:
            self._spin_misses = min(self._spin_misses * 2 or 1, 1024)
            self._spin_skip = self._spin_misses
            return False
        self._spin_misses = 0
        try:
            n = os.readv(fd, [self._decoder.get_buffer()])
        except (BlockingIOError, InterruptedError):
            return False
        except (OSError, ProtocolError):
            # Let the transport meet the error (or EOF) on its own read.
            return False
        if n == 0:
            return False
        self._decoder.buffer_updated(n)
        # Whatever else arrived is handled here too, in the caller's task: make sure the
        # handlers it may run see this connection as theirs.
        token = _CURRENT.set(self._as_connection())
        try:
            self._process()
        finally:
            _CURRENT.reset(token)
        return future.done()

    def _arm_deadline(self, rid: int, method: str, seconds: float) -> None:
        # One timer per connection, armed at the earliest deadline, instead of one timer
        # per call: with a uniform timeout each new deadline is later, so arming is a
        # dict store and a comparison.
        deadline = self._loop.time() + seconds
        self._deadlines[rid] = (deadline, method, seconds)
        at = self._sweep_at
        if at is None or deadline < at:
            if self._sweep_handle is not None:
                self._sweep_handle.cancel()
            self._sweep_at = deadline
            self._sweep_handle = self._loop.call_at(deadline, self._sweep_deadlines)

    def _sweep_deadlines(self) -> None:
        self._sweep_handle = None
        self._sweep_at = None
        now = self._loop.time()
        expired: list[int] = []
        earliest: float | None = None
        for rid, (deadline, _, _) in self._deadlines.items():
            if deadline <= now:
                expired.append(rid)
            elif earliest is None or deadline < earliest:
                earliest = deadline
        for rid in expired:
            _, method, seconds = self._deadlines.pop(rid)
            self._expire(rid, method, seconds)
        if earliest is not None and self._state != _CLOSED:
            self._sweep_at = earliest
            self._sweep_handle = self._loop.call_at(earliest, self._sweep_deadlines)

    def _expire(self, rid: int, method: str, seconds: float) -> None:
        future = self._pending.pop(rid, None)
        if future is None:
            return
        self._cancel_sent(rid)
        if not future.done():
            future.set_exception(
                RequestTimeoutError(
                    f"{method!r} got no answer within {seconds} s; the request was cancelled",
                    peer=self.name,
                )
            )
        self._after_pop()

    def _expire_batch(self, batch: _Batch, ids: list[int], seconds: float) -> None:
        if not batch.future.done():
            batch.future.set_exception(
                RequestTimeoutError(
                    f"{batch.remaining} of {len(batch.results)} {batch.method!r} calls got no "
                    f"answer within {seconds} s; they were cancelled",
                    peer=self.name,
                )
            )

    def _cancel_request(self, rid: int) -> None:
        if self._pending.pop(rid, None) is not None:
            self._cancel_sent(rid)
            self._after_pop()

    def _cancel_sent(self, rid: int) -> None:
        cancelled = self._cancelled
        cancelled[rid] = None
        if len(cancelled) > 4 * self.limits.max_in_flight:
            cancelled.popitem(last=False)
        self._send_quiet(Cancel(rid))

    def _grant_credit(self, rid: int, n: int) -> None:
        if rid in self._pending:
            self._send_quiet(Credit(rid, n))

    def _after_pop(self) -> None:
        if self._slot_waiters:
            self._wake_slot()

    def _remote_error(self, response: ErrorResponse, method: str | None) -> RemoteError:
        return RemoteError(
            response.message,
            remote_code=response.code,
            method=method,
            data=response.data,
            peer=self.name,
            extension_id=self.info.extension_id if self.info else None,
        )

    def _on_response(self, message: Response) -> None:
        waiter = self._pending.pop(message.id, None)
        if waiter is None:
            self._stray(message.id)
            return
        if self._slot_waiters:
            self._wake_slot()
        if isinstance(waiter, asyncio.Future):
            if not waiter.done():
                waiter.set_result(message.result)
        else:
            waiter._on_result(message.result)

    def _on_error_response(self, message: ErrorResponse) -> None:
        if message.id is None:
            # The peer could not read something we sent: we sent garbage, which is a bug.
            _log.error(
                "%s rejected a frame: %s (code %d)",
                self.name,
                message.message,
                message.code,
                extra={"peer": self.name},
            )
            return
        waiter = self._pending.pop(message.id, None)
        if waiter is None:
            self._stray(message.id)
            return
        self._after_pop()
        if isinstance(waiter, asyncio.Future):
            if not waiter.done():
                waiter.set_exception(_RemoteFailure(message))
        elif isinstance(waiter, _BatchSlot):
            waiter._on_error(self._remote_error(message, waiter.batch.method))
        else:
            waiter._on_error(self._remote_error(message, waiter.method))

    def _on_stream_chunk(self, message: StreamChunk) -> None:
        waiter = self._pending.get(message.id)
        if isinstance(waiter, StreamReceiver):
            problem = waiter._on_chunk(message.seq, message.data)
            if problem is not None:
                self._pending.pop(message.id, None)
                waiter._on_error(problem)
                self._cancel_sent(message.id)
                self._after_pop()
                self._violation(problem, fatal=False)
            return
        if waiter is None:
            self._stray(message.id, final=False)
            return
        # A call() or call_batch() was answered with a stream.
        del self._pending[message.id]
        if isinstance(waiter, asyncio.Future):
            if not waiter.done():
                waiter.set_exception(_StreamAnswer())
        else:
            waiter._on_error(_stream_answer_error(waiter.batch.method, self.name))
        self._cancel_sent(message.id)
        self._after_pop()

    def _on_stream_end(self, message: StreamEnd) -> None:
        waiter = self._pending.get(message.id)
        if not isinstance(waiter, StreamReceiver):
            if waiter is None:
                self._stray(message.id)
            return
        del self._pending[message.id]
        self._after_pop()
        problem = waiter._on_end(message.count)
        if problem is not None:
            self._violation(problem, fatal=False)

    def _stray(self, rid: int, *, final: bool = True) -> None:
        if rid in self._cancelled:
            # The answer to something we gave up on: expected, and not the peer's fault.
            if final:
                del self._cancelled[rid]
            return
        self._drop_unsolicited("answer to unknown request")

    def _on_heartbeat_ack(self, message: HeartbeatAck) -> None:
        future = self._heartbeats.get(message.seq)
        if future is None:
            self._drop_unsolicited("heartbeat answer nobody asked for")
        elif not future.done():
            future.set_result(None)
