"""The ``symphony.toml`` reference in Markdown, generated from the model.

``docs/manifest.md`` is this module's output; a test keeps the two equal, so the
documentation cannot drift from what the validator accepts. Regenerate it with::

    uv run symphony ext schema --format markdown --output docs/manifest.md
"""

from __future__ import annotations

import inspect
import json
import math
import re
from typing import Any

import msgspec
import msgspec.inspect as mi

from symphony_core.manifest import model, porttypes
from symphony_core.manifest.docstrings import attribute_docs, class_summary, markdown_inline
from symphony_core.manifest.formats import FORMATS
from symphony_core.manifest.issues import ISSUE_CODES
from symphony_core.manifest.load import MAX_MANIFEST_BYTES
from symphony_core.manifest.model import Manifest
from symphony_core.manifest.size import SIZE_UNITS, format_size
from symphony_core.manifest.structure import MAX_VALUE_DEPTH
from symphony_core.manifest.tables import struct_tables, unwrap

__all__ = ["manifest_reference_markdown"]


def _literal_block(doc: str) -> str:
    """Return the first ``::`` literal block of a docstring, dedented."""
    lines = inspect.cleandoc(doc).splitlines()
    for index, line in enumerate(lines):
        if line.rstrip().endswith("::"):
            block: list[str] = []
            for body in lines[index + 1 :]:
                if body.strip() and not body.startswith(" "):
                    break
                block.append(body)
            return inspect.cleandoc("\n".join(block))
    return ""


def _paragraphs_after_block(doc: str) -> list[str]:
    """Return the prose paragraphs that follow the first literal block of a docstring."""
    lines = inspect.cleandoc(doc).splitlines()
    start = next((i for i, line in enumerate(lines) if line.rstrip().endswith("::")), None)
    if start is None:
        return []
    rest = lines[start + 1 :]
    while rest and (not rest[0].strip() or rest[0].startswith(" ")):
        rest = rest[1:]
    paragraphs: list[list[str]] = [[]]
    for line in rest:
        if line.strip():
            paragraphs[-1].append(line.strip())
        elif paragraphs[-1]:
            paragraphs.append([])
    return [markdown_inline(" ".join(p)) for p in paragraphs if p]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and math.isfinite(value) else f"{value:g}"


def _bounds(info: mi.IntType | mi.FloatType) -> str:
    parts = []
    if info.ge is not None:
        parts.append(f">= {_number(info.ge)}")
    if info.gt is not None:
        parts.append(f"> {_number(info.gt)}")
    if info.le is not None:
        parts.append(f"<= {_number(info.le)}")
    if info.lt is not None:
        parts.append(f"< {_number(info.lt)}")
    return f" ({', '.join(parts)})" if parts else ""


def _peel(info: mi.Type) -> tuple[mi.Type, dict[str, Any], dict[str, Any]]:
    """Strip ``Metadata`` and ``| None``; return the type, its JSON Schema extras and extras."""
    schema: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    while True:
        if isinstance(info, mi.Metadata):
            schema = {**(info.extra_json_schema or {}), **schema}
            extra = {**(info.extra or {}), **extra}
            info = info.type
            continue
        if isinstance(info, mi.UnionType):
            members = [m for m in info.types if not isinstance(m, mi.NoneType)]
            if len(members) == 1:
                info = members[0]
                continue
        return info, schema, extra


def _type_text(raw: mi.Type, key: str) -> str:
    info, schema, _ = _peel(raw)
    if isinstance(info, mi.StrType):
        text = "string"
        fmt = schema.get("format")
        if fmt is not None:
            text += f": {FORMATS[fmt].title}"
        elif "description" in schema:
            text += f": {schema['description']}"
        elif info.pattern is not None:
            text += f" matching `{info.pattern}`"
        return text
    if isinstance(info, mi.BoolType):
        return "boolean"
    if isinstance(info, mi.IntType):
        return "integer" + _bounds(info)
    if isinstance(info, mi.FloatType):
        return "number" + _bounds(info)
    if isinstance(info, mi.LiteralType):
        return "one of " + ", ".join(f"`{json.dumps(v)}`" for v in info.values)
    if isinstance(info, mi.AnyType):
        return "any TOML value"
    if isinstance(info, mi.ListType):
        if isinstance(unwrap(info.item_type), mi.StructType):
            return f"array of tables, see `[[{key}]]`"
        return f"array of {_type_text(info.item_type, key)}"
    if isinstance(info, mi.DictType):
        names = _type_text(info.key_type, key)
        if isinstance(unwrap(info.value_type), mi.StructType):
            return f"table of tables by name ({names}), see `[{key}.<name>]`"
        return f"table: keys are {names}; values are {_type_text(info.value_type, key)}"
    if isinstance(info, mi.StructType):
        return f"table, see `[{key}]`"
    if isinstance(info, mi.UnionType):
        return " or ".join(_type_text(member, key) for member in info.types)
    return type(info).__name__


def _default_text(field: mi.Field) -> str:
    if field.required:
        return "**required**"
    factory = field.default_factory
    if factory is list:
        return "`[]`"
    if factory is dict:
        return "`{}`"
    if factory is not msgspec.NODEFAULT:
        return "defaults of its keys"
    default = field.default
    if default is None or default is msgspec.UNSET or default is msgspec.NODEFAULT:
        return "not set"
    if isinstance(default, bool):
        return "`true`" if default else "`false`"
    if isinstance(default, str):
        return f"`{json.dumps(default)}`"
    return f"`{default!r}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _unique_note(info: mi.Type) -> str:
    unique = _peel(info)[2].get("unique")
    return f" Each entry's `{unique}` must be unique." if unique else ""


