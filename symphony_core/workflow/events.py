"""An ordered stream of run events that subscribers read at their own pace and resume.

:class:`EventLog` numbers every event it is given (``seq`` = 1, 2, 3, ... with no gap),
hands it to an optional persistence hook, and keeps the most recent ``capacity`` events in
a ring buffer. Subscribers do not get a queue of their own: a :class:`Subscription` is a
cursor into that buffer, so the producer never waits for anyone and memory stays bounded
however many subscribers there are or however slow they read.

A subscriber that falls so far behind that the events it has not read yet have left the
buffer is told so:
its next read raises :class:`~symphony_core.workflow.errors.FellBehindError` carrying the
sequence number of the last event it did receive. ``EventLog.subscribe(after=that)``
(or :meth:`Subscription.resume`) continues from exactly the next event: from the buffer
if it is still there, otherwise from the persistence hook's ``replay`` function; with
neither, :class:`~symphony_core.workflow.errors.EventsLostError` says which events are
gone. Either way the subscriber sees every event once, in order — no gap, no duplicate.

Everything is thread-safe: the producer and each subscriber may run in their own thread,
and :meth:`Subscription.get` blocks (with an optional timeout) until the next event.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import msgspec

from symphony_core.workflow.errors import EventsLostError, FellBehindError, WorkflowError
from symphony_core.workflow.values import EMPTY, FrozenDict, freeze_mapping

__all__ = ["Event", "EventLog", "Persist", "Replay", "Subscription"]


class Event(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One thing that happened in a run.

    Attributes:
        seq: Position in the log: 1, 2, 3, ... with no gap.
        kind: What happened: ``run.started``, ``run.finished``, ``node.state``, or any
            dotted name a producer chooses.
        run_id: The run it belongs to.
        time: Wall-clock time (seconds since the epoch) it was recorded.
        node: The node it is about, if any.
        state: For ``node.state``: the new state.
        previous: For ``node.state``: the state before.
        data: Anything else (an error message, an attempt number...), as frozen JSON values.
    """

    seq: int
    kind: str
    run_id: str
    time: float
    node: str | None = None
    state: str | None = None
    previous: str | None = None
    data: FrozenDict = EMPTY


Persist = Callable[[Event], None]
"""Called with every event, in order, before subscribers can see it (e.g. writes a row)."""
Replay = Callable[[int], Iterable[Event]]
"""``replay(after)`` yields the persisted events with ``seq > after``, in order."""


