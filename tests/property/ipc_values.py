"""Hypothesis strategies for msgpack-native values, and a comparison that sees float bits.

Shared by the property tests of the IPC codec and of its batch frames.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec
from hypothesis import strategies as st

__all__ = ["normalise", "params_of", "values_of"]


def values_of(*, text: int, binary: int, items: int, leaves: int) -> st.SearchStrategy[Any]:
    """Nested msgpack-native values with the given size bounds."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**64 - 1)
        | st.floats(allow_nan=False)
        | st.text(max_size=text)
        | st.binary(max_size=binary)
    )
    key = st.text(max_size=max(1, text // 3))
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=items) | st.dictionaries(key, inner, max_size=items),
        max_leaves=leaves,
    )


def params_of(values: st.SearchStrategy[Any], *, items: int, key: int) -> st.SearchStrategy[Any]:
    """JSON-RPC params: none, positional or named."""
    return (
        st.none()
        | st.lists(values, max_size=items)
        | st.dictionaries(st.text(max_size=key), values, max_size=items)
    )


def normalise(value: Any) -> Any:
    """Floats compare by bits (so -0.0 and 0.0 differ, as they do on the wire)."""
    if isinstance(value, float):
        return ("float", math.copysign(1.0, value), value)
    if isinstance(value, list | tuple):
        return [normalise(v) for v in value]
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, msgspec.Struct):
        return (
            type(value).__name__,
            *(normalise(getattr(value, f)) for f in value.__struct_fields__),
        )
    return value
