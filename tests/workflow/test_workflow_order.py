"""Orders: deterministic topological order, layers, critical path, closures."""

from __future__ import annotations

import random

import networkx as nx
import pytest

from symphony_core.workflow import (
    Edge,
    Node,
    UnknownNodeError,
    Workflow,
    WorkflowCycleError,
    critical_path,
    downstream,
    layers,
    topological_order,
    upstream,
)


def dag(pairs: list[tuple[str, str]], extra: list[str] = ()) -> Workflow:  # type: ignore[assignment]
    names = list(dict.fromkeys([*extra, *(n for pair in pairs for n in pair)]))
    return Workflow(
        "g",
        [Node(n, "t/x") for n in names],
        [Edge(f"{a}>{b}", a, b, "control") for a, b in pairs],
    )


def test_ties_are_broken_by_the_smallest_id() -> None:
    wf = dag([("b", "d"), ("a", "c"), ("c", "d")], extra=["z", "y"])
    assert topological_order(wf) == ["a", "b", "c", "d", "y", "z"]
    # A ready node with a smaller id goes before a larger one that became ready earlier.
    wf = dag([("c", "a"), ("c", "b")], extra=["d"])
    assert topological_order(wf) == ["c", "a", "b", "d"]


def test_order_matches_networkx_on_shuffled_ids() -> None:
    rnd = random.Random(7)
    names = [f"n{i}" for i in range(300)]
    rnd.shuffle(names)
    pairs = [(names[rnd.randrange(i)], names[i]) for i in range(1, 300) for _ in range(2)]
    wf = dag(pairs, extra=names)
    graph = nx.MultiDiGraph(pairs)
    graph.add_nodes_from(names)
    assert topological_order(wf) == list(nx.lexicographical_topological_sort(graph))
    # Ids that already follow the edges take the one-pass path: the same answer.
    ordered = dag([(f"n{i:03d}", f"n{j:03d}") for i, j in [(0, 5), (1, 2), (2, 5), (3, 4)]])
    assert topological_order(ordered) == ["n000", "n001", "n002", "n003", "n004", "n005"]


def test_layers_group_parallel_nodes() -> None:
    wf = dag([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("a", "d")], extra=["e"])
    assert layers(wf) == [["a", "e"], ["b", "c"], ["d"]]
    assert layers(Workflow("empty")) == []


def test_cycles_are_refused_with_their_path() -> None:
    wf = dag([("a", "b"), ("b", "c"), ("c", "b"), ("c", "d")])
    for query in (topological_order, layers, critical_path):
        with pytest.raises(WorkflowCycleError) as info:
            query(wf)  # type: ignore[operator]
        assert info.value.path == ("b", "c")
        assert info.value.code == "workflow.cycle"
        assert "b -> c -> b" in str(info.value)


def test_dangling_edges_are_ignored_by_orders() -> None:
    wf = dag([("a", "b")]).replace(
        edges=[Edge("x", "a", "ghost", "control"), Edge("y", "a", "b", "control")]
    )
    assert topological_order(wf) == ["a", "b"]


def test_critical_path_by_count_and_by_duration() -> None:
    wf = dag([("a", "b"), ("b", "c"), ("a", "x"), ("x", "c"), ("c", "d")], extra=["lonely"])
    path = critical_path(wf)
    assert path.length == 4.0
    assert path.nodes == ("a", "b", "c", "d")
    assert path.edges == ("a>b", "b>c", "c>d")
    heavy = critical_path(wf, {"x": 10.0})
    assert heavy.nodes == ("a", "x", "c", "d")
    assert heavy.length == 13.0
    by_function = critical_path(wf, lambda node: 100.0 if node.id == "lonely" else 1.0)
    assert by_function.nodes == ("lonely",)
    assert critical_path(Workflow("empty")).nodes == ()


def test_closures_for_partial_re_runs() -> None:
    wf = dag([("a", "b"), ("b", "c"), ("x", "c"), ("c", "d"), ("e", "f")])
    assert downstream(wf, "b") == ["b", "c", "d"]
    # In topological order: a b e f x c d.
    assert downstream(wf, ["b", "e"], include_self=False) == ["f", "c", "d"]
    assert upstream(wf, "c") == ["a", "b", "x", "c"]
    assert upstream(wf, "a", include_self=False) == []
    with pytest.raises(UnknownNodeError, match="'nope'"):
        upstream(wf, ["nope"])
    cyclic = dag([("a", "b"), ("b", "a"), ("b", "c")])
    assert downstream(cyclic, "c") == ["c"]
    assert set(downstream(cyclic, "a")) == {"a", "b", "c"}
