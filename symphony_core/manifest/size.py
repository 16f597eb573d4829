"""Byte sizes as people write them: ``512MiB``, ``2GB``, ``1.5 GiB``, ``1048576``."""

from __future__ import annotations

import re
from fractions import Fraction

from symphony_core.errors import UserError

__all__ = ["MAX_SIZE", "SIZE_UNITS", "InvalidSizeError", "format_size", "parse_size"]

SIZE_UNITS: dict[str, int] = {
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "TB": 1000**4,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
    "TiB": 1024**4,
}
"""Units and their size in bytes: decimal units are powers of 1000, ``*iB`` of 1024."""

MAX_SIZE = 10**30 - 1
"""The largest byte count written without a unit that :func:`parse_size` accepts."""

# Same grammar as model.SIZE_PATTERN, with the parts captured; digits are bounded so a
# hostile value cannot make int() chew on thousands of digits.
_SIZE = re.compile(r"^\s*([0-9]{1,30})(?:\.([0-9]{1,30}))?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*$")


class InvalidSizeError(UserError, ValueError):
    """A byte size that does not follow ``<number>[unit]``."""

    code = "manifest.size_invalid"


def parse_size(text: str) -> int:
    """Parse a byte size into a number of bytes.

    A number, optionally with a fraction, optionally followed by a unit from
    :data:`SIZE_UNITS` (case-sensitive; white space allowed before it). A bare number is
    bytes. Fractions of a byte are rounded down: ``1.5KiB`` is 1536, ``0.5B`` is 0.

    Args:
        text: The size as written, e.g. ``"512MiB"``.

    Returns:
        The size in bytes.

    Raises:
        InvalidSizeError: ``text`` is not a size.
    """
    match = _SIZE.match(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidSizeError(
            f"{text!r} is not a byte size",
            hint="write a number with an optional unit, e.g. 512MiB, 2GB or 1048576 "
            f"(units: {', '.join(SIZE_UNITS)})",
        )
    whole, fraction, unit = match.groups()
    amount = Fraction(int(whole))
    if fraction:
        amount += Fraction(int(fraction), 10 ** len(fraction))
    return int(amount * SIZE_UNITS[unit or "B"])


def format_size(size: int) -> str:
    """Write a byte count with the largest binary unit that divides it exactly.

    ``parse_size(format_size(n)) == n`` for every ``n`` in ``range(MAX_SIZE + 1)``.

    Args:
        size: A number of bytes, from 0 to :data:`MAX_SIZE`.

    Returns:
        Text such as ``"512MiB"``, ``"1536KiB"`` or ``"1000B"``.

    Raises:
        InvalidSizeError: ``size`` is not an integer from 0 to :data:`MAX_SIZE`.
    """
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_SIZE:
        raise InvalidSizeError(
            f"{size!r} is not a byte count", hint=f"give an integer from 0 to {MAX_SIZE}"
        )
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        factor = SIZE_UNITS[unit]
        if size and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B"
