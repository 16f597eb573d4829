"""Topics for publish/subscribe: names, patterns, routing, and bounded subscriptions.

A topic is a dotted name (``workflow.node.done``). A pattern is a topic, a topic prefix
followed by ``.*`` (``workflow.*`` matches ``workflow.node.done`` but not ``workflow``),
or ``*`` alone (everything). A :class:`Subscription` keeps at most ``maxsize`` events;
when a subscriber falls behind, the oldest are dropped and counted, so a slow consumer
never makes the publisher's memory grow.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Generic, TypeVar

import msgspec

from symphony_core.ipc.errors import ConnectionClosedError, IpcUsageError
from symphony_core.ipc.protocol import MAX_NAME_LENGTH
from symphony_core.log import get_logger

__all__ = ["Event", "Subscription", "TopicRouter", "check_pattern", "check_topic"]

_log = get_logger("ipc.topics")
_TOPIC = re.compile(r"[A-Za-z0-9_\-:]+(?:\.[A-Za-z0-9_\-:]+)*\Z")
T = TypeVar("T")


def check_topic(topic: str) -> str:
    """Return ``topic`` if it is a valid topic name.

    Raises:
        IpcUsageError: It is empty, too long, or not dot-separated words of letters,
            digits, ``_``, ``-`` and ``:``.
    """
    if not isinstance(topic, str) or len(topic) > MAX_NAME_LENGTH or not _TOPIC.match(topic):
        raise IpcUsageError(
            f"invalid topic {topic!r}",
            hint="use dot-separated words of letters, digits, '_', '-' or ':' "
            f"(at most {MAX_NAME_LENGTH} characters), e.g. 'workflow.node.done'",
        )
    return topic


def check_pattern(pattern: str) -> str:
    """Return ``pattern`` if it is a topic, ``prefix.*`` or ``*``.

    Raises:
        IpcUsageError: It is neither.
    """
    if pattern == "*":
        return pattern
    base = pattern[:-2] if isinstance(pattern, str) and pattern.endswith(".*") else pattern
    try:
        check_topic(base)
    except IpcUsageError:
        raise IpcUsageError(
            f"invalid topic pattern {pattern!r}",
            hint="use a topic ('a.b'), a prefix followed by '.*' ('a.*'), or '*'",
        ) from None
    return pattern


class Event(msgspec.Struct, frozen=True, gc=False):
    """One published event as a subscriber receives it.

    Attributes:
        topic: The topic it was published on.
        data: Its payload (msgpack-native values).
        source: Who published it: ``"host"`` or the publishing connection's name.
    """

    topic: str
    data: Any
    source: str


class TopicRouter(Generic[T]):
    """Map patterns to targets and find the targets a topic reaches.

    Exact patterns are a dict lookup; ``prefix.*`` patterns are checked per dotted
    prefix of the topic, so matching costs one lookup per level of the topic.
    """

    __slots__ = ("_all", "_exact", "_prefix")

    def __init__(self) -> None:
        self._exact: dict[str, dict[T, int]] = {}
        self._prefix: dict[str, dict[T, int]] = {}
        self._all: dict[T, int] = {}

    def _slot(self, pattern: str, create: bool) -> dict[T, int] | None:
        if pattern == "*":
            return self._all
        table, key = (
            (self._prefix, pattern[:-2]) if pattern.endswith(".*") else (self._exact, pattern)
        )
        slot = table.get(key)
        if slot is None and create:
            slot = table[key] = {}
        return slot

    def add(self, pattern: str, target: T) -> bool:
        """Route ``pattern`` to ``target``; return True if the pair is new.

        The same pair added twice must be removed twice.
        """
        slot = self._slot(check_pattern(pattern), create=True)
        assert slot is not None
        count = slot.get(target, 0)
        slot[target] = count + 1
        return count == 0

    def remove(self, pattern: str, target: T) -> bool:
        """Undo one :meth:`add`; return True if the pair is now gone entirely."""
        slot = self._slot(pattern, create=False)
        if slot is None or target not in slot:
            return False
        slot[target] -= 1
        if slot[target]:
            return False
        del slot[target]
        if not slot and pattern != "*":
            table = self._prefix if pattern.endswith(".*") else self._exact
            table.pop(pattern[:-2] if pattern.endswith(".*") else pattern, None)
        return True

    def remove_target(self, target: T) -> list[str]:
        """Remove every route to ``target``; return the patterns it had."""
        gone: list[str] = []
        if self._all.pop(target, None) is not None:
            gone.append("*")
        for table, suffix in ((self._exact, ""), (self._prefix, ".*")):
            for key in list(table):
                slot = table[key]
                if slot.pop(target, None) is not None:
                    gone.append(key + suffix)
                    if not slot:
                        del table[key]
        return gone

    def targets(self, pattern: str) -> list[T]:
        """Return the targets routed under exactly ``pattern``."""
        slot = self._slot(pattern, create=False)
        return list(slot) if slot else []

    def all_targets(self) -> list[T]:
        """Return every target with at least one route, once each."""
        found: dict[T, None] = dict.fromkeys(self._all)
        for table in (self._exact, self._prefix):
            for slot in table.values():
                found.update(dict.fromkeys(slot))
        return list(found)

    def match(self, topic: str) -> list[T]:
        """Return each target that ``topic`` reaches, once, in no particular order."""
        found: dict[T, None] = dict.fromkeys(self._all)
        exact = self._exact.get(topic)
        if exact:
            found.update(dict.fromkeys(exact))
        if self._prefix:
            end = topic.find(".")
            while end != -1:
                slot = self._prefix.get(topic[:end])
                if slot:
                    found.update(dict.fromkeys(slot))
                end = topic.find(".", end + 1)
        return list(found)

    def __bool__(self) -> bool:
        return bool(self._all or self._exact or self._prefix)


class Subscription:
    """A bounded queue of events for one subscriber; iterate it with ``async for``.

    Args:
        pattern: The topic pattern subscribed to.
        maxsize: Events kept before the oldest are dropped.
        on_close: Called once when the subscription is closed.
    """

    def __init__(
        self,
        pattern: str,
        *,
        maxsize: int = 1024,
        on_close: Callable[[Subscription], None] | None = None,
    ) -> None:
        if maxsize < 1:
            raise IpcUsageError("a subscription's maxsize must be at least 1")
        self.pattern = check_pattern(pattern)
        self.maxsize = maxsize
        self.dropped = 0
        """Events dropped because this subscriber fell behind."""
        self.delivered = 0
        """Events put into this subscription so far."""
        self._queue: deque[Event] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._on_close = on_close

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, event: Event) -> bool:
        """Queue ``event``; drop the oldest if full. Return False if one was dropped."""
        if self._closed:
            return False
        queue = self._queue
        kept = True
        if len(queue) >= self.maxsize:
            queue.popleft()
            self.dropped += 1
            kept = False
            if self.dropped == 1 or self.dropped % 1000 == 0:
                _log.warning(
                    "subscriber to %r is too slow: %d events dropped so far",
                    self.pattern,
                    self.dropped,
                )
        queue.append(event)
        self.delivered += 1
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        return kept

    def get_nowait(self) -> Event | None:
        """Return the oldest queued event, or ``None`` if there is none."""
        return self._queue.popleft() if self._queue else None

    def drain(self) -> Iterator[Event]:
        """Yield and remove every queued event without waiting."""
        while self._queue:
            yield self._queue.popleft()

    async def get(self, timeout: float | None = None) -> Event:
        """Wait for the next event.

        Raises:
            TimeoutError: None arrived within ``timeout`` seconds.
            ConnectionClosedError: The subscription is closed and empty.
        """
        while not self._queue:
            if self._closed:
                raise ConnectionClosedError(
                    f"the subscription to {self.pattern!r} is closed", reason="closed"
                )
            loop = asyncio.get_running_loop()
            self._waiter = waiter = loop.create_future()
            try:
                async with asyncio.timeout(timeout):
                    await waiter
            finally:
                self._waiter = None
        return self._queue.popleft()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        try:
            return await self.get()
        except ConnectionClosedError:
            raise StopAsyncIteration from None

    def close(self) -> None:
        """Stop receiving events; queued ones can still be read. Idempotent."""
        if self._closed:
            return
        self._closed = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self._on_close is not None:
            self._on_close(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
