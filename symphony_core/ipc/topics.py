"""Topics for publish/subscribe: names, patterns, routing, and bounded subscriptions.

Topic names and patterns follow :mod:`symphony_core.ports.topics`, the one definition
every bus shares: a topic is one or more dot-separated segments (``workflow.node.done``);
in a pattern a segment may be ``*`` (exactly one segment: ``workflow.*`` matches
``workflow.done`` but neither ``workflow`` nor ``workflow.node.done``), and the last
segment may be ``**`` (one or more segments: ``workflow.**`` matches both, ``**`` alone
matches every topic). Here those rules are checked and applied to IPC: a malformed
topic or pattern is an :class:`~symphony_core.ipc.errors.IpcUsageError`, and
:class:`TopicRouter` finds the targets of a topic without testing every pattern.

A :class:`Subscription` keeps at most ``maxsize`` events; when a subscriber falls
behind, the oldest are dropped and counted, so a slow consumer never makes the
publisher's memory grow.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Generic, TypeVar

import msgspec

from symphony_core.ipc.errors import ConnectionClosedError, IpcUsageError
from symphony_core.log import get_logger
from symphony_core.ports import topics as _rules

__all__ = ["Event", "Subscription", "TopicRouter", "check_pattern", "check_topic"]

_log = get_logger("ipc.topics")
T = TypeVar("T")


def check_topic(topic: str) -> str:
    """Return ``topic`` if it is a valid topic name (see :mod:`symphony_core.ports.topics`).

    Raises:
        IpcUsageError: It is empty, too long, or a segment is not letters, digits,
            ``_``, ``-`` and ``:``.
    """
    try:
        return _rules.check_topic(topic)
    except _rules.InvalidTopicError as exc:
        raise IpcUsageError(
            f"invalid topic {topic!r}: {exc.message}",
            hint="use dot-separated segments of letters, digits, '_', '-' or ':' "
            f"(at most {_rules.MAX_TOPIC_LENGTH} characters), e.g. 'workflow.node.done'",
        ) from None


def check_pattern(pattern: str) -> str:
    """Return ``pattern`` if it is a valid subscription pattern.

    Raises:
        IpcUsageError: It is malformed, or ``**`` is not its last segment.
    """
    try:
        return _rules.check_pattern(pattern)
    except _rules.InvalidTopicError as exc:
        raise IpcUsageError(
            f"invalid topic pattern {pattern!r}: {exc.message}",
            hint="use a topic ('a.b'), '*' for one segment ('a.*'), or a last segment "
            "'**' for one or more ('a.**', '**')",
        ) from None


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


class _Node(Generic[T]):
    """One level of the wildcard trie: literal children, a ``*`` child, ``**`` targets."""

    __slots__ = ("children", "star", "tail", "targets")

    def __init__(self) -> None:
        self.children: dict[str, _Node[T]] = {}
        self.star: _Node[T] | None = None
        # Patterns ending here (the topic has exactly this many segments).
        self.targets: dict[T, int] = {}
        # Patterns whose '**' starts after this level (one or more segments follow).
        self.tail: dict[T, int] = {}

    def empty(self) -> bool:
        return not (self.children or self.star or self.targets or self.tail)


class TopicRouter(Generic[T]):
    """Map patterns to targets and find the targets a topic reaches.

    Patterns without wildcards are a dict lookup. Wildcard patterns live in a trie of
    segments (a literal child per segment, one child for ``*``, and the targets of a
    trailing ``**`` per level), so matching a topic costs a walk down its segments, not a
    test of every pattern.
    """

    __slots__ = ("_exact", "_root")

    def __init__(self) -> None:
        self._exact: dict[str, dict[T, int]] = {}
        self._root: _Node[T] = _Node()

    def _slot(self, pattern: str, create: bool) -> dict[T, int] | None:
        segments = pattern.split(".")
        if "*" not in segments and segments[-1] != "**":
            slot = self._exact.get(pattern)
            if slot is None and create:
                slot = self._exact[pattern] = {}
            return slot
        node = self._root
        last = len(segments) - 1
        for index, segment in enumerate(segments):
            if segment == "**" and index == last:
                return node.tail
            if segment == "*":
                child = node.star
                if child is None:
                    if not create:
                        return None
                    child = node.star = _Node()
            else:
                child = node.children.get(segment)
                if child is None:
                    if not create:
                        return None
                    child = node.children[segment] = _Node()
            node = child
        return node.targets

    def add(self, pattern: str, target: T) -> bool:
        """Route ``pattern`` to ``target``; return True if the pair is new.

        The same pair added twice must be removed twice.

        Raises:
            IpcUsageError: The pattern is malformed.
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
        if not slot:
            if pattern in self._exact and self._exact[pattern] is slot:
                del self._exact[pattern]
            else:
                self._prune(pattern.split("."))
        return True

    def _prune(self, segments: list[str]) -> None:
        """Drop the trie nodes along ``segments`` that no longer lead anywhere."""
        path: list[tuple[_Node[T], str]] = []
        node = self._root
        for segment in segments:
            child = node.star if segment == "*" else node.children.get(segment)
            if child is None:
                break
            path.append((node, segment))
            node = child
        for parent, segment in reversed(path):
            child = parent.star if segment == "*" else parent.children[segment]
            if child is None or not child.empty():
                return
            if segment == "*":
                parent.star = None
            else:
                del parent.children[segment]

    def remove_target(self, target: T) -> list[str]:
        """Remove every route to ``target``; return the patterns it had."""
        gone: list[str] = []
        for key in list(self._exact):
            slot = self._exact[key]
            if slot.pop(target, None) is not None:
                gone.append(key)
                if not slot:
                    del self._exact[key]
        self._remove_below(self._root, [], target, gone)
        return gone

    def _remove_below(self, node: _Node[T], prefix: list[str], target: T, gone: list[str]) -> None:
        if node.targets.pop(target, None) is not None:
            gone.append(".".join(prefix))
        if node.tail.pop(target, None) is not None:
            gone.append(".".join([*prefix, "**"]))
        for segment, child in list(node.children.items()):
            self._remove_below(child, [*prefix, segment], target, gone)
            if child.empty():
                del node.children[segment]
        if node.star is not None:
            self._remove_below(node.star, [*prefix, "*"], target, gone)
            if node.star.empty():
                node.star = None

    def targets(self, pattern: str) -> list[T]:
        """Return the targets routed under exactly ``pattern``."""
        slot = self._slot(pattern, create=False)
        return list(slot) if slot else []

    def all_targets(self) -> list[T]:
        """Return every target with at least one route, once each."""
        found: dict[T, None] = {}
        for slot in self._exact.values():
            found.update(dict.fromkeys(slot))
        stack = [self._root]
        while stack:
            node = stack.pop()
            found.update(dict.fromkeys(node.targets))
            found.update(dict.fromkeys(node.tail))
            stack.extend(node.children.values())
            if node.star is not None:
                stack.append(node.star)
        return list(found)

    def match(self, topic: str) -> list[T]:
        """Return each target that ``topic`` reaches, once, in no particular order."""
        exact = self._exact.get(topic)
        found: dict[T, None] = dict.fromkeys(exact) if exact else {}
        root = self._root
        if root.empty():
            return list(found)
        nodes = [root]
        for segment in topic.split("."):
            following: list[_Node[T]] = []
            for node in nodes:
                if node.tail:
                    found.update(dict.fromkeys(node.tail))  # '**' takes this and the rest
                child = node.children.get(segment)
                if child is not None:
                    following.append(child)
                if node.star is not None:
                    following.append(node.star)
            nodes = following
            if not nodes:
                return list(found)
        for node in nodes:
            if node.targets:
                found.update(dict.fromkeys(node.targets))
        return list(found)

    def __bool__(self) -> bool:
        return bool(self._exact) or not self._root.empty()


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
