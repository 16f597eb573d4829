"""A fluent builder for workflows.

::

    wf = (
        WorkflowBuilder("count-words")
        .node("load", "examples.io/read_text", {"path": "in.txt"}, label="Load")
        .node("count", "examples.textops/word_count", {"lowercase": True})
        .connect("load.text", "count.text")
        .switch("route")
        .connect("count.total", "route.value")
        .node("long", "examples.io/report")
        .node("short", "examples.io/ignore")
        .when("route.value", "long.total", "value > 1000")
        .when("route.value", "short.total", "true")
        .output("counts", "count.counts")
        .build(catalog)
    )

The builder is the one mutable object of the package: each call adds to it and returns
it. :meth:`WorkflowBuilder.build` returns an immutable
:class:`~symphony_core.workflow.model.Workflow`; given a catalog it also validates it and
raises :class:`~symphony_core.workflow.errors.WorkflowValidationError` with every problem.

The builder numbers nodes as they are added and resolves each edge's endpoints as it is
made, while the names are at hand: the workflow it builds already holds its
:class:`~symphony_core.workflow.topology.Topology`, so validating and ordering it never
looks a name up again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from symphony_core.workflow.catalog import NodeCatalog
from symphony_core.workflow.controls import BRANCH, GATE, MERGE, SWITCH
from symphony_core.workflow.edits import parse_endpoint
from symphony_core.workflow.errors import WorkflowBuildError
from symphony_core.workflow.model import Binding, Edge, EdgeKind, Node, NodeMeta, Workflow
from symphony_core.workflow.topology import Topology
from symphony_core.workflow.values import freeze_mapping

__all__ = ["WorkflowBuilder", "namespaced"]


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


class WorkflowBuilder:
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
        self._nodes: list[Node] = []
        self._position: dict[str, int] = {}  # node id -> position
        self._edges: list[Edge] = []
        # Edge ids are e1, e2, ... below _next_edge, and those given: no table of every
        # edge id is needed to refuse a repeated one.
        self._next_edge = 1
        self._given_edge_ids: set[str] = set()
        self._inputs: list[Binding] = []
        self._outputs: list[Binding] = []
        # Each edge's endpoint positions (None: no such node, or not added yet).
        self._src: list[int | None] = []
        self._dst: list[int | None] = []
        self._resolvable = True  # False once an id or endpoint is not a string

    # Nodes.

    def add(self, node: Node) -> Self:
        """Add a ready-made node.

        Raises:
            WorkflowBuildError: A node with the same id was added before.
        """
        if node.id in self._position:
            raise WorkflowBuildError(
                f"node {node.id!r} is added twice", hint="give every node its own id"
            )
        self._position[node.id] = len(self._nodes)
        self._nodes.append(node)
        if type(node.id) is not str:
            self._resolvable = False
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
        if not (
            label is None
            and position is None
            and comment is None
            and group is None
            and extra is None
        ):
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

    def _generated(self, edge_id: str) -> bool:
        # Whether the id is one of e1, e2, ... handed out so far (each number below
        # _next_edge was either handed out or skipped for being given).
        if not isinstance(edge_id, str) or edge_id[:1] != "e":
            return False
        digits = edge_id[1:]
        return (
            digits.isascii()
            and digits.isdigit()
            and digits[0] != "0"
            and int(digits) < self._next_edge
        )

    def _edge_id(self, edge_id: str | None) -> str:
        if edge_id is not None:
            if edge_id in self._given_edge_ids or self._generated(edge_id):
                raise WorkflowBuildError(
                    f"edge {edge_id!r} is added twice", hint="give every edge its own id"
                )
            self._given_edge_ids.add(edge_id)
            if type(edge_id) is not str:
                self._resolvable = False
            return edge_id
        number = self._next_edge
        new = f"e{number}"
        while new in self._given_edge_ids:
            number += 1
            new = f"e{number}"
        self._next_edge = number + 1
        return new

    def _append(self, edge_id: str, edge: Edge) -> None:
        self._edges.append(edge)
        if edge.id != edge_id or type(edge.id) is not str:
            self._resolvable = False  # a ready-made edge without an id of its own
        if self._resolvable:
            try:
                self._src.append(self._position.get(edge.source))
                self._dst.append(self._position.get(edge.target))
            except TypeError:  # an unhashable endpoint: the workflow will say so
                self._resolvable = False

    def edge(self, edge: Edge) -> Self:
        """Add a ready-made edge.

        Raises:
            WorkflowBuildError: An edge with the same id was added before.
        """
        self._append(self._edge_id(edge.id), edge)
        return self

    def _add_edge(
        self,
        kind: EdgeKind,
        source: str,
        target: str,
        condition: str | None,
        edge_id: str | None,
        need_ports: bool,
        allow_ports: bool,
    ) -> Self:
        # This runs once per edge, millions of times for large workflows: arguments are
        # positional and the helpers inlined. parse_endpoint's rule: a known node id as
        # it is, else split at the last dot.
        position = self._position
        s_node: str = source
        s_port: str | None = None
        if type(source) is not str or not source:
            s_node, s_port = parse_endpoint(source, position)  # str subclasses, or the error
        elif source not in position:
            node, dot, port = source.rpartition(".")
            if dot and node and port:
                s_node, s_port = node, port
        t_node: str = target
        t_port: str | None = None
        if type(target) is not str or not target:
            t_node, t_port = parse_endpoint(target, position)
        elif target not in position:
            node, dot, port = target.rpartition(".")
            if dot and node and port:
                t_node, t_port = node, port
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
        if edge_id is None and not self._given_edge_ids:
            number = self._next_edge  # the next generated id, nothing given to skip
            new_id = f"e{number}"
            self._next_edge = number + 1
        else:
            new_id = self._edge_id(edge_id)
        self._edges.append(Edge(new_id, s_node, t_node, kind, s_port, t_port, condition))
        # Both endpoints are strings here, so the lookups cannot fail.
        self._src.append(position.get(s_node))
        self._dst.append(position.get(t_node))
        return self

    def connect(self, source: str, target: str, *, id: str | None = None) -> Self:
        """Add a data edge from ``"node.port"`` to ``"node.port"``."""
        return self._add_edge("data", source, target, None, id, True, True)

    def control(self, source: str, target: str, *, id: str | None = None) -> Self:
        """Add a control edge: ``target`` runs after ``source``; no data flows."""
        return self._add_edge("control", source, target, None, id, False, False)

    def when(self, source: str, target: str, condition: str, *, id: str | None = None) -> Self:
        """Add a conditional edge, followed only when ``condition`` holds.

        ``source`` and ``target`` are ``"node.port"`` to carry data, or bare node ids.
        The condition reads the source's outputs by port name (a branch's or switch's
        output is ``value``).
        """
        return self._add_edge("conditional", source, target, condition, id, False, True)

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
            tuple(self._nodes),
            tuple(self._edges),
            description=self._description,
            inputs=self._inputs,
            outputs=self._outputs,
            meta=self._meta,
        )
        topology = self._topology(workflow)
        if topology is not None:
            workflow._seed_topology(topology)
        if catalog is not None:
            from symphony_core.workflow.validate import validate

            validate(workflow, catalog).raise_for_errors()
        return workflow

    def _topology(self, workflow: Workflow) -> Topology | None:
        # The graph as numbered while building (copies: the builder may grow further).
        if not self._resolvable:
            return None  # let the workflow build its own, and report what is wrong
        src = list(self._src)
        dst = list(self._dst)
        edges = workflow.edges
        position = self._position
        # An endpoint named before its node was added resolves now (or stays dangling).
        for ends, attr in ((src, "source"), (dst, "target")):
            if None in ends:
                for e, found in enumerate(ends):
                    if found is None:
                        ends[e] = position.get(getattr(edges[e], attr))
        topology = Topology(
            list(position),
            [edge.id for edge in edges],
            src,
            dst,
            index=dict(position),
        )
        topology.mark_edge_ids_distinct()  # the builder refuses a repeated edge id
        return topology
