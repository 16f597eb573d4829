"""The bounds every IPC connection works within: sizes, counts, rates and timeouts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from symphony_core.ipc.errors import IpcUsageError
from symphony_core.ipc.framing import DEFAULT_MAX_FRAME_SIZE, MAX_FRAME_SIZE_LIMIT

__all__ = ["BusyPolicy", "IpcLimits"]

BusyPolicy = Literal["wait", "raise"]


@dataclass(frozen=True, slots=True)
class IpcLimits:
    """Limits of one connection. Every queue the host keeps for a peer is bounded by one.

    Attributes:
        max_frame_size: Largest frame body this side accepts (stated in the handshake,
            so the peer refuses to send anything larger).
        max_in_flight: Requests (and streams) this side may have waiting for answers.
            Lowered to the peer's ``max_concurrent`` after the handshake.
        max_concurrent: Requests this side serves at once; more get a BUSY error.
        when_busy: ``"wait"``: a caller over ``max_in_flight`` or ``write_high_water``
            waits for room (its timeout still runs); ``"raise"``: it gets
            :class:`~symphony_core.ipc.errors.BusBusyError` at once.
        write_high_water: Bytes queued for the peer before callers must wait. Events
            published past it are dropped for that peer (and counted).
        write_hard_limit: Bytes queued for the peer at which it is judged not to read
            and the connection is closed.
        stream_window: Stream chunks a sender may have in flight without credit.
        stream_chunk_size: Bytes per chunk when a handler streams large bytes objects;
            by default 256 KiB, or half the frame cap if that is smaller.
        call_timeout: Default seconds a request waits for its answer (``None``: forever).
        handshake_timeout: Seconds allowed for the Hello / Welcome exchange.
        flood_rate: Unsolicited frames per second (events, notifications, subscription
            changes, heartbeats, stray answers) accepted from the peer on average.
        flood_burst: How many unsolicited frames may arrive at once above that rate.
        flood_close_after: Frames dropped within one second at which the peer is
            disconnected for flooding (``None``: only drop, never disconnect).
        max_bad_frames: Malformed frames tolerated (each answered with an error) before
            the connection is closed; 0 closes on the first.
        max_remote_patterns: Topic patterns the peer may subscribe to.
        subscription_queue: Events buffered per local subscription before the oldest
            are dropped.
        spin_wait: Seconds a call may wait for its answer by polling its own socket
            before yielding to the event loop (0: never). Saves two loop iterations
            and a task wake-up per round trip. Only used when no other callback is
            ready to run; blocks the loop for at most this long (sleeping, not
            burning CPU); backs off after a miss, so slow methods stop paying it.
        max_batch: Most requests one batch frame (protocol version 2) may carry. A
            longer batch from the peer is refused whole, before any of it runs: each
            of its requests is answered with an INVALID_REQUEST error naming this
            limit. An extension also refuses batches longer than its
            ``max_concurrent``, which it states in the handshake. ``call_batch``
            splits its calls into frames of at most this many (and no more than are
            allowed in flight); keep it no larger than the peer's. A caller whose
            batch is refused this way sends smaller batches from then on.
    """

    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
    max_in_flight: int = 1024
    max_concurrent: int = 256
    when_busy: BusyPolicy = "wait"
    write_high_water: int = 1024 * 1024
    write_hard_limit: int = 64 * 1024 * 1024
    stream_window: int = 8
    stream_chunk_size: int = 0
    call_timeout: float | None = 30.0
    handshake_timeout: float = 10.0
    flood_rate: float = 50_000.0
    flood_burst: int = 10_000
    flood_close_after: int | None = 100_000
    max_bad_frames: int = 0
    max_remote_patterns: int = 1024
    subscription_queue: int = 1024
    spin_wait: float = 100e-6
    max_batch: int = 1024

    def __post_init__(self) -> None:
        if self.stream_chunk_size == 0:
            object.__setattr__(
                self, "stream_chunk_size", min(256 * 1024, max(1, self.max_frame_size // 2))
            )
        problems: list[str] = []
        if not 64 <= self.max_frame_size <= MAX_FRAME_SIZE_LIMIT:
            problems.append(f"max_frame_size must be in 64..{MAX_FRAME_SIZE_LIMIT}")
        for name in (
            "max_in_flight",
            "max_concurrent",
            "max_batch",
            "stream_window",
            "flood_burst",
        ):
            value = getattr(self, name)
            if not 1 <= value <= 2**31 - 1:
                problems.append(f"{name} must be in 1..{2**31 - 1}")
        if self.when_busy not in ("wait", "raise"):
            problems.append("when_busy must be 'wait' or 'raise'")
        if self.write_high_water < 1:
            problems.append("write_high_water must be positive")
        if self.write_hard_limit < self.write_high_water + self.max_frame_size:
            problems.append("write_hard_limit must be at least write_high_water + max_frame_size")
        if not 1 <= self.stream_chunk_size <= self.max_frame_size - 64:
            problems.append("stream_chunk_size must be in 1..max_frame_size - 64")
        if self.call_timeout is not None and self.call_timeout <= 0:
            problems.append("call_timeout must be positive or None")
        if self.handshake_timeout <= 0:
            problems.append("handshake_timeout must be positive")
        if self.flood_rate <= 0:
            problems.append("flood_rate must be positive")
        if self.flood_close_after is not None and self.flood_close_after < 1:
            problems.append("flood_close_after must be positive or None")
        if self.max_bad_frames < 0:
            problems.append("max_bad_frames must not be negative")
        if not 0.0 <= self.spin_wait <= 0.01:
            problems.append("spin_wait must be in 0..0.01 seconds")
        if self.max_remote_patterns < 0 or self.subscription_queue < 1:
            problems.append("max_remote_patterns >= 0 and subscription_queue >= 1 required")
        if problems:
            raise IpcUsageError("invalid IPC limits: " + "; ".join(problems), where="IpcLimits")
