from __future__ import annotations

import itertools
import random
from typing import Any

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symphony_core.hooks import (
    REST_MARKER,
    Constraint,
    HookOrderError,
    HookRelay,
    hookimpl,
    order_extensions,
)
from symphony_core.hooks.ordering import TIER_FIRST, TIER_LAST, TIER_NORMAL

EVENT = "symphony_addon_event"
DESCRIBE = "symphony_operator_describe"


def plugin(name: str, **impl_options: Any) -> object:
    class Plugin:
        @hookimpl(**impl_options)
        def symphony_addon_event(self, event: Any) -> str:
            return name

        @hookimpl
        def symphony_operator_describe(self) -> list[str]:
            return [name]

    return Plugin()


def order_of(relay: HookRelay) -> list[str]:
    return relay.call(EVENT, event=None)  # type: ignore[no-any-return]


def test_default_order_is_by_id_whatever_the_registration_order() -> None:
    ids = ["z.last", "a.first", "m.middle"]
    for _ in range(5):
        random.shuffle(ids)
        relay = HookRelay()
        for ext in ids:
            relay.register(plugin(ext), ext)
        assert order_of(relay) == ["a.first", "m.middle", "z.last"]
        assert relay.implementers(EVENT) == ["a.first", "m.middle", "z.last"]


def test_tryfirst_and_trylast_decide_what_constraints_leave_open() -> None:
    relay = HookRelay()
    relay.register(plugin("a.a", trylast=True), "a.a")
    relay.register(plugin("b.b"), "b.b")
    relay.register(plugin("c.c", tryfirst=True), "c.c")
    assert order_of(relay) == ["c.c", "b.b", "a.a"]


def test_manifest_wishes_apply_to_every_hook() -> None:
    relay = HookRelay()
    relay.register(plugin("a.a"), "a.a", order_after=["c.c"])
    relay.register(plugin("b.b"), "b.b")
    relay.register(plugin("c.c"), "c.c", order_before=["b.b"])
    assert order_of(relay) == ["c.c", "a.a", "b.b"]
    assert relay.call(DESCRIBE) == [["c.c"], ["a.a"], ["b.b"]]


def test_hookimpl_wishes_apply_to_their_hook_only() -> None:
    relay = HookRelay()
    relay.register(plugin("a.a", after=["b.b"]), "a.a")
    relay.register(plugin("b.b"), "b.b")
    assert order_of(relay) == ["b.b", "a.a"]
    assert relay.call(DESCRIBE) == [["a.a"], ["b.b"]]


def test_constraints_win_over_tiers_and_unknown_ids_are_ignored() -> None:
    relay = HookRelay()
    relay.register(plugin("a.a", tryfirst=True), "a.a", order_after=["b.b", "x.absent"])
    relay.register(plugin("b.b", trylast=True), "b.b")
    assert order_of(relay) == ["b.b", "a.a"]


def test_the_users_order_wins_and_rest_marker_places_the_others() -> None:
    def build(order: dict[str, list[str]]) -> HookRelay:
        relay = HookRelay(hook_order=order)
        relay.register(plugin("a.a"), "a.a", order_before=["d.d"])
        relay.register(plugin("b.b"), "b.b")
        relay.register(plugin("c.c"), "c.c")
        relay.register(plugin("d.d"), "d.d")
        return relay

    assert order_of(build({EVENT: ["d.d", "c.c"]})) == ["d.d", "c.c", "a.a", "b.b"]
    assert order_of(build({EVENT: ["d.d", REST_MARKER, "a.a"]})) == ["d.d", "b.b", "c.c", "a.a"]
    assert order_of(build({"*": ["c.c"]})) == ["c.c", "a.a", "b.b", "d.d"]
    per_hook_wins = build({"*": ["c.c"], EVENT: ["b.b"]})
    assert order_of(per_hook_wins) == ["b.b", "a.a", "c.c", "d.d"]
    assert per_hook_wins.call(DESCRIBE) == [["c.c"], ["a.a"], ["b.b"], ["d.d"]]
    # listed ids that implement nothing are skipped
    assert order_of(build({EVENT: ["q.q", "b.b"]}))[0] == "b.b"


def test_the_users_order_breaks_a_cycle_between_listed_extensions() -> None:
    relay = HookRelay(hook_order={"*": ["b.b", "a.a"]})
    relay.register(plugin("a.a"), "a.a", order_before=["b.b"])
    relay.register(plugin("b.b"), "b.b", order_before=["a.a"])
    assert order_of(relay) == ["b.b", "a.a"]
    # without the user's word for every hook the wishes of a.a and b.b contradict
    partial = HookRelay(hook_order={EVENT: ["b.b", "a.a"]})
    partial.register(plugin("a.a"), "a.a", order_before=["b.b"])
    with pytest.raises(HookOrderError) as info:
        partial.register(plugin("b.b"), "b.b", order_before=["a.a"])
    assert info.value.hook == DESCRIBE


