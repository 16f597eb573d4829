"""The JSON Schema and the Markdown reference, both generated from the model."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi

from symphony_core.manifest import (
    MANIFEST_SCHEMA_ID,
    Manifest,
    manifest_json_schema,
    manifest_reference_markdown,
    parse_manifest,
    validate_manifest_data,
)
from symphony_core.manifest import model as model_module
from symphony_core.manifest.docstrings import attribute_docs, class_summary
from symphony_core.manifest.formats import FORMATS
from symphony_core.manifest.reference import _literal_block
from symphony_core.manifest.tables import struct_tables

DOCS = Path(__file__).resolve().parents[2] / "docs" / "manifest.md"


def test_docs_are_generated_from_the_model() -> None:
    expected = manifest_reference_markdown()
    assert DOCS.read_text(encoding="utf-8") == expected, (
        "docs/manifest.md is stale; regenerate it with "
        "`uv run symphony ext schema --format markdown --output docs/manifest.md`"
    )


def test_every_struct_and_field_is_documented() -> None:
    for cls in struct_tables(Manifest):
        assert class_summary(cls), cls
        docs = attribute_docs(cls)
        info = mi.type_info(cls)
        assert isinstance(info, mi.StructType)
        assert [f.name for f in info.fields] == list(docs), cls.__name__
        assert all(docs.values()), cls.__name__


def test_reference_lists_every_key_of_every_table() -> None:
    text = manifest_reference_markdown()
    headers = struct_tables(Manifest)
    for cls, written in headers.items():
        for header in written:
            assert f"`{header}`" in text
        info = mi.type_info(cls)
        assert isinstance(info, mi.StructType)
        for field in info.fields:
            assert f"| `{field.encode_name}` |" in text
    for name in FORMATS:
        assert f"`{name}`" in text


def test_model_example_is_a_valid_manifest() -> None:
    example = _literal_block(model_module.__doc__ or "")
    assert "[extension]" in example
    manifest = parse_manifest(example, source="model example")
    assert manifest.id == "acme.textops"


def _walk(schema: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    stack = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def test_schema_header_and_descriptions() -> None:
    schema = manifest_json_schema()
    json.dumps(schema)
    assert schema["$id"] == MANIFEST_SCHEMA_ID
    assert schema["$schema"].endswith("2020-12/schema")
    assert schema["$ref"] == "#/$defs/Manifest"
    for cls in struct_tables(Manifest):
        definition = schema["$defs"][cls.__name__]
        assert definition["additionalProperties"] is False
        assert definition["description"]
        assert "Attributes:" not in definition["description"]
        docs = attribute_docs(cls)
        info = mi.type_info(cls)
        assert isinstance(info, mi.StructType)
        for field in info.fields:
            prop = definition["properties"][field.encode_name]
            assert prop["description"] == docs[field.name]


def test_schema_has_no_null_since_toml_has_none() -> None:
    for node in _walk(manifest_json_schema()):
        assert node.get("type") != "null"
        assert "anyOf" not in node or {"type": "null"} not in node["anyOf"]


def test_schema_formats_are_the_validators() -> None:
    formats = {node["format"] for node in _walk(manifest_json_schema()) if "format" in node}
    assert formats == set(FORMATS)


def test_schema_is_fresh_each_call() -> None:
    first = manifest_json_schema()
    first["$defs"]["Manifest"]["title"] = "changed"
    assert manifest_json_schema()["$defs"]["Manifest"]["title"] == "Manifest"


def test_schema_required_and_enums_match_the_validator(full_text: str) -> None:
    schema = manifest_json_schema()
    ext = schema["$defs"]["ExtensionInfo"]
    assert set(ext["required"]) == {"id", "version", "kind", "entry", "host-api"}
    assert set(ext["properties"]["kind"]["enum"]) == {"instrument", "operator", "addon"}
    data = tomllib.loads(full_text)
    for key in ext["required"]:
        broken = json.loads(json.dumps(data))
        del broken["extension"][key]
        assert [i.path for i in validate_manifest_data(broken, source="x")] == [f"extension.{key}"]
    # The msgspec schema and our conversion agree on a valid document.
    assert msgspec.convert(data, Manifest).extension.kind == "operator"
