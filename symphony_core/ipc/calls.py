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

from symphony_core.ipc.batches import BatchWaiter, Chunk, refused_limit
from symphony_core.ipc.endpoint import _CLOSED, _CURRENT, _OPEN, DEFAULT, Endpoint, Timeout
from symphony_core.ipc.errors import (
    ConnectionClosedError,
    FrameTooLargeError,
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
    RequestBatch,
    RequestRun,
    Response,
    ResponseBatch,
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
        if len(self._pending) + self._chunks.in_flight >= self._max_in_flight:
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
            if (
                self._spin_budget
                and len(self._pending) == 1
                and not self._chunks.in_flight
                and self._spin_for(future)
            ):
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

        On a connection that negotiated protocol version 2, the requests travel in
        JSON-RPC batch frames (each at most ``limits.max_batch`` requests, no more than
        may be in flight, and within the peer's frame cap) and the answers come back
        batched too; with a version-1 peer each request is its own frame. Either way
        the requests leave in as few writes as the limits allow and one waiter collects
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
            ConnectionClosedError: The connection closed first.
            BusBusyError: Too much in flight and ``when_busy`` is ``"raise"``.
            FrameTooLargeError: One request alone exceeds the peer's frame cap.
            IpcUsageError: Some params are not msgpack-native.
        """
        if self._state != _OPEN:
            raise self._closed_error()
        n = len(params_list)
        if not n:
            return []
        params = params_list if isinstance(params_list, list) else list(params_list)
        future: asyncio.Future[list[Any]] = self._loop.create_future()
        batch = BatchWaiter(future, method, n, return_exceptions)
        chunks: list[Chunk] = []
        table = self._chunks
        seconds = self._default_timeout if timeout is DEFAULT else timeout
        if seconds is not None:
            self._arm_deadline(batch, method, seconds)
        try:
            index = 0
            while index < n and not future.done():
                if self._state != _OPEN:
                    raise self._closed_error()
                room = self._max_in_flight - len(self._pending) - table.in_flight
                if room <= 0 or self._write_paused:
                    if not await self._wait_to_send(batch):
                        break  # out of time: the deadline sweep fails the batch
                    continue
                size = min(room, self._batch_size, n - index)
                first = self._next_id
                if self._batches:
                    size = self._send_batch_frame(method, params, index, size)
                else:
                    size = self._send_single_frames(method, params, index, size, batch, chunks)
                if self._state != _OPEN:
                    # Closed while writing (a peer that does not read is aborted).
                    raise self._closed_error()
                chunk = Chunk(batch, first, index, size)
                table.add(chunk)
                chunks.append(chunk)
                index += size
            if (
                self._spin_budget
                and not self._pending
                and table.in_flight == batch.remaining
                and not future.done()
                and self._spin_for(future)
            ):
                return future.result()
            return await future
        finally:
            if seconds is not None:
                self._deadlines.pop(batch, None)
            if future.done() and not future.cancelled():
                future.exception()  # retrieved here if an error left before the await
            for chunk in chunks:
                if chunk.outstanding:
                    # Failed, timed out or cancelled: withdraw what is still out there.
                    open_ids = chunk.open_ids()
                    table.discard(chunk)
                    for rid in open_ids:
                        self._cancel_sent(rid)
                    self._wake_slots(len(open_ids))

    async def _wait_to_send(self, batch: BatchWaiter) -> bool:
        """Wait for room in flight and in the write buffer; False if the batch's time ran out.

        Raises:
            BusBusyError: No room and ``when_busy`` is ``"raise"``.
            ConnectionClosedError: The connection closed.
        """
        entry = self._deadlines.get(batch)
        try:
            async with asyncio.timeout_at(entry[0] if entry is not None else None):
                if len(self._pending) + self._chunks.in_flight >= self._max_in_flight:
                    await self._acquire_slot()
                if self._write_paused:
                    await self._writable()
        except TimeoutError:
            return False
        return True

    def _send_single_frames(
        self,
        method: str,
        params: list[Params],
        index: int,
        size: int,
        batch: BatchWaiter,
        chunks: list[Chunk],
    ) -> int:
        """Send ``size`` requests as single frames (a version-1 peer), in one write.

        If one cannot be sent, those already sent are registered (so they are waited for
        or cancelled) before the error propagates.
        """
        first = self._next_id
        self._cork()
        for offset in range(size):
            try:
                self._encode_request(Request(first + offset, method, params[index + offset]))
            except BaseException:
                if offset:
                    chunk = Chunk(batch, first, index, offset)
                    self._chunks.add(chunk)
                    chunks.append(chunk)
                raise
            finally:
                self._next_id = first + offset + 1
        return size

    def _send_batch_frame(self, method: str, params: list[Params], index: int, size: int) -> int:
        """Send up to ``size`` requests from ``params[index]`` on in one batch frame.

        Returns how many were sent: fewer when the frame would exceed the peer's frame
        cap. Their ids are the next ones of ``_next_id``.

        Raises:
            FrameTooLargeError: One request alone exceeds the peer's frame cap.
            IpcUsageError: Some params are not msgpack-native.
        """
        first = self._next_id
        while True:
            try:
                if size == 1:
                    self._send(Request(first, method, params[index]))
                else:
                    run = RequestRun(first, method, params[index : index + size])
                    self._send(RequestBatch([run]))
            except FrameTooLargeError:
                if size == 1:
                    raise
                size = (size + 1) // 2
                continue
            except TypeError as exc:
                raise IpcUsageError(
                    f"params of {method!r} are not msgpack-native: {exc}",
                    peer=self.name,
                    hint="pass only None, bool, int, float, str, bytes, lists and dicts",
                ) from None
            self._next_id = first + size
            return size

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
        if len(self._pending) + self._chunks.in_flight >= self._max_in_flight:
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

    def _arm_deadline(self, key: int | BatchWaiter, method: str, seconds: float) -> None:
        # One timer per connection, armed at the earliest deadline, instead of one timer
        # per call (or batch): with a uniform timeout each new deadline is later, so
        # arming is a dict store and a comparison.
        deadline = self._loop.time() + seconds
        self._deadlines[key] = (deadline, method, seconds)
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
        expired: list[int | BatchWaiter] = []
        earliest: float | None = None
        for key, (deadline, _, _) in self._deadlines.items():
            if deadline <= now:
                expired.append(key)
            elif earliest is None or deadline < earliest:
                earliest = deadline
        for key in expired:
            _, method, seconds = self._deadlines.pop(key)
            if isinstance(key, BatchWaiter):
                self._expire_batch(key, seconds)
            else:
                self._expire(key, method, seconds)
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

    def _expire_batch(self, batch: BatchWaiter, seconds: float) -> None:
        # The call_batch() sees the error and cancels what is still open.
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

    def _wake_slots(self, n: int) -> None:
        while n > 0 and self._slot_waiters:
            self._wake_slot()
            n -= 1

    def _learn_batch_limit(self, message: ErrorResponse) -> None:
        limit = refused_limit(message.code, message.data)
        if limit is not None and limit < self._batch_size:
            # The peer's limit is lower than ours: it refused the batch whole (nothing
            # ran); later batches are split to fit it.
            _log.warning(
                "%s takes at most %d requests per batch; sending smaller batches",
                self.name,
                limit,
                extra={"peer": self.name},
            )
            self._batch_size = limit

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
        rid = message.id
        waiter = self._pending.pop(rid, None)
        if waiter is None:
            if self._chunks.settle(rid, message.result):
                self._wake_slots(1)
            else:
                self._stray(rid)
            return
        if self._slot_waiters:
            self._wake_slot()
        if isinstance(waiter, asyncio.Future):
            if not waiter.done():
                waiter.set_result(message.result)
        else:
            waiter._on_result(message.result)

    def _on_error_response(self, message: ErrorResponse) -> None:
        rid = message.id
        if rid is None:
            # The peer could not read something we sent: we sent garbage, which is a bug.
            _log.error(
                "%s rejected a frame: %s (code %d)",
                self.name,
                message.message,
                message.code,
                extra={"peer": self.name},
            )
            return
        waiter = self._pending.pop(rid, None)
        if waiter is None:
            chunk = self._chunks.find(rid)
            if chunk is None:
                self._stray(rid)
            else:
                self._chunks.fail(rid, self._remote_error(message, chunk.batch.method))
                self._wake_slots(1)
                self._learn_batch_limit(message)
            return
        self._after_pop()
        if isinstance(waiter, asyncio.Future):
            if not waiter.done():
                waiter.set_exception(_RemoteFailure(message))
        else:
            waiter._on_error(self._remote_error(message, waiter.method))

    def _on_response_batch(self, message: ResponseBatch) -> None:
        if not self._batches:
            self._unnegotiated(message)
            return
        take_run = self._chunks.take_run
        before = self._chunks.in_flight
        for run in message.results:
            # The hot path: a run of results lands in its call's list in one step.
            if not take_run(run.first_id, run.results):
                first = run.first_id
                for offset, result in enumerate(run.results):
                    self._on_response(Response(first + offset, result))
        for error in message.errors:
            self._on_error_response(error)
        self._wake_slots(before - self._chunks.in_flight)

    def _fail_pending(self, pending: dict[int, Any], error: ConnectionClosedError) -> None:
        super()._fail_pending(pending, error)
        for chunk in self._chunks.clear():
            for rid in chunk.open_ids():
                chunk.fail(rid, error)

    def _on_stream_chunk(self, message: StreamChunk) -> None:
        rid = message.id
        waiter = self._pending.get(rid)
        if isinstance(waiter, StreamReceiver):
            problem = waiter._on_chunk(message.seq, message.data)
            if problem is not None:
                self._pending.pop(rid, None)
                waiter._on_error(problem)
                self._cancel_sent(rid)
                self._after_pop()
                self._violation(problem, fatal=False)
            return
        if waiter is None:
            chunk = self._chunks.find(rid)
            if chunk is None:
                self._stray(rid, final=False)
                return
            # A call_batch() item was answered with a stream.
            self._chunks.fail(rid, _stream_answer_error(chunk.batch.method, self.name))
            self._cancel_sent(rid)
            self._wake_slots(1)
            return
        # A call() was answered with a stream.
        del self._pending[rid]
        if isinstance(waiter, asyncio.Future) and not waiter.done():
            waiter.set_exception(_StreamAnswer())
        self._cancel_sent(rid)
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
