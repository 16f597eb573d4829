"""Schema versions of the workflow JSON document, and the migrations between them.

Every workflow document carries ``schema_version``. Reading a document of an older
version applies each migration in turn (``1 -> 2 -> ...``) to the raw JSON object before
it is decoded; a document of a newer version than this library knows is refused with a
clear error instead of being half-read.

Versions:

1. The seed's draft layout: node types written ``"extension.id:type"``; editor fields
   (``position``, ``label``, ``comment``, ``group``) directly on the node; edges as
   ``{"id", "from": "node.port", "to": "node.port", "kind", "condition"}`` (a bare
   ``"node"`` for an edge without ports); workflow ``inputs``/``outputs`` as objects
   ``{"name": "node.port"}``.
2. The current layout (:mod:`symphony_core.workflow.codec_json`): node types
   ``"extension.id/type"``, editor fields under ``meta``, edges with ``source``,
   ``source_port``, ``target``, ``target_port``, bindings as ``{"name", "node", "port"}``
   lists.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from symphony_core.workflow.errors import MigrationError

__all__ = ["CURRENT_VERSION", "MIGRATIONS", "migrate"]

CURRENT_VERSION = 2
"""The schema version this library writes."""

Migration = Callable[[dict[str, Any]], dict[str, Any]]


def _fail(message: str, where: str) -> MigrationError:
    return MigrationError(
        f"cannot migrate a version 1 workflow: {message}",
        where=where,
        hint="fix the value in the file, or re-save it with the version that wrote it",
    )


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(f"expected an object, found {type(value).__name__}", where)
    return value


def _array(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise _fail(f"expected an array, found {type(value).__name__}", where)
    return value


def _endpoint(value: Any, where: str, nodes: Collection[str] = ()) -> tuple[str, str | None]:
    if not isinstance(value, str) or not value:
        raise _fail("an endpoint must be 'node' or 'node.port'", where)
    if value in nodes:
        return value, None  # a node id with dots in it, not node.port
    node, dot, port = value.rpartition(".")
    if not dot:
        return value, None
    return node, port


def _v1_to_v2(doc: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        key: value
        for key, value in doc.items()
        if key not in ("nodes", "edges", "inputs", "outputs")
    }
    nodes: list[dict[str, Any]] = []
    for i, raw in enumerate(_array(doc.get("nodes", []), "nodes")):
        node = dict(_object(raw, f"nodes[{i}]"))
        node_type = node.get("type")
        if isinstance(node_type, str) and ":" in node_type and "/" not in node_type:
            extension, _, name = node_type.rpartition(":")
            node["type"] = f"{extension}/{name}"
        meta = {
            key: node.pop(key) for key in ("position", "label", "comment", "group") if key in node
        }
        if meta:
            node["meta"] = meta
        nodes.append(node)
    ids = {node["id"] for node in nodes if isinstance(node.get("id"), str)}
    edges: list[dict[str, Any]] = []
    for i, raw in enumerate(_array(doc.get("edges", []), "edges")):
        edge = dict(_object(raw, f"edges[{i}]"))
        source, source_port = _endpoint(edge.pop("from", None), f"edges[{i}].from", ids)
        target, target_port = _endpoint(edge.pop("to", None), f"edges[{i}].to", ids)
        edge["source"], edge["target"] = source, target
        if source_port is not None and target_port is not None:
            edge["source_port"], edge["target_port"] = source_port, target_port
        elif (source_port is not None or target_port is not None) and edge.get(
            "kind", "data"
        ) == "data":
            # Version 1 allowed a one-sided port on control edges (and ignored it), but a
            # data edge needs both.
            raise _fail("a data edge must connect 'node.port' to 'node.port'", f"edges[{i}]")
        edges.append(edge)
    out["nodes"] = nodes
    out["edges"] = edges
    for direction in ("inputs", "outputs"):
        bindings: list[dict[str, str]] = []
        for name, endpoint in _object(doc.get(direction, {}), direction).items():
            node_id, port_name = _endpoint(endpoint, f"{direction}.{name}")
            if port_name is None:
                raise _fail("a binding must name 'node.port'", f"{direction}.{name}")
            bindings.append({"name": name, "node": node_id, "port": port_name})
        if bindings:
            out[direction] = bindings
    out["schema_version"] = 2
    return out


MIGRATIONS: dict[int, Migration] = {1: _v1_to_v2}
"""``version -> function`` turning a raw document of that version into the next version."""


def migrate(doc: dict[str, Any]) -> dict[str, Any]:
    """Bring a raw workflow document up to :data:`CURRENT_VERSION`.

    Args:
        doc: The decoded JSON object, with its ``schema_version``.

    Returns:
        A new document of the current version (``doc`` itself if it already is).

    Raises:
        MigrationError: The version is missing, unknown, newer than this library, or a
            value cannot be carried over.
    """
    version = doc.get("schema_version")
    if type(version) is not int:
        raise MigrationError(
            "the document has no integer 'schema_version'",
            hint="is this a Symphony workflow file?",
        )
    if version > CURRENT_VERSION:
        raise MigrationError(
            f"the workflow has schema version {version}, newer than this Symphony reads "
            f"(up to {CURRENT_VERSION})",
            hint="upgrade Symphony to read it",
        )
    if version < 1:
        raise MigrationError(f"schema version {version} does not exist (versions start at 1)")
    while version < CURRENT_VERSION:
        doc = MIGRATIONS[version](doc)
        version += 1
    return doc
