"""Workflow templates: a workflow with typed parameters, instantiated into a workflow.

A template file is a JSON document::

    {"kind": "symphony.template", "schema_version": 1,
     "name": "count-words", "description": "Read a file and count its words.",
     "parameters": {
        "path": {"type": "path", "description": "File to read."},
        "lowercase": {"type": "bool", "default": true},
        "min_count": {"type": "int", "default": 1, "min": 0}},
     "workflow": {"schema_version": 2, "name": "count-words", "nodes": [
        {"id": "load", "type": "examples.io/read_text", "params": {"path": "${path}"}},
        {"id": "count", "type": "examples.textops/word_count",
         "params": {"lowercase": "${lowercase}", "label": "words of ${path}"}}], ...}}

Parameters are declared like node-type parameters
(:class:`~symphony_core.manifest.model.Parameter`: type, default, min/max, choices,
pattern, description). ``${name}`` placeholders may appear in node parameter values (at
any depth), in node labels, comments and groups, in edge conditions, and in the
workflow's name and description:

* a string that is exactly ``"${name}"`` becomes the parameter's value, of its own type;
* inside a longer string the value is written as text (``$${`` stands for a literal ``${``);
* in a condition (an edge's, or a gate's ``condition`` parameter) the value is written as
  a literal of the condition language, quoted and escaped, so a parameter can never
  change the shape of a condition.

:meth:`Template.instantiate` checks every parameter and reports every problem at once
(:class:`~symphony_core.workflow.errors.TemplateParameterError`).

Templates nest: a node of type ``template/<template name>`` inside a template (or any
workflow given to :func:`expand`) is replaced by the named template's workflow,
instantiated with the node's parameters, its node and edge ids put under
``<node id>/``. Edges to the node's input ``x`` go to the ports the sub-workflow exposes
as input ``x``; edges from its output ``y`` leave from the port exposed as output ``y``;
control edges attach to the sub-workflow's first and last nodes.

Extensions contribute templates in their manifest (``[[templates]]`` with a path inside
the package, confined to it); :class:`TemplateCatalog` finds them as
``"<extension id>/<template name>"``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from symphony_core.errors import PathConfinementError
from symphony_core.fs import confine
from symphony_core.manifest.model import NAME_PATTERN, Manifest, Parameter
from symphony_core.manifest.parameters import describe_parameter, parameter_value_problems
from symphony_core.workflow.builder import namespaced
from symphony_core.workflow.codec_json import WireWorkflow, dec_hook, from_wire, to_wire
from symphony_core.workflow.controls import GATE
from symphony_core.workflow.errors import (
    CodecError,
    MigrationError,
    TemplateError,
    TemplateNotFoundError,
    TemplateParameterError,
    ValueRuleError,
)
from symphony_core.workflow.expressions import literal_text
from symphony_core.workflow.migrations import migrate
from symphony_core.workflow.model import TEMPLATE_NAMESPACE, Binding, Edge, Node, Workflow
from symphony_core.workflow.values import freeze, freeze_mapping, thaw

if TYPE_CHECKING:
    from symphony_core.extension import ExtensionRecord

__all__ = [
    "MAX_NESTING",
    "TEMPLATE_KIND",
    "TEMPLATE_SCHEMA_VERSION",
    "Template",
    "TemplateCatalog",
    "TemplateEntry",
    "coerce_parameter",
    "decode_template",
    "encode_template",
    "expand",
    "load_template",
]

TEMPLATE_KIND = "symphony.template"
"""The ``kind`` of a template document."""
TEMPLATE_SCHEMA_VERSION = 1
"""The template document version this library writes."""
MAX_NESTING = 16
"""Deepest nesting of templates inside templates."""
MAX_TEMPLATE_BYTES = 64 * 1024 * 1024
"""Largest template file read."""

_PLACEHOLDER = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NAME = re.compile(NAME_PATTERN)
_TEMPLATE_PREFIX = f"{TEMPLATE_NAMESPACE}/"


class _TemplateDoc(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    kind: str
    schema_version: int
    name: str
    workflow: dict[str, Any]
    description: str = ""
    parameters: dict[str, Parameter] = msgspec.field(default_factory=dict)


class _TemplateOut(msgspec.Struct, kw_only=True, omit_defaults=True):
    kind: str
    schema_version: int
    name: str
    workflow: WireWorkflow
    description: str = ""
    parameters: dict[str, Parameter] = msgspec.field(default_factory=dict)


# Placeholders.


def _placeholders(text: str) -> Iterator[str]:
    for match in _PLACEHOLDER.finditer(text):
        if match.group(1) is not None:
            yield match.group(1)


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(thaw(value), ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _substitute(text: str, values: Mapping[str, Any], *, condition: bool) -> Any:
    match = _PLACEHOLDER.fullmatch(text)
    if match is not None and match.group(1) is not None and not condition:
        return values[match.group(1)]

    def replace(found: re.Match[str]) -> str:
        name = found.group(1)
        if name is None:
            return "${"
        value = values[name]
        if not condition:
            return _as_text(value)
        try:
            return literal_text(value)
        except ValueError:
            raise TemplateError(
                f"parameter {name!r} is an object; a condition can only take a string, "
                "number, boolean, null or array",
                hint="use a scalar parameter in conditions",
            ) from None

    return _PLACEHOLDER.sub(replace, text)


def _substitute_value(value: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return _substitute(value, values, condition=False)
    if isinstance(value, Mapping):
        return {key: _substitute_value(item, values) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [_substitute_value(item, values) for item in value]
    return value


def _walk_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _walk_strings(item)
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _walk_strings(item)


def _template_strings(body: Workflow) -> Iterator[tuple[str, str]]:
    yield "workflow name", body.name
    yield "workflow description", body.description
    for node in body.nodes:
        for text in _walk_strings(node.params):
            yield f"node {node.id!r} params", text
        if node.meta is not None:
            for key in ("label", "comment", "group"):
                text = getattr(node.meta, key)
                if text is not None:
                    yield f"node {node.id!r} {key}", text
    for edge in body.edges:
        if edge.condition is not None:
            yield f"edge {edge.id!r} condition", edge.condition


# Parameter values.


def coerce_parameter(parameter: Parameter, text: str) -> Any:
    """Turn command-line text into a value of the parameter's type.

    ``str``, ``path`` and string ``enum`` choices take the text as it is; ``int`` and
    ``float`` parse numbers; ``bool`` accepts true/false, yes/no, on/off, 1/0; ``list``,
    ``dict`` and ``json`` parse JSON; an ``enum`` of non-strings parses JSON.

    Raises:
        ValueError: The text does not spell a value of that type.
    """
    kind = parameter.type
    if kind in ("str", "path"):
        return text
    if kind == "enum":
        if any(isinstance(choice, str) and choice == text for choice in parameter.choices or []):
            return text
        try:
            return json.loads(text)
        except ValueError:
            return text
    if kind == "int":
        try:
            return int(text.strip())
        except ValueError:
            raise ValueError(f"{text!r} is not an integer") from None
    if kind == "float":
        try:
            number = float(text.strip())
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"{text!r} is not a finite number")
        return number
    if kind == "bool":
        lowered = text.strip().lower()
        if lowered in ("true", "yes", "on", "1"):
            return True
        if lowered in ("false", "no", "off", "0"):
            return False
        raise ValueError(f"{text!r} is not true or false")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not JSON ({exc})") from None


def _check_parameters(
    name: str,
    schema: Mapping[str, Parameter],
    given: Mapping[str, Any],
) -> dict[str, Any]:
    problems: list[tuple[str, str]] = []
    values: dict[str, Any] = {}
    for key in given:
        if key not in schema:
            known = ", ".join(sorted(schema)) or "none"
            problems.append((key, f"the template has no such parameter (it has: {known})"))
    for key, parameter in schema.items():
        if key in given:
            value = given[key]
        elif parameter.default is not msgspec.UNSET:
            value = parameter.default
        else:
            problems.append((key, f"required; give {describe_parameter(parameter)}"))
            continue
        try:
            value = freeze(value)
        except ValueRuleError as exc:
            problems.append((key, exc.message))
            continue
        found = parameter_value_problems(parameter, value)
        if found:
            problems.append((key, f"{'; '.join(found)} (expected {describe_parameter(parameter)})"))
            continue
        values[key] = value
    if problems:
        raise TemplateParameterError(name, problems)
    return values


# The template.


@dataclass(frozen=True)
class Template:
    """A parameterised workflow.

    Attributes:
        name: The template's name (qualified ``"<extension id>/<name>"`` when it comes
            from an extension's catalog entry).
        body: The workflow, with ``${name}`` placeholders.
        parameters: The parameters, by name.
        description: What it builds.
        source: The file it was read from, if any.
    """

    name: str
    body: Workflow
    parameters: Mapping[str, Parameter] = field(default_factory=dict)
    description: str = ""
    source: str | None = None

    def __post_init__(self) -> None:
        problems: list[str] = []
        for key, parameter in self.parameters.items():
            if not _NAME.match(key):
                problems.append(f"parameter name {key!r} is not an identifier")
            if parameter.default is not msgspec.UNSET:
                try:
                    found = parameter_value_problems(parameter, freeze(parameter.default))
                except ValueRuleError as exc:
                    found = [exc.message]
                if found:
                    problems.append(f"the default of {key!r} is invalid: {'; '.join(found)}")
        for where, text in _template_strings(self.body):
            for placeholder in _placeholders(text):
                if placeholder not in self.parameters:
                    problems.append(f"{where} uses ${{{placeholder}}}, which is not a parameter")
        if problems:
            raise TemplateError(
                f"template {self.name!r} is invalid: {'; '.join(problems)}",
                where=self.source or self.name,
                hint="declare every parameter a placeholder uses, with a valid default",
            )

    def check(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Check parameter values and return all of them, defaults filled in.

        Raises:
            TemplateParameterError: Every unknown, missing or invalid parameter.
        """
        return _check_parameters(self.name, self.parameters, dict(params or {}))

    def instantiate(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        templates: TemplateCatalog | None = None,
        name: str | None = None,
    ) -> Workflow:
        """Build the workflow with these parameter values.

        Args:
            params: Parameter values by name (defaults fill in the rest).
            templates: Where nested ``template/<name>`` nodes are looked up.
            name: Name of the resulting workflow (default: the body's, substituted).

        Returns:
            The workflow (validate it against a node catalog before running it).

        Raises:
            TemplateParameterError: A parameter is unknown, missing or invalid (all listed).
            TemplateError: A nested template is missing, recursive or nested too deeply.
        """
        return self._instantiate(params, templates, name, stack=())

    def _instantiate(
        self,
        params: Mapping[str, Any] | None,
        templates: TemplateCatalog | None,
        name: str | None,
        *,
        stack: tuple[str, ...],
    ) -> Workflow:
        values = self.check(params)
        workflow = _apply(self.body, values)
        if name is not None:
            workflow = workflow.replace(name=name)
        return _expand(workflow, templates, stack=(*stack, self.name))

    def describe(self) -> dict[str, Any]:
        """Return a JSON-serialisable description: name, description and parameters."""
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "parameters": {
                key: {
                    "type": parameter.type,
                    "required": parameter.default is msgspec.UNSET,
                    **(
                        {"default": thaw(parameter.default)}
                        if parameter.default is not msgspec.UNSET
                        else {}
                    ),
                    "accepts": describe_parameter(parameter),
                    "description": parameter.description,
                }
                for key, parameter in self.parameters.items()
            },
        }