class EventLog:
    """Numbers events, keeps the last ``capacity`` of them, and serves subscribers.

    Args:
        capacity: How many recent events the ring buffer keeps.
        persist: Called with each event, in order, while the log's lock is held (so keep
            it quick: an append to a file, an INSERT in an open transaction).
        replay: Returns persisted events after a sequence number, for subscribers that
            resume from before the buffer's oldest event.
        start_seq: The sequence number of the last event already persisted (a log
            reopened after a restart continues the numbering).
        clock: Source of event times.
    """

    def __init__(
        self,
        *,
        capacity: int = 10_000,
        persist: Persist | None = None,
        replay: Replay | None = None,
        start_seq: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if capacity < 1:
            raise WorkflowError("an event log keeps at least one event", hint="capacity >= 1")
        self._capacity = capacity
        self._buffer: deque[Event] = deque(maxlen=capacity)
        self._persist = persist
        self._replay = replay
        self._last = start_seq
        self._clock = clock
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._closed = False

    @property
    def last_seq(self) -> int:
        """Sequence number of the newest event (0 before the first)."""
        return self._last

    @property
    def oldest_seq(self) -> int:
        """Sequence number of the oldest event still in the buffer (``last_seq + 1`` if none)."""
        with self._lock:
            return self._oldest()

    def _oldest(self) -> int:
        return self._buffer[0].seq if self._buffer else self._last + 1

    @property
    def capacity(self) -> int:
        """How many events the buffer keeps."""
        return self._capacity

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def append(
        self,
        kind: str,
        *,
        run_id: str,
        node: str | None = None,
        state: str | None = None,
        previous: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Event:
        """Record an event and wake every waiting subscriber; never waits for them.

        Returns:
            The event, with its sequence number.

        Raises:
            WorkflowError: The log is closed.
            ValueRuleError: ``data`` holds a value that is not a JSON value.
        """
        frozen = freeze_mapping(data)
        with self._changed:
            if self._closed:
                raise WorkflowError("the event log is closed", hint="open a new EventLog")
            event = Event(
                seq=self._last + 1,
                kind=kind,
                run_id=run_id,
                time=self._clock(),
                node=node,
                state=state,
                previous=previous,
                data=frozen,
            )
            if self._persist is not None:
                self._persist(event)
            self._last = event.seq
            self._buffer.append(event)
            self._changed.notify_all()
        return event

    def close(self) -> None:
        """Mark the stream finished: subscribers read what is left, then stop."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def since(self, after: int) -> list[Event]:
        """Every event with ``seq > after`` available now (buffer, then replay if needed).

        Raises:
            EventsLostError: Some of those events are neither buffered nor replayable.
        """
        subscription = self.subscribe(after=after)
        out: list[Event] = []
        while True:
            event = subscription.get(timeout=0)
            if event is None:
                return out
            out.append(event)

    def subscribe(self, *, after: int | None = None) -> Subscription:
        """Start reading the stream.

        A subscription that starts before the buffer's oldest event first catches up
        from the replay function, then reads the buffer.

        Args:
            after: Deliver the events with ``seq > after``; ``None`` means only events
                appended from now on.

        Raises:
            EventsLostError: ``after`` is older than the buffer and there is no replay.
        """
        with self._lock:
            start = self._last if after is None else max(0, after)
            if start > self._last:
                raise WorkflowError(
                    f"cannot resume after event #{start}: the newest is #{self._last}",
                    hint="resume after a sequence number this log handed out",
                )
            if start + 1 < self._oldest() and self._replay is None:
                raise EventsLostError(start, self._oldest())
        return Subscription(self, start)

    # Used by Subscription, under no lock of its own.

    def _read(self, cursor: int) -> tuple[str, Event | None]:
        # cursor is the seq of the last event the subscriber received. The answer is
        # ("event", e), ("wait", None), ("gone", None) or ("closed", None).
        if cursor < self._last:
            oldest = self._oldest()
            want = cursor + 1
            if want < oldest:
                return "gone", None
            return "event", self._buffer[want - oldest]
        return ("closed", None) if self._closed else ("wait", None)


class Subscription:
    """A reader of an :class:`EventLog` (made by :meth:`EventLog.subscribe`).

    Attributes:
        last_seq: Sequence number of the last event delivered (where to resume after).
    """

    def __init__(self, log: EventLog, after: int) -> None:
        self._log = log
        self.last_seq = after
        self._replaying: Iterator[Event] | None = None
        # Until it has read one event from the buffer, a subscription that starts before
        # the buffer's oldest event catches up from the replay function.
        self._catching_up = True
        self._closed = False
        self._behind = False

    @property
    def behind(self) -> bool:
        """Whether it fell behind (every further read raises until it resumes)."""
        return self._behind

    def close(self) -> None:
        """Stop reading; further reads return nothing."""
        self._closed = True

    def _is_closed(self) -> bool:
        # A method, not the attribute: another thread may close it while this one waits.
        return self._closed

    def resume(self) -> Subscription:
        """A new subscription continuing right after :attr:`last_seq` (no gap, no duplicate)."""
        return self._log.subscribe(after=self.last_seq)

    def _next_replayed(self) -> Event | None:
        log = self._log
        if log._replay is None:
            raise EventsLostError(self.last_seq, log.oldest_seq)
        if self._replaying is None:
            self._replaying = iter(log._replay(self.last_seq))
        for event in self._replaying:
            if event.seq <= self.last_seq:
                continue  # a replay that starts early: skip what was delivered
            if event.seq != self.last_seq + 1:
                raise EventsLostError(self.last_seq, event.seq)
            return event
        self._replaying = None
        return None

    def get(self, timeout: float | None = None) -> Event | None:
        """Return the next event, waiting up to ``timeout`` seconds (``None``: forever).

        Returns:
            The event, or ``None`` on timeout, or once the log is closed and every event
            was read, or after :meth:`close`.

        Raises:
            FellBehindError: Unread events left the buffer; resume after
                ``error.last_seq``.
            EventsLostError: Events it needs are neither buffered nor replayable.
        """
        if self._closed:
            return None
        if self._behind:
            raise FellBehindError(self.last_seq)
        log = self._log
        deadline = None if timeout is None else time.monotonic() + timeout
        replay_stalled = False
        while True:
            if self._replaying is not None:
                event = self._next_replayed()
                if event is not None:
                    self.last_seq = event.seq
                    return event
            with log._changed:
                status, event = log._read(self.last_seq)
                if status == "wait":
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return None
                    log._changed.wait(remaining)
                    if self._is_closed():
                        return None
                    continue
            if status == "event":
                assert event is not None
                self._catching_up = False
                self.last_seq = event.seq
                return event
            if status == "closed":
                return None
            # "gone": the next event left the buffer.
            if not self._catching_up:
                self._behind = True
                raise FellBehindError(self.last_seq)
            if replay_stalled:
                raise EventsLostError(self.last_seq, log.oldest_seq)
            event = self._next_replayed()
            if event is None:
                replay_stalled = True
                continue
            replay_stalled = False
            self.last_seq = event.seq
            return event

    def poll(self, limit: int | None = None) -> list[Event]:
        """Return the events available now without waiting (at most ``limit``).

        Raises:
            FellBehindError: See :meth:`get`.
        """
        out: list[Event] = []
        while limit is None or len(out) < limit:
            event = self.get(timeout=0)
            if event is None:
                break
            out.append(event)
        return out

    def __iter__(self) -> Iterator[Event]:
        """Yield events as they come, until the log is closed and drained."""
        while True:
            event = self.get()
            if event is None:
                return
            yield event
