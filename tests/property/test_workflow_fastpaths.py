"""The fast paths of validation and ordering agree with simple reference implementations.

* :func:`validate` must report exactly what the reference validator (a frozen copy of
  the implementation before the speed-up, ``_reference_validate``) reports: the same
  issues, codes, messages, ids, hints and cycle paths, in the same order - on random
  workflows with shuffled, repeated and malformed ids, dangling edges, every edge kind,
  conditions, control nodes, unknown types, bad ports and parameters, and cycles.
* :func:`topological_order` must be the smallest-id-first order of a plain Kahn's
  algorithm over ids (and networkx's lexicographical order), or raise with the cycle
  the reference finds; :func:`layers` must match the reference topology.
* The topology the builder numbers while building, and the one an edit hands on, must
  equal the one built from scratch.
"""

from __future__ import annotations

import heapq
import random
from typing import Any

import networkx as nx  # type: ignore[import-untyped]
import pytest
from _reference_builder import ReferenceBuilder
from _reference_topology import Topology as ReferenceTopology
from _reference_validate import reference_validate
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from symphony_core.manifest.model import NodeType, Parameter, Port
from symphony_core.workflow import (
    BRANCH,
    GATE,
    MERGE,
    SWITCH,
    Binding,
    Edge,
    EditError,
    Node,
    NodeCatalog,
    Workflow,
    WorkflowBuilder,
    WorkflowBuildError,
    WorkflowCycleError,
    layers,
    topological_order,
    validate,
)
from symphony_core.workflow.topology import Topology, ids_strictly_increase
from symphony_core.workflow.values import freeze_mapping

SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Fewer examples for the larger graphs: each one costs more.
LARGER = settings(SETTINGS, max_examples=120)

CATALOG = NodeCatalog.from_node_types(
    {
        "fz.ops": [
            NodeType(
                type="src",
                outputs=[Port(name="out", type="int"), Port(name="txt", type="str")],
                parameters={"seed": Parameter(type="int", default=0, min=0)},
            ),
            NodeType(
                type="op",
                inputs=[
                    Port(name="a", type="int"),
                    Port(name="b", type="float", required=False),
                    Port(name="c", type="json", required=False),
                ],
                outputs=[Port(name="out", type="int"), Port(name="y", type="str")],
                parameters={
                    "k": Parameter(type="int", default=0, min=0, max=5),
                    "name": Parameter(type="str", pattern="^[a-z]+$"),
                },
            ),
            NodeType(
                type="text",
                inputs=[Port(name="t", type="str")],
                outputs=[Port(name="out", type="str")],
            ),
            NodeType(type="sink", inputs=[Port(name="a", type="any", required=False)]),
        ]
    }
)
TYPES = [
    "fz.ops/src",
    "fz.ops/op",
    "fz.ops/text",
    "fz.ops/sink",
    BRANCH,
    SWITCH,
    MERGE,
    GATE,
    "fz.ops/nope",
    "nope.ext/x",
    "malformed",
]
PORTS = [None, "out", "txt", "y", "a", "b", "c", "t", "value", "values", "signal", "zz"]
CONDITIONS = [None, "value > 1", "out == 2", "true", "", "(", "y in ['a']", "ghost > 1"]
PARAMS: list[dict[str, Any]] = [
    {},
    {"seed": 1},
    {"k": 3},
    {"k": 9, "name": "abc"},
    {"name": "ABC"},
    {"k": 1.5},
    {"zz": 1},
    {"condition": "value > 0"},
    {"condition": "other > 0"},
    {"condition": "("},
    {"mode": "all"},
    {"k": (1, 2)},
]


@st.composite
def node_ids(draw: st.DrawFn, n: int) -> list[str]:
    """Ids in creation order, shuffled, random, or with repeats and malformed ones."""
    style = draw(st.sampled_from(["ordered", "shuffled", "random", "messy"]))
    width = len(str(n))
    if style in ("ordered", "shuffled"):
        names = [f"n{i:0{width}d}" for i in range(n)]
        if style == "shuffled":
            names = draw(st.permutations(names))
        return list(names)
    alphabet = "abcAB01._-/" if style == "random" else "ab /\t"
    smallest = 0 if style == "messy" else 1
    return [draw(st.text(alphabet=alphabet, min_size=smallest, max_size=4)) for _ in range(n)]