def _apply(body: Workflow, values: Mapping[str, Any]) -> Workflow:
    if not values:
        return body

    def text(value: str | None) -> str | None:
        return None if value is None else _substitute(value, values, condition=False)

    nodes: list[Node] = []
    for node in body.nodes:
        if node.type == GATE and isinstance(node.params.get("condition"), str):
            params = dict(_substitute_value(node.params, values))
            params["condition"] = _substitute(node.params["condition"], values, condition=True)
        else:
            params = _substitute_value(node.params, values)
        meta = node.meta
        if meta is not None:
            meta = msgspec.structs.replace(
                meta, label=text(meta.label), comment=text(meta.comment), group=text(meta.group)
            )
        nodes.append(Node(node.id, node.type, freeze_mapping(params), meta))
    edges = [
        edge
        if edge.condition is None
        else msgspec.structs.replace(
            edge, condition=_substitute(edge.condition, values, condition=True)
        )
        for edge in body.edges
    ]
    name = _substitute(body.name, values, condition=False)
    description = _substitute(body.description, values, condition=False)
    return body.replace(
        name=name if isinstance(name, str) else _as_text(name),
        description=description if isinstance(description, str) else _as_text(description),
        nodes=nodes,
        edges=edges,
    )


# Nesting.


def expand(workflow: Workflow, templates: TemplateCatalog) -> Workflow:
    """Replace every ``template/<name>`` node by the template's instantiated workflow.

    Raises:
        TemplateNotFoundError: A node names a template the catalog does not have.
        TemplateParameterError: A template node's parameters are invalid.
        TemplateError: Templates nest recursively or deeper than :data:`MAX_NESTING`, or
            an edge uses a port the sub-workflow does not expose.
    """
    return _expand(workflow, templates, stack=())


