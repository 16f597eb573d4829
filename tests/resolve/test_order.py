from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symphony_core.resolution.order import cycle_through, find_cycle, load_order


def test_order_puts_dependencies_first_and_breaks_ties_by_id() -> None:
    graph = {"c": ["a"], "b": [], "a": [], "d": ["c", "b"], "e": ["outside"]}
    result = load_order(graph)
    assert result.order == ("a", "b", "c", "d", "e")
    assert result.blocked == ()


def test_cycle_blocks_its_members_and_dependents() -> None:
    graph = {"a": ["b"], "b": ["a"], "c": ["a"], "d": []}
    result = load_order(graph)
    assert result.order == ("d",)
    assert result.blocked == ("a", "b", "c")
    assert find_cycle(graph, result.blocked) == ("a", "b", "a")


def test_find_cycle_skips_the_path_leading_into_it() -> None:
    graph = {"a": ["x"], "x": ["y"], "y": ["x"]}
    assert find_cycle(graph, load_order(graph).blocked) == ("x", "y", "x")
    with pytest.raises(ValueError, match="no cycle"):
        find_cycle({"a": []}, ["a"])
    with pytest.raises(ValueError, match="no ids"):
        find_cycle({}, [])


def test_cycle_through_finds_the_shortest_cycle_or_none() -> None:
    graph = {"a": ["b", "c"], "b": ["c"], "c": ["a"], "d": ["a"], "s": ["s"]}
    assert cycle_through(graph, "a") == ("a", "c", "a")
    assert cycle_through(graph, "b") == ("b", "c", "a", "b")
    assert cycle_through(graph, "d") is None
    assert cycle_through(graph, "s") == ("s", "s")


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from("abcdefgh"), st.lists(st.sampled_from("abcdefgh"), max_size=3), max_size=8
    )
)
def test_order_is_topological_and_complete(graph: dict[str, list[str]]) -> None:
    result = load_order(graph)
    assert sorted(result.order + result.blocked) == sorted(graph)
    pos = {n: i for i, n in enumerate(result.order)}
    for node in result.order:
        for dep in graph[node]:
            if dep in graph:
                assert pos[dep] < pos[node]
    if result.blocked:
        cycle = find_cycle(graph, result.blocked)
        assert cycle[0] == cycle[-1]
        for here, there in itertools.pairwise(cycle):
            assert there in graph[here]
    # Same graph, other insertion order: same answer.
    assert load_order(dict(reversed(list(graph.items())))) == result
