"""Whether a Python value fits a port type such as ``list[str]`` or ``dict[str, int]``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from symphony_core import PortType

__all__ = ["value_mismatch"]

_MAX_DEPTH = 64


def _is_json(value: Any, depth: int = 0) -> bool:
    if depth > _MAX_DEPTH:
        return False
    if value is None or isinstance(value, str | bool | int | float):
        return True
    if isinstance(value, list | tuple):
        return all(_is_json(item, depth + 1) for item in value)
    if isinstance(value, Mapping):
        return all(
            isinstance(key, str) and _is_json(item, depth + 1) for key, item in value.items()
        )
    return False


def _kind(value: Any) -> str:
    return type(value).__name__


def value_mismatch(value: Any, port_type: PortType, path: str = "") -> str | None:
    """Explain why ``value`` does not fit ``port_type``, or return ``None`` if it does.

    ``int`` fits ``float``; lists may be tuples; custom types (``publisher.name``) are
    opaque to the SDK and accept anything.

    Args:
        value: The value to check.
        port_type: The parsed port type.
        path: Where the value sits inside the checked value (for nested messages).

    Returns:
        A short explanation naming the position (``[3]``, ``['key']``) and the types,
        or ``None``.
    """
    name = port_type.name
    fits: bool
    if name == "any" or "." in name:
        return None
    if name == "str":
        fits = isinstance(value, str)
    elif name == "int":
        fits = isinstance(value, int) and not isinstance(value, bool)
    elif name == "float":
        fits = isinstance(value, int | float) and not isinstance(value, bool)
    elif name == "bool":
        fits = isinstance(value, bool)
    elif name == "bytes":
        fits = isinstance(value, bytes | bytearray | memoryview)
    elif name == "none":
        fits = value is None
    elif name == "json":
        fits = _is_json(value)
    elif name == "list":
        if not isinstance(value, list | tuple):
            return f"{path or 'value'} must be {port_type}, got {_kind(value)}"
        assert port_type.item is not None
        for index, item in enumerate(value):
            problem = value_mismatch(item, port_type.item, f"{path}[{index}]")
            if problem is not None:
                return problem
        return None
    elif name == "dict":
        if not isinstance(value, Mapping):
            return f"{path or 'value'} must be {port_type}, got {_kind(value)}"
        assert port_type.item is not None
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path or 'value'} has a key {key!r} that is not a string"
            problem = value_mismatch(item, port_type.item, f"{path}[{key!r}]")
            if problem is not None:
                return problem
        return None
    else:
        return None
    if fits:
        return None
    return f"{path or 'value'} must be {port_type}, got {_kind(value)}"
