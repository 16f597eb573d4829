"""A stale manager over an injectable clock: the double of ``StaleManager``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from symphony_core.ports.stale import (
    Eviction,
    EvictionPolicy,
    InvalidItemError,
    StaleItem,
    StaleReason,
    TrackedItem,
    UnknownItemError,
)

__all__ = ["FakeStaleManager"]


@dataclass(slots=True)
class _Item:
    key: str
    kind: str
    size: int
    fingerprint: str
    inputs: list[str]
    built_from: dict[str, str]
    ttl: float | None
    idle_after: float | None
    built_at: float
    last_used: float
    uses: int = 1
    pinned: bool = False


@dataclass(slots=True)
class _Verdict:
    reasons: list[StaleReason] = field(default_factory=list)
    details: list[str] = field(default_factory=list)


def _positive(value: float | None, name: str, key: str) -> None:
    if value is not None and not value > 0:
        raise InvalidItemError(f"{name} must be above 0 seconds, got {value!r}", where=key)


class FakeStaleManager:
    """Tracks items in memory and judges them against ``clock``.

    Args:
        clock: Seconds, monotonic; :class:`~symphony_core.testing.ManualClock` in tests.
        on_evict: Called with each eviction, after the item is untracked.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_evict: Callable[[Eviction], None] | None = None,
    ) -> None:
        self._clock = clock
        self._on_evict = on_evict
        self._lock = threading.RLock()
        self._items: dict[str, _Item] = {}

    def _get(self, key: str) -> _Item:
        item = self._items.get(key)
        if item is None:
            raise UnknownItemError("no item is tracked under this key", where=key)
        return item

    def _reaches(self, start: Sequence[str], target: str) -> bool:
        stack, seen = list(start), set()
        while stack:
            key = stack.pop()
            if key == target:
                return True
            if key in seen:
                continue
            seen.add(key)
            item = self._items.get(key)
            if item is not None:
                stack.extend(item.inputs)
        return False

    def track(
        self,
        key: str,
        *,
        kind: str,
        size: int = 0,
        fingerprint: str = "",
        inputs: Sequence[str] = (),
        ttl: float | None = None,
        idle_after: float | None = None,
    ) -> None:
        """Track an item or re-track it after a rebuild (see ``StaleManager.track``).

        Args:
            key: The item's key.
            kind: What it is.
            size: Its size in bytes.
            fingerprint: A digest of its content.
            inputs: Keys of tracked items it was built from.
            ttl: Seconds until it expires.
            idle_after: Seconds without use until it is idle.
        """
        if not isinstance(key, str) or not key:
            raise InvalidItemError("an item needs a non-empty key")
        if not isinstance(kind, str) or not kind:
            raise InvalidItemError("an item needs a non-empty kind", where=key)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise InvalidItemError(f"size must be an integer >= 0, got {size!r}", where=key)
        _positive(ttl, "ttl", key)
        _positive(idle_after, "idle_after", key)
        wanted = list(dict.fromkeys(inputs))
        with self._lock:
            for dep in wanted:
                if dep == key:
                    raise InvalidItemError("an item cannot be its own input", where=key)
                self._get(dep)
            if self._reaches(wanted, key):
                raise InvalidItemError(
                    "these inputs are built from the item itself: that is a cycle", where=key
                )
            now = self._clock()
            old = self._items.get(key)
            self._items[key] = _Item(
                key=key,
                kind=kind,
                size=size,
                fingerprint=fingerprint,
                inputs=wanted,
                built_from={dep: self._items[dep].fingerprint for dep in wanted},
                ttl=ttl,
                idle_after=idle_after,
                built_at=now,
                last_used=now,
                pinned=old.pinned if old is not None else False,
            )

    def touch(self, key: str) -> None:
        """Record a use of the item."""
        with self._lock:
            item = self._get(key)
            item.last_used = self._clock()
            item.uses += 1

    def changed(self, key: str, fingerprint: str) -> None:
        """Record a new fingerprint; items built from the old one become stale."""
        with self._lock:
            self._get(key).fingerprint = fingerprint

    def untrack(self, key: str) -> bool:
        """Stop tracking an item; return whether it was tracked."""
        with self._lock:
            return self._items.pop(key, None) is not None

    def item(self, key: str) -> TrackedItem:
        """Return a tracked item."""
        with self._lock:
            it = self._get(key)
            return TrackedItem(
                key=it.key,
                kind=it.kind,
                size=it.size,
                fingerprint=it.fingerprint,
                inputs=list(it.inputs),
                ttl=it.ttl,
                idle_after=it.idle_after,
                built_at=it.built_at,
                last_used=it.last_used,
                uses=it.uses,
                pinned=it.pinned,
            )

    def _verdicts(self) -> dict[str, _Verdict]:
        now = self._clock()
        lineage: dict[str, list[str]] = {}

        def lineage_problems(root: str) -> list[str]:
            # Iterative post-order walk: input chains can be longer than the recursion
            # limit. Cycles are refused by track(), so the walk ends.
            stack = [(root, False)]
            while stack:
                key, inputs_done = stack.pop()
                if key in lineage:
                    continue
                item = self._items[key]
                if not inputs_done:
                    stack.append((key, True))
                    stack.extend(
                        (dep, False)
                        for dep in item.inputs
                        if dep in self._items and dep not in lineage
                    )
                    continue
                found: list[str] = []
                for dep in item.inputs:
                    source = self._items.get(dep)
                    if source is None:
                        found.append(f"orphan:{dep}")
                    elif source.fingerprint != item.built_from.get(dep):
                        found.append(f"input {dep!r} changed")
                    elif lineage[dep]:
                        found.append(f"input {dep!r} is stale")
                lineage[key] = found
            return lineage[root]

        verdicts: dict[str, _Verdict] = {}
        for key in sorted(self._items):
            item = self._items[key]
            verdict = _Verdict()
            if item.ttl is not None and now - item.built_at >= item.ttl:
                verdict.reasons.append("expired")
                verdict.details.append(f"built {now - item.built_at:g} s ago, ttl {item.ttl:g} s")
            if item.idle_after is not None and now - item.last_used >= item.idle_after:
                verdict.reasons.append("idle")
                verdict.details.append(
                    f"unused for {now - item.last_used:g} s, idle after {item.idle_after:g} s"
                )
            problems = lineage_problems(key)
            changed = [p for p in problems if not p.startswith("orphan:")]
            orphans = [p.removeprefix("orphan:") for p in problems if p.startswith("orphan:")]
            if changed:
                verdict.reasons.append("inputs-changed")
                verdict.details.extend(changed)
            if orphans:
                verdict.reasons.append("orphaned")
                verdict.details.append(
                    "input(s) no longer tracked: " + ", ".join(repr(o) for o in orphans)
                )
            if verdict.reasons:
                verdicts[key] = verdict
        return verdicts

    def scan(self) -> list[StaleItem]:
        """Return every stale item, sorted by key."""
        with self._lock:
            return [
                StaleItem(
                    key=key,
                    kind=self._items[key].kind,
                    reasons=verdict.reasons,
                    detail="; ".join(verdict.details),
                    pinned=self._items[key].pinned,
                )
                for key, verdict in self._verdicts().items()
            ]

    def evict(self, policy: EvictionPolicy) -> list[Eviction]:
        """Untrack what the policy selects (see :class:`EvictionPolicy`), in that order.

        Args:
            policy: What to evict.

        Returns:
            The evictions, in the order they were made.
        """
        for name, limit in (("max_items", policy.max_items), ("max_bytes", policy.max_bytes)):
            if limit is not None and limit < 0:
                raise InvalidItemError(f"{name} cannot be negative ({limit})")
        kinds = set(policy.kinds)
        evicted: list[Eviction] = []
        with self._lock:

            def considered() -> list[_Item]:
                return [i for i in self._items.values() if not kinds or i.kind in kinds]

            def remove(item: _Item, why: str) -> None:
                del self._items[item.key]
                evicted.append(Eviction(key=item.key, kind=item.kind, size=item.size, why=why))

            if policy.stale:
                for key, verdict in self._verdicts().items():
                    item = self._items[key]
                    if not item.pinned and (not kinds or item.kind in kinds):
                        remove(item, "stale: " + ", ".join(verdict.reasons))
            while True:
                pool = considered()
                over_items = policy.max_items is not None and len(pool) > policy.max_items
                over_bytes = (
                    policy.max_bytes is not None and sum(i.size for i in pool) > policy.max_bytes
                )
                victims = [i for i in pool if not i.pinned]
                if not (over_items or over_bytes) or not victims:
                    break
                if policy.order == "lfu":
                    victim = min(victims, key=lambda i: (i.uses, i.last_used, i.key))
                else:
                    victim = min(victims, key=lambda i: (i.last_used, i.key))
                remove(victim, policy.order)
        if self._on_evict is not None:
            for eviction in evicted:
                self._on_evict(eviction)
        return evicted

    def pin(self, key: str) -> None:
        """Protect an item from eviction."""
        with self._lock:
            self._get(key).pinned = True

    def unpin(self, key: str) -> None:
        """Remove the protection."""
        with self._lock:
            self._get(key).pinned = False
