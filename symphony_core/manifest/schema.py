"""The manifest's JSON Schema, generated from the model and its docstrings.

Editors (e.g. Taplo / Even Better TOML) use it to complete and check ``symphony.toml``.
Custom ``format`` values name the semantic checks the validator runs; JSON Schema tools
treat unknown formats as annotations.
"""

from __future__ import annotations

from typing import Any

import msgspec
import msgspec.inspect as mi

from symphony_core.manifest.docstrings import attribute_docs, class_summary
from symphony_core.manifest.model import Manifest
from symphony_core.manifest.tables import struct_tables

__all__ = ["MANIFEST_SCHEMA_ID", "manifest_json_schema"]

MANIFEST_SCHEMA_ID = "urn:symphony:schema:manifest:1"
"""``$id`` of the schema; the trailing number changes with an incompatible format change."""

_NULL = {"type": "null"}


def _without_null(prop: dict[str, Any]) -> dict[str, Any]:
    # TOML has no null: an optional key is simply left out, so `X | None = None` is
    # written as plain X in the schema.
    options = prop.get("anyOf")
    if not isinstance(options, list) or _NULL not in options:
        return prop
    rest = [option for option in options if option != _NULL]
    if len(rest) != 1:
        return prop
    out = {k: v for k, v in prop.items() if k != "anyOf" and not (k == "default" and v is None)}
    return {**rest[0], **out}


def manifest_json_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of ``symphony.toml``.

    Every table and key carries the description written in the model's docstrings.

    Returns:
        A fresh, JSON-serialisable schema dict.
    """
    schema = msgspec.json.schema(Manifest)
    definitions: dict[str, Any] = schema["$defs"]
    for cls, headers in struct_tables(Manifest).items():
        definition = definitions[cls.__name__]
        summary = class_summary(cls)
        if headers:
            summary = f"{summary}\n\nWritten as {' or '.join(headers)}."
        definition["description"] = summary
        docs = attribute_docs(cls)
        info = mi.type_info(cls)
        assert isinstance(info, mi.StructType)
        names = {field.encode_name: field.name for field in info.fields}
        properties: dict[str, Any] = definition.get("properties", {})
        for key, prop in list(properties.items()):
            prop = _without_null(prop)
            text = docs.get(names[key])
            if text:
                prop = {
                    "description": text,
                    **{k: v for k, v in prop.items() if k != "description"},
                }
            properties[key] = prop
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": MANIFEST_SCHEMA_ID,
        "title": "Symphony extension manifest (symphony.toml)",
        "description": (
            "The manifest every Symphony extension ships in its package: identity, entry "
            "point, host API range, dependencies, permissions, limits, node types and "
            "templates. Keys are kebab-case; unknown keys are errors."
        ),
        **schema,
    }
