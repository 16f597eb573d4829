"""The double of ``PoolManager``: warm instances, LRU eviction, a memory budget."""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from symphony_core.ports.pool import (
    InstanceHealth,
    InstanceInfo,
    InstanceState,
    InstrumentLoadError,
    Lease,
    OverBudgetError,
    PoolClosedError,
    PoolExhaustedError,
    PoolStats,
    UnknownInstrumentError,
    UnknownLeaseError,
)

__all__ = ["FakePoolManager", "InstrumentFactory"]

T = TypeVar("T")


class InstrumentFactory(Protocol[T]):
    """Knows how to load, unload and check instances of instruments, by key."""

    def memory(self, key: str) -> int | None:
        """Return the bytes one instance of ``key`` needs, or ``None`` for an unknown key."""
        ...

    def load(self, key: str) -> T:
        """Load a new instance of ``key`` (may raise)."""
        ...

    def unload(self, key: str, instance: T) -> None:
        """Free an instance."""
        ...

    def check(self, key: str, instance: T) -> str | None:
        """Return ``None`` if the instance is healthy, else why it is not."""
        ...


@dataclass(slots=True)
class _Instance(Generic[T]):
    instance_id: int
    key: str
    instance: T
    memory: int
    state: InstanceState
    served: int = 0


class FakePoolManager(Generic[T]):
    """Keeps released instances warm; loads on a miss, evicting idle ones LRU-first.

    Thread-safe: :meth:`acquire` blocks (up to its timeout) while the budget is full of
    leased instances and wakes up when one is released. Memory is reserved before a
    load starts, so concurrent loads never overshoot the budget.

    Args:
        budget: Memory budget in bytes.
        factory: Loads, unloads and checks instances.
    """

    def __init__(self, budget: int, factory: InstrumentFactory[T]) -> None:
        if budget < 0:
            raise ValueError(f"the memory budget cannot be negative ({budget})")
        self._budget = budget
        self._factory = factory
        self._cond = threading.Condition()
        self._instances: dict[int, _Instance[T]] = {}
        self._lru: OrderedDict[int, None] = OrderedDict()
        self._leases: dict[int, _Instance[T]] = {}
        self._ids = itertools.count(1)
        self._lease_ids = itertools.count(1)
        self._reserved = 0
        self._closed = False
        self._hits = self._misses = self._loads = self._unloads = 0
        self._evictions = self._load_failures = 0

    # -- accounting -------------------------------------------------------------------

    def _used(self) -> int:
        return sum(inst.memory for inst in self._instances.values()) + self._reserved

    def _memory_of(self, key: str) -> int:
        size = self._factory.memory(key)
        if size is None:
            raise UnknownInstrumentError(
                "no instrument has this key", where=key, hint="check the instrument key"
            )
        if size > self._budget:
            raise OverBudgetError(
                f"one instance needs {size} bytes, the whole budget is {self._budget}",
                where=key,
                hint="raise the pool's memory budget",
            )
        return size

    def _unload(self, inst: _Instance[T]) -> None:
        self._instances.pop(inst.instance_id, None)
        self._lru.pop(inst.instance_id, None)
        self._unloads += 1
        self._factory.unload(inst.key, inst.instance)

    def _make_room(self, size: int, *, spare_key: str | None = None) -> bool:
        """Evict idle instances, least recently used first, if that makes ``size`` fit."""
        free = self._budget - self._used()
        if size <= free:
            return True
        victims = [
            self._instances[iid] for iid in self._lru if self._instances[iid].key != spare_key
        ]
        if free + sum(v.memory for v in victims) < size:
            return False
        for victim in victims:
            if size <= self._budget - self._used():
                break
            self._unload(victim)
            self._evictions += 1
        return True

    def _load(self, key: str, size: int, state: InstanceState) -> _Instance[T]:
        """Load with ``size`` already reserved; called without the lock held."""
        try:
            instance = self._factory.load(key)
        except Exception as exc:
            with self._cond:
                self._reserved -= size
                self._load_failures += 1
                self._cond.notify_all()
            raise InstrumentLoadError(
                f"loading an instance failed: {type(exc).__name__}: {exc}", where=key
            ) from exc
        with self._cond:
            self._reserved -= size
            self._loads += 1
            inst = _Instance(next(self._ids), key, instance, size, state)
            self._instances[inst.instance_id] = inst
            if state == "idle":
                self._lru[inst.instance_id] = None
            return inst

    def _lease(self, inst: _Instance[T], hit: bool) -> Lease[T]:
        inst.state = "leased"
        inst.served += 1
        self._lru.pop(inst.instance_id, None)
        lease = Lease(next(self._lease_ids), inst.key, inst.instance_id, inst.instance, hit)
        self._leases[lease.lease_id] = inst
        return lease

    def _check_open(self) -> None:
        if self._closed:
            raise PoolClosedError("the pool is closed")

    # -- the port ---------------------------------------------------------------------

    def acquire(self, key: str, *, timeout: float | None = None) -> Lease[T]:
        """Lease a warm instance of ``key``, or load one (see ``PoolManager.acquire``).

        Args:
            key: The instrument key.
            timeout: Seconds to wait for memory; ``None`` waits as long as needed.

        Returns:
            The lease.
        """
        if timeout is not None and timeout < 0:
            raise ValueError(f"timeout cannot be negative ({timeout})")
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                self._check_open()
                size = self._memory_of(key)
                idle = [iid for iid in reversed(self._lru) if self._instances[iid].key == key]
                if idle:
                    self._hits += 1
                    return self._lease(self._instances[idle[0]], hit=True)
                if self._make_room(size):
                    self._reserved += size
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise PoolExhaustedError(
                        f"no memory for an instance ({size} bytes) within {timeout} s: "
                        f"{len(self._leases)} instance(s) are leased",
                        where=key,
                        hint="release leases sooner or raise the memory budget",
                    )
                self._cond.wait(remaining)
        inst = self._load(key, size, "leased")
        with self._cond:
            self._misses += 1
            if self._closed:
                self._unload(inst)
                raise PoolClosedError("the pool was closed while an instance was loading")
            return self._lease(inst, hit=False)

    def release(self, lease: Lease[T], *, healthy: bool = True) -> None:
        """Give the instance back; an unhealthy or draining one is unloaded.

        After :meth:`close`, releasing does nothing.

        Args:
            lease: The outstanding lease.
            healthy: ``False`` unloads the instance.

        Raises:
            UnknownLeaseError: The lease is not outstanding.
        """
        with self._cond:
            if self._closed:
                return
            inst = self._leases.get(lease.lease_id)
            if inst is None or inst.instance_id != lease.instance_id:
                raise UnknownLeaseError(
                    f"lease {lease.lease_id} is not outstanding (already released?)",
                    where=lease.key,
                )
            del self._leases[lease.lease_id]
            if not healthy or inst.state == "draining":
                self._unload(inst)
            else:
                inst.state = "idle"
                self._lru[inst.instance_id] = None
            self._cond.notify_all()

    def load(self, key: str, *, count: int = 1) -> int:
        """Prewarm ``count`` instances of ``key`` (see ``PoolManager.load``).

        Args:
            key: The instrument key.
            count: Instances wanted.

        Returns:
            How many were loaded now.
        """
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        loaded = 0
        while True:
            with self._cond:
                self._check_open()
                size = self._memory_of(key)
                have = sum(
                    1
                    for inst in self._instances.values()
                    if inst.key == key and inst.state != "draining"
                )
                if have >= count:
                    return loaded
                if not self._make_room(size, spare_key=key):
                    raise PoolExhaustedError(
                        f"the budget cannot hold {count} instance(s) of {size} bytes now",
                        where=key,
                        hint="raise the memory budget or release leases",
                    )
                self._reserved += size
            self._load(key, size, "idle")
            loaded += 1

    def unload(self, key: str) -> int:
        """Unload idle instances of ``key`` now and leased ones on release.

        Args:
            key: The instrument key.

        Returns:
            How many were unloaded or marked draining.
        """
        with self._cond:
            touched = 0
            for inst in [i for i in self._instances.values() if i.key == key]:
                if inst.state == "idle":
                    self._unload(inst)
                    touched += 1
                elif inst.state == "leased":
                    inst.state = "draining"
                    touched += 1
            self._cond.notify_all()
            return touched

    def stats(self) -> PoolStats:
        """Return the counters and loaded instances."""
        with self._cond:
            return PoolStats(
                hits=self._hits,
                misses=self._misses,
                loads=self._loads,
                unloads=self._unloads,
                evictions=self._evictions,
                load_failures=self._load_failures,
                memory_used=sum(inst.memory for inst in self._instances.values()),
                memory_budget=self._budget,
                instances=[
                    InstanceInfo(
                        instance_id=inst.instance_id,
                        key=inst.key,
                        memory=inst.memory,
                        state=inst.state,
                        served=inst.served,
                    )
                    for inst in self._instances.values()
                ],
            )

    def health(self) -> list[InstanceHealth]:
        """Check every idle instance; unload the failing ones.

        Returns:
            One result per idle instance, in load order.
        """
        with self._cond:
            results: list[InstanceHealth] = []
            for inst in [i for i in self._instances.values() if i.state == "idle"]:
                try:
                    problem = self._factory.check(inst.key, inst.instance)
                except Exception as exc:
                    problem = f"health check raised {type(exc).__name__}: {exc}"
                if problem is not None:
                    self._unload(inst)
                results.append(
                    InstanceHealth(
                        instance_id=inst.instance_id,
                        key=inst.key,
                        healthy=problem is None,
                        detail=problem or "",
                    )
                )
            self._cond.notify_all()
            return results

    def close(self) -> None:
        """Unload every instance and refuse further use. Idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            for inst in list(self._instances.values()):
                self._unload(inst)
            self._leases.clear()
            self._cond.notify_all()
