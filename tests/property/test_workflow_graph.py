"""Validation and ordering on random DAGs, checked against networkx."""

from __future__ import annotations

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_workflow_strategies import CATALOG, valid_dags

from symphony_core.workflow import (
    Edge,
    Workflow,
    WorkflowCycleError,
    critical_path,
    downstream,
    layers,
    topological_order,
    upstream,
    validate,
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def as_graph(workflow: Workflow) -> nx.MultiDiGraph:
    graph = nx.MultiDiGraph()
    graph.add_nodes_from(node.id for node in workflow.nodes)
    graph.add_edges_from((edge.source, edge.target) for edge in workflow.edges)
    return graph


@SETTINGS
@given(valid_dags())
def test_order_is_the_lexicographic_topological_order(workflow: Workflow) -> None:
    order = topological_order(workflow)
    position = {node_id: k for k, node_id in enumerate(order)}
    assert sorted(order) == sorted(node.id for node in workflow.nodes)
    assert all(position[e.source] < position[e.target] for e in workflow.edges)
    expected = list(nx.lexicographical_topological_sort(as_graph(workflow)))
    assert order == expected


@SETTINGS
@given(valid_dags())
def test_layers_respect_every_edge_and_are_as_early_as_possible(workflow: Workflow) -> None:
    found = layers(workflow)
    level = {node_id: k for k, layer in enumerate(found) for node_id in layer}
    assert sorted(level) == sorted(node.id for node in workflow.nodes)
    assert all(layer == sorted(layer) and layer for layer in found)
    for edge in workflow.edges:
        assert level[edge.source] < level[edge.target]
    graph = as_graph(workflow)
    for node_id, k in level.items():
        preds = list(graph.predecessors(node_id))
        assert k == (1 + max(level[p] for p in preds) if preds else 0)


@SETTINGS
@given(valid_dags(), st.data())
def test_critical_path_is_a_longest_path(workflow: Workflow, data: st.DataObject) -> None:
    weights = {
        node.id: data.draw(st.integers(1, 5), label=f"w[{node.id}]") for node in workflow.nodes
    }
    path = critical_path(workflow, weights)
    graph = nx.DiGraph()
    graph.add_nodes_from(weights)
    for edge in workflow.edges:
        graph.add_edge(edge.source, edge.target, weight=weights[edge.target])
    # networkx weighs edges; a path's node weight is its first node plus each edge's target.
    best = max(
        (
            weights[start]
            + nx.dag_longest_path_length(graph.subgraph(nx.descendants(graph, start) | {start}))
            for start in graph
            if graph.in_degree(start) == 0
        ),
        default=0,
    )
    assert path.length == best
    assert sum(weights[n] for n in path.nodes) == path.length
    edges = {e.id: e for e in workflow.edges}
    assert len(path.edges) == len(path.nodes) - 1
    for k, edge_id in enumerate(path.edges):
        assert (edges[edge_id].source, edges[edge_id].target) == (path.nodes[k], path.nodes[k + 1])


@SETTINGS
@given(valid_dags(), st.data())
def test_closures_match_ancestors_and_descendants(workflow: Workflow, data: st.DataObject) -> None:
    graph = as_graph(workflow)
    chosen = data.draw(st.sampled_from([node.id for node in workflow.nodes]))
    order = topological_order(workflow)
    up = upstream(workflow, chosen)
    down = downstream(workflow, chosen, include_self=False)
    assert set(up) == nx.ancestors(graph, chosen) | {chosen}
    assert set(down) == nx.descendants(graph, chosen)
    assert up == [n for n in order if n in set(up)]
    assert down == [n for n in order if n in set(down)]


@SETTINGS
@given(valid_dags(), st.data())
def test_a_back_edge_is_reported_as_a_real_cycle(workflow: Workflow, data: st.DataObject) -> None:
    graph = as_graph(workflow)
    pairs = [(a, d) for a in graph for d in nx.descendants(graph, a) if a != d] + [
        (n, n) for n in graph
    ]
    ancestor, descendant = data.draw(st.sampled_from(pairs))
    back = Edge("back", descendant, ancestor, "control")
    cyclic = workflow.add_edge(back)
    report = validate(cyclic, CATALOG)
    cycles = report.by_code("workflow.cycle")
    assert len(cycles) == 1
    issue = cycles[0]
    path = list(issue.path)
    assert path
    assert issue.node_ids == tuple(path)
    edges = {e.id: e for e in cyclic.edges}
    assert len(issue.edge_ids) == len(path)
    for k, edge_id in enumerate(issue.edge_ids):
        edge = edges[edge_id]
        assert (edge.source, edge.target) == (path[k], path[(k + 1) % len(path)])
    assert path[0] == min(path)  # the smallest id comes first
    with pytest.raises(WorkflowCycleError) as info:
        topological_order(cyclic)
    assert list(info.value.path) == path
