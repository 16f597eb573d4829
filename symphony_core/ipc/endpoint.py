"""The core of a connection: state, transport glue, frame reading and writing, closing.

:class:`Endpoint` holds everything one end of a connection keeps and does the work every
message shares; the behaviours (calling, serving, events, handshake) are mixins over it,
combined into :class:`~symphony_core.ipc.connection.Connection`.

Hot path: frames are read straight into the decoder's buffer, decoded into structs and
dispatched by type. Answers produced while a read is processed leave in one write at its
end. A write made when nothing was sent since the last read goes out at once; a second
one before the next read starts a cork that gathers the burst into one write on the next
loop iteration (or as soon as 64 KiB are waiting).
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import socket
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias, cast

import msgspec

from symphony_core.ipc.batches import BatchWaiter, ChunkTable
from symphony_core.ipc.errors import (
    BusBusyError,
    ConnectionClosedError,
    FrameTooLargeError,
    HandshakeError,
    IpcUsageError,
    ProtocolError,
)
from symphony_core.ipc.flood import FloodGuard
from symphony_core.ipc.framing import FrameDecoder, append_frame
from symphony_core.ipc.handlers import HandlerTable
from symphony_core.ipc.limits import IpcLimits
from symphony_core.ipc.protocol import (
    BATCH_VERSION,
    BatchItemsError,
    ErrorCode,
    ErrorResponse,
    Goodbye,
    Hello,
    Message,
    MessageDecoder,
    Request,
    RequestBatch,
    Welcome,
)
from symphony_core.ipc.streams import StreamCredit
from symphony_core.ipc.topics import Subscription, TopicRouter
from symphony_core.log import get_logger

if TYPE_CHECKING:
    from symphony_core.ipc.connection import Connection

__all__ = [
    "DEFAULT",
    "ConnectionStats",
    "Endpoint",
    "PeerInfo",
    "Role",
    "Timeout",
    "current_connection",
]

_log = get_logger("ipc.connection")

Role = Literal["host", "extension"]


class _Default(enum.Enum):
    TOKEN = 0


DEFAULT: Final = _Default.TOKEN
"""Use the connection's configured default (e.g. ``IpcLimits.call_timeout``)."""
Timeout: TypeAlias = float | _Default | None

_OPENING, _OPEN, _CLOSED = 0, 1, 2
_CHUNKABLE: Final = (bytes, bytearray, memoryview)
_FLUSH_AT: Final = 64 * 1024
_CURRENT: contextvars.ContextVar[Connection] = contextvars.ContextVar("symphony_ipc_connection")


def current_connection() -> Connection:
    """Return the connection whose handler is running (for handlers that publish or call).

    Raises:
        IpcUsageError: Called outside a handler or connection callback.
    """
    try:
        return _CURRENT.get()
    except LookupError:
        raise IpcUsageError(
            "current_connection() called outside an IPC handler",
            hint="call it from a handler served by serve() or a Bus",
        ) from None


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """What the handshake told about the other side.

    Attributes:
        protocol_version: The version in use on this connection.
        max_frame_size: The largest frame body the peer accepts.
        extension_id: The extension's id (when the peer is an extension).
        extension_version: The extension's version (when the peer is an extension).
        pid: The extension's process id (when the peer is an extension).
        capabilities: Optional features the extension offers.
        max_concurrent: Requests the extension serves at once.
        host_id: The host's id (when the peer is the host).
        stream_window: Chunks the host accepts ahead of credit (when the peer is the host).
    """

    protocol_version: int
    max_frame_size: int
    extension_id: str | None = None
    extension_version: str | None = None
    pid: int | None = None
    capabilities: tuple[str, ...] = ()
    max_concurrent: int | None = None
    host_id: str | None = None
    stream_window: int | None = None


