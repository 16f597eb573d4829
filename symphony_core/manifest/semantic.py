"""Cross-field checks of manifest tables, beyond what each value's type says.

Each check reads the raw table defensively: a value of the wrong type has already been
reported by the structural walk, so here it is simply skipped. That way one mistake is
reported once, and every independent mistake is still reported.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from symphony_core.manifest.issues import KeyPath, describe_value
from symphony_core.manifest.model import NAME_PATTERN, Manifest, Parameter
from symphony_core.manifest.parameters import (
    LENGTH_TYPES,
    NUMERIC_TYPES,
    PARAMETER_TYPES,
    describe_parameter,
    parameter_value_problems,
    values_equal,
)
from symphony_core.manifest.structure import Reporter, StructCheck

__all__ = ["STRUCT_CHECKS", "check_manifest_table", "check_parameter_table"]

_ON_NODE = re.compile(r"^on-node:(.*)$")
_NAME = re.compile(NAME_PATTERN)
_SCALAR = (str, int, float, bool)


def _number(value: Any) -> float | None:
    # Only finite numbers take part in cross-checks; a NaN bound is reported on its own.
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return value
    return None


def _list(value: Any) -> Sequence[Any] | None:
    return value if isinstance(value, list | tuple) else None


def _pattern(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        re.compile(value)
    except (re.error, OverflowError, RecursionError, ValueError):
        return None
    return value


def _check_choices(
    kind: str, table: Mapping[str, Any], path: KeyPath, rep: Reporter, shape: Parameter
) -> None:
    choices = _list(table.get("choices"))
    if kind == "enum" and "choices" not in table:
        rep.add(
            (*path, "choices"),
            "manifest.missing",
            "an enum parameter needs its choices",
            expected='an array of the allowed values, e.g. ["fast", "accurate"]',
        )
    if choices is None:
        return
    if not choices:
        rep.add(
            (*path, "choices"),
            "manifest.range",
            "the list of choices is empty",
            found=describe_value(choices),
            expected="at least one allowed value",
        )
    for index, choice in enumerate(choices):
        where = (*path, "choices", index)
        if any(values_equal(choice, earlier) for earlier in choices[:index]):
            rep.add(
                where,
                "manifest.duplicate",
                "this choice is listed twice",
                found=describe_value(choice),
                expected="each choice once",
            )
            continue
        if kind == "enum":
            if not isinstance(choice, _SCALAR):
                rep.add(
                    where,
                    "manifest.parameter",
                    "enum choices must be plain values",
                    found=describe_value(choice),
                    expected="a string, number or boolean",
                )
            continue
        bare = Parameter(type=shape.type, min=shape.min, max=shape.max, pattern=shape.pattern)
        problems = parameter_value_problems(bare, choice)
        if problems:
            rep.add(
                where,
                "manifest.parameter",
                f"this choice does not fit the parameter: {'; '.join(problems)}",
                found=describe_value(choice),
                expected=describe_parameter(bare),
            )


def _check_bounds(kind: str, table: Mapping[str, Any], path: KeyPath, rep: Reporter) -> None:
    for key in ("min", "max"):
        raw = table.get(key)
        if isinstance(raw, float) and not math.isfinite(raw):
            rep.add(
                (*path, key),
                "manifest.range",
                f"{key} must be a finite number",
                found=describe_value(raw),
                expected="a finite number",
            )
    low, high = _number(table.get("min")), _number(table.get("max"))
    for key, bound in (("min", low), ("max", high)):
        if bound is None:
            continue
        if kind not in NUMERIC_TYPES and kind not in LENGTH_TYPES:
            rep.add(
                (*path, key),
                "manifest.parameter",
                f"{key} does not apply to a {kind} parameter",
                found=describe_value(table[key]),
                expected=f"no {key}, or a type among int, float, str, path, list, dict",
            )
        elif kind in LENGTH_TYPES and (bound < 0 or bound != int(bound)):
            rep.add(
                (*path, key),
                "manifest.parameter",
                f"{key} bounds the length of a {kind} value, so it must be a whole number >= 0",
                found=describe_value(table[key]),
                expected="a whole number >= 0",
            )
    if low is not None and high is not None and low > high:
        rep.add(
            (*path, "max"),
            "manifest.range",
            "max is smaller than min",
            found=describe_value(table["max"]),
            expected=f"a number >= min ({describe_value(table['min'])})",
        )


def check_parameter_table(table: Mapping[str, Any], path: KeyPath, rep: Reporter) -> None:
    """Check a parameter's constraints against its type, and its default against both.

    Args:
        table: The raw ``[nodes.parameters.<name>]`` table.
        path: Its key path.
        rep: Where issues go.
    """
    kind = table.get("type")
    if not isinstance(kind, str) or kind not in PARAMETER_TYPES:
        return
    low, high = _number(table.get("min")), _number(table.get("max"))
    if low is not None and high is not None and low > high:
        low = high = None  # contradictory bounds are reported once, not on every value
    pattern = _pattern(table.get("pattern"))
    choices = _list(table.get("choices"))
    shape = Parameter(
        type=kind,  # type: ignore[arg-type]  # checked against PARAMETER_TYPES above
        min=low,
        max=high,
        choices=list(choices) if choices is not None else None,
        pattern=pattern,
    )
    _check_choices(kind, table, path, rep, shape)
    _check_bounds(kind, table, path, rep)
    if "pattern" in table and kind not in ("str", "path"):
        rep.add(
            (*path, "pattern"),
            "manifest.parameter",
            f"pattern does not apply to a {kind} parameter",
            found=describe_value(table["pattern"]),
            expected="no pattern, or type str or path",
        )
    if "default" in table:
        default = table["default"]
        problems = parameter_value_problems(shape, default)
        if problems:
            rep.add(
                (*path, "default"),
                "manifest.default",
                f"the default does not fit the parameter: {'; '.join(problems)}",
                found=describe_value(default),
                expected=describe_parameter(shape),
            )


def _node_types(table: Mapping[str, Any]) -> set[str] | None:
    """Return the declared node types, or ``None`` if a broken entry hides some of them."""
    nodes = table.get("nodes", ())
    if not isinstance(nodes, list | tuple):
        return None
    types: set[str] = set()
    for node in nodes:
        if not isinstance(node, Mapping) or not isinstance(node.get("type"), str):
            return None
        types.add(node["type"])
    return types


def check_manifest_table(table: Mapping[str, Any], path: KeyPath, rep: Reporter) -> None:
    """Check what spans tables: self-references, ordering and ``on-node`` activation.

    Args:
        table: The raw document.
        path: Its key path (the root, ``()``).
        rep: Where issues go.
    """
    extension = table.get("extension")
    extension = extension if isinstance(extension, Mapping) else {}
    own_id = extension.get("id") if isinstance(extension.get("id"), str) else None
    dependencies = table.get("dependencies")
    if own_id is not None and isinstance(dependencies, Mapping) and own_id in dependencies:
        rep.add(
            (*path, "dependencies", own_id),
            "manifest.self_reference",
            "an extension cannot depend on itself",
            found=describe_value(own_id),
            expected="the id of another extension",
        )
    before = _list(extension.get("order-before")) or ()
    after = _list(extension.get("order-after")) or ()
    for key, items in (("order-before", before), ("order-after", after)):
        for index, item in enumerate(items):
            if own_id is not None and item == own_id:
                rep.add(
                    (*path, "extension", key, index),
                    "manifest.self_reference",
                    "an extension cannot be ordered relative to itself",
                    found=describe_value(item),
                    expected="the id of another extension",
                )
    before_set = {item for item in before if isinstance(item, str)}
    for index, item in enumerate(after):
        if isinstance(item, str) and item in before_set and item != own_id:
            rep.add(
                (*path, "extension", "order-after", index),
                "manifest.order_conflict",
                "this extension is also in order-before; it cannot run both before and after",
                found=describe_value(item),
                expected="each id in only one of order-before and order-after",
            )
    node_types = _node_types(table)
    if node_types is None:
        return  # already reported; guessing which types exist would add false alarms
    for index, event in enumerate(_list(extension.get("activation")) or ()):
        match = _ON_NODE.match(event) if isinstance(event, str) else None
        if match is None or not _NAME.match(match.group(1)) or match.group(1) in node_types:
            continue
        known = ", ".join(sorted(node_types))
        rep.add(
            (*path, "extension", "activation", index),
            "manifest.activation",
            f"no [[nodes]] entry of this manifest has type {match.group(1)!r}",
            found=describe_value(event),
            expected=(
                f"on-node:<type> for one of its node types ({known})"
                if known
                else "a [[nodes]] entry with that type, or another activation event"
            ),
        )


STRUCT_CHECKS: dict[type, tuple[StructCheck, ...]] = {
    Parameter: (check_parameter_table,),
    Manifest: (check_manifest_table,),
}
"""Cross-field checks, by the model struct whose tables they check."""
