"""The values a workflow may hold in parameters and metadata, frozen so workflows stay immutable.

A workflow value is a JSON value with the edges that make JSON ambiguous cut off, so that
the JSON and the binary codec carry exactly the same set of values and every value
round-trips unchanged through both:

* ``None``, ``bool`` and ``str`` (valid Unicode: no lone surrogates);
* ``int`` from ``-2**63`` to ``2**63 - 1`` (what every JSON reader and msgpack agree on);
* finite ``float`` (NaN and infinities have no JSON spelling, so they are refused rather
  than silently turned into ``null``); ``-0.0`` is kept;
* arrays, held as ``tuple`` (a ``list`` given in is frozen into one);
* objects with ``str`` keys, held as :class:`FrozenDict`;
* nested at most :data:`MAX_DEPTH` levels.

``int`` and ``float`` stay apart: ``1`` and ``1.0`` are different values to the codecs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NoReturn

from symphony_core.workflow.errors import ValueRuleError

__all__ = [
    "INT_MAX",
    "INT_MIN",
    "MAX_DEPTH",
    "EMPTY",
    "FrozenDict",
    "JsonValue",
    "freeze",
    "freeze_mapping",
    "thaw",
]

INT_MIN = -(2**63)
"""Smallest integer a workflow value may be."""
INT_MAX = 2**63 - 1
"""Largest integer a workflow value may be."""
MAX_DEPTH = 64
"""Deepest nesting of arrays and objects in one value."""

JsonValue = Any
"""A frozen workflow value (see the module documentation); ``Any`` for the type checker."""

_new_dict = dict.__new__
_update = dict.update


class FrozenDict(dict[str, Any]):
    """A read-only ``dict`` whose values are frozen workflow values.

    It is a real ``dict`` (``isinstance(x, dict)`` holds, and msgspec encodes it as an
    object), but every method that would change it raises ``TypeError``. Build one with
    :func:`freeze_mapping`, or ``FrozenDict(mapping)``, which checks and freezes every value.
    """

    __slots__ = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if self:
            raise TypeError("FrozenDict is immutable; it cannot be initialised twice")
        source: dict[str, Any] = dict(*args, **kwargs)
        dict.update(self, _frozen_items(source, 1, ""))

    @classmethod
    def _trusted(cls, items: dict[str, Any]) -> FrozenDict:
        # Values already checked and frozen: skip the walk.
        new = _new_dict(cls)
        _update(new, items)
        return new

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("FrozenDict is immutable; build a new one (e.g. {**old, 'key': value})")

    __setitem__ = _refuse
    __delitem__ = _refuse
    __ior__ = _refuse
    clear = _refuse
    pop = _refuse
    popitem = _refuse
    setdefault = _refuse
    update = _refuse

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (dict(self),))

    def __copy__(self) -> FrozenDict:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenDict:
        return self

    def __repr__(self) -> str:
        return f"FrozenDict({dict.__repr__(self)})"


def _fail(path: str, message: str) -> NoReturn:
    raise ValueRuleError(message, where=path or None)


def _check_str(value: str, path: str) -> None:
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            _fail(path, "a string with a lone surrogate cannot be stored")


def _freeze(value: Any, depth: int, path: str) -> Any:
    kind = type(value)
    if kind is str:
        _check_str(value, path)
        return value
    if kind is bool or value is None:
        return value
    if kind is int:
        if INT_MIN <= value <= INT_MAX:
            return value
        _fail(path, f"integer {value} is outside -2**63..2**63-1")
    if kind is float:
        if math.isfinite(value):
            return value
        _fail(path, f"{value} is not a finite number (JSON has no NaN or infinity)")
    if depth > MAX_DEPTH:
        _fail(path, f"values may be nested at most {MAX_DEPTH} deep")
    if kind is FrozenDict:
        return value
    if isinstance(value, Mapping):
        return FrozenDict._trusted(_frozen_items(value, depth + 1, path))
    if kind is tuple or kind is list:
        return tuple([_freeze(item, depth + 1, f"{path}[{i}]") for i, item in enumerate(value)])
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return _freeze(int(value), depth, path)
    if isinstance(value, float):
        return _freeze(float(value), depth, path)
    if isinstance(value, str):
        return _freeze(str(value), depth, path)
    if isinstance(value, list | tuple):
        return _freeze(list(value), depth, path)
    _fail(path, f"a {type(value).__name__} is not a JSON value")


def _frozen_items(mapping: Mapping[Any, Any], depth: int, path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in mapping.items():
        if type(key) is not str:
            _fail(path, f"object keys must be strings, not {type(key).__name__} {key!r}")
        _check_str(key, path)
        kind = type(item)
        if kind is str:
            if not item.isascii():
                _check_str(item, f"{path}.{key}")
            out[key] = item
        elif kind is bool or item is None:
            out[key] = item
        else:
            out[key] = _freeze(item, depth, f"{path}.{key}" if path else key)
    return out


EMPTY = FrozenDict()
"""The empty :class:`FrozenDict` (shared: it cannot change)."""


def freeze(value: Any) -> JsonValue:
    """Check a value against the workflow value rules and return its frozen form.

    Args:
        value: A JSON-like value (``dict``, ``list``, ``tuple``, scalars).

    Returns:
        The same value with lists turned into tuples and mappings into
        :class:`FrozenDict`; scalars are returned as they are.

    Raises:
        ValueRuleError: The value (or something inside it) is not allowed; the message
            gives its path.
    """
    return _freeze(value, 1, "")


def freeze_mapping(mapping: Mapping[str, Any] | None) -> FrozenDict:
    """Freeze a string-keyed mapping (``None`` gives the empty :class:`FrozenDict`).

    Raises:
        ValueRuleError: A key is not a string or a value breaks the value rules.
    """
    kind = type(mapping)
    if kind is FrozenDict:
        return mapping  # type: ignore[return-value]
    if mapping is None or (kind is dict and not mapping):
        return EMPTY
    if kind is dict:
        # The common case, a flat object of plain scalars, is checked in one quick pass.
        for key, value in mapping.items():
            if type(key) is not str or not key.isascii():
                break
            vt = type(value)
            if vt is str:
                if not value.isascii():
                    break
            elif vt is int:
                if not INT_MIN <= value <= INT_MAX:
                    break
            elif vt is float:
                if value - value != 0.0:  # inf - inf and nan - nan are nan
                    break
            elif vt is not bool and value is not None:
                break
        else:
            new = _new_dict(FrozenDict)
            _update(new, mapping)
            return new
    if not isinstance(mapping, Mapping):
        _fail("", f"expected an object, got {type(mapping).__name__}")
    if not mapping:
        return EMPTY
    return FrozenDict._trusted(_frozen_items(mapping, 1, ""))


def thaw(value: Any) -> Any:
    """Return a plain, mutable copy of a frozen value (``dict`` and ``list``)."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(item) for item in value]
    return value