def _struct_section(cls: type[msgspec.Struct], headers: dict[type, list[str]]) -> list[str]:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    written = headers[cls]
    title = " and ".join(f"`{h}`" for h in written) if written else "Top level"
    prefix = written[0].strip("[]") if written else ""
    docs = attribute_docs(cls)
    out = [f"## {title}", "", class_summary(cls), ""]
    out += ["| Key | Type | Default | Description |", "|---|---|---|---|"]
    for field in info.fields:
        key = f"{prefix}.{field.encode_name}" if prefix else field.encode_name
        description = docs.get(field.name, "") + _unique_note(field.type)
        cells = (
            f"`{field.encode_name}`",
            _type_text(field.type, key),
            _default_text(field),
            description.strip(),
        )
        out.append("| " + " | ".join(_cell(part) for part in cells) + " |")
    out.append("")
    return out


def _formats_section() -> list[str]:
    out = [
        "## Value formats",
        "",
        "Beyond its type, a string marked with one of these formats is checked for meaning. "
        'The JSON Schema names the format in its `"format"` keyword.',
        "",
        "| Format | Meaning | Accepted values |",
        "|---|---|---|",
    ]
    for fmt in FORMATS.values():
        out.append(f"| `{fmt.name}` | {_cell(fmt.title)} | {_cell(fmt.expected)} |")
    out.append("")
    return out


def _port_types_section() -> list[str]:
    doc = porttypes.__doc__ or ""
    out = ["## Port types", "", "```text", _literal_block(doc), "```", ""]
    for paragraph in _paragraphs_after_block(doc):
        out += [paragraph, ""]
    return out


def _sizes_section() -> list[str]:
    out = [
        "## Byte sizes",
        "",
        "A size is a number, optionally with a fraction, optionally followed by a unit "
        "(case-sensitive); a bare number is bytes. Fractions of a byte are rounded down.",
        "",
        "| Unit | Bytes |",
        "|---|---|",
    ]
    out += [f"| `{unit}` | {factor} |" for unit, factor in SIZE_UNITS.items()]
    out.append("")
    return out


def _rules_section() -> list[str]:
    return [
        "## Rules beyond the types",
        "",
        "- Node types, the port names of each node's inputs (and of its outputs), and "
        "template names are unique.",
        "- A parameter's `default` must fit its `type`, `choices`, `min`/`max` and "
        "`pattern`; an `enum` needs `choices`; `min`/`max` bound the value of `int` and "
        "`float` parameters and the length of `str`, `path`, `list` and `dict` ones; "
        "`pattern` applies to `str` and `path` and is searched in the value (anchor it "
        "with `^...$` to match the whole value).",
        "- An extension may not depend on itself, nor list itself in `order-before` or "
        "`order-after`; no id may be in both.",
        "- `on-node:<type>` activation must name a node type the manifest contributes.",
        "- Template paths and filesystem permission paths are relative and may not climb "
        "out of their directory with `..`; when files are opened, symlinks are confined too.",
        f"- Free-form values (parameter defaults and choices) nest at most {MAX_VALUE_DEPTH} "
        f"levels deep; a manifest file is at most {format_size(MAX_MANIFEST_BYTES)}.",
        "",
    ]


def _codes_section() -> list[str]:
    out = [
        "## Issue codes",
        "",
        "`symphony ext check` reports every problem at once, each as "
        "`FILE: KEY.PATH: message (found X, expected Y)`; `--json` gives the same with a "
        "stable `code`:",
        "",
        "| Code | Meaning |",
        "|---|---|",
    ]
    out += [f"| `{code}` | {_cell(meaning)} |" for code, meaning in ISSUE_CODES.items()]
    out.append("")
    return out


def manifest_reference_markdown() -> str:
    """Return the complete ``symphony.toml`` reference as Markdown.

    Every table and key comes from the model: types, defaults and descriptions (from the
    structs' docstrings), followed by the value formats, port type grammar, size units,
    cross-field rules and issue codes.

    Returns:
        The text of ``docs/manifest.md``.
    """
    headers = struct_tables(Manifest)
    out = [
        "# `symphony.toml` reference",
        "",
        "<!-- Generated from symphony_core/manifest/model.py; do not edit. Regenerate with:",
        "     uv run symphony ext schema --format markdown --output docs/manifest.md -->",
        "",
        "Every Symphony extension ships a `symphony.toml` inside its Python package, next "
        "to `__init__.py`. The host reads it without importing the extension's code. Keys "
        "are kebab-case and unknown keys are errors.",
        "",
        "```toml",
        _literal_block(model.__doc__ or ""),
        "```",
        "",
        "Check a manifest with `symphony ext check PATH` (a `symphony.toml`, a package "
        "directory or a project directory); export the JSON Schema for editors with "
        "`symphony ext schema --output symphony.schema.json`.",
        "",
    ]
    for cls in headers:
        out += _struct_section(cls, headers)
    out += _rules_section()
    out += _formats_section()
    out += _port_types_section()
    out += _sizes_section()
    out += _codes_section()
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).rstrip("\n") + "\n"
