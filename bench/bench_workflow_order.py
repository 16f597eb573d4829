"""Workflow ordering and validation against graphlib, networkx and rustworkx.

Every implementation gets the same graphs in the same run, and each timing includes
building the graph structure from the workflow's edge list (for us: numbering the
workflow's nodes and edges, which a fresh workflow object has not done yet):

* random DAGs of 10k and 100k nodes, each node fed by 3 earlier ones (~3 out-edges per
  node), with ids that follow creation order (zero-padded) and with shuffled ids;
* a 10k-node chain;
* the random 10k DAG plus one back edge: find the cycle and its path;
* 1M nodes / 3M edges: our validate + order (peers too with BENCH_FULL=1).

Ours: ``topological_order`` is the smallest-id-first order (networkx's
``lexicographical_topological_sort`` with the id as key gives the same list); graphlib's
``static_order`` and rustworkx's ``topological_sort`` give some valid order, cheaper to
find. Run: ``uv run python bench/bench_workflow_order.py`` (BENCH_QUICK=1 skips 1M).
"""

from __future__ import annotations

import gc
import graphlib
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import networkx as nx
import rustworkx as rx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _table import Row, print_table

from symphony_core.manifest.model import NodeType, Parameter, Port
from symphony_core.workflow import (
    Edge,
    Node,
    NodeCatalog,
    Workflow,
    WorkflowCycleError,
    topological_order,
    validate,
)

FAN_IN = 3
CATALOG = NodeCatalog.from_node_types(
    {
        "bench.ops": [
            NodeType(
                type="source",
                outputs=[Port(name="out", type="int")],
                parameters={"k": Parameter(type="int", default=0, min=0)},
            ),
            NodeType(
                type="op",
                inputs=[
                    Port(name="a", type="int"),
                    Port(name="b", type="float", required=False),
                    Port(name="c", type="json", required=False),
                ],
                outputs=[Port(name="out", type="int")],
                parameters={"k": Parameter(type="int", default=0, min=0, max=1000)},
            ),
        ]
    }
)


def random_workflow(n: int, *, seed: int = 1, shuffle: bool = False) -> Workflow:
    """n nodes; node i >= 3 is fed by 3 distinct earlier nodes (ports a, b, c)."""
    rnd = random.Random(seed)
    width = len(str(n))
    names = [f"n{i:0{width}d}" for i in range(n)]
    if shuffle:
        rnd.shuffle(names)
    nodes = [
        Node(names[i], "bench.ops/source" if i < FAN_IN else "bench.ops/op", {"k": i % 10})
        for i in range(n)
    ]
    edges: list[Edge] = []
    for i in range(FAN_IN, n):
        for port, j in zip("abc", rnd.sample(range(i), FAN_IN), strict=True):
            edges.append(Edge(f"e{len(edges)}", names[j], names[i], "data", "out", port))
    return Workflow("bench", nodes, edges)


def chain_workflow(n: int) -> Workflow:
    names = [f"c{i:05d}" for i in range(n)]
    nodes = [Node(names[0], "bench.ops/source")] + [Node(x, "bench.ops/op") for x in names[1:]]
    edges = [Edge(f"e{i}", names[i], names[i + 1], "data", "out", "a") for i in range(n - 1)]
    return Workflow("chain", nodes, edges)


def fresh(workflow: Workflow) -> Workflow:
    """The same workflow as a new object, so nothing cached on the old one is reused."""
    return workflow.replace()


