"""Contract suite of the ``StaleManager`` port."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from symphony_core.ports.stale import (
    EvictionPolicy,
    InvalidItemError,
    StaleManager,
    UnknownItemError,
)
from symphony_core.testing.harnesses import StaleHarness

__all__ = ["StaleFactory", "StaleManagerContract"]

StaleFactory = Callable[[], StaleHarness]
"""Builds a harness over a fresh manager that tracks nothing."""


def _stale(manager: StaleManager) -> dict[str, list[str]]:
    return {item.key: list(item.reasons) for item in manager.scan()}


class StaleManagerContract:
    """Behaviour every stale manager shows.

    Subclass it and supply ``stale_factory``: a callable returning a harness over a
    fresh manager (whose clock the harness moves) each time it is called.
    """

    @pytest.fixture
    def stale_factory(self) -> StaleFactory:
        """Return a harness factory; adapters' test classes override this."""
        raise NotImplementedError("supply a stale_factory fixture")

    @pytest.fixture
    def h(self, stale_factory: StaleFactory) -> StaleHarness:
        """A harness over a fresh manager."""
        return stale_factory()

    def test_satisfies_the_protocol(self, h: StaleHarness) -> None:
        """The adapter is a StaleManager."""
        assert isinstance(h.manager, StaleManager)

    def test_fresh_items_are_not_stale(self, h: StaleHarness) -> None:
        """Nothing is stale right after tracking."""
        m = h.manager
        m.track("a", kind="artifact", ttl=10, idle_after=5)
        m.track("b", kind="artifact", inputs=["a"])
        assert m.scan() == []

    def test_items_expire_after_their_ttl(self, h: StaleHarness) -> None:
        """``expired`` once ttl seconds passed since the item was built, use or not."""
        m = h.manager
        m.track("cache", kind="cache", ttl=10)
        h.advance(9.5)
        m.touch("cache")
        assert m.scan() == []
        h.advance(0.5)
        [item] = m.scan()
        assert (item.key, item.kind, item.reasons, item.pinned) == (
            "cache",
            "cache",
            ["expired"],
            False,
        )
        assert item.detail

    def test_unused_items_go_idle(self, h: StaleHarness) -> None:
        """``idle`` after idle_after seconds without a touch; a touch resets it."""
        m = h.manager
        m.track("model", kind="instance", idle_after=5)
        h.advance(4)
        m.touch("model")
        h.advance(4)
        assert m.scan() == []
        h.advance(1)
        assert _stale(m) == {"model": ["idle"]}

    def test_retracking_resets_the_clocks(self, h: StaleHarness) -> None:
        """Re-tracking (a rebuild) starts ttl and idle time again."""
        m = h.manager
        m.track("x", kind="cache", ttl=5, idle_after=5)
        h.advance(6)
        assert _stale(m) == {"x": ["expired", "idle"]}
        m.track("x", kind="cache", ttl=5, idle_after=5)
        assert m.scan() == []

    def test_a_changed_input_makes_its_dependents_stale(self, h: StaleHarness) -> None:
        """``inputs-changed`` propagates down the lineage; the changed item itself is fine."""
        m = h.manager
        m.track("raw", kind="artifact", fingerprint="r1")
        m.track("clean", kind="artifact", fingerprint="c1", inputs=["raw"])
        m.track("report", kind="artifact", fingerprint="p1", inputs=["clean"])
        m.track("unrelated", kind="artifact", fingerprint="u1")
        m.changed("raw", "r2")
        assert _stale(m) == {"clean": ["inputs-changed"], "report": ["inputs-changed"]}
        detail = {item.key: item.detail for item in m.scan()}
        assert "raw" in detail["clean"]

    def test_rebuilding_clears_staleness(self, h: StaleHarness) -> None:
        """Re-tracking with current inputs makes an item fresh; its own change then spreads."""
        m = h.manager
        m.track("raw", kind="artifact", fingerprint="r1")
        m.track("clean", kind="artifact", fingerprint="c1", inputs=["raw"])
        m.track("report", kind="artifact", fingerprint="p1", inputs=["clean"])
        m.changed("raw", "r2")
        m.track("clean", kind="artifact", fingerprint="c1", inputs=["raw"])
        assert m.scan() == []
        m.track("clean", kind="artifact", fingerprint="c2", inputs=["raw"])
        assert _stale(m) == {"report": ["inputs-changed"]}

    def test_changing_to_the_same_fingerprint_is_not_a_change(self, h: StaleHarness) -> None:
        """Staleness compares fingerprints, not calls."""
        m = h.manager
        m.track("raw", kind="artifact", fingerprint="r1")
        m.track("clean", kind="artifact", inputs=["raw"])
        m.changed("raw", "r2")
        m.changed("raw", "r1")
        assert m.scan() == []

    def test_an_untracked_input_orphans_its_dependents(self, h: StaleHarness) -> None:
        """``orphaned`` for direct dependents; further down it is a stale input."""
        m = h.manager
        m.track("raw", kind="artifact")
        m.track("clean", kind="artifact", inputs=["raw"])
        m.track("report", kind="artifact", inputs=["clean"])
        assert m.untrack("raw") is True
        assert m.untrack("raw") is False
        assert _stale(m) == {"clean": ["orphaned"], "report": ["inputs-changed"]}

    def test_reasons_combine_in_a_fixed_order(self, h: StaleHarness) -> None:
        """An item can be stale for several reasons, listed in the documented order."""
        m = h.manager
        m.track("a", kind="artifact", fingerprint="1")
        m.track("b", kind="artifact")
        m.track("c", kind="artifact", inputs=["a", "b"], ttl=1, idle_after=1)
        m.changed("a", "2")
        m.untrack("b")
        h.advance(2)
        assert _stale(m) == {"c": ["expired", "idle", "inputs-changed", "orphaned"]}

    def test_scan_is_sorted_by_key(self, h: StaleHarness) -> None:
        """Results come sorted by key."""
        m = h.manager
        for key in ("zeta", "alpha", "mid"):
            m.track(key, kind="cache", ttl=1)
        h.advance(1)
        assert [item.key for item in m.scan()] == ["alpha", "mid", "zeta"]

    def test_item_reports_what_is_tracked(self, h: StaleHarness) -> None:
        """item() returns the tracked facts, with uses and last use updated by touch()."""
        m = h.manager
        m.track("base", kind="artifact", fingerprint="f0")
        m.track("x", kind="cache", size=42, fingerprint="f1", inputs=["base"], ttl=9)
        first = m.item("x")
        assert (first.kind, first.size, first.fingerprint, first.inputs) == (
            "cache",
            42,
            "f1",
            ["base"],
        )
        assert (first.ttl, first.idle_after, first.uses, first.pinned) == (9, None, 1, False)
        assert first.last_used == first.built_at
        h.advance(3)
        m.touch("x")
        m.touch("x")
        second = m.item("x")
        assert second.uses == 3
        assert second.last_used == pytest.approx(first.last_used + 3)
        assert second.built_at == first.built_at

    def test_unknown_items_are_refused(self, h: StaleHarness) -> None:
        """Every per-item call names an unknown key with stale.unknown_item."""
        m = h.manager
        calls: list[Callable[[], Any]] = [
            lambda: m.touch("nope"),
            lambda: m.changed("nope", "f"),
            lambda: m.pin("nope"),
            lambda: m.unpin("nope"),
            lambda: m.item("nope"),
            lambda: m.track("x", kind="cache", inputs=["nope"]),
        ]
        for call in calls:
            with pytest.raises(UnknownItemError) as info:
                call()
            assert info.value.code == "stale.unknown_item"
        with pytest.raises(UnknownItemError):
            m.item("x")

    @pytest.mark.parametrize(
        "call",
        [
            lambda m: m.track("", kind="cache"),
            lambda m: m.track("x", kind=""),
            lambda m: m.track("x", kind="cache", size=-1),
            lambda m: m.track("x", kind="cache", ttl=0),
            lambda m: m.track("x", kind="cache", idle_after=-5),
            lambda m: m.evict(EvictionPolicy(max_items=-1)),
            lambda m: m.evict(EvictionPolicy(max_bytes=-1)),
        ],
    )
    def test_malformed_arguments_are_refused(
        self, h: StaleHarness, call: Callable[[StaleManager], Any]
    ) -> None:
        """Empty keys, negative sizes and limits, non-positive times are stale.invalid."""
        with pytest.raises(InvalidItemError) as info:
            call(h.manager)
        assert info.value.code == "stale.invalid"

    def test_lineage_cannot_form_a_cycle(self, h: StaleHarness) -> None:
        """An item cannot be its own input, directly or through others."""
        m = h.manager
        m.track("a", kind="artifact")
        m.track("b", kind="artifact", inputs=["a"])
        with pytest.raises(InvalidItemError):
            m.track("a", kind="artifact", inputs=["a"])
        with pytest.raises(InvalidItemError):
            m.track("a", kind="artifact", inputs=["b"])
        assert m.item("a").inputs == []

    def test_evict_removes_unpinned_stale_items(self, h: StaleHarness) -> None:
        """Stale items are evicted, pinned ones kept (and still reported)."""
        m = h.manager
        for key in ("old1", "old2", "keep"):
            m.track(key, kind="cache", size=10, ttl=5)
        m.track("fresh", kind="cache", size=10)
        m.pin("keep")
        h.advance(5)
        evictions = m.evict(EvictionPolicy())
        evicted_keys = [e.key for e in evictions]
        assert sorted(evicted_keys) == ["old1", "old2"]
        assert all(e.why.startswith("stale") and "expired" in e.why for e in evictions)
        assert all((e.kind, e.size) == ("cache", 10) for e in evictions)
        for key in evicted_keys:
            with pytest.raises(UnknownItemError):
                m.item(key)
        [kept] = m.scan()
        assert (kept.key, kept.pinned) == ("keep", True)
        assert m.item("fresh").key == "fresh"

    def test_evict_least_recently_used_to_a_count(self, h: StaleHarness) -> None:
        """Over max_items, the least recently used go first."""
        m = h.manager
        for key in ("a", "b", "c", "d"):
            m.track(key, kind="cache")
            h.advance(1)
        m.touch("a")
        evictions = m.evict(EvictionPolicy(stale=False, max_items=2, order="lru"))
        assert [(e.key, e.why) for e in evictions] == [("b", "lru"), ("c", "lru")]
        assert m.evict(EvictionPolicy(stale=False, max_items=2)) == []

    def test_evict_least_frequently_used(self, h: StaleHarness) -> None:
        """With lfu, fewest uses go first, least recently used among equals."""
        m = h.manager
        for key in ("a", "b", "c"):
            m.track(key, kind="cache")
            h.advance(1)
        for _ in range(3):
            m.touch("a")
        m.touch("c")
        h.advance(1)
        m.touch("b")
        evictions = m.evict(EvictionPolicy(stale=False, max_items=1, order="lfu"))
        assert [e.key for e in evictions] == ["c", "b"]

    def test_evict_to_a_byte_budget(self, h: StaleHarness) -> None:
        """Over max_bytes, items go until the rest fits."""
        m = h.manager
        for key, size in (("a", 50), ("b", 30), ("c", 40)):
            m.track(key, kind="cache", size=size)
            h.advance(1)
        evictions = m.evict(EvictionPolicy(stale=False, max_bytes=70))
        assert [e.key for e in evictions] == ["a"]
        assert sum(m.item(k).size for k in ("b", "c")) == 70

    def test_evict_only_the_kinds_asked_for(self, h: StaleHarness) -> None:
        """A kinds filter limits both stale eviction and the limits to those kinds."""
        m = h.manager
        m.track("c1", kind="cache", ttl=1)
        m.track("a1", kind="artifact", ttl=1)
        m.track("c2", kind="cache")
        h.advance(2)
        evictions = m.evict(EvictionPolicy(kinds=["cache"], max_items=0))
        assert sorted(e.key for e in evictions) == ["c1", "c2"]
        assert _stale(m) == {"a1": ["expired"]}

    def test_pinned_items_survive_every_policy(self, h: StaleHarness) -> None:
        """Nothing pinned is evicted, even when the limits cannot be met."""
        m = h.manager
        for key in ("a", "b"):
            m.track(key, kind="cache", size=100, ttl=1)
            m.pin(key)
            m.pin(key)
        h.advance(2)
        assert m.evict(EvictionPolicy(max_items=0, max_bytes=0)) == []
        m.unpin("a")
        m.unpin("a")
        assert [e.key for e in m.evict(EvictionPolicy(max_items=0))] == ["a"]

    def test_a_pin_survives_retracking(self, h: StaleHarness) -> None:
        """Rebuilding a pinned item keeps it pinned."""
        m = h.manager
        m.track("x", kind="cache")
        m.pin("x")
        m.track("x", kind="cache", size=5)
        assert m.item("x").pinned is True

    def test_random_evictions_respect_pins_and_limits(self, stale_factory: StaleFactory) -> None:
        """Evictions respect pins and limits whatever happened before.

        An eviction never removes a pinned item, leaves at most max_items (or only pinned
        ones), takes every unpinned stale item, and evicted items are no longer tracked.
        """
        keys = st.sampled_from([f"k{i}" for i in range(8)])

        class StaleMachine(RuleBasedStateMachine):
            def __init__(self) -> None:
                super().__init__()
                self.h = stale_factory()
                self.tracked: set[str] = set()
                self.pinned: set[str] = set()

            @rule(key=keys, size=st.integers(0, 50), ttl=st.none() | st.floats(1, 20))
            def track(self, key: str, size: int, ttl: float | None) -> None:
                inputs = sorted(k for k in self.tracked if k < key)[:2]
                self.h.manager.track(key, kind="cache", size=size, ttl=ttl, inputs=inputs)
                self.tracked.add(key)

            @rule(key=keys)
            def touch(self, key: str) -> None:
                if key in self.tracked:
                    self.h.manager.touch(key)

            @rule(key=keys, fingerprint=st.sampled_from(["f1", "f2"]))
            def change(self, key: str, fingerprint: str) -> None:
                if key in self.tracked:
                    self.h.manager.changed(key, fingerprint)

            @rule(key=keys, pin=st.booleans())
            def pin(self, key: str, pin: bool) -> None:
                if key in self.tracked:
                    (self.h.manager.pin if pin else self.h.manager.unpin)(key)
                    (self.pinned.add if pin else self.pinned.discard)(key)

            @rule(seconds=st.floats(0, 10))
            def advance(self, seconds: float) -> None:
                self.h.advance(seconds)

            @rule(
                stale=st.booleans(),
                max_items=st.none() | st.integers(0, 6),
                order=st.sampled_from(["lru", "lfu"]),
            )
            def evict(self, stale: bool, max_items: int | None, order: Any) -> None:
                before_stale = {i.key for i in self.h.manager.scan() if not i.pinned}
                evicted = {
                    e.key
                    for e in self.h.manager.evict(
                        EvictionPolicy(stale=stale, max_items=max_items, order=order)
                    )
                }
                assert not evicted & self.pinned
                assert evicted <= self.tracked
                if stale:
                    assert before_stale <= evicted
                self.tracked -= evicted
                if max_items is not None:
                    assert len(self.tracked) <= max(max_items, len(self.pinned))

            @invariant()
            def tracked_items_answer(self) -> None:
                for key in self.tracked:
                    assert self.h.manager.item(key).pinned is (key in self.pinned)

        run_state_machine_as_test(
            StaleMachine,
            settings=settings(
                max_examples=60,
                stateful_step_count=30,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