def _expand(
    workflow: Workflow, templates: TemplateCatalog | None, *, stack: tuple[str, ...]
) -> Workflow:
    nested = [node for node in workflow.nodes if node.type.startswith(_TEMPLATE_PREFIX)]
    if not nested:
        return workflow
    if len(stack) >= MAX_NESTING:
        raise TemplateError(
            f"templates nest more than {MAX_NESTING} deep: {' -> '.join(stack)}",
            hint="flatten the templates",
        )
    for node in nested:
        ref = node.type[len(_TEMPLATE_PREFIX) :]
        if templates is None:
            raise TemplateNotFoundError(
                f"node {node.id!r} uses template {ref!r}, but no template catalog was given",
                hint="pass templates=TemplateCatalog(...)",
            )
        template = templates.get(ref)
        if template.name in stack or ref in stack:
            raise TemplateError(
                f"template {ref!r} includes itself: {' -> '.join([*stack, ref])}",
                hint="a template may not contain itself, directly or not",
            )
        inner = template._instantiate(node.params, templates, None, stack=stack)
        workflow = _splice(workflow, node, inner)
    return workflow


def _splice(workflow: Workflow, host: Node, inner: Workflow) -> Workflow:
    prefix = host.id
    inner_nodes, inner_edges = namespaced(prefix, inner)
    inputs: dict[str, list[Binding]] = {}
    for binding in inner.inputs:
        inputs.setdefault(binding.name, []).append(
            Binding(binding.name, f"{prefix}/{binding.node}", binding.port)
        )
    outputs = {
        binding.name: Binding(binding.name, f"{prefix}/{binding.node}", binding.port)
        for binding in inner.outputs
    }
    has_in = {edge.target for edge in inner.edges}
    has_out = {edge.source for edge in inner.edges}
    entries = [f"{prefix}/{n.id}" for n in inner.nodes if n.id not in has_in]
    exits = [f"{prefix}/{n.id}" for n in inner.nodes if n.id not in has_out]

    def unknown(direction: str, port: str, known: Iterable[str]) -> TemplateError:
        shown = ", ".join(sorted(known)) or "none"
        return TemplateError(
            f"template node {host.id!r} has no {direction} {port!r} (the template exposes: "
            f"{shown})",
            hint=f"connect to one of the template's workflow {direction}s",
        )

    edges: list[Edge] = []
    targets: list[tuple[str, str | None]]
    sources: list[tuple[str, str | None]]
    for edge in workflow.edges:
        if edge.target == host.id:
            if edge.target_port is None:
                targets = [(node_id, None) for node_id in entries]
            elif edge.target_port in inputs:
                targets = [(b.node, b.port) for b in inputs[edge.target_port]]
            else:
                raise unknown("input", edge.target_port, inputs)
        else:
            targets = [(edge.target, edge.target_port)]
        if edge.source == host.id:
            if edge.source_port is None:
                sources = [(node_id, None) for node_id in exits]
            elif edge.source_port in outputs:
                sources = [(outputs[edge.source_port].node, outputs[edge.source_port].port)]
            else:
                raise unknown("output", edge.source_port, outputs)
        else:
            sources = [(edge.source, edge.source_port)]
        pairs = [(s, t) for s in sources for t in targets]
        for k, ((s_node, s_port), (t_node, t_port)) in enumerate(pairs):
            edges.append(
                msgspec.structs.replace(
                    edge,
                    id=edge.id if len(pairs) == 1 else f"{edge.id}/{k + 1}",
                    source=s_node,
                    source_port=s_port if edge.source_port is not None else None,
                    target=t_node,
                    target_port=t_port if edge.target_port is not None else None,
                )
            )
    nodes: list[Node] = []
    for node in workflow.nodes:
        if node.id == host.id:
            nodes.extend(inner_nodes)
        else:
            nodes.append(node)
    edges.extend(inner_edges)

    def rebind(
        bindings: Iterable[Binding], table: Mapping[str, Any], direction: str
    ) -> list[Binding]:
        out: list[Binding] = []
        for binding in bindings:
            if binding.node != host.id:
                out.append(binding)
                continue
            if binding.port not in table:
                raise unknown(direction, binding.port, table)
            found = table[binding.port]
            for inner_binding in found if isinstance(found, list) else [found]:
                out.append(Binding(binding.name, inner_binding.node, inner_binding.port))
        return out

    return workflow.replace(
        nodes=nodes,
        edges=edges,
        inputs=rebind(workflow.inputs, inputs, "input"),
        outputs=rebind(workflow.outputs, outputs, "output"),
    )


