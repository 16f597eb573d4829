"""Edits of a workflow that return a new workflow and keep every other id and position.

An edit never renumbers anything: the nodes and edges it does not touch keep their ids
and their order, so an editor's selection, an event log or a checkpoint that refers to
them stays valid. Each edit checks what it is given (the node or edge exists, a new id
is new, a rewired endpoint names an existing node) and raises
:class:`~symphony_core.workflow.errors.EditError` otherwise; whether the result is a
valid workflow is still the validator's call.

The same edits are methods of :class:`~symphony_core.workflow.model.Workflow`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from symphony_core.workflow.errors import EditError
from symphony_core.workflow.model import Edge, Node, NodeMeta, Workflow

__all__ = [
    "add_edge",
    "add_node",
    "parse_endpoint",
    "remove_edge",
    "remove_node",
    "replace_node",
    "rewire",
    "update_node",
]


def parse_endpoint(
    text: str, known_nodes: Mapping[str, Any] | None = None
) -> tuple[str, str | None]:
    """Split ``"node.port"`` into ``(node, port)``; a bare known node id gives ``(node, None)``.

    Node ids may contain dots, port names may not, so the split is at the last dot,
    unless the whole text is the id of a node in ``known_nodes``.

    Raises:
        EditError: The text is empty.
    """
    if not isinstance(text, str) or not text:
        raise EditError(f"an endpoint must be 'node' or 'node.port', not {text!r}")
    if known_nodes is not None and text in known_nodes:
        return text, None
    node, dot, port = text.rpartition(".")
    if not dot or not node or not port:
        return text, None
    return node, port


def _require_node(workflow: Workflow, node_id: str) -> int:
    index = workflow.topology.index.get(node_id)
    if index is None:
        raise EditError(f"the workflow has no node {node_id!r}", where=workflow.name)
    return index


def _require_edge(workflow: Workflow, edge_id: str) -> int:
    index = workflow.topology.edge_index.get(edge_id)
    if index is None:
        raise EditError(f"the workflow has no edge {edge_id!r}", where=workflow.name)
    return index


def add_node(workflow: Workflow, node: Node) -> Workflow:
    """Return a copy with ``node`` appended.

    Raises:
        EditError: A node with this id exists.
    """
    if node.id in workflow.topology.index:
        raise EditError(
            f"the workflow already has a node {node.id!r}",
            where=workflow.name,
            hint="pick a new id, or use replace_node",
        )
    return workflow.replace(nodes=(*workflow.nodes, node))


def remove_node(workflow: Workflow, node_id: str, *, cascade: bool = True) -> Workflow:
    """Return a copy without the node.

    Args:
        workflow: The workflow.
        node_id: The node to remove.
        cascade: Also remove its edges and the workflow inputs/outputs bound to it;
            without it, a node that still has any of those is an error.

    Raises:
        EditError: No such node, or (without ``cascade``) it is still connected.
    """
    index = _require_node(workflow, node_id)
    touching = [e for e in workflow.edges if e.source == node_id or e.target == node_id]
    bound = [b for b in (*workflow.inputs, *workflow.outputs) if b.node == node_id]
    if not cascade and (touching or bound):
        raise EditError(
            f"node {node_id!r} still has {len(touching)} edge(s) and {len(bound)} binding(s)",
            where=workflow.name,
            hint="remove them first, or pass cascade=True",
        )
    nodes = workflow.nodes[:index] + workflow.nodes[index + 1 :]
    return workflow.replace(
        nodes=nodes,
        edges=tuple(e for e in workflow.edges if e.source != node_id and e.target != node_id),
        inputs=tuple(b for b in workflow.inputs if b.node != node_id),
        outputs=tuple(b for b in workflow.outputs if b.node != node_id),
    )


def replace_node(workflow: Workflow, node_id: str, node: Node) -> Workflow:
    """Return a copy with the node replaced at the same position.

    Raises:
        EditError: No such node, or the new node has a different id (ids are stable;
            a renamed node is a removed node plus a new one).
    """
    index = _require_node(workflow, node_id)
    if node.id != node_id:
        raise EditError(
            f"the replacement of node {node_id!r} has id {node.id!r}",
            where=workflow.name,
            hint="keep the id, e.g. msgspec.structs.replace(new, id=old_id)",
        )
    nodes = list(workflow.nodes)
    nodes[index] = node
    # Same ids in the same places, same edges: the graph is unchanged.
    return workflow.replace(nodes=nodes)._inherit_topology(workflow)


def update_node(
    workflow: Workflow,
    node_id: str,
    *,
    params: Mapping[str, Any] | None = None,
    meta: NodeMeta | None = None,
    type: str | None = None,
) -> Workflow:
    """Return a copy with a node's parameters, metadata and/or type replaced.

    Args:
        workflow: The workflow.
        node_id: The node.
        params: New parameter values (replacing all of them), if given.
        meta: New editor metadata, if given.
        type: New node type, if given.

    Raises:
        EditError: No such node.
    """
    node = workflow.nodes[_require_node(workflow, node_id)]
    changes: dict[str, Any] = {}
    if params is not None:
        changes["params"] = params
    if meta is not None:
        changes["meta"] = meta
    if type is not None:
        changes["type"] = type
    return replace_node(workflow, node_id, msgspec.structs.replace(node, **changes))


def add_edge(workflow: Workflow, edge: Edge) -> Workflow:
    """Return a copy with ``edge`` appended.

    Raises:
        EditError: An edge with this id exists, or an endpoint names no node.
    """
    if edge.id in workflow.topology.edge_index:
        raise EditError(
            f"the workflow already has an edge {edge.id!r}",
            where=workflow.name,
            hint="pick a new id",
        )
    _require_node(workflow, edge.source)
    _require_node(workflow, edge.target)
    return workflow.replace(edges=(*workflow.edges, edge))


def remove_edge(workflow: Workflow, edge_id: str) -> Workflow:
    """Return a copy without the edge (and nothing else changed).

    Raises:
        EditError: No such edge.
    """
    index = _require_edge(workflow, edge_id)
    return workflow.replace(edges=workflow.edges[:index] + workflow.edges[index + 1 :])


def rewire(
    workflow: Workflow,
    edge_id: str,
    *,
    source: str | None = None,
    target: str | None = None,
) -> Workflow:
    """Return a copy where an edge has a new source and/or target, keeping its id.

    Args:
        workflow: The workflow.
        edge_id: The edge.
        source: ``"node.port"`` (or ``"node"`` for an edge without ports).
        target: Same, for the target end.

    Raises:
        EditError: No such edge, or a new endpoint names no node.
    """
    index = _require_edge(workflow, edge_id)
    edge = workflow.edges[index]
    known = workflow.topology.index
    changes: dict[str, Any] = {}
    if source is not None:
        node, port = parse_endpoint(source, known)
        _require_node(workflow, node)
        changes["source"] = node
        changes["source_port"] = port
    if target is not None:
        node, port = parse_endpoint(target, known)
        _require_node(workflow, node)
        changes["target"] = node
        changes["target_port"] = port
    edges = list(workflow.edges)
    edges[index] = msgspec.structs.replace(edge, **changes)
    return workflow.replace(edges=edges)
