"""Orders over a workflow's graph: topological order, parallel layers, critical path, closures.

* :func:`topological_order` is deterministic: among the nodes that are ready, the one
  with the smallest id comes first (the same order as networkx's
  ``lexicographical_topological_sort`` keyed on the id). It is computed by Kahn's
  algorithm with a heap of id ranks, or in one C-level pass when every edge already
  goes from a smaller to a larger id.
* :func:`layers` groups nodes by the length of the longest path reaching them: every
  node of a layer can run in parallel once the layers before it are done. Each layer is
  sorted by id.
* :func:`critical_path` is the heaviest path through the graph (by node durations).
* :func:`upstream` and :func:`downstream` are the closures a partial re-run needs:
  everything a node depends on, and everything that depends on it.

All of them ignore dangling edges; those needing an acyclic graph raise
:class:`~symphony_core.workflow.errors.WorkflowCycleError` with one cycle's path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from symphony_core.workflow.errors import UnknownNodeError, WorkflowCycleError
from symphony_core.workflow.model import Node, Workflow
from symphony_core.workflow.topology import Topology, paused_gc

__all__ = [
    "CriticalPath",
    "critical_path",
    "downstream",
    "layers",
    "topological_order",
    "upstream",
]


def _acyclic_order(topo: Topology) -> list[int]:
    order = topo.order
    if order is None:
        cycle = topo.cycle
        assert cycle is not None
        raise WorkflowCycleError([topo.ids[i] for i in cycle[0]])
    return order


def topological_order(workflow: Workflow) -> list[str]:
    """Return every node id so that each edge's source comes before its target.

    Ties (nodes ready at the same time) are broken by the smallest id, so the order is
    the same on every run and every machine.

    Raises:
        WorkflowCycleError: The graph has a cycle; the error gives one cycle's path.
    """
    topo = workflow.topology
    ids = topo.ids
    return list(map(ids.__getitem__, _acyclic_order(topo)))


def layers(workflow: Workflow) -> list[list[str]]:
    """Group the nodes into layers that can each run in parallel, in order.

    A node's layer is the number of edges on the longest path that reaches it; so every
    edge goes from an earlier layer to a later one. Each layer is sorted by id.

    Raises:
        WorkflowCycleError: The graph has a cycle.
    """
    topo = workflow.topology
    _acyclic_order(topo)
    found = topo.layers
    assert found is not None
    ids = topo.ids
    return [list(map(ids.__getitem__, layer)) for layer in found]


@dataclass(frozen=True, slots=True)
class CriticalPath:
    """The heaviest path through a workflow.

    Attributes:
        length: The sum of the durations of the nodes on it.
        nodes: Node ids along the path, first to last.
        edges: Ids of the edges between them (one fewer than the nodes).
    """

    length: float
    nodes: tuple[str, ...]
    edges: tuple[str, ...]


Durations = Mapping[str, float] | Callable[[Node], float] | None


def critical_path(workflow: Workflow, durations: Durations = None) -> CriticalPath:
    """Find the path whose nodes take longest in total: the shortest possible run time.

    Args:
        workflow: The workflow.
        durations: Each node's expected duration: a mapping by id (missing ids count
            1.0), a function of the node, or ``None`` to count every node as 1.0 (the
            longest path by number of nodes).

    Returns:
        The path; for an empty workflow, a path of length 0 with no nodes. Among equally
        heavy paths the one found first in topological order wins.

    Raises:
        WorkflowCycleError: The graph has a cycle.
    """
    topo = workflow.topology
    order = _acyclic_order(topo)
    n = topo.n
    if n == 0:
        return CriticalPath(0.0, (), ())
    if durations is None:
        weight = [1.0] * n
    elif callable(durations):
        weight = [float(durations(node)) for node in workflow.nodes]
    else:
        table = durations
        weight = [float(table.get(node_id, 1.0)) for node_id in topo.ids]
    best = list(weight)
    via_edge: list[int] = [-1] * n
    out_edges = topo.out_edges
    dst = topo.dst
    with paused_gc(n + topo.m):
        for u in order:
            reach_u = best[u]
            for e in out_edges[u]:
                v = dst[e]
                candidate = reach_u + weight[v]  # type: ignore[index]
                if candidate > best[v]:  # type: ignore[index]
                    best[v] = candidate  # type: ignore[index]
                    via_edge[v] = e  # type: ignore[index]
    end = max(order, key=best.__getitem__)
    nodes = [end]
    edges: list[int] = []
    src = topo.src
    while via_edge[nodes[-1]] != -1:
        e = via_edge[nodes[-1]]
        edges.append(e)
        nodes.append(src[e])  # type: ignore[arg-type]
    nodes.reverse()
    edges.reverse()
    ids, edge_ids = topo.ids, topo.edge_ids
    return CriticalPath(best[end], tuple(ids[i] for i in nodes), tuple(edge_ids[e] for e in edges))


def _positions(topo: Topology, node_ids: Iterable[str]) -> list[int]:
    wanted = [node_ids] if isinstance(node_ids, str) else list(node_ids)
    missing = [node_id for node_id in wanted if node_id not in topo.index]
    if missing:
        raise UnknownNodeError(
            f"the workflow has no node(s) {', '.join(map(repr, missing))}",
            hint="use ids of nodes in the workflow",
        )
    return [topo.index[node_id] for node_id in wanted]


def _closure(
    workflow: Workflow, node_ids: Iterable[str], *, forward: bool, include_self: bool
) -> list[str]:
    topo = workflow.topology
    starts = _positions(topo, node_ids)
    found = topo.reach(starts, forward=forward)
    if not include_self:
        found.difference_update(starts)
    order = topo.order
    ranked = order if order is not None else topo.by_rank
    return [topo.ids[i] for i in ranked if i in found]


def upstream(
    workflow: Workflow, node_ids: str | Iterable[str], *, include_self: bool = True
) -> list[str]:
    """Every node the given nodes depend on, directly or not (for re-running them).

    Args:
        workflow: The workflow.
        node_ids: One id or several.
        include_self: Whether the given nodes are part of the answer.

    Returns:
        The ids in topological order (by id when the graph has a cycle).

    Raises:
        UnknownNodeError: An id is not in the workflow.
    """
    return _closure(workflow, node_ids, forward=False, include_self=include_self)


def downstream(
    workflow: Workflow, node_ids: str | Iterable[str], *, include_self: bool = True
) -> list[str]:
    """Every node that depends on the given nodes (what a change to them invalidates).

    Args:
        workflow: The workflow.
        node_ids: One id or several.
        include_self: Whether the given nodes are part of the answer.

    Returns:
        The ids in topological order (by id when the graph has a cycle).

    Raises:
        UnknownNodeError: An id is not in the workflow.
    """
    return _closure(workflow, node_ids, forward=True, include_self=include_self)