# Files.


def decode_template(
    data: bytes | str, *, where: str | None = None, name: str | None = None
) -> Template:
    """Read a template document.

    Args:
        data: The JSON document.
        where: Names the source in error messages.
        name: Overrides the document's name (a catalog qualifies it with the extension id).

    Raises:
        TemplateError: The document is not a template, or is invalid; the message says where.
    """
    try:
        doc = msgspec.json.decode(data, type=_TemplateDoc)
    except msgspec.ValidationError as exc:  # a DecodeError too: catch it first
        raise TemplateError(f"invalid template document: {exc}", where=where) from None
    except (msgspec.DecodeError, ValueError) as exc:
        raise TemplateError(f"not a JSON template document: {exc}", where=where) from None
    if doc.kind != TEMPLATE_KIND:
        raise TemplateError(
            f"the document's kind is {doc.kind!r}, not {TEMPLATE_KIND!r}",
            where=where,
            hint="is this a workflow file? templates have kind 'symphony.template'",
        )
    if doc.schema_version != TEMPLATE_SCHEMA_VERSION:
        raise TemplateError(
            f"template schema version {doc.schema_version} is not one this Symphony reads "
            f"({TEMPLATE_SCHEMA_VERSION})",
            where=where,
            hint="upgrade Symphony" if doc.schema_version > TEMPLATE_SCHEMA_VERSION else None,
        )
    try:
        wire = msgspec.convert(migrate(doc.workflow), WireWorkflow, dec_hook=dec_hook)
    except (msgspec.ValidationError, MigrationError, CodecError, ValueRuleError) as exc:
        message = exc.message if isinstance(exc, CodecError | ValueRuleError) else str(exc)
        raise TemplateError(f"invalid workflow in template: {message}", where=where) from None
    return Template(
        name=name or doc.name,
        body=from_wire(wire),
        parameters=doc.parameters,
        description=doc.description,
        source=where,
    )


