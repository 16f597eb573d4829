"""The workflow model: immutable nodes, edges and the workflow that holds them.

A :class:`Workflow` is a value. Nothing in it changes after it is built; an edit
(:mod:`symphony_core.workflow.edits`, also offered as methods here) returns a new
workflow in which every untouched node and edge keeps its id and its place.

* A :class:`Node` has an ``id`` unique in the workflow, a ``type`` naming its node type,
  parameter values and editor metadata. Node types are referenced as
  ``"<extension id>/<node type>"`` (``"examples.textops/word_count"``); the built-in
  Control nodes are ``control/branch``, ``control/switch``, ``control/merge`` and
  ``control/gate`` (:mod:`symphony_core.workflow.controls`); inside templates a node of
  type ``template/<template name>`` is a nested sub-workflow.
* An :class:`Edge` joins two nodes. A ``data`` edge carries an output port's value to an
  input port; a ``control`` edge only orders the two nodes; a ``conditional`` edge is
  followed only when its ``condition`` (:mod:`symphony_core.workflow.expressions`),
  evaluated over the source node's outputs, is true, and may carry data too.
* :class:`Binding` exposes a node's port as an input or output of the whole workflow, so a
  workflow can be run with arguments or nested in another one.

Whether any of this is *valid* (types exist, ports match, no cycle...) is the
validator's business (:mod:`symphony_core.workflow.validate`); the model holds invalid
workflows too, so that a file can be loaded and every problem in it reported.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from symphony_core.workflow.errors import EditError, ValueRuleError
from symphony_core.workflow.values import EMPTY, FrozenDict, freeze_mapping

if TYPE_CHECKING:
    from symphony_core.workflow.topology import Topology

__all__ = [
    "CONTROL_NAMESPACE",
    "EDGE_KINDS",
    "TEMPLATE_NAMESPACE",
    "Binding",
    "Edge",
    "EdgeKind",
    "Node",
    "NodeKind",
    "NodeMeta",
    "Workflow",
    "split_node_type",
]

EdgeKind = Literal["data", "control", "conditional"]
"""``data`` carries a value; ``control`` only orders; ``conditional`` is guarded."""
NodeKind = Literal["instrument", "operator", "control"]
"""What a node is, from its node type: a model-backed producer, a transform, or flow control."""
EDGE_KINDS: frozenset[str] = frozenset({"data", "control", "conditional"})
"""Every edge kind."""
CONTROL_NAMESPACE = "control"
"""Namespace of the built-in Control node types (``control/branch``...)."""
TEMPLATE_NAMESPACE = "template"
"""Namespace of sub-workflow nodes inside templates (``template/<name>``)."""


def split_node_type(type_ref: str) -> tuple[str, str] | None:
    """Split ``"<namespace>/<name>"`` at its last ``/``; ``None`` if it has no such shape.

    Args:
        type_ref: A node's ``type``, e.g. ``"examples.textops/word_count"``.

    Returns:
        ``(namespace, name)`` such as ``("examples.textops", "word_count")``.
    """
    namespace, sep, name = type_ref.rpartition("/")
    if not sep or not namespace or not name:
        return None
    return namespace, name


class NodeMeta(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, forbid_unknown_fields=True
):
    """What a visual editor needs to draw a node; it has no effect on execution.

    Attributes:
        position: ``(x, y)`` of the node on the canvas.
        label: Text shown instead of the id.
        comment: A note attached to the node.
        group: Name of the visual group (frame) the node belongs to.
        extra: Anything else an editor wants to keep (colour, size, collapsed...), as
            frozen JSON values.
    """

    position: tuple[float, float] | None = None
    label: str | None = None
    comment: str | None = None
    group: str | None = None
    extra: FrozenDict = EMPTY

    def __post_init__(self) -> None:
        position = self.position
        if position is not None:
            x, y = position
            # Two finite floats (x - x is 0.0 exactly when x is finite) is the usual case.
            if type(x) is float and type(y) is float and x - x == 0.0 and y - y == 0.0:
                pass
            elif (
                isinstance(x, bool)
                or isinstance(y, bool)
                or not isinstance(x, int | float)
                or not isinstance(y, int | float)
                or not (math.isfinite(x) and math.isfinite(y))
            ):
                raise ValueRuleError(
                    f"a node position must be two finite numbers, not {self.position!r}",
                    where="position",
                )
            else:
                msgspec.structs.force_setattr(self, "position", (float(x), float(y)))
        if type(self.extra) is not FrozenDict:
            msgspec.structs.force_setattr(self, "extra", freeze_mapping(self.extra))


class Node(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """One step of a workflow.

    Attributes:
        id: Unique within the workflow; edges, bindings and events refer to it.
        type: The node type, ``"<extension id>/<node type>"`` or ``"control/<name>"``.
        params: Parameter values, checked against the node type's parameter schema by the
            validator. Frozen (see :mod:`symphony_core.workflow.values`).
        meta: Editor metadata (position, label, comment, group), or ``None``.
    """

    id: str
    type: str
    params: FrozenDict = EMPTY
    meta: NodeMeta | None = None

    def __post_init__(self) -> None:
        if type(self.params) is not FrozenDict:
            msgspec.structs.force_setattr(self, "params", freeze_mapping(self.params))

    def with_params(self, **changes: Any) -> Node:
        """Return a copy with some parameters set (the others are kept)."""
        return msgspec.structs.replace(self, params={**self.params, **changes})

    def without_params(self, *names: str) -> Node:
        """Return a copy without the named parameters."""
        return msgspec.structs.replace(
            self, params={k: v for k, v in self.params.items() if k not in names}
        )


class Edge(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """A connection from one node to another.

    Attributes:
        id: Unique among the workflow's edges.
        source: Id of the upstream node.
        target: Id of the downstream node.
        kind: ``data``, ``control`` or ``conditional``.
        source_port: Output port of ``source`` (data, and conditional edges carrying data).
        target_port: Input port of ``target`` (same).
        condition: For ``conditional`` edges: an expression over the source's outputs.
    """

    id: str
    source: str
    target: str
    kind: EdgeKind = "data"
    source_port: str | None = None
    target_port: str | None = None
    condition: str | None = None

    @property
    def carries_data(self) -> bool:
        """Whether a value flows along the edge (it names both ports)."""
        return self.source_port is not None and self.target_port is not None


class Binding(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A node port exposed as an input or output of the whole workflow.

    Attributes:
        name: The workflow-level name.
        node: The node's id.
        port: The node's port (an input port for inputs, an output port for outputs).
    """

    name: str
    node: str
    port: str


