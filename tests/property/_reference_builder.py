"""Reference copy of ``WorkflowBuilder`` before its speed-up (test oracle).

``test_workflow_fastpaths.py`` runs the same calls on it and on the optimised builder:
both must accept and refuse the same calls and build equal workflows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from symphony_core.workflow.catalog import NodeCatalog
from symphony_core.workflow.controls import BRANCH, GATE, MERGE, SWITCH
from symphony_core.workflow.edits import parse_endpoint
from symphony_core.workflow.errors import WorkflowBuildError
from symphony_core.workflow.model import Binding, Edge, EdgeKind, Node, NodeMeta, Workflow
from symphony_core.workflow.values import freeze_mapping

__all__ = ["ReferenceBuilder"]


def namespaced(prefix: str, workflow: Workflow) -> tuple[list[Node], list[Edge]]:
    """Copy a workflow's nodes and edges with every id put under ``prefix/``.

    Node ``a`` becomes ``prefix/a`` and edge ``e1`` becomes ``prefix/e1``; edges are
    rewired to the renamed nodes. Used to nest one workflow inside another.

    Args:
        prefix: The namespace, usually the id of the node the sub-workflow replaces.
        workflow: The workflow to copy.

    Returns:
        The renamed nodes and edges, in their original order.
    """
    import msgspec

    def rename(node_id: str) -> str:
        return f"{prefix}/{node_id}"

    nodes = [msgspec.structs.replace(node, id=rename(node.id)) for node in workflow.nodes]
    edges = [
        msgspec.structs.replace(
            edge, id=rename(edge.id), source=rename(edge.source), target=rename(edge.target)
        )
        for edge in workflow.edges
    ]
    return nodes, edges


class ReferenceBuilder:
    """Collects nodes, edges and bindings, then builds an immutable workflow.

    Args:
        name: The workflow's name.
        description: What it does.
        meta: Editor metadata for the whole workflow.
    """

    def __init__(
        self,
        name: str = "workflow",
        *,
        description: str = "",
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        self._name = name
        self._description = description
        self._meta = freeze_mapping(meta)
        self._nodes: dict[str, Node] = {}
        self._edges: dict[str, Edge] = {}
        self._inputs: list[Binding] = []
        self._outputs: list[Binding] = []
        self._next_edge = 1

    # Nodes.

    def add(self, node: Node) -> Self:
        """Add a ready-made node.

        Raises:
            WorkflowBuildError: A node with the same id was added before.
        """
        if node.id in self._nodes:
            raise WorkflowBuildError(
                f"node {node.id!r} is added twice", hint="give every node its own id"
            )
        self._nodes[node.id] = node
        return self

    def node(
        self,
        node_id: str,
        type: str,
        params: Mapping[str, Any] | None = None,
        *,
        label: str | None = None,
        position: tuple[float, float] | None = None,
        comment: str | None = None,
        group: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Self:
        """Add a node.

        Args:
            node_id: Its id, unique in the workflow.
            type: Its node type, ``"<extension id>/<type>"`` (or ``"control/<role>"``).
            params: Parameter values.
            label: Text an editor shows for it.
            position: ``(x, y)`` on an editor's canvas.
            comment: A note.
            group: The editor group it belongs to.
            extra: Any other editor data.

        Raises:
            WorkflowBuildError: The id is taken.
        """
        meta = None
        if any(v is not None for v in (label, position, comment, group, extra)):
            meta = NodeMeta(
                position=position,
                label=label,
                comment=comment,
                group=group,
                extra=freeze_mapping(extra),
            )
        return self.add(Node(node_id, type, freeze_mapping(params), meta))

    def branch(self, node_id: str, **meta: Any) -> Self:
        """Add a ``control/branch`` node (follows every true conditional edge)."""
        return self.node(node_id, BRANCH, **meta)

    def switch(self, node_id: str, **meta: Any) -> Self:
        """Add a ``control/switch`` node (follows the first true conditional edge)."""
        return self.node(node_id, SWITCH, **meta)

    def merge(self, node_id: str, mode: str = "first", **meta: Any) -> Self:
        """Add a ``control/merge`` node; ``mode`` is ``first`` or ``all``."""
        params = {} if mode == "first" else {"mode": mode}
        return self.node(node_id, MERGE, params, **meta)

    def gate(self, node_id: str, condition: str, **meta: Any) -> Self:
        """Add a ``control/gate`` node passing its value when ``condition`` holds."""
        return self.node(node_id, GATE, {"condition": condition}, **meta)

    def embed(self, prefix: str, workflow: Workflow) -> Self:
        """Add a copy of another workflow with its ids under ``prefix/`` (a sub-workflow).

        Connect to it with ``"prefix/<node>.<port>"``.
        """
        nodes, edges = namespaced(prefix, workflow)
        for node in nodes:
            self.add(node)
        for edge in edges:
            self.edge(edge)
        return self

    # Edges.

    def _edge_id(self, edge_id: str | None) -> str:
        if edge_id is not None:
            if edge_id in self._edges:
                raise WorkflowBuildError(
                    f"edge {edge_id!r} is added twice", hint="give every edge its own id"
                )
            return edge_id
        while f"e{self._next_edge}" in self._edges:
            self._next_edge += 1
        new = f"e{self._next_edge}"
        self._next_edge += 1
        return new

    def edge(self, edge: Edge) -> Self:
        """Add a ready-made edge.

        Raises:
            WorkflowBuildError: An edge with the same id was added before.
        """
        self._edges[self._edge_id(edge.id)] = edge
        return self

    def _add_edge(
        self,
        kind: EdgeKind,
        source: str,
        target: str,
        *,
        condition: str | None,
        edge_id: str | None,
        need_ports: bool,
        allow_ports: bool,
    ) -> Self:
        s_node, s_port = parse_endpoint(source, self._nodes)
        t_node, t_port = parse_endpoint(target, self._nodes)
        if need_ports and (s_port is None or t_port is None):
            raise WorkflowBuildError(
                f"a {kind} edge connects ports: write 'node.port', not {source!r} -> {target!r}",
                hint="e.g. connect('load.text', 'count.text')",
            )
        if not allow_ports and (s_port is not None or t_port is not None):
            raise WorkflowBuildError(
                f"a control edge connects nodes, not ports: got {source!r} -> {target!r}",
                hint="e.g. control('load', 'count')",
            )
        new_id = self._edge_id(edge_id)
        self._edges[new_id] = Edge(new_id, s_node, t_node, kind, s_port, t_port, condition)
        return self

    def connect(self, source: str, target: str, *, id: str | None = None) -> Self:
        """Add a data edge from ``"node.port"`` to ``"node.port"``."""
        return self._add_edge(
            "data", source, target, condition=None, edge_id=id, need_ports=True, allow_ports=True
        )

    def control(self, source: str, target: str, *, id: str | None = None) -> Self:
        """Add a control edge: ``target`` runs after ``source``; no data flows."""
        return self._add_edge(
            "control",
            source,
            target,
            condition=None,
            edge_id=id,
            need_ports=False,
            allow_ports=False,
        )

    def when(self, source: str, target: str, condition: str, *, id: str | None = None) -> Self:
        """Add a conditional edge, followed only when ``condition`` holds.

        ``source`` and ``target`` are ``"node.port"`` to carry data, or bare node ids.
        The condition reads the source's outputs by port name (a branch's or switch's
        output is ``value``).
        """
        return self._add_edge(
            "conditional",
            source,
            target,
            condition=condition,
            edge_id=id,
            need_ports=False,
            allow_ports=True,
        )

    # Bindings.

    def _binding(self, name: str, endpoint: str) -> Binding:
        node, port = parse_endpoint(endpoint)
        if port is None:
            raise WorkflowBuildError(
                f"a workflow input or output binds a port: write 'node.port', not {endpoint!r}"
            )
        return Binding(name, node, port)

    def input(self, name: str, endpoint: str) -> Self:
        """Expose the input port ``"node.port"`` as the workflow input ``name``."""
        self._inputs.append(self._binding(name, endpoint))
        return self

    def output(self, name: str, endpoint: str) -> Self:
        """Expose the output port ``"node.port"`` as the workflow output ``name``."""
        self._outputs.append(self._binding(name, endpoint))
        return self

    def build(self, catalog: NodeCatalog | None = None) -> Workflow:
        """Return the workflow; with a catalog, validate it first.

        Raises:
            WorkflowValidationError: ``catalog`` was given and the workflow has errors.
        """
        workflow = Workflow(
            self._name,
            tuple(self._nodes.values()),
            tuple(self._edges.values()),
            description=self._description,
            inputs=self._inputs,
            outputs=self._outputs,
            meta=self._meta,
        )
        if catalog is not None:
            from symphony_core.workflow.validate import validate

            validate(workflow, catalog).raise_for_errors()
        return workflow