def encode_template(template: Template, *, indent: int | None = 2) -> bytes:
    """Write a template document (sorted keys; pretty-printed unless ``indent`` is None)."""
    data = msgspec.json.encode(
        _TemplateOut(
            kind=TEMPLATE_KIND,
            schema_version=TEMPLATE_SCHEMA_VERSION,
            name=template.name,
            description=template.description,
            parameters=dict(template.parameters),
            workflow=to_wire(template.body),
        ),
        order="sorted",
    )
    return data if indent is None else msgspec.json.format(data, indent=indent)


def load_template(path: Path, *, name: str | None = None) -> Template:
    """Read a template file.

    Raises:
        TemplateError: The file cannot be read or is not a valid template.
    """
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_TEMPLATE_BYTES + 1)
    except OSError as exc:
        raise TemplateError(f"cannot read the template: {exc.strerror}", where=str(path)) from None
    if len(data) > MAX_TEMPLATE_BYTES:
        raise TemplateError(
            f"the template is larger than {MAX_TEMPLATE_BYTES} bytes", where=str(path)
        )
    return decode_template(data, where=str(path), name=name)


# The catalog.


@dataclass(frozen=True)
class TemplateEntry:
    """A template a catalog knows, loaded on first use.

    Attributes:
        name: Its name in the catalog (``"<extension id>/<name>"`` for an extension's).
        description: What it builds (from the manifest, before the file is read).
        extension: The contributing extension's id, if any.
        path: The template file, if it comes from one.
    """

    name: str
    description: str = ""
    extension: str | None = None
    path: Path | None = None


