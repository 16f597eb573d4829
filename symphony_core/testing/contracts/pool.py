"""Contract suite of the ``PoolManager`` port."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from symphony_core.ports.pool import (
    InstrumentLoadError,
    Lease,
    OverBudgetError,
    PoolClosedError,
    PoolExhaustedError,
    PoolManager,
    UnknownInstrumentError,
    UnknownLeaseError,
)
from symphony_core.testing.harnesses import PoolHarness

__all__ = ["PoolFactory", "PoolManagerContract"]

PoolFactory = Callable[[int, Mapping[str, int]], PoolHarness]
"""Builds a harness from a memory budget and instrument key -> bytes per instance."""

_SETTLE = 10.0
_SIZES = {"a": 100, "b": 100, "c": 100, "d": 100, "big": 250}


class PoolManagerContract:
    """Behaviour every pool manager shows.

    Subclass it and supply ``pool_factory``: a callable ``(budget, sizes) -> PoolHarness``
    that builds a fresh pool over instruments whose instances need ``sizes[key]`` bytes.
    It may be called several times in one test. Pools made through the ``make`` fixture
    are closed after the test.
    """

    @pytest.fixture
    def pool_factory(self) -> PoolFactory:
        """Return a pool harness factory; adapters' test classes override this."""
        raise NotImplementedError("supply a pool_factory fixture")

    @pytest.fixture
    def make(self, pool_factory: PoolFactory) -> Iterator[Callable[[int], PoolHarness]]:
        """Build harnesses over the standard instruments; close their pools afterwards."""
        made: list[PoolHarness] = []

        def build(budget: int) -> PoolHarness:
            harness = pool_factory(budget, _SIZES)
            made.append(harness)
            return harness

        yield build
        for harness in made:
            harness.pool.close()

    def test_satisfies_the_protocol(self, make: Callable[[int], PoolHarness]) -> None:
        """The adapter is a PoolManager."""
        assert isinstance(make(300).pool, PoolManager)

    def test_a_miss_loads_and_a_hit_reuses(self, make: Callable[[int], PoolHarness]) -> None:
        """The first acquire loads; after release the same instance is handed out again."""
        h = make(300)
        first = h.pool.acquire("a", timeout=0)
        assert first.hit is False
        assert first.key == "a"
        h.pool.release(first)
        second = h.pool.acquire("a", timeout=0)
        assert second.hit is True
        assert second.instance_id == first.instance_id
        assert second.instance is first.instance
        assert second.lease_id != first.lease_id
        stats = h.pool.stats()
        assert (stats.hits, stats.misses, stats.loads) == (1, 1, 1)
        assert h.live("a") == 1

    def test_a_lease_is_exclusive(self, make: Callable[[int], PoolHarness]) -> None:
        """Two outstanding leases of one key use two instances."""
        h = make(300)
        one, two = h.pool.acquire("a", timeout=0), h.pool.acquire("a", timeout=0)
        assert one.instance_id != two.instance_id
        assert h.live("a") == 2
        states = sorted(i.state for i in h.pool.stats().instances)
        assert states == ["leased", "leased"]

    def test_eviction_is_least_recently_used_first(
        self, make: Callable[[int], PoolHarness]
    ) -> None:
        """Making room unloads the idle instance used longest ago."""
        h = make(300)
        for key in ("a", "b", "c", "a"):
            h.pool.release(h.pool.acquire(key, timeout=0))
        h.pool.release(h.pool.acquire("d", timeout=0))
        assert h.live("b") == 0
        assert (h.live("a"), h.live("c"), h.live("d")) == (1, 1, 1)
        stats = h.pool.stats()
        assert stats.evictions == 1
        assert stats.memory_used == 300
        assert sorted(i.key for i in stats.instances) == ["a", "c", "d"]

    def test_eviction_frees_as_much_as_needed(self, make: Callable[[int], PoolHarness]) -> None:
        """A larger instance evicts several idle ones, oldest first, and no more."""
        h = make(300)
        for key in ("a", "b", "c"):
            h.pool.release(h.pool.acquire(key, timeout=0))
        lease = h.pool.acquire("big", timeout=0)
        assert lease.hit is False
        assert (h.live("a"), h.live("b"), h.live("c")) == (0, 0, 0)
        h.pool.release(lease)
        h = make(400)
        for key in ("a", "b", "c"):
            h.pool.release(h.pool.acquire(key, timeout=0))
        h.pool.acquire("big", timeout=0)
        assert (h.live("a"), h.live("b"), h.live("c")) == (0, 0, 1)
        assert h.pool.stats().memory_used <= 400

    def test_leased_instances_are_never_evicted(self, make: Callable[[int], PoolHarness]) -> None:
        """With the budget full of leases, an acquire that cannot wait is pool.exhausted."""
        h = make(200)
        h.pool.acquire("a", timeout=0)
        h.pool.acquire("b", timeout=0)
        with pytest.raises(PoolExhaustedError) as info:
            h.pool.acquire("c", timeout=0)
        assert info.value.code == "pool.exhausted"
        assert (h.live("a"), h.live("b"), h.live("c")) == (1, 1, 0)
        with pytest.raises(PoolExhaustedError):
            h.pool.acquire("c", timeout=0.05)

    def test_a_waiting_acquire_gets_memory_when_a_lease_is_released(
        self, make: Callable[[int], PoolHarness]
    ) -> None:
        """acquire() blocks while the budget is full and proceeds after a release."""
        h = make(100)
        held = h.pool.acquire("a", timeout=0)
        result: dict[str, Any] = {}

        def waiter() -> None:
            try:
                result["lease"] = h.pool.acquire("b", timeout=_SETTLE)
            except Exception as exc:  # reported below
                result["error"] = exc

        thread = threading.Thread(target=waiter)
        thread.start()
        h.pool.release(held)
        thread.join(_SETTLE)
        assert "error" not in result
        assert result["lease"].key == "b"
        assert h.live("a") == 0
        assert h.live("b") == 1

    def test_unknown_keys_are_refused(self, make: Callable[[int], PoolHarness]) -> None:
        """A key no instrument has is pool.unknown_key."""
        h = make(300)
        with pytest.raises(UnknownInstrumentError) as info:
            h.pool.acquire("nothing", timeout=0)
        assert info.value.code == "pool.unknown_key"
        with pytest.raises(UnknownInstrumentError):
            h.pool.load("nothing")

    def test_an_instance_larger_than_the_budget_is_refused_at_once(
        self, make: Callable[[int], PoolHarness]
    ) -> None:
        """It could never fit: pool.over_budget, without waiting."""
        h = make(200)
        with pytest.raises(OverBudgetError) as info:
            h.pool.acquire("big", timeout=None)
        assert info.value.code == "pool.over_budget"
        assert h.live("big") == 0

    def test_a_failed_load_leaves_no_trace(self, make: Callable[[int], PoolHarness]) -> None:
        """pool.load_failed, the memory is not held, and a later load works."""
        h = make(100)
        h.set_load_failure("a", True)
        with pytest.raises(InstrumentLoadError) as info:
            h.pool.acquire("a", timeout=0)
        assert info.value.code == "pool.load_failed"
        stats = h.pool.stats()
        assert (stats.load_failures, stats.memory_used, stats.misses) == (1, 0, 0)
        assert stats.instances == []
        h.set_load_failure("a", False)
        assert h.pool.acquire("a", timeout=0).hit is False

    def test_releasing_twice_is_refused(self, make: Callable[[int], PoolHarness]) -> None:
        """A lease is released once; again is pool.unknown_lease."""
        h = make(300)
        lease = h.pool.acquire("a", timeout=0)
        h.pool.release(lease)
        with pytest.raises(UnknownLeaseError) as info:
            h.pool.release(lease)
        assert info.value.code == "pool.unknown_lease"

    def test_a_lease_from_another_pool_is_refused(self, make: Callable[[int], PoolHarness]) -> None:
        """A pool only takes back its own leases."""
        one, two = make(300), make(300)
        lease = one.pool.acquire("a", timeout=0)
        with pytest.raises(UnknownLeaseError):
            two.pool.release(lease)

    def test_releasing_as_unhealthy_unloads(self, make: Callable[[int], PoolHarness]) -> None:
        """An instance released as unhealthy is never handed out again."""
        h = make(300)
        lease = h.pool.acquire("a", timeout=0)
        h.pool.release(lease, healthy=False)
        assert h.live("a") == 0
        again = h.pool.acquire("a", timeout=0)
        assert again.hit is False
        assert again.instance_id != lease.instance_id

    def test_prewarming_loads_without_hits_or_misses(
        self, make: Callable[[int], PoolHarness]
    ) -> None:
        """load() makes instances ready; the next acquire is a hit."""
        h = make(300)
        assert h.pool.load("a", count=2) == 2
        assert h.live("a") == 2
        stats = h.pool.stats()
        assert (stats.hits, stats.misses, stats.loads) == (0, 0, 2)
        assert h.pool.load("a", count=2) == 0
        assert h.pool.load("a") == 0
        assert h.pool.acquire("a", timeout=0).hit is True

    def test_prewarming_evicts_idle_instances_of_other_keys_only(
        self, make: Callable[[int], PoolHarness]
    ) -> None:
        """Prewarming makes room from idle instances, never from leased ones."""
        h = make(300)
        h.pool.release(h.pool.acquire("a", timeout=0))
        h.pool.acquire("b", timeout=0)
        assert h.pool.load("c", count=2) == 2
        assert (h.live("a"), h.live("b"), h.live("c")) == (0, 1, 2)
        assert h.pool.acquire("c", timeout=0).hit is True
        assert h.pool.acquire("c", timeout=0).hit is True
        with pytest.raises(PoolExhaustedError):
            h.pool.load("d")
        assert (h.live("b"), h.live("c"), h.live("d")) == (1, 2, 0)

    def test_unload_drops_idle_instances_and_drains_leased_ones(
        self, make: Callable[[int], PoolHarness]
    ) -> None:
        """Idle instances go now; leased ones are marked draining and go on release."""
        h = make(300)
        h.pool.load("a", count=1)
        idle_first = h.pool.acquire("a", timeout=0)
        other = h.pool.acquire("a", timeout=0)
        h.pool.release(idle_first)
        assert h.pool.unload("a") == 2
        assert h.live("a") == 1
        assert [i.state for i in h.pool.stats().instances] == ["draining"]
        h.pool.release(other)
        assert h.live("a") == 0
        assert h.pool.acquire("a", timeout=0).hit is False
        assert h.pool.unload("nothing-loaded") == 0

    def test_health_checks_unload_failing_idle_instances(
        self, make: Callable[[int], PoolHarness]
    ) -> None:
        """health() checks idle instances and unloads those that fail."""
        h = make(300)
        h.pool.load("a")
        h.pool.load("b")
        leased = h.pool.acquire("c", timeout=0)
        h.set_healthy("a", False)
        results = {r.key: r for r in h.pool.health()}
        assert set(results) == {"a", "b"}
        assert results["a"].healthy is False
        assert results["a"].detail
        assert results["b"].healthy is True
        assert results["b"].detail == ""
        assert (h.live("a"), h.live("b"), h.live("c")) == (0, 1, 1)
        h.set_healthy("a", True)
        assert h.pool.acquire("a", timeout=0).hit is False
        h.pool.release(leased)

    def test_stats_describe_the_instances(self, make: Callable[[int], PoolHarness]) -> None:
        """Instances are listed in load order with their memory, state and use count."""
        h = make(300)
        a = h.pool.acquire("a", timeout=0)
        h.pool.release(a)
        h.pool.release(h.pool.acquire("a", timeout=0))
        h.pool.acquire("b", timeout=0)
        stats = h.pool.stats()
        assert stats.memory_budget == 300
        assert stats.memory_used == 200
        assert [(i.key, i.memory, i.state, i.served) for i in stats.instances] == [
            ("a", 100, "idle", 2),
            ("b", 100, "leased", 1),
        ]

    def test_close_unloads_everything(self, make: Callable[[int], PoolHarness]) -> None:
        """After close() nothing is loaded, acquire is pool.closed, release is harmless."""
        h = make(300)
        lease = h.pool.acquire("a", timeout=0)
        h.pool.load("b")
        h.pool.close()
        h.pool.close()
        assert (h.live("a"), h.live("b")) == (0, 0)
        with pytest.raises(PoolClosedError) as info:
            h.pool.acquire("a", timeout=0)
        assert info.value.code == "pool.closed"
        h.pool.release(lease)

    def test_random_operations_keep_the_invariants(self, pool_factory: PoolFactory) -> None:
        """Any sequence of operations keeps the pool's invariants.

        The budget holds, counters add up, leases are exclusive, and the pool's instances
        are exactly those loaded on the instrument side.
        """
        keys = st.sampled_from(sorted(_SIZES))

        class PoolMachine(RuleBasedStateMachine):
            def __init__(self) -> None:
                super().__init__()
                self.h = pool_factory(350, _SIZES)
                self.leases: list[Lease[Any]] = []
                self.acquired = 0

            @rule(key=keys)
            def acquire(self, key: str) -> None:
                try:
                    lease = self.h.pool.acquire(key, timeout=0)
                except PoolExhaustedError:
                    return
                except OverBudgetError:
                    assert _SIZES[key] > 350
                    return
                self.acquired += 1
                assert lease.key == key
                assert lease.instance_id not in {held.instance_id for held in self.leases}
                self.leases.append(lease)

            @rule(data=st.data(), healthy=st.booleans())
            def release(self, data: st.DataObject, healthy: bool) -> None:
                if self.leases:
                    lease = self.leases.pop(data.draw(st.integers(0, len(self.leases) - 1)))
                    self.h.pool.release(lease, healthy=healthy)

            @rule(key=keys, count=st.integers(1, 2))
            def load(self, key: str, count: int) -> None:
                with contextlib.suppress(PoolExhaustedError, OverBudgetError):
                    self.h.pool.load(key, count=count)

            @rule(key=keys)
            def unload(self, key: str) -> None:
                self.h.pool.unload(key)

            @rule(key=keys, healthy=st.booleans())
            def health(self, key: str, healthy: bool) -> None:
                self.h.set_healthy(key, healthy)
                self.h.pool.health()
                self.h.set_healthy(key, True)

            @invariant()
            def consistent(self) -> None:
                stats = self.h.pool.stats()
                assert stats.memory_used <= stats.memory_budget
                assert stats.memory_used == sum(i.memory for i in stats.instances)
                assert stats.hits + stats.misses == self.acquired
                for key in _SIZES:
                    assert self.h.live(key) == sum(1 for i in stats.instances if i.key == key)
                leased = {i.instance_id for i in stats.instances if i.state != "idle"}
                assert leased == {lease.instance_id for lease in self.leases}

            def teardown(self) -> None:
                self.h.pool.close()
                assert all(self.h.live(key) == 0 for key in _SIZES)

        run_state_machine_as_test(
            PoolMachine,
            settings=settings(
                max_examples=60,
                stateful_step_count=25,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