def pairs_of(workflow: Workflow) -> tuple[list[str], list[tuple[str, str]]]:
    return [n.id for n in workflow.nodes], [(e.source, e.target) for e in workflow.edges]


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time in ms over ``repeat`` runs (garbage collected before each)."""
    samples = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def graphlib_order(ids: list[str], pairs: list[tuple[str, str]]) -> list[str]:
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for node in ids:
        sorter.add(node)
    for source, target in pairs:
        sorter.add(target, source)
    return list(sorter.static_order())


def networkx_order(ids: list[str], pairs: list[tuple[str, str]]) -> list[str]:
    graph = nx.DiGraph()
    graph.add_nodes_from(ids)
    graph.add_edges_from(pairs)
    return list(nx.lexicographical_topological_sort(graph))


def rustworkx_order(ids: list[str], pairs: list[tuple[str, str]]) -> list[str]:
    graph = rx.PyDiGraph()
    index = dict(zip(ids, graph.add_nodes_from(ids), strict=True))
    graph.add_edges_from_no_data([(index[s], index[t]) for s, t in pairs])
    return [graph[i] for i in rx.topological_sort(graph)]


def ours_order(workflow: Workflow) -> list[str]:
    return topological_order(fresh(workflow))


def ours_validate_and_order(workflow: Workflow) -> list[str]:
    wf = fresh(workflow)
    report = validate(wf, CATALOG)
    assert report.ok, report.issues[:3]
    return topological_order(wf)


PEERS: list[tuple[str, Callable[[list[str], list[tuple[str, str]]], list[str]]]] = [
    ("graphlib", graphlib_order),
    ("networkx", networkx_order),
    ("rustworkx", rustworkx_order),
]


def order_rows(label: str, workflow: Workflow, repeat: int, target: str) -> list[Row]:
    ids, pairs = pairs_of(workflow)
    expected = networkx_order(ids, pairs) if len(ids) <= 100_000 else None
    got = ours_order(workflow)
    if expected is not None:
        assert got == expected, "our order differs from networkx's lexicographic order"
    ours = timed(lambda: ours_order(workflow), repeat)
    rows = []
    for name, peer in PEERS:
        peer_ms = timed(lambda peer=peer: peer(ids, pairs), max(1, repeat // 2))
        rows.append(Row(f"{label}: order", ours, peer_ms, "ms", target, name))
    return rows


def cycle_rows(workflow: Workflow, repeat: int) -> list[Row]:
    last = workflow.nodes[-1].id
    first = workflow.edges[0].source
    cyclic = workflow.add_edge(Edge("back", last, first, "control"))
    ids, pairs = pairs_of(cyclic)

    def ours() -> tuple[str, ...]:
        try:
            topological_order(fresh(cyclic))
        except WorkflowCycleError as exc:
            return exc.path
        raise AssertionError("no cycle found")

    def with_graphlib() -> object:
        try:
            graphlib_order(ids, pairs)
        except graphlib.CycleError as exc:
            return exc.args[1]
        raise AssertionError("no cycle found")

    def with_networkx() -> object:
        graph = nx.DiGraph(pairs)
        return nx.find_cycle(graph)

    def with_rustworkx() -> object:
        graph = rx.PyDiGraph()
        index = dict(zip(ids, graph.add_nodes_from(ids), strict=True))
        graph.add_edges_from_no_data([(index[s], index[t]) for s, t in pairs])
        try:
            rx.topological_sort(graph)
        except rx.DAGHasCycle:
            return rx.digraph_find_cycle(graph)
        raise AssertionError("no cycle found")

    ours_ms = timed(ours, repeat)
    return [
        Row(
            "10k DAG + back edge: cycle and its path", ours_ms, timed(peer, repeat), "ms", "-", name
        )
        for name, peer in (
            ("graphlib", with_graphlib),
            ("networkx", with_networkx),
            ("rustworkx", with_rustworkx),
        )
    ]


def big_rows(full: bool) -> list[Row]:
    rows: list[Row] = []
    for shuffle in (False, True):
        start = time.perf_counter()
        workflow = random_workflow(1_000_000, shuffle=shuffle)
        built = time.perf_counter() - start
        gc.collect()
        label = "1M nodes / 3M edges" + (", shuffled ids" if shuffle else "")
        print(
            f"# {label}: {len(workflow.edges):,} edges; building the Workflow object took "
            f"{built:.1f} s (not counted below)",
            file=sys.stderr,
        )
        start = time.perf_counter()
        report = validate(workflow, CATALOG)
        validated = time.perf_counter()
        order = topological_order(workflow)
        ordered = time.perf_counter()
        assert report.ok
        assert len(order) == 1_000_000
        total = ordered - start
        print(
            f"# {label}: validate {validated - start:.2f} s + order {ordered - validated:.2f} s",
            file=sys.stderr,
        )
        peer = None
        if full:
            ids, pairs = pairs_of(workflow)
            peer = timed(lambda ids=ids, pairs=pairs: rustworkx_order(ids, pairs), 1) / 1000
        rows.append(
            Row(f"{label}: validate + order", total, peer, "s", "< 3 s", "rustworkx sort only")
        )
        del workflow, report, order
        gc.collect()
    return rows


def main() -> None:
    quick = os.environ.get("BENCH_QUICK") == "1"
    full = os.environ.get("BENCH_FULL") == "1"
    rows: list[Row] = []
    dag10 = random_workflow(10_000)
    dag10s = random_workflow(10_000, shuffle=True)
    rows.append(
        Row(
            "random 10k DAG: validate + order",
            timed(lambda: ours_validate_and_order(dag10), 9),
            None,
            "ms",
            "< 30 ms",
        )
    )
    rows.append(
        Row(
            "random 10k DAG, shuffled ids: validate + order",
            timed(lambda: ours_validate_and_order(dag10s), 9),
            None,
            "ms",
            "< 30 ms",
        )
    )
    rows += order_rows("random 10k DAG", dag10, 9, "faster than graphlib, networkx")
    rows += order_rows("random 10k DAG, shuffled ids", dag10s, 9, "faster than graphlib, networkx")
    rows += order_rows("10k chain", chain_workflow(10_000), 9, "faster than graphlib, networkx")
    rows += cycle_rows(dag10, 5)
    dag100 = random_workflow(100_000)
    dag100s = random_workflow(100_000, shuffle=True)
    rows += order_rows("random 100k DAG", dag100, 3, "faster than graphlib, networkx")
    rows += order_rows(
        "random 100k DAG, shuffled ids", dag100s, 3, "faster than graphlib, networkx"
    )
    rows.append(
        Row(
            "random 100k DAG, shuffled ids: validate + order",
            timed(lambda w=dag100s: ours_validate_and_order(w), 3),
            None,
            "ms",
            "-",
        )
    )
    del dag100, dag100s
    gc.collect()
    if not quick:
        rows += big_rows(full)
    print_table("Workflow ordering and validation (median ms; build included)", rows)


if __name__ == "__main__":
    main()
