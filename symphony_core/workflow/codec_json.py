"""The JSON form of a workflow: canonical, versioned, migrated on read.

A workflow document is one JSON object::

    {"edges":[{"id":"e1","source":"load","source_port":"text","target":"count",
               "target_port":"text"}],
     "name":"count-words",
     "nodes":[{"id":"load","params":{"path":"in.txt"},"type":"examples.io/read_text"},
              {"id":"count","type":"examples.textops/word_count"}],
     "schema_version":2}

:func:`encode_json` writes the *canonical* form: keys sorted, no spaces, fields equal
to their default left out. The same workflow always gives the same bytes, so a file can
be hashed, diffed and compared byte for byte, and JSON -> binary -> JSON gives back the
very same bytes. :func:`decode_json` reads any schema version down to 1
(:mod:`symphony_core.workflow.migrations`) and refuses everything else with a
:class:`~symphony_core.workflow.errors.CodecError` that says where the problem is.
"""

from __future__ import annotations

from typing import Any

import msgspec

from symphony_core.workflow.errors import CodecError, MigrationError, ValueRuleError
from symphony_core.workflow.migrations import CURRENT_VERSION, migrate
from symphony_core.workflow.model import Binding, Edge, Node, Workflow
from symphony_core.workflow.values import EMPTY, FrozenDict, freeze_mapping

__all__ = ["MAX_JSON_BYTES", "WireWorkflow", "dec_hook", "decode_json", "encode_json", "to_wire"]

MAX_JSON_BYTES = 1 << 30
"""Largest workflow document read (1 GiB)."""


class WireWorkflow(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    """The workflow document as it is on the wire (current schema version)."""

    schema_version: int
    name: str
    description: str = ""
    nodes: list[Node] = msgspec.field(default_factory=list)
    edges: list[Edge] = msgspec.field(default_factory=list)
    inputs: list[Binding] = msgspec.field(default_factory=list)
    outputs: list[Binding] = msgspec.field(default_factory=list)
    meta: FrozenDict = EMPTY


def dec_hook(kind: type, obj: Any) -> Any:
    """Decode hook for msgspec: builds :class:`FrozenDict` values (checking every value)."""
    if kind is FrozenDict:
        return freeze_mapping(obj)
    raise NotImplementedError(f"cannot decode {kind!r}")


_ENCODER = msgspec.json.Encoder(order="sorted")
_DECODER = msgspec.json.Decoder(WireWorkflow, dec_hook=dec_hook)
_RAW_DECODER = msgspec.json.Decoder()


def to_wire(workflow: Workflow) -> WireWorkflow:
    """Return the wire struct of a workflow (shared by the JSON and template codecs)."""
    return WireWorkflow(
        schema_version=CURRENT_VERSION,
        name=workflow.name,
        description=workflow.description,
        # Tuples encode as arrays; an empty one is swapped for [] so it is left out.
        nodes=workflow.nodes or [],  # type: ignore[arg-type]
        edges=workflow.edges or [],  # type: ignore[arg-type]
        inputs=workflow.inputs or [],  # type: ignore[arg-type]
        outputs=workflow.outputs or [],  # type: ignore[arg-type]
        meta=workflow.meta,
    )


def from_wire(wire: WireWorkflow) -> Workflow:
    """Build a workflow from its wire struct."""
    return Workflow(
        wire.name,
        wire.nodes,
        wire.edges,
        description=wire.description,
        inputs=wire.inputs,
        outputs=wire.outputs,
        meta=wire.meta,
    )


def encode_json(workflow: Workflow, *, indent: int | None = None) -> bytes:
    """Encode a workflow as its canonical JSON document.

    Args:
        workflow: The workflow.
        indent: Pretty-print with this many spaces (still sorted); ``None`` for the
            compact canonical form.

    Returns:
        UTF-8 JSON bytes.
    """
    data = _ENCODER.encode(to_wire(workflow))
    if indent is not None:
        data = msgspec.json.format(data, indent=indent)
    return data


def _locate_value_error(raw: Any) -> str:
    # The decode hook does not know which node it was called for: find it again.
    if isinstance(raw, dict):
        for i, node in enumerate(raw.get("nodes") or []):
            if not isinstance(node, dict):
                continue
            for key in ("params",):
                try:
                    freeze_mapping(node.get(key))
                except ValueRuleError:
                    return f"$.nodes[{i}].{key}"
            meta = node.get("meta")
            if isinstance(meta, dict):
                try:
                    freeze_mapping(meta.get("extra"))
                except ValueRuleError:
                    return f"$.nodes[{i}].meta.extra"
        try:
            freeze_mapping(raw.get("meta"))
        except ValueRuleError:
            return "$.meta"
    return "$"


def decode_wire(data: bytes | str, *, where: str | None = None) -> WireWorkflow:
    """Decode a workflow document into its wire struct, migrating older versions.

    Raises:
        CodecError: See :func:`decode_json`.
    """
    if len(data) > MAX_JSON_BYTES:
        raise CodecError(f"the document is larger than {MAX_JSON_BYTES} bytes", where=where)
    value_error: ValueRuleError | None = None
    try:
        wire = _DECODER.decode(data)
        if wire.schema_version == CURRENT_VERSION:
            return wire
        first_error = ""
    except msgspec.ValidationError as exc:
        first_error = str(exc)
    except ValueRuleError as exc:
        value_error = exc
        first_error = exc.message
    except (msgspec.DecodeError, ValueError) as exc:
        # msgspec reports bytes that are not UTF-8 as a UnicodeDecodeError.
        raise CodecError(
            f"not a JSON workflow document: {exc}",
            where=where,
            hint="a workflow file is JSON (or Symphony's binary form, which starts with SYWF)",
        ) from None
    try:
        raw = _RAW_DECODER.decode(data)
    except (msgspec.DecodeError, ValueError) as exc:  # pragma: no cover - parsed above
        raise CodecError(f"not a JSON workflow document: {exc}", where=where) from None
    if not isinstance(raw, dict):
        raise CodecError(
            f"a workflow document is a JSON object, not {type(raw).__name__}",
            where=where,
            hint="is this a Symphony workflow file?",
        )
    version = raw.get("schema_version")
    if version == CURRENT_VERSION:
        if value_error is not None:
            inner = f", at {value_error.where}" if value_error.where else ""
            first_error = f"{value_error.message} (in {_locate_value_error(raw)}{inner})"
        raise CodecError(
            f"invalid workflow document: {first_error}",
            where=where,
            hint="fix the value at the path given",
        )
    try:
        migrated = migrate(raw)
    except MigrationError as exc:
        raise CodecError(exc.message, where=where, hint=exc.hint) from None
    try:
        return msgspec.convert(migrated, WireWorkflow, dec_hook=dec_hook)
    except msgspec.ValidationError as exc:
        raise CodecError(
            f"invalid version {version} workflow document: {exc}", where=where
        ) from None
    except ValueRuleError as exc:
        raise CodecError(
            f"invalid version {version} workflow document: {exc.message}", where=where
        ) from None


def decode_json(data: bytes | str, *, where: str | None = None) -> Workflow:
    """Decode a workflow document of any known schema version.

    Args:
        data: The JSON document.
        where: Names the source (a file) in error messages.

    Returns:
        The workflow (not validated: call :func:`~symphony_core.workflow.validate.validate`).

    Raises:
        CodecError: The bytes are not JSON, not a workflow document, of an unknown or
            newer schema version, or hold a value the model does not allow; the message
            gives the JSON path of the problem.
    """
    return from_wire(decode_wire(data, where=where))
