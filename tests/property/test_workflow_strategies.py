"""Hypothesis strategies for workflows, shared by the tests/property/test_workflow_* files.

Two families:

* ``workflows()``: anything the model can hold, valid or not (dangling edges, repeated
  ids, odd strings, every kind of parameter value) - for the codecs;
* ``valid_dags()``: workflows that must validate clean against ``CATALOG`` - for the
  validator and the orders.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from symphony_core.manifest.model import NodeType, Parameter, Port
from symphony_core.workflow import (
    Binding,
    Edge,
    Node,
    NodeCatalog,
    NodeMeta,
    Workflow,
    validate,
)
from symphony_core.workflow.values import INT_MAX, INT_MIN

FAN_IN = 6

CATALOG = NodeCatalog.from_node_types(
    {
        "prop.ops": [
            NodeType(
                type="source",
                outputs=[Port(name="out", type="int")],
                parameters={"seed": Parameter(type="int", default=0, min=0)},
            ),
            NodeType(
                type="step",
                inputs=[Port(name=f"in{k}", type="json", required=False) for k in range(FAN_IN)],
                outputs=[Port(name="out", type="int")],
                parameters={
                    "label": Parameter(type="str", default=""),
                    "weight": Parameter(type="float", default=1.0, min=0),
                },
            ),
        ]
    }
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=INT_MIN, max_value=INT_MAX),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=6), children, max_size=4),
    ),
    max_leaves=12,
)
params = st.dictionaries(st.text(max_size=8), json_values, max_size=4)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
metas = st.one_of(
    st.none(),
    st.builds(
        NodeMeta,
        position=st.one_of(st.none(), st.tuples(finite, finite)),
        label=st.one_of(st.none(), st.text(max_size=10)),
        comment=st.one_of(st.none(), st.text(max_size=10)),
        group=st.one_of(st.none(), st.sampled_from(["g1", "g2", "grüppe"])),
        extra=st.dictionaries(st.text(max_size=5), json_values, max_size=3),
    ),
)
ids = st.text(min_size=1, max_size=8)
maybe_text = st.one_of(st.none(), st.text(max_size=8))


@st.composite
def workflows(draw: st.DrawFn, max_nodes: int = 12, max_edges: int = 20) -> Workflow:
    """Any workflow the model can hold, valid or not."""
    node_ids = draw(st.lists(ids, max_size=max_nodes))
    pool = node_ids + draw(st.lists(ids, max_size=2))  # endpoints may dangle
    nodes = [
        Node(node_id, draw(st.text(max_size=10)), draw(params), draw(metas)) for node_id in node_ids
    ]
    edges: list[Edge] = []
    if pool:
        for _ in range(draw(st.integers(0, max_edges))):
            edges.append(
                Edge(
                    draw(ids),
                    draw(st.sampled_from(pool)),
                    draw(st.sampled_from(pool)),
                    draw(st.sampled_from(["data", "control", "conditional"])),
                    draw(maybe_text),
                    draw(maybe_text),
                    draw(maybe_text),
                )
            )
    bindings = st.builds(Binding, st.text(max_size=5), ids, st.text(max_size=5))
    return Workflow(
        draw(st.text(max_size=10)),
        nodes,
        edges,
        description=draw(st.text(max_size=10)),
        inputs=draw(st.lists(bindings, max_size=2)),
        outputs=draw(st.lists(bindings, max_size=2)),
        meta=draw(st.dictionaries(st.text(max_size=5), json_values, max_size=3)),
    )


@st.composite
def valid_dags(draw: st.DrawFn, max_nodes: int = 25) -> Workflow:
    """A random DAG that validates clean against CATALOG (ids shuffled against the order).

    Node ``k`` in creation order only has edges from nodes created before it; each data
    edge feeds its own input port, and any further predecessor is a control edge.
    """
    n = draw(st.integers(1, max_nodes))
    names = draw(
        st.lists(
            st.text(alphabet="abcdefghij0123456789_-", min_size=1, max_size=4),
            min_size=n,
            max_size=n,
            unique=True,
        )
    )
    nodes: list[Node] = []
    edges: list[Edge] = []
    for k, name in enumerate(names):
        preds = draw(st.lists(st.integers(0, k - 1), max_size=FAN_IN + 2, unique=True)) if k else []
        if not preds:
            nodes.append(Node(name, "prop.ops/source", {"seed": draw(st.integers(0, 9))}))
            continue
        nodes.append(Node(name, "prop.ops/step", {"weight": draw(st.floats(0, 10))}))
        for port, pred in enumerate(preds):
            edge_id = f"{names[pred]}>{name}"
            if port < FAN_IN:
                edges.append(Edge(edge_id, names[pred], name, "data", "out", f"in{port}"))
            else:
                edges.append(Edge(edge_id, names[pred], name, "control"))
    order = draw(st.permutations(range(len(edges)))) if edges else []
    return Workflow("dag", nodes, [edges[i] for i in order])


def dag_edges(workflow: Workflow) -> list[tuple[str, str]]:
    """The workflow's edges as (source, target) pairs."""
    return [(edge.source, edge.target) for edge in workflow.edges]


def as_dict(workflow: Workflow) -> dict[str, Any]:
    """A plain description, for readable assertion failures."""
    return {"nodes": [n.id for n in workflow.nodes], "edges": dag_edges(workflow)}


@settings(max_examples=60, deadline=None)
@given(valid_dags())
def test_generated_dags_are_valid(workflow: Workflow) -> None:
    report = validate(workflow, CATALOG)
    assert report.ok, [issue.summary() for issue in report.issues]
    assert not report.issues
