"""The Stale Manager port: finds state that went stale and evicts it by policy.

Items are anything the host keeps around and can rebuild or drop: artifacts, warm model
instances, cache entries, worker processes. Each is tracked under a key with a kind, a
size, a fingerprint of its content, the keys of its inputs, and optional time limits.

An item is stale for one or more of these reasons:

* ``expired`` — its ``ttl`` elapsed since it was tracked (built);
* ``idle`` — it was not used (:meth:`StaleManager.touch`) for ``idle_after`` seconds;
* ``inputs-changed`` — an input's fingerprint differs from the one it had when this item
  was built, or an input is itself stale through its own inputs (changed or gone),
  transitively;
* ``orphaned`` — one of its inputs is no longer tracked.

Pinned items are reported by :meth:`StaleManager.scan` like any other but never evicted.
Promises are checked by :class:`symphony_core.testing.contracts.StaleManagerContract`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

import msgspec

from symphony_core.errors import SymphonyError, UserError

__all__ = [
    "Eviction",
    "EvictionOrder",
    "EvictionPolicy",
    "StaleError",
    "StaleItem",
    "StaleManager",
    "StaleReason",
    "TrackedItem",
    "UnknownItemError",
    "InvalidItemError",
]

StaleReason = Literal["expired", "idle", "inputs-changed", "orphaned"]
EvictionOrder = Literal["lru", "lfu"]


class TrackedItem(msgspec.Struct, frozen=True, kw_only=True):
    """A tracked item as the manager sees it.

    Attributes:
        key: The item's key.
        kind: What it is (``artifact``, ``instance``, ``cache``, ``process``...).
        size: Its size in bytes, for ``max_bytes`` policies.
        fingerprint: A digest of its content; a change marks its dependents stale.
        inputs: Keys of the items it was built from.
        ttl: Seconds after being built at which it expires, if any.
        idle_after: Seconds without use after which it is idle, if any.
        built_at: When it was tracked (the manager's clock).
        last_used: When it was last used (tracked counts as used).
        uses: How many times it was used (tracking counts as one).
        pinned: Whether it is protected from eviction.
    """

    key: str
    kind: str
    size: int
    fingerprint: str
    inputs: list[str]
    ttl: float | None
    idle_after: float | None
    built_at: float
    last_used: float
    uses: int
    pinned: bool


class StaleItem(msgspec.Struct, frozen=True, kw_only=True):
    """A stale item found by a scan.

    Attributes:
        key: The item's key.
        kind: Its kind.
        reasons: Why it is stale, in the order ``expired``, ``idle``,
            ``inputs-changed``, ``orphaned``.
        detail: The reasons in plain words (which input changed, how long idle...).
        pinned: Whether it is pinned (and so will not be evicted).
    """

    key: str
    kind: str
    reasons: list[StaleReason]
    detail: str
    pinned: bool


class EvictionPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """What :meth:`StaleManager.evict` removes.

    First every unpinned stale item (when ``stale`` is true), then, while the unpinned
    and pinned items left exceed ``max_items`` or ``max_bytes``, unpinned items in
    ``order``: ``lru`` (least recently used first) or ``lfu`` (fewest uses first, least
    recently used among equals). Ties are broken by key.

    Attributes:
        stale: Evict stale items.
        max_items: Keep at most this many items.
        max_bytes: Keep at most this many bytes.
        order: Which items go first when over a limit.
        kinds: Only consider items of these kinds (all when empty).
    """

    stale: bool = True
    max_items: int | None = None
    max_bytes: int | None = None
    order: EvictionOrder = "lru"
    kinds: list[str] = msgspec.field(default_factory=list)


class Eviction(msgspec.Struct, frozen=True, kw_only=True):
    """One item removed by an eviction.

    Attributes:
        key: The item's key.
        kind: Its kind.
        size: Its size.
        why: ``stale: <reasons>`` or the order that picked it (``lru``, ``lfu``).
    """

    key: str
    kind: str
    size: int
    why: str


class StaleError(SymphonyError):
    """Base of the Stale Manager errors."""

    code = "stale.error"


class UnknownItemError(StaleError, UserError):
    """No item is tracked under that key."""

    code = "stale.unknown_item"


class InvalidItemError(StaleError, UserError):
    """An item's key, size, time limit, inputs or a policy is malformed."""

    code = "stale.invalid"


@runtime_checkable
class StaleManager(Protocol):
    """Detects stale items and evicts them by policy (see the module documentation)."""

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
        """Track an item, or re-track it after it was rebuilt.

        The current fingerprints of its inputs are recorded, its build time and last use
        are set to now, and its uses to 1; a pin survives re-tracking.

        Args:
            key: The item's key.
            kind: What it is.
            size: Its size in bytes, 0 or more.
            fingerprint: A digest of its content.
            inputs: Keys of tracked items it was built from.
            ttl: Seconds until it expires, above 0.
            idle_after: Seconds without use until it is idle, above 0.

        Raises:
            UnknownItemError: An input is not tracked.
            InvalidItemError: An argument is malformed, or the item lists itself (or a
                cycle) as input.
        """
        ...

    def touch(self, key: str) -> None:
        """Record a use of the item.

        Raises:
            UnknownItemError: No item has that key.
        """
        ...

    def changed(self, key: str, fingerprint: str) -> None:
        """Record that the item's content changed; items built from it become stale.

        Raises:
            UnknownItemError: No item has that key.
        """
        ...

    def untrack(self, key: str) -> bool:
        """Stop tracking an item; items built from it become orphaned.

        Returns:
            Whether it was tracked.
        """
        ...

    def item(self, key: str) -> TrackedItem:
        """Return a tracked item.

        Raises:
            UnknownItemError: No item has that key.
        """
        ...

    def scan(self) -> list[StaleItem]:
        """Return every stale item, sorted by key."""
        ...

    def evict(self, policy: EvictionPolicy) -> list[Eviction]:
        """Untrack the items the policy selects, in the order they were selected.

        Raises:
            InvalidItemError: A limit in the policy is negative.
        """
        ...

    def pin(self, key: str) -> None:
        """Protect an item from eviction. Idempotent.

        Raises:
            UnknownItemError: No item has that key.
        """
        ...

    def unpin(self, key: str) -> None:
        """Remove the protection. Idempotent.

        Raises:
            UnknownItemError: No item has that key.
        """
        ...
