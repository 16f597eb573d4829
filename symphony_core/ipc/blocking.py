"""A blocking (thread-friendly, no event loop) client for one extension process.

:class:`BlockingClient` speaks the same protocol as the asyncio
:class:`~symphony_core.ipc.connection.Connection`, one request at a time (or one batch
at a time): it writes the request and reads until its answer arrives, answering
heartbeats and handing events to a callback on the way. It is the lowest-overhead way to
make sequential calls, and what a synchronous host or a test uses.

Every wait has a deadline; on timeout the peer is sent a Cancel and the late answer is
discarded when it arrives. The client is not thread-safe: use one per thread.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final

import msgspec

from symphony_core.ipc.batches import refused_limit
from symphony_core.ipc.connection import DEFAULT, PeerInfo, Timeout
from symphony_core.ipc.errors import (
    ConnectionClosedError,
    FrameTooLargeError,
    HandshakeError,
    IpcUsageError,
    ProtocolError,
    RemoteError,
    RequestTimeoutError,
    VersionMismatchError,
)
from symphony_core.ipc.framing import FrameDecoder, append_frame
from symphony_core.ipc.limits import IpcLimits
from symphony_core.ipc.protocol import (
    BATCH_VERSION,
    PROTOCOL_VERSIONS,
    BatchItemsError,
    Cancel,
    Credit,
    ErrorCode,
    ErrorResponse,
    Goodbye,
    Heartbeat,
    HeartbeatAck,
    Hello,
    Message,
    MessageDecoder,
    Notification,
    Params,
    Publish,
    Request,
    RequestBatch,
    RequestRun,
    Response,
    ResponseBatch,
    StreamChunk,
    StreamEnd,
    Subscribe,
    Unsubscribe,
    Welcome,
)
from symphony_core.ipc.topics import Event, check_pattern, check_topic
from symphony_core.ipc.transport import Channel, channel_fds
from symphony_core.log import get_logger

__all__ = ["BlockingClient"]

_log = get_logger("ipc.blocking")
_POLLIN: Final = select.POLLIN | select.POLLPRI
_POLLOUT: Final = select.POLLOUT
_POLLEND: Final = select.POLLHUP | select.POLLERR | select.POLLNVAL


class BlockingClient:
    """Host side of one connection, without asyncio.

    Args:
        channel: A connected stream socket or ``(read_fd, write_fd)`` pair; the client
            owns it and closes it.
        host_id: How the host introduces itself in the handshake.
        limits: Frame cap, timeouts and stream window.
        versions: Protocol versions offered.
        on_event: Called with each event the peer publishes while the client waits;
            without it, events are dropped.
        name: Name used in errors until the handshake gives the extension id.
    """

    def __init__(
        self,
        channel: Channel,
        *,
        host_id: str = "symphony-host",
        limits: IpcLimits | None = None,
        versions: Sequence[int] = PROTOCOL_VERSIONS,
        on_event: Callable[[Event], None] | None = None,
        name: str = "extension",
    ) -> None:
        self.limits = limits = limits or IpcLimits()
        self.name = name
        self.host_id = host_id
        self.versions = tuple(versions)
        self.info: PeerInfo | None = None
        self.close_reason: str | None = None
        self.on_event = on_event
        self._channel = channel
        self._rfd, self._wfd = channel_fds(channel)
        for fd in {self._rfd, self._wfd}:
            os.set_blocking(fd, False)
        self._decoder = FrameDecoder(limits.max_frame_size)
        self._messages = MessageDecoder()
        self._encoder = msgspec.msgpack.Encoder()
        self._out = bytearray()
        self._poll_in = select.poll()
        self._poll_in.register(self._rfd, _POLLIN)
        self._poll_out = select.poll()
        self._poll_out.register(self._wfd, _POLLOUT)
        self._peer_max_frame = limits.max_frame_size
        self._next_id = 1
        self._next_heartbeat = 0
        self._cancelled: OrderedDict[int, None] = OrderedDict()
        self._closed = False
        self._batches = False
        self._batch_size = limits.max_batch

    # ------------------------------------------------------------------ lifecycle

    def handshake(self, timeout: float | None = None) -> PeerInfo:
        """Send Hello, read Welcome; return what the extension stated.

        Raises:
            VersionMismatchError: No common protocol version (the client is closed).
            HandshakeError: Refused, wrong answer, or no answer in time.
        """
        deadline = _deadline(timeout if timeout is not None else self.limits.handshake_timeout)
        self._send(
            Hello(
                list(self.versions),
                self.host_id,
                self.limits.max_frame_size,
                self.limits.stream_window,
            )
        )
        try:
            answer = self._read_message(deadline)
        except RequestTimeoutError:
            self.close("handshake timed out")
            raise HandshakeError("no handshake answer in time", peer=self.name) from None
        except ConnectionClosedError as exc:
            raise HandshakeError(
                f"connection closed during the handshake: {exc.reason}", peer=self.name
            ) from None
        if isinstance(answer, ErrorResponse):
            self.close(f"handshake refused: {answer.message}")
            if answer.code == ErrorCode.VERSION_MISMATCH:
                theirs = answer.data.get("extension") if isinstance(answer.data, dict) else []
                raise VersionMismatchError(
                    self.versions,
                    [v for v in theirs if isinstance(v, int)] if isinstance(theirs, list) else [],
                    peer=self.name,
                )
            raise HandshakeError(f"handshake refused: {answer.message}", peer=self.name)
        if not isinstance(answer, Welcome) or answer.version not in self.versions:
            self.close("handshake: unexpected answer")
            raise HandshakeError(
                f"expected Welcome with one of versions {list(self.versions)}, got {answer!r}",
                peer=self.name,
            )
        self.info = PeerInfo(
            protocol_version=answer.version,
            max_frame_size=answer.max_frame_size,
            extension_id=answer.extension_id,
            extension_version=answer.extension_version,
            pid=answer.pid,
            capabilities=tuple(answer.capabilities),
            max_concurrent=answer.max_concurrent,
        )
        self._peer_max_frame = answer.max_frame_size
        self._batches = answer.version >= BATCH_VERSION
        # An extension refuses batches longer than it serves at once.
        self._batch_size = min(self.limits.max_batch, answer.max_concurrent)
        if self.name == "extension":
            self.name = answer.extension_id
        return self.info

    @property
    def closed(self) -> bool:
        """Whether the client is closed."""
        return self._closed

    def close(self, reason: str = "closed by the host") -> None:
        """Say goodbye (best effort) and close the channel. Idempotent."""
        if self._closed:
            return
        try:
            self._out.clear()
            append_frame(self._out, Goodbye(reason[:4000]), self._encoder)
            os.write(self._wfd, self._out)
        except OSError:
            pass
        self._shut(reason)

    def _shut(self, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        self.close_reason = reason
        if isinstance(self._channel, socket.socket):
            self._channel.close()
        else:
            for fd in {self._rfd, self._wfd}:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def __enter__(self) -> BlockingClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ calls

    def call(self, method: str, params: Params = None, *, timeout: Timeout = DEFAULT) -> Any:
        """Call ``method`` and return its result.

        Raises:
            RemoteError: The peer answered with an error.
            RequestTimeoutError: No answer in time (a Cancel was sent).
            ConnectionClosedError: The connection closed.
            ProtocolError: The peer sent something invalid (the client is closed).
        """
        deadline = self._deadline_for(timeout)
        rid = self._next_id
        self._next_id = rid + 1
        self._send(Request(rid, method, params), deadline)
        while True:
            try:
                message = self._read_message(deadline)
            except RequestTimeoutError:
                self._cancel(rid)
                raise RequestTimeoutError(
                    f"{method!r} got no answer in time; the request was cancelled",
                    peer=self.name,
                ) from None
            if isinstance(message, Response):
                if message.id == rid:
                    return message.result
            elif isinstance(message, ErrorResponse):
                if message.id == rid:
                    raise self._remote_error(message, method)
            elif isinstance(message, StreamChunk) and message.id == rid:
                self._cancel(rid)
                raise IpcUsageError(
                    f"{method!r} answered with a stream; use BlockingClient.stream()",
                    peer=self.name,
                )
            self._other(message)

    def call_batch(
        self,
        method: str,
        params_list: Sequence[Params],
        *,
        timeout: Timeout = DEFAULT,
        return_exceptions: bool = False,
    ) -> list[Any]:
        """Call ``method`` once per params; return the results in order.

        With a peer that negotiated protocol version 2 the requests travel in batch
        frames of at most ``limits.max_batch`` requests (and no more than the extension
        serves at once), answered in batch frames; with a version-1 peer each request is
        its own frame. At most ``limits.max_in_flight`` requests are out at a time;
        those go in one write.

        Raises:
            RemoteError: A call failed (unless ``return_exceptions``).
            RequestTimeoutError: Not all answers arrived in time (the rest were cancelled).
            FrameTooLargeError: One request alone exceeds the peer's frame cap.
            IpcUsageError: Some params are not msgpack-native.
        """
        deadline = self._deadline_for(timeout)
        n = len(params_list)
        if not n:
            return []
        params = params_list if isinstance(params_list, list) else list(params_list)
        first = self._next_id
        self._next_id = first + n
        call = _BatchCall(method, first, n)
        window = self.limits.max_in_flight
        try:
            while call.sent < n or call.outstanding:
                if call.sent < n and call.outstanding < window:
                    end = min(n, call.sent + window - call.outstanding)
                    self._send_batch(method, params, first, call.sent, end, deadline)
                    call.outstanding += end - call.sent
                    call.sent = end
                message = self._read_message(deadline)
                if isinstance(message, ResponseBatch):
                    for run in message.results:
                        if not call.take_run(run.first_id, run.results):
                            for offset, result in enumerate(run.results):
                                self._settle(call, Response(run.first_id + offset, result))
                    for error in message.errors:
                        self._settle(call, error)
                elif isinstance(message, Response | ErrorResponse | StreamChunk):
                    self._settle(call, message)
                else:
                    self._other(message)
        except RequestTimeoutError:
            if self._closed:
                raise
            unanswered = call.outstanding + n - call.sent
            for rid in call.unanswered():
                self._cancel(rid)
            raise RequestTimeoutError(
                f"{unanswered} of {n} {method!r} calls got no answer in time; they were cancelled",
                peer=self.name,
            ) from None
        except (FrameTooLargeError, IpcUsageError):
            for rid in call.unanswered():
                self._cancel(rid)
            raise
        if call.failure is not None and not return_exceptions:
            raise call.failure
        return call.results

    def _settle(self, call: _BatchCall, message: Response | ErrorResponse | StreamChunk) -> None:
        """Record one answer of a batched call, or pass on a frame that is not one."""
        rid = message.id
        if rid is None or not call.is_open(rid):
            self._other(message)
        elif isinstance(message, Response):
            call.settle(rid, message.result)
        elif isinstance(message, ErrorResponse):
            call.settle(rid, self._remote_error(message, call.method))
            limit = refused_limit(message.code, message.data)
            if limit is not None and limit < self._batch_size:
                # Refused whole (nothing ran): later batches are split to fit.
                self._batch_size = limit
        else:
            self._cancel(rid)
            call.settle(
                rid,
                IpcUsageError(
                    f"{call.method!r} answered with a stream; use BlockingClient.stream()",
                    peer=self.name,
                ),
            )

    def _send_batch(
        self,
        method: str,
        params: list[Params],
        first: int,
        start: int,
        end: int,
        deadline: float | None,
    ) -> None:
        """Write the requests ``params[start:end]`` (ids from ``first + start``) at once.

        Raises:
            FrameTooLargeError: One request alone exceeds the peer's frame cap.
            IpcUsageError: Some params are not msgpack-native.
        """
        if self._closed:
            raise self._closed_error()
        out = self._out
        out.clear()
        encoder, cap = self._encoder, self._peer_max_frame
        size = self._batch_size if self._batches else 1
        index = start
        try:
            while index < end:
                k = min(size, end - index)
                base = first + index
                if k == 1:
                    append_frame(out, Request(base, method, params[index]), encoder, cap)
                else:
                    run = RequestRun(base, method, params[index : index + k])
                    try:
                        append_frame(out, RequestBatch([run]), encoder, cap)
                    except FrameTooLargeError:
                        size = (k + 1) // 2  # split until the frames fit
                        continue
                index += k
        except TypeError as exc:
            raise IpcUsageError(
                f"params of {method!r} are not msgpack-native: {exc}",
                peer=self.name,
                hint="pass only None, bool, int, float, str, bytes, lists and dicts",
            ) from None
        self._write(out, deadline)

    def stream(
        self, method: str, params: Params = None, *, timeout: Timeout = DEFAULT
    ) -> Iterator[Any]:
        """Yield the chunks of ``method``'s streamed result, granting credit as they go.

        ``timeout`` bounds the wait for each chunk. Closing the iterator early sends a
        Cancel. A plain (non-stream) result is yielded as one item.

        Raises:
            RemoteError: The peer answered with an error (possibly mid-stream).
            RequestTimeoutError: A chunk did not arrive in time.
        """
        seconds = self.limits.call_timeout if timeout is DEFAULT else timeout
        rid = self._next_id
        self._next_id = rid + 1
        window = self.limits.stream_window
        step = max(1, window // 2)
        self._send(Request(rid, method, params))
        return self._stream_chunks(rid, method, seconds, step)

    def _stream_chunks(
        self, rid: int, method: str, seconds: float | None, step: int
    ) -> Iterator[Any]:
        received = 0
        unacked = 0
        finished = False
        try:
            while True:
                try:
                    message = self._read_message(_deadline(seconds))
                except RequestTimeoutError:
                    raise RequestTimeoutError(
                        f"stream {method!r} sent nothing for {seconds} s; it was cancelled",
                        peer=self.name,
                    ) from None
                if isinstance(message, StreamChunk) and message.id == rid:
                    if message.seq != received:
                        raise self._violation(
                            f"stream chunk {message.seq} arrived, expected {received}"
                        )
                    received += 1
                    unacked += 1
                    yield message.data
                    if unacked >= step:
                        self._send(Credit(rid, unacked))
                        unacked = 0
                elif isinstance(message, StreamEnd) and message.id == rid:
                    finished = True
                    if message.count != received:
                        raise self._violation(
                            f"stream ended after {message.count} chunks, {received} arrived"
                        )
                    return
                elif isinstance(message, Response) and message.id == rid:
                    finished = True
                    yield message.result
                    return
                elif isinstance(message, ErrorResponse) and message.id == rid:
                    finished = True
                    raise self._remote_error(message, method)
                else:
                    self._other(message)
        finally:
            if not finished and not self._closed:
                self._cancel(rid)

    def notify(self, method: str, params: Params = None) -> None:
        """Send a notification (no answer).

        Raises:
            ConnectionClosedError: The connection is closed.
        """
        self._send(Notification(method, params))

    def publish(self, topic: str, data: Any = None) -> None:
        """Send the peer an event on ``topic``.

        Raises:
            IpcUsageError: The topic is invalid.
        """
        self._send(Publish(check_topic(topic), data))

    def subscribe(self, pattern: str) -> None:
        """Ask the peer for its events matching ``pattern`` (delivered to ``on_event``)."""
        self._send(Subscribe(check_pattern(pattern)))

    def unsubscribe(self, pattern: str) -> None:
        """Withdraw a :meth:`subscribe`."""
        self._send(Unsubscribe(check_pattern(pattern)))

    def heartbeat(self, timeout: float = 5.0) -> float:
        """Probe the peer; return the round trip in seconds.

        Raises:
            RequestTimeoutError: No answer within ``timeout`` seconds.
        """
        seq = self._next_heartbeat
        self._next_heartbeat = seq + 1
        started = time.monotonic()
        deadline = started + timeout
        self._send(Heartbeat(seq), deadline)
        while True:
            message = self._read_message(deadline)
            if isinstance(message, HeartbeatAck) and message.seq == seq:
                return time.monotonic() - started
            self._other(message)

    def poll_events(self, timeout: float = 0.0) -> int:
        """Read what the peer sent within ``timeout`` seconds; return how many frames.

        Events go to ``on_event``; heartbeats are answered.
        """
        deadline = time.monotonic() + timeout
        count = 0
        while True:
            try:
                message = self._read_message(deadline)
            except RequestTimeoutError:
                return count
            count += 1
            self._other(message)

    # ------------------------------------------------------------------ internals

    def _deadline_for(self, timeout: Timeout) -> float | None:
        seconds = self.limits.call_timeout if timeout is DEFAULT else timeout
        return _deadline(seconds)

    def _remote_error(self, message: ErrorResponse, method: str) -> RemoteError:
        return RemoteError(
            message.message,
            remote_code=message.code,
            method=method,
            data=message.data,
            peer=self.name,
            extension_id=self.info.extension_id if self.info else None,
        )

    def _cancel(self, rid: int) -> None:
        self._cancelled[rid] = None
        if len(self._cancelled) > 4096:
            self._cancelled.popitem(last=False)
        with contextlib.suppress(ConnectionClosedError, RequestTimeoutError):
            self._send(Cancel(rid))

    def _other(self, message: Message) -> None:
        """Handle a frame that is not the answer being waited for."""
        if isinstance(message, Heartbeat):
            self._send(HeartbeatAck(message.seq))
        elif isinstance(message, Publish):
            if self.on_event is not None:
                try:
                    self.on_event(Event(message.topic, message.data, self.name))
                except Exception:
                    _log.exception("event callback failed for %r", message.topic)
        elif isinstance(message, Request):
            self._send(
                ErrorResponse(
                    message.id, ErrorCode.METHOD_NOT_FOUND, "this client serves no methods"
                )
            )
        elif isinstance(message, RequestBatch):
            if not self._batches:
                raise self._violation("RequestBatch on a connection without batches")
            self._refuse_requests(message.runs, [])
        elif isinstance(message, ResponseBatch):
            if not self._batches:
                raise self._violation("ResponseBatch on a connection without batches")
            for answer in message.answers():
                self._other(answer)
        elif isinstance(message, Goodbye):
            reason = f"peer said goodbye: {message.reason}"
            self._shut(reason)
            raise ConnectionClosedError(
                f"connection to {self.name} closed: {reason}", peer=self.name, reason=reason
            )
        elif isinstance(message, Response | ErrorResponse | StreamChunk | StreamEnd):
            rid = message.id
            if rid is not None and rid in self._cancelled:
                if not isinstance(message, StreamChunk):
                    del self._cancelled[rid]
            elif isinstance(message, ErrorResponse) and rid is None:
                _log.error("%s rejected a frame: %s", self.name, message.message)
            else:
                _log.warning("dropping an answer to unknown request %s from %s", rid, self.name)
        elif isinstance(message, Hello | Welcome):
            raise self._violation(f"{type(message).__name__} after the handshake")
        # Notifications, subscription changes, credit and stray acks need no action here.

    def _refuse_requests(self, runs: list[RequestRun], rejected: list[ErrorResponse]) -> None:
        """Answer a batch of requests: this client serves no methods."""
        errors = list(rejected)
        for run in runs:
            errors += [
                ErrorResponse(r.id, ErrorCode.METHOD_NOT_FOUND, "this client serves no methods")
                for r in run.requests()
            ]
        try:
            self._send(errors[0] if len(errors) == 1 else ResponseBatch([], errors))
        except FrameTooLargeError:
            for error in errors:
                self._send(error)

    def _violation(self, text: str) -> ProtocolError:
        error = ProtocolError(text, peer=self.name)
        self.close(f"protocol violation by {self.name}: {text}")
        return error

    def _send(self, message: Message, deadline: float | None = None) -> None:
        """Write one frame; a peer that does not read fails it at ``deadline``."""
        if self._closed:
            raise self._closed_error()
        out = self._out
        out.clear()
        try:
            append_frame(out, message, self._encoder, self._peer_max_frame)
        except TypeError as exc:
            raise IpcUsageError(
                f"{type(message).__name__} holds a value that is not msgpack-native: {exc}",
                peer=self.name,
            ) from None
        self._write(out, deadline)

    def _write(self, data: bytearray, deadline: float | None) -> None:
        view = memoryview(data)
        try:
            while view:
                try:
                    n = os.write(self._wfd, view)
                except BlockingIOError:
                    if not self._poll_out.poll(_remaining_ms(deadline)):
                        # Part of a frame may be out: the stream is no longer aligned.
                        self._shut(f"{self.name} stopped reading")
                        raise RequestTimeoutError(
                            f"{self.name} did not read in time; the connection was closed",
                            peer=self.name,
                        ) from None
                    continue
                except OSError as exc:
                    reason = f"write failed: {exc}"
                    self._shut(reason)
                    raise ConnectionClosedError(
                        f"connection to {self.name} closed: {reason}",
                        peer=self.name,
                        reason=reason,
                    ) from None
                view = view[n:]
        finally:
            view.release()

    def _read_message(self, deadline: float | None) -> Message:
        decoder = self._decoder
        while True:
            try:
                frame = decoder.next_frame()
            except FrameTooLargeError as exc:
                raise self._violation(exc.message) from None
            if frame is not None:
                try:
                    return self._messages.decode(frame)
                except BatchItemsError as exc:
                    if not self._batches:
                        raise self._violation(exc.message) from None
                    self._refuse_requests(exc.runs, exc.rejected)
                    continue
                except ProtocolError as exc:
                    raise self._violation(exc.message) from None
            if self._closed:
                raise self._closed_error()
            if not self._poll_in.poll(_remaining_ms(deadline)):
                raise RequestTimeoutError(f"no answer from {self.name} in time", peer=self.name)
            try:
                n = os.readv(self._rfd, [decoder.get_buffer()])
            except BlockingIOError:
                continue
            except FrameTooLargeError as exc:
                raise self._violation(exc.message) from None
            except OSError as exc:
                if exc.errno == errno.EINTR:  # pragma: no cover - PEP 475 retries
                    continue
                n = 0
            if n == 0:
                reason = "peer closed the connection"
                self._shut(reason)
                raise ConnectionClosedError(
                    f"connection to {self.name} closed: {reason}", peer=self.name, reason=reason
                )
            decoder.buffer_updated(n)

    def _closed_error(self) -> ConnectionClosedError:
        reason = self.close_reason or "closed"
        return ConnectionClosedError(
            f"connection to {self.name} is closed: {reason}", peer=self.name, reason=reason
        )


def _deadline(seconds: float | None) -> float | None:
    return None if seconds is None else time.monotonic() + seconds


def _remaining_ms(deadline: float | None) -> int:
    if deadline is None:
        return -1
    return max(0, int((deadline - time.monotonic()) * 1000) + 1)


class _BatchCall:
    """The state of one blocking call_batch: results, and which ids are still open.

    Request ``first + k`` holds result ``k``; ``answered[k]`` is set once it is in.
    """

    __slots__ = ("answered", "failure", "first", "method", "outstanding", "results", "sent")

    def __init__(self, method: str, first: int, n: int) -> None:
        self.method = method
        self.first = first
        self.results: list[Any] = [None] * n
        self.answered = bytearray(n)
        self.sent = 0
        self.outstanding = 0
        self.failure: BaseException | None = None

    def is_open(self, rid: int) -> bool:
        """Whether request ``rid`` is one of ours, sent and not answered yet."""
        k = rid - self.first
        return 0 <= k < self.sent and not self.answered[k]

    def settle(self, rid: int, result: Any) -> None:
        """Record the answer to an open request (an exception for a failure)."""
        k = rid - self.first
        self.answered[k] = 1
        self.outstanding -= 1
        self.results[k] = result
        if self.failure is None and isinstance(result, BaseException):
            self.failure = result

    def take_run(self, rid: int, results: list[Any]) -> bool:
        """Record a run of results if all its requests are open; say whether it was."""
        k = rid - self.first
        m = len(results)
        if k < 0 or k + m > self.sent or self.answered.find(1, k, k + m) != -1:
            return False
        self.answered[k : k + m] = b"\x01" * m
        self.results[k : k + m] = results
        self.outstanding -= m
        return True

    def unanswered(self) -> list[int]:
        """The ids sent and not answered yet."""
        answered, first = self.answered, self.first
        return [first + k for k in range(self.sent) if not answered[k]]
