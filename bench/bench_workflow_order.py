"""Workflow ordering and validation against graphlib, networkx and rustworkx.

Every implementation gets the same graphs in the same run, and each timing includes
building the graph structure from the workflow's edge list (for us: numbering the
workflow's nodes and edges, which a fresh workflow object has not done yet):

* random DAGs of 10k and 100k nodes, each node fed by 3 earlier ones (~3 out-edges per
  node), with ids that follow creation order (zero-padded) and with shuffled ids;
* a 10k-node chain;
* the random 10k DAG plus one back edge: find the cycle and its path;
* 1M nodes / 3M edges: our validate + order (peers too with BENCH_FULL=1), on a workflow
  made from Node and Edge objects, and (ids in order) on one made with WorkflowBuilder,
  one decoded from JSON and one decoded from the binary form; what making each of them
  costs is printed too (not part of the target). The random graph itself is drawn
  before any clock starts.

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
from functools import partial
from pathlib import Path

import networkx as nx  # type: ignore[import-untyped]
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
    WorkflowBuilder,
    WorkflowCycleError,
    decode_binary,
    decode_json,
    encode_binary,
    encode_json,
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


Graph = tuple[list[str], list[list[int]]]


def random_graph(n: int, *, seed: int = 1, shuffle: bool = False) -> Graph:
    """Node names, and for node i >= 3 the 3 distinct earlier nodes feeding it."""
    rnd = random.Random(seed)
    width = len(str(n))
    names = [f"n{i:0{width}d}" for i in range(n)]
    if shuffle:
        rnd.shuffle(names)
    return names, [rnd.sample(range(i), FAN_IN) if i >= FAN_IN else [] for i in range(n)]


def model_workflow(graph: Graph) -> Workflow:
    """The graph as Node and Edge objects handed to Workflow (ports a, b, c)."""
    names, feeds = graph
    nodes = [
        Node(name, "bench.ops/source" if i < FAN_IN else "bench.ops/op", {"k": i % 10})  # type: ignore[arg-type]
        for i, name in enumerate(names)
    ]
    edges: list[Edge] = []
    for i in range(FAN_IN, len(names)):
        for port, j in zip("abc", feeds[i], strict=True):
            edges.append(Edge(f"e{len(edges)}", names[j], names[i], "data", "out", port))
    return Workflow("bench", nodes, edges)


def builder_workflow(graph: Graph) -> Workflow:
    """The same graph made with WorkflowBuilder (generated edge ids e1, e2, ...)."""
    names, feeds = graph
    builder = WorkflowBuilder("bench")
    for i, name in enumerate(names):
        builder.node(name, "bench.ops/source" if i < FAN_IN else "bench.ops/op", {"k": i % 10})
    for i in range(FAN_IN, len(names)):
        for port, j in zip("abc", feeds[i], strict=True):
            builder.connect(f"{names[j]}.out", f"{names[i]}.{port}")
    return builder.build()


def random_workflow(n: int, *, seed: int = 1, shuffle: bool = False) -> Workflow:
    """n nodes; node i >= 3 is fed by 3 distinct earlier nodes (ports a, b, c)."""
    return model_workflow(random_graph(n, seed=seed, shuffle=shuffle))


def chain_workflow(n: int) -> Workflow:
    names = [f"c{i:05d}" for i in range(n)]
    nodes = [Node(names[0], "bench.ops/source")] + [Node(x, "bench.ops/op") for x in names[1:]]
    edges = [Edge(f"e{i}", names[i], names[i + 1], "data", "out", "a") for i in range(n - 1)]
    return Workflow("chain", nodes, edges)


def fresh(workflow: Workflow) -> Workflow:
    """The same workflow as a new object, so nothing cached on the old one is reused.

    New node and edge tuples: a copy sharing the very same tuples (``replace()``) would
    inherit the old one's numbered graph.
    """
    return Workflow(workflow.name, list(workflow.nodes), list(workflow.edges))


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
        peer_ms = timed(partial(peer, ids, pairs), max(1, repeat // 2))
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


def validate_and_order(workflow: Workflow) -> float:
    """Seconds to validate (must be clean) and order a workflow not yet numbered."""
    gc.collect()
    start = time.perf_counter()
    report = validate(workflow, CATALOG)
    order = topological_order(workflow)
    took = time.perf_counter() - start
    assert report.ok, report.issues[:3]
    assert len(order) == len(workflow.nodes)
    return took


def made(label: str, make: Callable[[], Workflow]) -> tuple[Workflow, float]:
    """Make a workflow, timing it; the timing goes to stderr (it is not in the target)."""
    gc.collect()
    start = time.perf_counter()
    workflow = make()
    took = time.perf_counter() - start
    print(f"# {label}: making it took {took:.1f} s (not counted below)", file=sys.stderr)
    return workflow, took


def big_rows(full: bool) -> list[Row]:
    rows: list[Row] = []
    for shuffle in (False, True):
        graph = random_graph(1_000_000, shuffle=shuffle)
        label = "1M nodes / 3M edges" + (", shuffled ids" if shuffle else "")
        workflow, took = made(f"{label}, Node/Edge objects", partial(model_workflow, graph))
        rows.append(Row(f"{label}: make from Node/Edge objects", took, None, "s", "-"))
        total = validate_and_order(workflow)
        peer = None
        if full:
            ids, pairs = pairs_of(workflow)
            peer = timed(partial(rustworkx_order, ids, pairs), 1) / 1000
            del ids, pairs
        rows.append(
            Row(f"{label}: validate + order", total, peer, "s", "< 3 s", "rustworkx sort only")
        )
        if not shuffle:
            json_doc = encode_json(workflow)
            binary = encode_binary(workflow)
            del workflow
            makers: list[tuple[str, Callable[[], Workflow]]] = [
                ("WorkflowBuilder", partial(builder_workflow, graph)),
                ("decode_json", partial(decode_json, json_doc)),
                ("decode_binary", partial(decode_binary, binary)),
            ]
            for how, make in makers:
                made_wf, took = made(f"{label}, {how}", make)
                rows.append(Row(f"{label}: make with {how}", took, None, "s", "-"))
                rows.append(
                    Row(
                        f"{label}: validate + order ({how})",
                        validate_and_order(made_wf),
                        None,
                        "s",
                        "< 3 s",
                    )
                )
                del made_wf
                gc.collect()
            del json_doc, binary
        else:
            del workflow
        del graph
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
            timed(partial(ours_validate_and_order, dag100s), 3),
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