@dataclass(frozen=True, slots=True)
class ConnectionStats:
    """Counters of one connection (a snapshot).

    Attributes:
        in_flight: Requests (and streams) sent and not answered yet.
        serving: Requests from the peer being served now.
        queued_bytes: Bytes waiting to be written to the peer.
        dropped_unsolicited: Frames from the peer dropped by flood control or as BUSY.
        dropped_events: Events for the peer dropped because its queue was full.
        bad_frames: Malformed frames received.
        remote_patterns: Topic patterns the peer subscribed to.
    """

    in_flight: int
    serving: int
    queued_bytes: int
    dropped_unsolicited: int
    dropped_events: int
    bad_frames: int
    remote_patterns: int


PublishHook: TypeAlias = Callable[["Connection", str, Any], None]
SubscriptionHook: TypeAlias = Callable[["Connection", str, bool], None]
CloseHook: TypeAlias = Callable[["Connection", str], None]


class Endpoint:
    """State and shared machinery of one end of a connection (see ``Connection``).

    Args:
        name: Name used in logs and errors.
        role: ``"host"`` (sends Hello) or ``"extension"`` (answers it).
        limits: The bounds this side works within.
        handlers: Methods this side serves to the peer.
        on_publish: Called for each admitted event from the peer.
        on_subscription: Called when the peer subscribes (True) or unsubscribes (False).
        on_close: Called once with the reason when the connection closes.
    """

    def __init__(
        self,
        *,
        name: str,
        role: Role,
        limits: IpcLimits | None = None,
        handlers: HandlerTable | None = None,
        on_publish: PublishHook | None = None,
        on_subscription: SubscriptionHook | None = None,
        on_close: CloseHook | None = None,
    ) -> None:
        self.name = name
        self.role: Role = role
        self.limits = limits = limits or IpcLimits()
        self.info: PeerInfo | None = None
        self.close_reason: str | None = None
        self._handlers = handlers if handlers is not None else HandlerTable()
        self._on_publish_hook = on_publish
        self._on_subscription_hook = on_subscription
        self._on_close_hook = on_close
        self._loop = asyncio.get_running_loop()
        self._state = _OPENING
        self._context = contextvars.copy_context()
        self._transport: asyncio.WriteTransport | None = None
        self._read_transport: asyncio.ReadTransport | None = None
        self._decoder = FrameDecoder(limits.max_frame_size)
        self._messages = MessageDecoder()
        self._encoder = msgspec.msgpack.Encoder()
        self._out = bytearray()
        self._corked = False
        self._flush_at = min(_FLUSH_AT, limits.write_high_water)
        self._sent_since_read = False
        self._write_paused = False
        self._write_waiters: deque[asyncio.Future[None]] = deque()
        self._peer_max_frame = limits.max_frame_size
        self._peer_window = limits.stream_window
        self._hard_limit = limits.write_hard_limit
        self._max_in_flight = limits.max_in_flight
        # Batch frames: whether the connection negotiated them, the most requests we put
        # in one, and the most we accept in one (set by _open).
        self._batches = False
        self._batch_size = limits.max_batch
        self._batch_limit = limits.max_batch
        self._batch_limit_name = "max_batch"
        self._busy_raises = limits.when_busy == "raise"
        self._default_timeout = limits.call_timeout
        self._spin_budget = limits.spin_wait
        self._spin_skip = 0
        self._spin_misses = 0
        self._read_fd = -1
        self._sock: socket.socket | None = None
        self._read_paused = False
        self._next_id = 1
        self._pending: dict[int, Any] = {}
        self._chunks = ChunkTable()
        self._deadlines: dict[int | BatchWaiter, tuple[float, str, float]] = {}
        self._sweep_at: float | None = None
        self._sweep_handle: asyncio.TimerHandle | None = None
        self._cancelled: OrderedDict[int, None] = OrderedDict()
        self._slot_waiters: deque[asyncio.Future[None]] = deque()
        self._served: dict[int, asyncio.Task[None]] = {}
        self._credits: dict[int, StreamCredit] = {}
        self._notify_tasks: set[asyncio.Task[None]] = set()
        self._heartbeats: dict[int, asyncio.Future[None]] = {}
        self._next_heartbeat = 0
        self._guard = FloodGuard(limits.flood_rate, limits.flood_burst, limits.flood_close_after)
        self._bad_frames = 0
        self._dropped_events = 0
        self._remote_patterns: set[str] = set()
        self._local_topics: TopicRouter[Subscription] = TopicRouter()
        # Exists from the start: the peer's first frame may arrive before anyone awaits it.
        self._handshake: asyncio.Future[Message] = self._loop.create_future()
        self._closed_future: asyncio.Future[str] = self._loop.create_future()
        # Filled by Connection: message type -> handler method.
        self._dispatch: dict[type, Callable[[Any], None]] = {}

    @property
    def closed(self) -> bool:
        """Whether the connection is closed (or closing)."""
        return self._state == _CLOSED

    @property
    def is_open(self) -> bool:
        """Whether the handshake is done and the connection is not closed."""
        return self._state == _OPEN

    def stats(self) -> ConnectionStats:
        """Return the connection's current counters."""
        transport = self._transport
        queued = len(self._out)
        if transport is not None and not transport.is_closing():
            queued += transport.get_write_buffer_size()
        return ConnectionStats(
            in_flight=len(self._pending) + self._chunks.in_flight,
            serving=len(self._served),
            queued_bytes=queued,
            dropped_unsolicited=self._guard.dropped,
            dropped_events=self._dropped_events,
            bad_frames=self._bad_frames,
            remote_patterns=len(self._remote_patterns),
        )

    async def wait_closed(self) -> str:
        """Wait until the connection is closed; return the reason."""
        return await asyncio.shield(self._closed_future)

    @property
    def remote_patterns(self) -> frozenset[str]:
        """Topic patterns the peer subscribed to."""
        return frozenset(self._remote_patterns)

    def _attach(self, write: asyncio.WriteTransport, read: asyncio.ReadTransport | None) -> None:
        self._transport = write
        self._read_transport = read
        write.set_write_buffer_limits(
            high=self.limits.write_high_water, low=self.limits.write_high_water // 4
        )

    def _get_buffer(self) -> memoryview:
        try:
            return self._decoder.get_buffer()
        except ProtocolError as exc:
            self._violation(exc, fatal=True)
            # The transport needs somewhere to read into until it is closed.
            return memoryview(bytearray(4096))

    def _buffer_updated(self, nbytes: int) -> None:
        if self._state == _CLOSED:
            return
        self._decoder.buffer_updated(nbytes)
        self._process()

    def _data_received(self, data: bytes) -> None:
        if self._state == _CLOSED:
            return
        try:
            self._decoder.feed(data)
        except ProtocolError as exc:
            self._violation(exc, fatal=True)
            return
        self._process()

    def _eof_received(self) -> None:
        self._finish(self._goodbye_reason or "peer closed the connection")

    def _connection_lost(self, exc: BaseException | None) -> None:
        if exc is not None:
            reason = f"connection lost: {exc}"
        else:
            reason = self._goodbye_reason or "peer closed the connection"
        self._finish(reason)

    _goodbye_reason: str | None = None

    def _pause_writing(self) -> None:
        self._write_paused = True

    def _resume_writing(self) -> None:
        self._write_paused = False
        waiters = self._write_waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _process(self) -> None:
        decoder = self._decoder
        decode = self._messages.decode
        dispatch = self._dispatch
        was_corked = self._corked
        self._corked = True
        self._sent_since_read = False
        message: Message | BatchItemsError
        try:
            while self._state != _CLOSED:
                try:
                    frame = decoder.next_frame()
                    if frame is None:
                        break
                    message = decode(frame)
                except FrameTooLargeError as exc:
                    self._violation(exc, fatal=True)
                    break
                except BatchItemsError as exc:
                    if self._state != _OPEN:
                        self._violation(exc, fatal=False)
                        continue
                    # A sound batch frame with some invalid requests: each gets its own
                    # error and the rest are served (the serving side's handler).
                    message = exc
                except ProtocolError as exc:
                    self._violation(exc, fatal=False)
                    continue
                if self._state == _OPENING and not isinstance(message, BatchItemsError):
                    if self._on_handshake_message(message):
                        # Later frames wait until the handshake's outcome is applied.
                        break
                    continue
                try:
                    dispatch[type(message)](message)
                except Exception:
                    # A bug on this side: tell the caller, then stop trusting our state.
                    _log.exception("internal error handling %s", type(message).__name__)
                    for rid in _request_ids(message):
                        self._send_quiet(
                            ErrorResponse(rid, ErrorCode.INTERNAL_ERROR, "internal error")
                        )
                    self.close(f"internal error handling a {type(message).__name__} frame")
        finally:
            if not was_corked:
                self._corked = False
                if self._out:
                    self._write_out()

    def _violation(self, exc: ProtocolError, *, fatal: bool) -> None:
        """Answer a bad frame; close the connection if it is fatal or one too many."""
        if self._state == _CLOSED:
            return
        self._bad_frames += 1
        rpc_code = int(exc.details.get("rpc_code", ErrorCode.INVALID_REQUEST))
        self._send_quiet(ErrorResponse(None, rpc_code, exc.message[:4000]))
        if fatal or self._bad_frames > self.limits.max_bad_frames:
            self.close(f"protocol violation by {self.name}: {exc.message}")
        else:
            _log.warning("bad frame from %s: %s", self.name, exc.message, extra={"peer": self.name})

    def _send(self, message: Message) -> None:
        """Queue one frame for the peer and make sure it gets written.

        Raises:
            FrameTooLargeError: The frame exceeds the peer's cap.
            TypeError: The message holds a value msgpack cannot carry.
        """
        out = self._out
        append_frame(out, message, self._encoder, self._peer_max_frame)
        if self._corked:
            if len(out) >= self._flush_at:
                # Enough for one write: hand it over now, so the transport's buffer (and
                # its pause_writing signal) sees it rather than our cork growing.
                self._write_out()
            return
        if self._sent_since_read:
            # A second write with no read in between: more are likely to follow in this
            # loop iteration (a burst of calls), so gather them into one write.
            self._corked = True
            self._loop.call_soon(self._uncork)
        else:
            # Typically a lone request after the previous answer: send it at once.
            self._sent_since_read = True
            self._write_out()

    def _send_quiet(self, message: Message) -> None:
        """Send a control frame if the connection can still carry it."""
        if self._transport is None or self._transport.is_closing():
            return
        try:
            self._send(message)
        except (FrameTooLargeError, TypeError) as exc:  # pragma: no cover - control frames
            _log.error("could not send %s to %s: %s", type(message).__name__, self.name, exc)

    def _cork(self) -> None:
        if not self._corked:
            self._corked = True
            self._loop.call_soon(self._uncork)

    def _uncork(self) -> None:
        self._corked = False
        if self._out:
            self._write_out()

    def _write_out(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            self._out.clear()
            return
        data = self._out
        self._out = bytearray()
        sock = self._sock
        if sock is not None and not transport.get_write_buffer_size():
            # Nothing queued in the transport: send directly (what transport.write would
            # try first anyway), skipping its bookkeeping on the hot path. Whatever the
            # socket does not take now goes to the transport, which keeps the order.
            try:
                sent = sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                sent = 0  # the transport meets the same error and reports it
            if sent == len(data):
                return
            data = data[sent:]
        transport.write(data)
        if self._write_paused and transport.get_write_buffer_size() > self._hard_limit:
            self.abort(
                f"{self.name} does not read: more than {self._hard_limit} bytes queued for it"
            )

    async def _writable(self, *, may_raise: bool = True) -> None:
        while self._write_paused:
            if self._state == _CLOSED:
                raise self._closed_error()
            if may_raise and self._busy_raises:
                raise BusBusyError(
                    f"more than {self.limits.write_high_water} bytes are queued for "
                    f"{self.name}; it is reading slower than it is sent data",
                    peer=self.name,
                    hint="retry later, or use when_busy='wait' to wait for room",
                )
            waiter = self._loop.create_future()
            self._write_waiters.append(waiter)
            await waiter
        if self._state == _CLOSED:
            raise self._closed_error()

    async def _acquire_slot(self) -> None:
        while len(self._pending) + self._chunks.in_flight >= self._max_in_flight:
            if self._state == _CLOSED:
                raise self._closed_error()
            if self._busy_raises:
                raise BusBusyError(
                    f"{self._max_in_flight} requests to {self.name} are already in flight",
                    peer=self.name,
                    hint="retry later, or use when_busy='wait' to wait for a free slot",
                )
            waiter = self._loop.create_future()
            self._slot_waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                # Pass the wake-up on, or another waiter might sleep on a free slot.
                self._wake_slot()
                raise

    def _wake_slot(self) -> None:
        waiters = self._slot_waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _closed_error(self) -> ConnectionClosedError:
        reason = self.close_reason or "the connection is not open"
        return ConnectionClosedError(
            f"connection to {self.name} is closed: {reason}", peer=self.name, reason=reason
        )

    def _check_open(self) -> None:
        if self._state != _OPEN:
            raise self._closed_error()

    async def _await_handshake(self) -> Message:
        try:
            async with asyncio.timeout(self.limits.handshake_timeout):
                return await self._handshake
        except TimeoutError:
            self.close("handshake timed out")
            raise HandshakeError(
                f"no handshake answer within {self.limits.handshake_timeout} s",
                peer=self.name,
                hint="check that the other process runs a Symphony IPC endpoint",
            ) from None
        except ConnectionClosedError as exc:
            raise HandshakeError(
                f"connection closed during the handshake: {exc.reason}", peer=self.name
            ) from None

    def _open(self, info: PeerInfo, *, max_concurrent: int | None) -> None:
        self.info = info
        self._peer_max_frame = info.max_frame_size
        if max_concurrent is not None:
            self._max_in_flight = min(self.limits.max_in_flight, max_concurrent)
        limits = self.limits
        self._batches = info.protocol_version >= BATCH_VERSION
        self._batch_size = min(self._max_in_flight, limits.max_batch)
        if self.role == "extension" and limits.max_concurrent < limits.max_batch:
            # The host was told max_concurrent in the Welcome and never has more in
            # flight: a longer batch breaks what was agreed.
            self._batch_limit = limits.max_concurrent
            self._batch_limit_name = "max_concurrent"
        # Room for the high-water mark plus a couple of the largest frames we may send.
        self._hard_limit = max(
            self.limits.write_hard_limit, self.limits.write_high_water + 2 * self._peer_max_frame
        )
        self._state = _OPEN
        read = self._read_transport
        if read is not None and not read.is_closing():
            # Resuming re-registers the reader callback, which keeps the context it is
            # registered in: use the connection's, so handlers see current_connection().
            self._context.copy().run(read.resume_reading)
            self._read_paused = False
        if self._decoder.buffered:
            self._process()

    def _on_handshake_message(self, message: Message) -> bool:
        waiter = self._handshake
        expected = (Welcome, ErrorResponse) if self.role == "host" else (Hello,)
        if waiter.done() or not isinstance(message, expected):
            self._send_quiet(
                ErrorResponse(
                    None,
                    ErrorCode.HANDSHAKE_REQUIRED,
                    f"expected the handshake, got {type(message).__name__}",
                )
            )
            self.close(f"handshake violated: got {type(message).__name__}")
            return False
        waiter.set_result(message)
        if self._read_transport is not None and not self._read_transport.is_closing():
            self._read_transport.pause_reading()
            self._read_paused = True
        return True

    def _on_late_handshake(self, message: Hello | Welcome) -> None:
        self._violation(
            ProtocolError(f"{type(message).__name__} after the handshake", peer=self.name),
            fatal=True,
        )

    def _unnegotiated(self, message: object) -> None:
        """A batch frame on a connection that did not negotiate batches."""
        version = self.info.protocol_version if self.info is not None else 0
        self._violation(
            ProtocolError(
                f"{type(message).__name__} frames need protocol version {BATCH_VERSION}; "
                f"this connection speaks version {version}",
                peer=self.name,
            ),
            fatal=False,
        )

    def _on_goodbye(self, message: Goodbye) -> None:
        self._goodbye_reason = f"peer said goodbye: {message.reason}"
        self._finish(self._goodbye_reason)

    def _drop_unsolicited(self, what: str, *, counted: bool = False) -> None:
        guard = self._guard
        if not counted:
            guard.record_drop()
        if guard.should_report():
            _log.warning(
                "dropping frames from %s (%s); %d dropped so far",
                self.name,
                what,
                guard.dropped,
                extra={"peer": self.name},
            )
        if guard.flooding:
            self.close(
                f"{self.name} is flooding: {guard.dropped} unsolicited frames dropped; disconnected"
            )

    def close(self, reason: str = "closed") -> None:
        """Say goodbye, flush what is queued and close. Idempotent; never raises.

        Everything waiting on the connection fails with
        :class:`~symphony_core.ipc.errors.ConnectionClosedError` naming ``reason``.
        """
        if self._state == _CLOSED:
            return
        transport = self._transport
        if transport is not None and not transport.is_closing():
            self._send_quiet(Goodbye(reason[:4000]))
            data, self._out = self._out, bytearray()
            if data:
                transport.write(data)
        self._finish(reason)

    def abort(self, reason: str) -> None:
        """Close at once, dropping whatever is queued for the peer."""
        if self._state == _CLOSED:
            return
        self._out.clear()
        self._finish(reason, abort=True)

    def _finish(self, reason: str, *, abort: bool = False) -> None:
        if self._state == _CLOSED:
            return
        self._state = _CLOSED
        self.close_reason = reason
        _log.info("connection to %s closed: %s", self.name, reason, extra={"peer": self.name})
        for transport in (self._transport, self._read_transport):
            if transport is not None and not transport.is_closing():
                if abort and isinstance(transport, asyncio.WriteTransport):
                    transport.abort()
                else:
                    transport.close()
        error = self._closed_error()
        handshake = self._handshake
        if not handshake.done():
            handshake.set_exception(error)
            # Nobody may ever await it (closed before the handshake began).
            handshake.exception()
        pending, self._pending = self._pending, {}
        self._fail_pending(pending, error)
        if self._sweep_handle is not None:
            self._sweep_handle.cancel()
            self._sweep_handle = None
        for future in self._heartbeats.values():
            if not future.done():
                future.set_exception(error)
        for credit in self._credits.values():
            credit.close()
        for task in list(self._served.values()) + list(self._notify_tasks):
            task.cancel()
        for queue in (self._slot_waiters, self._write_waiters):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)
        for subscription in self._local_topics.all_targets():
            subscription.close()
        if not self._closed_future.done():
            self._closed_future.set_result(reason)
        if self._on_close_hook is not None:
            try:
                self._on_close_hook(self._as_connection(), reason)
            except Exception:
                _log.exception("close hook for %s failed", self.name)

    def _fail_pending(self, pending: dict[int, Any], error: ConnectionClosedError) -> None:
        """Fail every call still waiting for an answer (the connection closed)."""
        for waiter in pending.values():
            if isinstance(waiter, asyncio.Future):
                if not waiter.done():
                    waiter.set_exception(error)
            else:
                waiter._on_error(error)

    def _as_connection(self) -> Connection:
        # Every Endpoint is the core of a Connection; hooks are typed for the whole.
        return cast("Connection", self)

    def __repr__(self) -> str:
        state = ("opening", "open", "closed")[self._state]
        return f"<Connection {self.name} {self.role}-side {state}>"


def _request_ids(message: object) -> list[int]:
    """The ids of the requests a frame carried (to answer them after an internal error)."""
    if isinstance(message, Request):
        return [message.id]
    if isinstance(message, RequestBatch | BatchItemsError):
        return [run.first_id + i for run in message.runs for i in range(len(run.params))]
    return []