@st.composite
def edge_ids(draw: st.DrawFn, m: int) -> list[str]:
    """Generated (``e1``...), zero-padded, shuffled, or repeated edge ids."""
    style = draw(st.sampled_from(["generated", "padded", "shuffled", "repeats", "odd"]))
    if style == "generated":
        return [f"e{i + 1}" for i in range(m)]
    if style == "padded":
        return [f"edge{i:04d}" for i in range(m)]
    if style == "shuffled":
        return list(draw(st.permutations([f"e{i}" for i in range(m)])))
    if style == "repeats":
        return [f"e{draw(st.integers(0, max(1, m // 2)))}" for _ in range(m)]
    return [draw(st.text(alphabet="e1 \x00x", max_size=3)) for _ in range(m)]


@st.composite
def graphs(draw: st.DrawFn, max_nodes: int = 30, dag: bool | None = None) -> Workflow:
    """Any shape: DAGs (edges forward in creation order) or graphs with cycles."""
    n = draw(st.integers(0, max_nodes))
    names = draw(node_ids(n))
    forward = draw(st.booleans()) if dag is None else dag
    nodes = [
        Node(name, draw(st.sampled_from(TYPES)), draw(st.sampled_from(PARAMS))) for name in names
    ]
    pool = [*names, "ghost"] if draw(st.booleans()) else names
    pairs: list[tuple[str, str]] = []
    if n:
        for _ in range(draw(st.integers(0, 3 * n))):
            if forward and n > 1:
                j = draw(st.integers(1, n - 1))
                i = draw(st.integers(0, j - 1))
                pairs.append((names[i], names[j]))
            else:
                pairs.append((draw(st.sampled_from(pool)), draw(st.sampled_from(pool))))
    ids = draw(edge_ids(len(pairs)))
    edges = []
    plain = draw(st.booleans())
    for edge_id, (source, target) in zip(ids, pairs, strict=True):
        if plain:
            edges.append(Edge(edge_id, source, target, "data", "out", draw(st.sampled_from("abc"))))
            continue
        edges.append(
            Edge(
                edge_id,
                source,
                target,
                draw(st.sampled_from(["data", "data", "control", "conditional", "odd"])),
                draw(st.sampled_from(PORTS)),
                draw(st.sampled_from(PORTS)),
                draw(st.sampled_from(CONDITIONS)),
            )
        )
    bindings = st.builds(
        Binding,
        st.sampled_from(["x", "y"]),
        st.sampled_from([*names, "ghost"]) if names else st.just("ghost"),
        st.sampled_from(["a", "t", "out", "zz"]),
    )
    return Workflow(
        "fuzz",
        nodes,
        edges,
        inputs=draw(st.lists(bindings, max_size=2)),
        outputs=draw(st.lists(bindings, max_size=2)),
    )


def fresh(workflow: Workflow) -> Workflow:
    """A copy with nothing cached (new tuples, so no topology is inherited)."""
    return Workflow(
        workflow.name,
        list(workflow.nodes),
        list(workflow.edges),
        inputs=workflow.inputs,
        outputs=workflow.outputs,
    )


def reference_order(workflow: Workflow) -> list[str] | None:
    """Kahn's algorithm over ids with a heap of (id, position); None on a cycle."""
    first: dict[str, int] = {}
    for position, node in enumerate(workflow.nodes):
        first.setdefault(node.id, position)
    n = len(workflow.nodes)
    out: list[list[int]] = [[] for _ in range(n)]
    indegree = [0] * n
    for edge in workflow.edges:
        s, d = first.get(edge.source), first.get(edge.target)
        if s is None or d is None:
            continue
        out[s].append(d)
        indegree[d] += 1
    heap = [(node.id, p) for p, node in enumerate(workflow.nodes) if not indegree[p]]
    heapq.heapify(heap)
    order: list[str] = []
    while heap:
        node_id, p = heapq.heappop(heap)
        order.append(node_id)
        for v in out[p]:
            indegree[v] -= 1
            if not indegree[v]:
                heapq.heappush(heap, (workflow.nodes[v].id, v))
    return order if len(order) == n else None


def issues(report: Any) -> list[dict[str, Any]]:
    return [issue.to_dict() for issue in report.issues]


def assert_same_as_reference(workflow: Workflow) -> None:
    for catalog in (CATALOG, None):
        expected = issues(reference_validate(workflow, catalog))
        assert issues(validate(fresh(workflow), catalog)) == expected
    reference = ReferenceTopology.build(workflow)
    wf = fresh(workflow)
    if reference.cycle is None:
        assert topological_order(wf) == [reference.ids[i] for i in reference.order]  # type: ignore[union-attr]
        assert layers(wf) == [[reference.ids[i] for i in layer] for layer in reference.layers]  # type: ignore[union-attr]
        assert topological_order(wf) == reference_order(workflow)
    else:
        with pytest.raises(WorkflowCycleError) as info:
            topological_order(wf)
        assert list(info.value.path) == [reference.ids[i] for i in reference.cycle[0]]
        assert reference_order(workflow) is None


