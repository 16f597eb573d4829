"""The node-type catalog: every node type a workflow may use, with parsed port types.

A catalog is built from extension manifests (each ``[[nodes]]`` table becomes the node
type ``"<extension id>/<type>"``) or, in tests, from plain
:class:`~symphony_core.manifest.model.NodeType` objects. The built-in Control node types
(:mod:`symphony_core.workflow.controls`) are always in it. Port type expressions are
parsed once here, so validation only compares parsed types
(:func:`symphony_core.manifest.porttypes.is_assignable`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from symphony_core.errors import UserError
from symphony_core.manifest.model import Manifest, NodeType, Parameter
from symphony_core.manifest.porttypes import PortType, parse_port_type
from symphony_core.workflow.controls import CONTROL_NODE_TYPES, ControlRole
from symphony_core.workflow.errors import CatalogError
from symphony_core.workflow.model import CONTROL_NAMESPACE, NodeKind, split_node_type

if TYPE_CHECKING:
    from symphony_core.extension import ExtensionRecord

__all__ = ["NodeCatalog", "NodeSpec", "PortSpec"]


@dataclass(frozen=True, slots=True)
class PortSpec:
    """A port of a node type, with its type parsed.

    Attributes:
        name: The port's name.
        type: The parsed port type.
        required: For inputs: the node cannot run without a value here.
        multiple: For inputs: more than one edge may feed it (only a merge's ``values``).
        description: What flows through the port.
    """

    name: str
    type: PortType
    required: bool = True
    multiple: bool = False
    description: str = ""


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """Everything the validator and the executor need to know about one node type.

    Attributes:
        type: The full type reference, ``"<extension id>/<name>"`` or ``"control/<role>"``.
        namespace: The extension id (``"control"`` for the built-in types).
        name: The node type's own name.
        kind: ``instrument``, ``operator`` or ``control``.
        description: What the node does.
        inputs: Input ports, in declaration order.
        outputs: Output ports, in declaration order.
        parameters: Parameter schema by name.
        control: For Control nodes, their role.
        pattern_errors: Parameters whose ``pattern`` is not a valid regular expression.
    """

    type: str
    namespace: str
    name: str
    kind: NodeKind
    description: str
    inputs: tuple[PortSpec, ...]
    outputs: tuple[PortSpec, ...]
    parameters: Mapping[str, Parameter]
    control: ControlRole | None = None
    pattern_errors: Mapping[str, str] = field(default_factory=dict)
    input_map: Mapping[str, PortSpec] = field(init=False, repr=False, compare=False)
    output_map: Mapping[str, PortSpec] = field(init=False, repr=False, compare=False)
    required_inputs: tuple[str, ...] = field(init=False, repr=False, compare=False)
    required_params: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "input_map", {port.name: port for port in self.inputs})
        setattr_(self, "output_map", {port.name: port for port in self.outputs})
        setattr_(
            self,
            "required_inputs",
            tuple(port.name for port in self.inputs if port.required),
        )
        setattr_(
            self,
            "required_params",
            frozenset(name for name, param in self.parameters.items() if _is_unset(param.default)),
        )

    @classmethod
    def from_node_type(
        cls,
        namespace: str,
        node_type: NodeType,
        *,
        kind: NodeKind = "operator",
        control: ControlRole | None = None,
    ) -> NodeSpec:
        """Build a spec from a manifest's node type.

        Args:
            namespace: The contributing extension's id.
            node_type: The ``[[nodes]]`` table.
            kind: ``instrument`` or ``operator`` (from the extension's kind).
            control: The role, for the built-in Control types only.

        Raises:
            CatalogError: A port type does not parse, or a port name is used twice.
        """
        type_ref = f"{namespace}/{node_type.type}"

        def ports(items: Iterable[Any], direction: str) -> tuple[PortSpec, ...]:
            out: list[PortSpec] = []
            seen: set[str] = set()
            for port in items:
                if port.name in seen:
                    raise CatalogError(
                        f"node type {type_ref!r} declares the {direction} port {port.name!r} twice",
                        hint="give each port of a node type a distinct name",
                    )
                seen.add(port.name)
                try:
                    parsed = parse_port_type(port.type)
                except UserError as exc:
                    raise CatalogError(
                        f"node type {type_ref!r}, {direction} port {port.name!r}: {exc.message}",
                        hint=exc.hint,
                    ) from None
                multiple = control == "merge" and direction == "input"
                out.append(
                    PortSpec(
                        name=port.name,
                        type=parsed,
                        required=bool(port.required),
                        multiple=multiple,
                        description=port.description,
                    )
                )
            return tuple(out)

        pattern_errors: dict[str, str] = {}
        for name, param in node_type.parameters.items():
            if param.pattern is not None:
                try:
                    re.compile(param.pattern)
                except (re.error, OverflowError, RecursionError, ValueError) as exc:
                    pattern_errors[name] = f"pattern {param.pattern!r} is not valid: {exc}"
        return cls(
            type=type_ref,
            namespace=namespace,
            name=node_type.type,
            kind=kind,
            description=node_type.description,
            inputs=ports(node_type.inputs, "input"),
            outputs=ports(node_type.outputs, "output"),
            parameters=dict(node_type.parameters),
            control=control,
            pattern_errors=pattern_errors,
        )


def _is_unset(value: Any) -> bool:
    return value is msgspec.UNSET


def _builtin_specs() -> list[NodeSpec]:
    return [
        NodeSpec.from_node_type(CONTROL_NAMESPACE, node_type, kind="control", control=role)
        for role, node_type in CONTROL_NODE_TYPES.items()
    ]


_BUILTINS = tuple(_builtin_specs())


class NodeCatalog:
    """An immutable set of node types, looked up by ``"<extension id>/<name>"``.

    Args:
        specs: Node types to hold besides the built-in Control types.

    Raises:
        CatalogError: Two specs have the same type, or one claims the ``control`` namespace.
    """

    __slots__ = ("_extensions", "_specs")

    _specs: dict[str, NodeSpec]
    _extensions: frozenset[str]

    def __init__(self, specs: Iterable[NodeSpec] = ()) -> None:
        table: dict[str, NodeSpec] = {spec.type: spec for spec in _BUILTINS}
        extensions: set[str] = set()
        for spec in specs:
            if spec.namespace == CONTROL_NAMESPACE and spec.control is None:
                raise CatalogError(
                    f"node type {spec.type!r} uses the reserved namespace 'control'",
                    hint="node types of extensions are named '<extension id>/<type>'",
                )
            if spec.type in table and table[spec.type] != spec:
                raise CatalogError(
                    f"node type {spec.type!r} is contributed twice",
                    hint="an extension may declare each node type once",
                )
            table[spec.type] = spec
            if spec.namespace != CONTROL_NAMESPACE:
                extensions.add(spec.namespace)
        object.__setattr__(self, "_specs", table)
        object.__setattr__(self, "_extensions", frozenset(extensions))

    @classmethod
    def from_manifests(cls, manifests: Iterable[Manifest]) -> NodeCatalog:
        """Build a catalog from extension manifests (every ``[[nodes]]`` table).

        An ``instrument`` extension contributes Instrument nodes; an ``operator`` (or an
        ``addon`` that declares nodes) contributes Operator nodes.

        Raises:
            CatalogError: A port type does not parse, or one extension id appears twice.
        """
        specs: list[NodeSpec] = []
        seen: set[str] = set()
        for manifest in manifests:
            ext = manifest.extension.id
            if ext in seen:
                raise CatalogError(
                    f"extension {ext!r} is given twice",
                    hint="pass each extension's manifest once",
                )
            seen.add(ext)
            kind: NodeKind = "instrument" if manifest.extension.kind == "instrument" else "operator"
            specs.extend(
                NodeSpec.from_node_type(ext, node_type, kind=kind) for node_type in manifest.nodes
            )
        catalog = cls(specs)
        object.__setattr__(catalog, "_extensions", catalog._extensions | seen)
        return catalog

    @classmethod
    def from_records(cls, records: Iterable[ExtensionRecord]) -> NodeCatalog:
        """Build a catalog from discovered extensions (their manifests)."""
        return cls.from_manifests(record.manifest for record in records)

    @classmethod
    def from_node_types(
        cls,
        node_types: Mapping[str, Iterable[NodeType]],
        *,
        kind: NodeKind = "operator",
    ) -> NodeCatalog:
        """Build a catalog from plain node types, by extension id (handy in tests).

        Args:
            node_types: Extension id -> its node types.
            kind: The kind of every node type given.
        """
        specs = [
            NodeSpec.from_node_type(ext, node_type, kind=kind)
            for ext, types in node_types.items()
            for node_type in types
        ]
        catalog = cls(specs)
        object.__setattr__(catalog, "_extensions", catalog._extensions | set(node_types))
        return catalog

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("NodeCatalog is immutable")

    @property
    def extensions(self) -> frozenset[str]:
        """Ids of the extensions whose node types are in the catalog."""
        return self._extensions

    def get(self, type_ref: str) -> NodeSpec | None:
        """Return the spec of a node type, or ``None``."""
        return self._specs.get(type_ref)

    def __getitem__(self, type_ref: str) -> NodeSpec:
        return self._specs[type_ref]

    def __contains__(self, type_ref: object) -> bool:
        return type_ref in self._specs

    def __iter__(self) -> Iterator[NodeSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def explain_unknown(self, type_ref: str) -> tuple[str, str, str]:
        """Say why a type is not in the catalog: ``(code, message, hint)`` for an issue."""
        parts = split_node_type(type_ref) if isinstance(type_ref, str) else None
        if parts is None:
            return (
                "workflow.node_type_malformed",
                f"node type {type_ref!r} is not of the form '<extension id>/<type>'",
                "write e.g. 'examples.textops/word_count' or 'control/branch'",
            )
        namespace, name = parts
        if namespace == CONTROL_NAMESPACE:
            roles = ", ".join(sorted(CONTROL_NODE_TYPES))
            return (
                "workflow.node_type_unknown",
                f"there is no control node {name!r}",
                f"control nodes are: {roles}",
            )
        if namespace not in self._extensions:
            return (
                "workflow.extension_unknown",
                f"no installed extension {namespace!r} provides node type {type_ref!r}",
                f"install the extension that provides {namespace!r}, or fix the type",
            )
        known = sorted(spec.name for spec in self if spec.namespace == namespace)
        shown = ", ".join(known[:10]) or "none"
        return (
            "workflow.node_type_unknown",
            f"extension {namespace!r} has no node type {name!r}",
            f"its node types are: {shown}",
        )