def _as_tuple(items: Iterable[Any], cls: type[Any], what: str) -> tuple[Any, ...]:
    values = items if type(items) is tuple else tuple(items)
    kinds = set(map(type, values))
    if kinds and kinds != {cls}:
        bad = next(v for v in values if type(v) is not cls)
        raise EditError(
            f"{what} must be {cls.__name__} objects, found a {type(bad).__name__}: {bad!r:.80}"
        )
    return values


class Workflow:
    """An immutable workflow: nodes, edges, exposed inputs and outputs, and metadata.

    Args:
        name: The workflow's name.
        nodes: Its nodes, in the order they were given (kept by every codec and edit).
        edges: Its edges, in order (a ``control/switch`` tries its edges in this order).
        description: What the workflow does.
        inputs: Node input ports exposed as workflow inputs.
        outputs: Node output ports exposed as workflow outputs.
        meta: Editor metadata for the whole workflow (viewport, groups' colours...).
    """

    __slots__ = (
        "_description",
        "_edges",
        "_hash",
        "_inputs",
        "_meta",
        "_name",
        "_nodes",
        "_outputs",
        "_topology",
    )

    _name: str
    _description: str
    _nodes: tuple[Node, ...]
    _edges: tuple[Edge, ...]
    _inputs: tuple[Binding, ...]
    _outputs: tuple[Binding, ...]
    _meta: FrozenDict
    _topology: Topology | None
    _hash: int | None

    def __init__(
        self,
        name: str = "workflow",
        nodes: Iterable[Node] = (),
        edges: Iterable[Edge] = (),
        *,
        description: str = "",
        inputs: Iterable[Binding] = (),
        outputs: Iterable[Binding] = (),
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(name, str) or not isinstance(description, str):
            raise EditError("a workflow's name and description must be strings")
        setattr_ = object.__setattr__
        setattr_(self, "_name", name)
        setattr_(self, "_description", description)
        setattr_(self, "_nodes", _as_tuple(nodes, Node, "nodes"))
        setattr_(self, "_edges", _as_tuple(edges, Edge, "edges"))
        setattr_(self, "_inputs", _as_tuple(inputs, Binding, "inputs"))
        setattr_(self, "_outputs", _as_tuple(outputs, Binding, "outputs"))
        setattr_(self, "_meta", freeze_mapping(meta))
        setattr_(self, "_topology", None)
        setattr_(self, "_hash", None)

    @classmethod
    def _trusted(
        cls,
        name: str,
        nodes: tuple[Node, ...],
        edges: tuple[Edge, ...],
        description: str,
        inputs: tuple[Binding, ...],
        outputs: tuple[Binding, ...],
        meta: FrozenDict,
    ) -> Workflow:
        # For decoders that built every part themselves: skips the per-item type checks.
        new = cls.__new__(cls)
        setattr_ = object.__setattr__
        for slot, value in (
            ("_name", name),
            ("_description", description),
            ("_nodes", nodes),
            ("_edges", edges),
            ("_inputs", inputs),
            ("_outputs", outputs),
            ("_meta", meta),
            ("_topology", None),
            ("_hash", None),
        ):
            setattr_(new, slot, value)
        return new

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Workflow is immutable; use its edit methods to get a new one")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Workflow is immutable")

    @property
    def name(self) -> str:
        """The workflow's name."""
        return self._name

    @property
    def description(self) -> str:
        """What the workflow does."""
        return self._description

    @property
    def nodes(self) -> tuple[Node, ...]:
        """Every node, in order."""
        return self._nodes

    @property
    def edges(self) -> tuple[Edge, ...]:
        """Every edge, in order."""
        return self._edges

    @property
    def inputs(self) -> tuple[Binding, ...]:
        """Node input ports exposed as workflow inputs."""
        return self._inputs

    @property
    def outputs(self) -> tuple[Binding, ...]:
        """Node output ports exposed as workflow outputs."""
        return self._outputs

    @property
    def meta(self) -> FrozenDict:
        """Editor metadata for the whole workflow."""
        return self._meta

    @property
    def topology(self) -> Topology:
        """The workflow's graph as dense integer arrays, built once and cached."""
        topo = self._topology
        if topo is None:
            from symphony_core.workflow.topology import Topology

            topo = Topology.build(self)
            object.__setattr__(self, "_topology", topo)
        return topo

    def _seed_topology(self, topo: Topology) -> None:
        # Used by the binary decoder and the builder, which already know every edge's
        # endpoints as positions.
        object.__setattr__(self, "_topology", topo)

    def _inherit_topology(self, parent: Workflow) -> Workflow:
        # For a copy with the same node ids, in the same order, and the very same edges:
        # the graph is the same, so the parent's (if built) serves as it is.
        if parent._topology is not None and self._topology is None:
            object.__setattr__(self, "_topology", parent._topology)
        return self

    def get_node(self, node_id: str) -> Node | None:
        """Return the node with this id, or ``None``."""
        index = self.topology.index.get(node_id)
        return None if index is None else self._nodes[index]

    def node(self, node_id: str) -> Node:
        """Return the node with this id.

        Raises:
            EditError: No node has this id.
        """
        found = self.get_node(node_id)
        if found is None:
            raise EditError(f"the workflow has no node {node_id!r}", where=self._name)
        return found

    def get_edge(self, edge_id: str) -> Edge | None:
        """Return the edge with this id, or ``None``."""
        index = self.topology.edge_index.get(edge_id)
        return None if index is None else self._edges[index]

    def edge(self, edge_id: str) -> Edge:
        """Return the edge with this id.

        Raises:
            EditError: No edge has this id.
        """
        found = self.get_edge(edge_id)
        if found is None:
            raise EditError(f"the workflow has no edge {edge_id!r}", where=self._name)
        return found

    def replace(self, **changes: Any) -> Workflow:
        """Return a copy with some fields changed (``name``, ``nodes``, ``edges``...)."""
        fields: dict[str, Any] = {
            "name": self._name,
            "nodes": self._nodes,
            "edges": self._edges,
            "description": self._description,
            "inputs": self._inputs,
            "outputs": self._outputs,
            "meta": self._meta,
        }
        unknown = set(changes) - set(fields)
        if unknown:
            raise EditError(f"Workflow has no field(s) {', '.join(sorted(unknown))}")
        fields.update(changes)
        name = fields.pop("name")
        nodes = fields.pop("nodes")
        edges = fields.pop("edges")
        new = Workflow(name, nodes, edges, **fields)
        if new._nodes is self._nodes and new._edges is self._edges:
            new._inherit_topology(self)
        return new

    # Edits (see symphony_core.workflow.edits for the rules).

    def add_node(self, node: Node) -> Workflow:
        """Return a copy with ``node`` appended (its id must be new)."""
        from symphony_core.workflow import edits

        return edits.add_node(self, node)

    def remove_node(self, node_id: str, *, cascade: bool = True) -> Workflow:
        """Return a copy without the node (and, with ``cascade``, its edges and bindings)."""
        from symphony_core.workflow import edits

        return edits.remove_node(self, node_id, cascade=cascade)

    def replace_node(self, node_id: str, node: Node) -> Workflow:
        """Return a copy with the node replaced in place (the new node keeps the old id)."""
        from symphony_core.workflow import edits

        return edits.replace_node(self, node_id, node)

    def update_node(
        self,
        node_id: str,
        *,
        params: Mapping[str, Any] | None = None,
        meta: NodeMeta | None = None,
        type: str | None = None,
    ) -> Workflow:
        """Return a copy with some of a node's parameters, metadata or type changed."""
        from symphony_core.workflow import edits

        return edits.update_node(self, node_id, params=params, meta=meta, type=type)

    def add_edge(self, edge: Edge) -> Workflow:
        """Return a copy with ``edge`` appended (its id must be new)."""
        from symphony_core.workflow import edits

        return edits.add_edge(self, edge)

    def remove_edge(self, edge_id: str) -> Workflow:
        """Return a copy without the edge."""
        from symphony_core.workflow import edits

        return edits.remove_edge(self, edge_id)

    def rewire(
        self,
        edge_id: str,
        *,
        source: str | None = None,
        target: str | None = None,
    ) -> Workflow:
        """Return a copy where the edge has a new source and/or target (``"node.port"``).

        The edge keeps its id, kind and condition.
        """
        from symphony_core.workflow import edits

        return edits.rewire(self, edge_id, source=source, target=target)

    # Values.

    def _key(self) -> tuple[Any, ...]:
        return (
            self._name,
            self._description,
            self._nodes,
            self._edges,
            self._inputs,
            self._outputs,
            self._meta,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Workflow):
            return NotImplemented
        return self is other or self._key() == other._key()

    def __hash__(self) -> int:
        if self._hash is None:
            object.__setattr__(self, "_hash", hash(self._key()))
        assert self._hash is not None
        return self._hash

    def __repr__(self) -> str:
        return f"Workflow(name={self._name!r}, nodes={len(self._nodes)}, edges={len(self._edges)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self._key(),))


def _rebuild(key: tuple[Any, ...]) -> Workflow:
    name, description, nodes, edges, inputs, outputs, meta = key
    return Workflow(
        name, nodes, edges, description=description, inputs=inputs, outputs=outputs, meta=meta
    )