def test_a_cycle_is_refused_naming_it_and_nothing_changes() -> None:
    relay = HookRelay()
    relay.register(plugin("a.a"), "a.a", order_before=["b.b"])
    relay.register(plugin("b.b", before=["c.c"]), "b.b")
    before = order_of(relay)
    with pytest.raises(HookOrderError) as info:
        relay.register(plugin("c.c"), "c.c", order_before=["a.a"])
    err = info.value
    assert err.code == "hook.order_cycle"
    assert err.hook == EVENT
    assert err.cycle == ["a.a", "b.b", "c.c", "a.a"]
    text = str(err)
    assert "a.a -> b.b -> c.c -> a.a" in text
    assert "order-before of a.a" in text
    assert "before/after on b.b" in text
    assert "hook-order" in (err.hint or "")
    assert not relay.is_registered("c.c")
    assert order_of(relay) == before
    assert relay.implementers(DESCRIBE) == ["a.a", "b.b"]


def test_order_extensions_reports_the_source_of_each_step() -> None:
    with pytest.raises(HookOrderError) as info:
        order_extensions(
            "h",
            {"x.x": TIER_NORMAL, "y.y": TIER_NORMAL},
            [Constraint("x.x", "y.y", "wish one"), Constraint("y.y", "x.x", "wish two")],
        )
    assert "x.x before y.y (wish one)" in str(info.value)
    assert "y.y before x.x (wish two)" in str(info.value)


ids = st.sampled_from([f"p{i}.e{i}" for i in range(8)])


@st.composite
def problems(draw: st.DrawFn) -> tuple[dict[str, int], list[Constraint], list[str] | None]:
    exts = draw(st.lists(ids, min_size=0, max_size=8, unique=True))
    tiers = {ext: draw(st.sampled_from([TIER_FIRST, TIER_NORMAL, TIER_LAST])) for ext in exts}
    pool = st.sampled_from([*exts, "zz.absent"]) if exts else st.just("zz.absent")
    pairs = draw(st.lists(st.tuples(pool, pool), max_size=14))
    constraints = [Constraint(a, b, f"wish {i}") for i, (a, b) in enumerate(pairs)]
    override = None
    if exts and draw(st.booleans()):
        listed = draw(st.lists(st.sampled_from(exts), unique=True, max_size=len(exts)))
        if draw(st.booleans()):
            listed.insert(draw(st.integers(0, len(listed))), REST_MARKER)
        override = listed
    return tiers, constraints, override


@settings(max_examples=300, deadline=None)
@given(problems())
def test_order_respects_every_wish_or_names_a_real_cycle(
    problem: tuple[dict[str, int], list[Constraint], list[str] | None],
) -> None:
    tiers, constraints, override = problem
    listed = [e for e in (override or []) if e != REST_MARKER]
    rest = [e for e in tiers if e not in listed]
    graph = nx.DiGraph()
    graph.add_nodes_from(rest)
    graph.add_edges_from(
        (c.earlier, c.later)
        for c in constraints
        if c.earlier in rest and c.later in rest and c.earlier != c.later
    )
    try:
        result = order_extensions("h", tiers, constraints, override)
    except HookOrderError as exc:
        cycle = exc.cycle
        assert cycle[0] == cycle[-1]
        assert len(cycle) >= 3
        assert all(graph.has_edge(a, b) for a, b in itertools.pairwise(cycle))
        assert not nx.is_directed_acyclic_graph(graph)
        return
    assert nx.is_directed_acyclic_graph(graph)
    assert sorted(result) == sorted(tiers)  # a permutation
    position = {ext: i for i, ext in enumerate(result)}
    for a, b in graph.edges:
        assert position[a] < position[b]
    if override is not None:
        marker = override.index(REST_MARKER) if REST_MARKER in override else len(override)
        head = [e for e in override[:marker] if e in tiers]
        tail = [e for e in override[marker + 1 :] if e in tiers]
        assert result[: len(head)] == head
        assert result[len(result) - len(tail) :] == tail
    # deterministic whatever the input order
    shuffled = dict(reversed(list(tiers.items())))
    assert order_extensions("h", shuffled, list(reversed(constraints)), override) == result