@SETTINGS
@given(graphs())
def test_validation_and_order_match_the_reference(workflow: Workflow) -> None:
    assert_same_as_reference(workflow)


@LARGER
@given(graphs(dag=True, max_nodes=60))
def test_dags_match_the_reference(workflow: Workflow) -> None:
    assert_same_as_reference(workflow)


@st.composite
def clean_dags(draw: st.DrawFn, max_nodes: int = 80) -> Workflow:
    """Duplicate-free random DAGs of data edges (the bench's shape), ids maybe shuffled."""
    n = draw(st.integers(1, max_nodes))
    names = draw(node_ids(n).filter(lambda ids: len(set(ids)) == len(ids) and all(ids)))
    assume(all(" " not in name and "\t" not in name for name in names))
    nodes = [
        Node(names[i], "fz.ops/src", freeze_mapping({"seed": i}))
        if i < 2
        else Node(names[i], "fz.ops/op", freeze_mapping({"k": i % 5, "name": "x"}))
        for i in range(n)
    ]
    edges: list[Edge] = []
    for i in range(2, n):
        preds = draw(st.lists(st.integers(0, i - 1), min_size=1, max_size=3, unique=True))
        for port, j in zip("abc", preds, strict=False):
            edges.append(Edge(f"e{len(edges) + 1}", names[j], names[i], "data", "out", port))
    if draw(st.booleans()) and edges:
        edges = list(draw(st.permutations(edges)))
    return Workflow("dag", nodes, edges)


@LARGER
@given(clean_dags())
def test_clean_dags_validate_and_order_like_the_reference(workflow: Workflow) -> None:
    assert not validate(fresh(workflow), CATALOG).issues
    assert_same_as_reference(workflow)
    graph = nx.MultiDiGraph()
    graph.add_nodes_from(node.id for node in workflow.nodes)
    graph.add_edges_from((edge.source, edge.target) for edge in workflow.edges)
    assert topological_order(fresh(workflow)) == list(nx.lexicographical_topological_sort(graph))


INPUTS = {"fz.ops/op": "abc", "fz.ops/text": "t", "fz.ops/sink": "a"}


@st.composite
def typed_dags(draw: st.DrawFn, max_nodes: int = 25) -> Workflow:
    """Data edges into ports their targets have, from nodes with an ``out`` port, so the
    port check's name-level proof applies and only the port *types* may clash."""
    n = draw(st.integers(2, max_nodes))
    names = draw(node_ids(n).filter(lambda ids: len(set(ids)) == len(ids)))
    types = [draw(st.sampled_from(["fz.ops/src", *INPUTS])) for _ in range(n)]
    # Every node of a type sets the same parameters (one value type each), some values
    # out of range: the values are judged once per distinct value.
    params: dict[str, Any] = {
        "fz.ops/src": {"seed": st.integers(-1, 3)},
        "fz.ops/op": {"k": st.integers(0, 7), "name": st.sampled_from(["ab", "AB"])},
    }
    nodes = [
        Node(
            name,
            kind,
            freeze_mapping({key: draw(values) for key, values in params.get(kind, {}).items()}),
        )
        for name, kind in zip(names, types, strict=True)
    ]
    edges: list[Edge] = []
    for j in range(1, n):
        if types[j] not in INPUTS:
            continue
        sources = [i for i in range(j) if types[i] != "fz.ops/sink"]
        for port in draw(st.lists(st.sampled_from(INPUTS[types[j]]), max_size=2, unique=True)):
            if sources:
                i = draw(st.sampled_from(sources))
                wrong = draw(st.integers(0, 9)) == 0  # now and then a port it lacks
                edges.append(
                    Edge(
                        f"e{len(edges)}", names[i], names[j], "data", "out", "b" if wrong else port
                    )
                )
    return Workflow("typed", nodes, edges)


@SETTINGS
@given(typed_dags())
def test_port_types_match_the_reference(workflow: Workflow) -> None:
    assert_same_as_reference(workflow)


def test_large_shuffled_graphs_and_wide_fan_in() -> None:
    # Sizes hypothesis does not reach: a node with 300 incoming edges (in-degrees no
    # longer fit a byte), and a few thousand nodes with shuffled ids.
    rnd = random.Random(3)
    names = [f"n{i:04d}" for i in range(2_000)]
    rnd.shuffle(names)
    nodes = [Node(name, "fz.ops/sink") for name in names]
    edges = [Edge(f"w{i}", names[i], names[-1], "control") for i in range(300)]
    for i in range(1, len(names) - 1):
        for j in rnd.sample(range(i), min(i, 3)):
            edges.append(Edge(f"r{i}-{j}", names[j], names[i], "control"))
    workflow = Workflow("big", nodes, edges)
    assert_same_as_reference(workflow)
    cyclic = workflow.add_edge(Edge("back", names[-1], names[5], "control"))
    assert_same_as_reference(cyclic)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="ab1", max_size=3), max_size=12))
