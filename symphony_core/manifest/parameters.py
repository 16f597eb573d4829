"""Whether a value fits a declared :class:`~symphony_core.manifest.model.Parameter`.

Used for parameter defaults when a manifest is validated, and for the values a workflow
or template gives, so both are judged by the same rule.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, get_args

from symphony_core.manifest.model import Parameter, ParameterType

__all__ = [
    "LENGTH_TYPES",
    "NUMERIC_TYPES",
    "PARAMETER_TYPES",
    "describe_parameter",
    "parameter_value_problems",
    "values_equal",
]

PARAMETER_TYPES: tuple[str, ...] = get_args(ParameterType)
"""Every parameter type name."""

NUMERIC_TYPES = frozenset({"int", "float"})
"""Types whose ``min``/``max`` bound the value itself."""

LENGTH_TYPES = frozenset({"str", "path", "list", "dict"})
"""Types whose ``min``/``max`` bound the value's length."""

_TYPE_TEXT = {
    "str": "a string",
    "path": "a path string",
    "int": "an integer",
    "float": "a finite number",
    "bool": "true or false",
    "list": "an array",
    "dict": "a table",
    "json": "a JSON value (string, number, boolean, array or table)",
}


def values_equal(left: Any, right: Any) -> bool:
    """Compare two parameter values strictly: ``true`` is not ``1``, ``"1"`` is not ``1``.

    Args:
        left: One value.
        right: The other value.

    Returns:
        Whether the values are equal and of the same kind (``int`` and ``float`` compare
        as numbers).
    """
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return bool(left == right)
    if type(left) is not type(right):
        return False
    try:
        return bool(left == right)
    except RecursionError:
        return False


def _is_json(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if item is None or isinstance(item, str | bool | int):
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                return False
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, Mapping):
            if not all(isinstance(key, str) for key in item):
                return False
            stack.extend(item.values())
        else:
            return False
    return True


def _type_fits(kind: str, value: Any) -> bool:
    if kind in ("str", "path"):
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "list":
        return isinstance(value, list | tuple)
    if kind == "dict":
        return isinstance(value, Mapping) and all(isinstance(key, str) for key in value)
    if kind == "json":
        return _is_json(value)
    return True  # enum: decided by its choices


def _number(value: float) -> str:
    if isinstance(value, int):
        text = (
            str(value) if value.bit_length() < 128 else f"an integer of {value.bit_length()} bits"
        )
        return text
    return f"{value:g}" if math.isfinite(value) else str(value)


def describe_parameter(parameter: Parameter) -> str:
    """Describe what values a parameter accepts, for messages.

    Args:
        parameter: The declared parameter.

    Returns:
        Text such as ``an integer from 1 to 10`` or ``one of "a", "b"``.
    """
    if parameter.type == "enum" or parameter.choices is not None:
        shown = ", ".join(_show(choice) for choice in parameter.choices or [])
        return f"one of {shown}" if shown else "a value from an empty list of choices"
    text = _TYPE_TEXT[parameter.type]
    low, high = parameter.min, parameter.max
    if parameter.type in NUMERIC_TYPES:
        if low is not None and high is not None:
            text += f" from {_number(low)} to {_number(high)}"
        elif low is not None:
            text += f" no smaller than {_number(low)}"
        elif high is not None:
            text += f" no larger than {_number(high)}"
    elif parameter.type in LENGTH_TYPES:
        unit = "characters" if parameter.type in ("str", "path") else "items"
        if low is not None and high is not None:
            text += f" of {_number(low)} to {_number(high)} {unit}"
        elif low is not None:
            text += f" of at least {_number(low)} {unit}"
        elif high is not None:
            text += f" of at most {_number(high)} {unit}"
    if parameter.pattern is not None and parameter.type in ("str", "path"):
        text += f" matching {parameter.pattern}"
    return text


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def parameter_value_problems(parameter: Parameter, value: Any) -> list[str]:
    """List what is wrong with ``value`` as a value of ``parameter``.

    Checks the type, then ``choices`` (always for ``enum``; for other types when given),
    ``min``/``max`` (the value for ``int``/``float``, the length for ``str``, ``path``,
    ``list`` and ``dict``) and ``pattern`` (searched in ``str``/``path`` values, as in
    JSON Schema; anchor it with ``^...$`` to match the whole value). A ``pattern`` that is
    not a valid regular expression is ignored here; manifest validation reports it.

    Args:
        parameter: The declared parameter.
        value: The candidate value.

    Returns:
        Problems in plain words; empty when the value is acceptable.
    """
    kind = parameter.type
    if kind not in PARAMETER_TYPES:
        return [f"unknown parameter type {kind!r}"]
    if not _type_fits(kind, value):
        return [f"not {_TYPE_TEXT[kind]}"] if kind != "enum" else ["not one of the choices"]
    problems: list[str] = []
    if parameter.choices is not None and not any(
        values_equal(value, choice) for choice in parameter.choices
    ):
        problems.append("not one of the choices")
    # Compared as int or float, never converted: Python compares them exactly, and
    # float() of a huge TOML integer would overflow.
    measure: float | None
    if kind in NUMERIC_TYPES:
        measure = value
        what = "value"
    elif kind in LENGTH_TYPES:
        measure = len(value)
        what = "length"
    else:
        measure = None
        what = ""
    if measure is not None:
        if parameter.min is not None and measure < parameter.min:
            problems.append(
                f"{what} {_number(measure)} is below the minimum {_number(parameter.min)}"
            )
        if parameter.max is not None and measure > parameter.max:
            problems.append(
                f"{what} {_number(measure)} is above the maximum {_number(parameter.max)}"
            )
    if parameter.pattern is not None and kind in ("str", "path"):
        try:
            matched = re.search(parameter.pattern, value) is not None
        except (re.error, OverflowError, RecursionError, ValueError):
            matched = True
        if not matched:
            problems.append(f"does not match the pattern {parameter.pattern}")
    return problems