class TemplateCatalog:
    """Templates by name: contributed by extensions' manifests or added directly.

    Files are read on first use and kept. Look-ups by an unknown name raise
    :class:`~symphony_core.workflow.errors.TemplateNotFoundError` naming the known ones.
    """

    def __init__(self, templates: Iterable[Template] = ()) -> None:
        self._entries: dict[str, TemplateEntry] = {}
        self._loaded: dict[str, Template] = {}
        self._loaders: dict[str, Callable[[], Template]] = {}
        for template in templates:
            self.add(template)

    @classmethod
    def from_records(cls, records: Iterable[ExtensionRecord]) -> TemplateCatalog:
        """Collect the ``[[templates]]`` of every discovered extension's manifest.

        Raises:
            TemplateError: A template path escapes its extension's directory, or two
                templates have the same name.
        """
        return cls.from_manifests((record.manifest, record.manifest_path) for record in records)

    @classmethod
    def from_manifests(cls, manifests: Iterable[tuple[Manifest, Path]]) -> TemplateCatalog:
        """Collect the ``[[templates]]`` of manifests, each given with its file's path.

        Each template path is confined to the directory of its manifest: a path that is
        absolute or leads outside it (``..``, a symlink) is refused. Files are read on
        first use.

        Raises:
            TemplateError: A template path escapes its extension's directory, or two
                templates have the same name.
        """
        catalog = cls()
        for manifest, manifest_path in manifests:
            base = manifest_path.parent
            for ref in manifest.templates:
                qualified = f"{manifest.id}/{ref.name}"
                try:
                    path = confine(base, ref.path, what=f"template {qualified!r} path")
                except PathConfinementError as exc:
                    raise TemplateError(
                        exc.message, where=str(manifest_path), hint=exc.hint
                    ) from None
                catalog._register(
                    TemplateEntry(qualified, ref.description, manifest.id, path),
                    partial(load_template, path, name=qualified),
                )
        return catalog

    def _register(self, entry: TemplateEntry, loader: Callable[[], Template]) -> None:
        if entry.name in self._entries:
            raise TemplateError(
                f"template {entry.name!r} is contributed twice",
                hint="template names are unique within an extension",
            )
        self._entries[entry.name] = entry
        self._loaders[entry.name] = loader

    def add(self, template: Template, *, name: str | None = None) -> None:
        """Add a template under ``name`` (default: its own name)."""
        key = name or template.name
        self._register(TemplateEntry(key, template.description, None, None), lambda: template)

    def add_file(self, path: Path, *, name: str | None = None) -> str:
        """Read a template file now and add it; returns the name it is known by."""
        template = load_template(path, name=name)
        self.add(template)
        return template.name

    def entries(self) -> list[TemplateEntry]:
        """Every template's entry, sorted by name."""
        return [self._entries[key] for key in sorted(self._entries)]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, name: str) -> Template:
        """Return the template with this name, reading its file on first use.

        Raises:
            TemplateNotFoundError: No template has this name.
            TemplateError: Its file is invalid.
        """
        found = self._loaded.get(name)
        if found is not None:
            return found
        loader = self._loaders.get(name)
        if loader is None:
            known = ", ".join(sorted(self._entries)[:20]) or "none"
            raise TemplateNotFoundError(
                f"no template named {name!r}",
                hint=f"known templates: {known}",
            )
        template = loader()
        entry = self._entries[name]
        if template.name != name or (not template.description and entry.description):
            template = Template(
                name=name,
                body=template.body,
                parameters=template.parameters,
                description=template.description or entry.description,
                source=template.source,
            )
        self._loaded[name] = template
        return template

    def instantiate(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        *,
        workflow_name: str | None = None,
    ) -> Workflow:
        """Instantiate the named template (nested templates are looked up here too)."""
        return self.get(name).instantiate(params, templates=self, name=workflow_name)
