"""The Pool Manager port: warm instances of Instruments (models) under a memory budget.

An Instrument instance is costly to load, so the pool keeps released instances warm and
hands them out again (a *hit*); a *miss* loads a new one. Loading may evict idle
instances, least recently used first, to stay within the memory budget; leased
instances are never evicted.

Promises every adapter keeps (checked by
:class:`symphony_core.testing.contracts.PoolManagerContract`):

* A lease gives exclusive use of one instance until it is released; one key may have
  several instances when several leases are out at once.
* The memory of loaded instances never exceeds the budget.
* ``hits + misses`` equals the number of successful :meth:`PoolManager.acquire` calls.
* An instance released as unhealthy, found unhealthy by :meth:`PoolManager.health`, or
  unloaded, is never handed out again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Literal, Protocol, TypeVar, runtime_checkable

import msgspec

from symphony_core.errors import ExtensionError, SymphonyError, UserError

__all__ = [
    "InstanceHealth",
    "InstanceInfo",
    "InstanceState",
    "InstrumentLoadError",
    "Lease",
    "OverBudgetError",
    "PoolClosedError",
    "PoolError",
    "PoolExhaustedError",
    "PoolManager",
    "PoolStats",
    "UnknownInstrumentError",
    "UnknownLeaseError",
]

InstanceT = TypeVar("InstanceT")

InstanceState = Literal["idle", "leased", "draining"]
"""``draining``: leased, and unloaded as soon as it is released."""


@dataclass(frozen=True, slots=True)
class Lease(Generic[InstanceT]):
    """Exclusive use of one warm instance, until :meth:`PoolManager.release`.

    Attributes:
        lease_id: Unique id of this lease within the pool.
        key: The instrument key the instance serves.
        instance_id: Id of the instance (stable for the instance's lifetime).
        instance: The instance itself (or the adapter's handle to it).
        hit: Whether a warm instance was reused (``False``: it was loaded for this lease).
    """

    lease_id: int
    key: str
    instance_id: int
    instance: InstanceT
    hit: bool


class InstanceInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One loaded instance.

    Attributes:
        instance_id: The instance's id.
        key: The instrument key it serves.
        memory: Bytes it is accounted for.
        state: ``idle``, ``leased`` or ``draining``.
        served: Leases it has served so far.
    """

    instance_id: int
    key: str
    memory: int
    state: InstanceState
    served: int


class PoolStats(msgspec.Struct, frozen=True, kw_only=True):
    """Counters and the current contents of the pool.

    Attributes:
        hits: Acquisitions served by a warm instance.
        misses: Acquisitions that loaded an instance.
        loads: Instances loaded (misses and prewarming).
        unloads: Instances unloaded for any reason (evictions included).
        evictions: Idle instances unloaded to make room.
        load_failures: Loads that raised.
        memory_used: Bytes of the loaded instances.
        memory_budget: The budget, in bytes.
        instances: Every loaded instance, in load order.
    """

    hits: int
    misses: int
    loads: int
    unloads: int
    evictions: int
    load_failures: int
    memory_used: int
    memory_budget: int
    instances: list[InstanceInfo]


class InstanceHealth(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of one instance's health check.

    Attributes:
        instance_id: The instance's id.
        key: Its instrument key.
        healthy: Whether it passed; a failing instance has been unloaded.
        detail: Why it failed (empty when healthy).
    """

    instance_id: int
    key: str
    healthy: bool
    detail: str = ""


class PoolError(SymphonyError):
    """Base of the Pool Manager errors."""

    code = "pool.error"


class UnknownInstrumentError(PoolError, UserError):
    """The key names no instrument the pool can load."""

    code = "pool.unknown_key"


class InstrumentLoadError(PoolError, ExtensionError):
    """Loading an instance raised; nothing was added to the pool."""

    code = "pool.load_failed"


class OverBudgetError(PoolError, UserError):
    """One instance needs more memory than the whole budget: it can never be loaded."""

    code = "pool.over_budget"


class PoolExhaustedError(PoolError):
    """No instance could be handed out in time: the budget is full of leased instances."""

    code = "pool.exhausted"


class UnknownLeaseError(PoolError):
    """The lease is not outstanding (never issued by this pool, or already released)."""

    code = "pool.unknown_lease"


class PoolClosedError(PoolError):
    """The pool was used after :meth:`PoolManager.close`."""

    code = "pool.closed"


@runtime_checkable
class PoolManager(Protocol[InstanceT]):
    """Warm instances of Instruments under a memory budget (see the module documentation)."""

    def acquire(self, key: str, *, timeout: float | None = None) -> Lease[InstanceT]:
        """Lease an instance of ``key``: a warm idle one if any, else a newly loaded one.

        Args:
            key: The instrument key.
            timeout: Seconds to wait for memory to free up when the budget is full of
                leased instances; ``0`` does not wait, ``None`` waits as long as needed.

        Returns:
            The lease.

        Raises:
            UnknownInstrumentError: No instrument has that key.
            OverBudgetError: One instance of ``key`` is larger than the budget.
            InstrumentLoadError: Loading raised.
            PoolExhaustedError: Nothing freed up in time.
            PoolClosedError: The pool is closed.
        """
        ...

    def release(self, lease: Lease[InstanceT], *, healthy: bool = True) -> None:
        """Give the instance back. After :meth:`close`, releasing does nothing.

        Args:
            lease: The outstanding lease.
            healthy: ``False`` unloads the instance instead of keeping it warm.

        Raises:
            UnknownLeaseError: The lease is not outstanding.
        """
        ...

    def load(self, key: str, *, count: int = 1) -> int:
        """Prewarm: make sure at least ``count`` instances of ``key`` are loaded.

        Idle instances of other keys may be evicted to make room. Prewarming counts as
        neither a hit nor a miss.

        Args:
            key: The instrument key.
            count: Instances wanted, at least 1.

        Returns:
            How many instances were loaded now (0 when enough were already loaded).

        Raises:
            UnknownInstrumentError: No instrument has that key.
            OverBudgetError: One instance of ``key`` is larger than the budget.
            InstrumentLoadError: Loading raised.
            PoolExhaustedError: The budget cannot hold ``count`` instances right now.
            PoolClosedError: The pool is closed.
        """
        ...

    def unload(self, key: str) -> int:
        """Unload every instance of ``key``: idle ones now, leased ones when released.

        Args:
            key: The instrument key.

        Returns:
            How many instances were unloaded or marked ``draining``.
        """
        ...

    def stats(self) -> PoolStats:
        """Return the counters and the loaded instances."""
        ...

    def health(self) -> list[InstanceHealth]:
        """Check every idle instance now; failing ones are unloaded.

        Returns:
            One result per checked instance, in load order.
        """
        ...

    def close(self) -> None:
        """Unload every instance (leased ones included) and refuse further use. Idempotent."""
        ...