def test_an_increasing_order_proves_ids_distinct(ids: list[str]) -> None:
    if ids_strictly_increase(ids):
        assert len(set(ids)) == len(ids)
    ordered = sorted(set(ids), key=lambda text: (len(text), text))
    assert ids_strictly_increase(ordered)
    assert ids_strictly_increase([f"e{i}" for i in range(1, 25)])


def same_topology(got: Topology, built: Topology) -> None:
    assert got.ids == built.ids
    assert got.edge_ids == built.edge_ids
    assert got.src == built.src
    assert got.dst == built.dst
    assert got.index == built.index
    assert got.dangling == built.dangling
    assert got.duplicate_nodes == built.duplicate_nodes
    assert got.duplicate_edges == built.duplicate_edges


def call(builder: Any, step: tuple[Any, ...]) -> str:
    """Apply one builder call; the outcome ("ok" or the error's message) is compared."""
    name, *args = step
    try:
        if name == "embed":
            getattr(builder, name)(args[0], Workflow("sub", [Node("x", "fz.ops/src")]))
        elif name == "when":
            getattr(builder, name)(*args[:2], "true", id=args[2])
        elif name in ("connect", "control"):
            getattr(builder, name)(*args[:2], id=args[2])
        else:
            getattr(builder, name)(*args)
    except (WorkflowBuildError, EditError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return "ok"


@st.composite
def builder_steps(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    """Calls to a builder: nodes, edges of every kind (some named before their nodes
    exist, some with given ids that clash with the generated e1, e2, ...), embeds."""
    names = ["a", "b", "c.d", "c", "late"]
    pool = [*names, "ghost", "x/x"]
    given = st.sampled_from([None, None, None, "e1", "e2", "e3", "e02", "e\u0663", "x1", "x1"])
    steps: list[tuple[Any, ...]] = []
    for _ in range(draw(st.integers(0, 30))):
        kind = draw(st.sampled_from(["node", "connect", "control", "when", "edge", "embed"]))
        source, target = draw(st.sampled_from(pool)), draw(st.sampled_from(pool))
        if kind == "node":
            steps.append(("node", draw(st.sampled_from(names)), draw(st.sampled_from(TYPES))))
        elif kind == "connect":
            steps.append(("connect", f"{source}.out", f"{target}.a", draw(given)))
        elif kind in ("control", "when"):
            steps.append((kind, source, target, draw(given)))
        elif kind == "edge":
            edge_id = draw(st.sampled_from(["e1", "e4", "x1", "x2", "e10", None]))
            steps.append(("edge", Edge(edge_id, source, target, "control")))  # type: ignore[arg-type]
        else:
            steps.append(("embed", draw(st.sampled_from(["s", "t"]))))
    return steps


@SETTINGS
@given(builder_steps())
def test_the_builder_matches_the_reference_and_numbers_the_graph(steps: list[Any]) -> None:
    builder = WorkflowBuilder("b")
    reference = ReferenceBuilder("b")
    for step in steps:
        assert call(builder, step) == call(reference, step)
    workflow = builder.build()
    assert workflow == reference.build()
    same_topology(workflow.topology, Topology.build(fresh(workflow)))
    assert_same_as_reference(workflow)
    # The builder can grow after building; the first workflow must not change.
    before = (list(workflow.topology.src), list(workflow.topology.dst))
    builder.node("zz", "fz.ops/sink").control("a", "zz")
    assert (workflow.topology.src, workflow.topology.dst) == before
    grown = builder.build()
    same_topology(grown.topology, Topology.build(fresh(grown)))


@SETTINGS
@given(graphs(max_nodes=12))
def test_edits_hand_on_an_equal_topology(workflow: Workflow) -> None:
    assume(workflow.nodes)
    workflow.topology.order  # noqa: B018 - build the caches the copies inherit
    node = workflow.nodes[0]
    if node.id in workflow.topology.index and workflow.topology.index[node.id] == 0:
        edited = workflow.update_node(node.id, params={"k": 1})
        same_topology(edited.topology, Topology.build(fresh(edited)))
        assert edited.topology is workflow.topology
    renamed = workflow.replace(name="other")
    assert renamed.topology is workflow.topology
    moved = workflow.replace(edges=list(reversed(workflow.edges)))
    same_topology(moved.topology, Topology.build(fresh(moved)))
