"""Times as people give them to ``symphony audit``: ISO 8601, or how long ago (``1h30m``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from symphony_core.errors import UserError

__all__ = [
    "InvalidTimeError",
    "format_duration",
    "format_time",
    "parse_duration",
    "parse_time",
]

_UNITS: dict[str, timedelta] = {
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
    "ms": timedelta(milliseconds=1),
}
_PART = r"([0-9]{1,9}(?:\.[0-9]{1,6})?)(ms|s|m|h|d|w)"
_DURATION = re.compile(rf"^(?:{_PART})+$")
_PARTS = re.compile(_PART)
_HINT = (
    "give an ISO 8601 time (2024-05-01, 2024-05-01T12:00, 2024-05-01T12:00:00Z), 'now', "
    "'today', 'yesterday', "
    "or how long ago: a number and a unit (ms, s, m, h, d, w), e.g. 30m, 1h30m, 2d"
)


class InvalidTimeError(UserError, ValueError):
    """A time or duration that is neither ISO 8601 nor ``<number><unit>...``."""

    code = "audit.time_invalid"


def parse_duration(text: str) -> timedelta:
    """Parse a duration such as ``90s``, ``30m``, ``1h30m``, ``2d`` or ``1.5h``.

    Args:
        text: Numbers each followed by a unit: ``ms``, ``s``, ``m``, ``h``, ``d``, ``w``.

    Returns:
        The duration.

    Raises:
        InvalidTimeError: ``text`` is not a duration, or is too long to represent.
    """
    compact = text.strip().lower().replace(" ", "")
    if not _DURATION.match(compact):
        raise InvalidTimeError(f"{text!r} is not a duration", hint=_HINT)
    total = timedelta()
    try:
        for number, unit in _PARTS.findall(compact):
            total += _UNITS[unit] * float(number)
    except OverflowError:
        raise InvalidTimeError(f"{text!r} is too long a duration", hint=_HINT) from None
    return total


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """Parse a point in time: ISO 8601, ``now``, ``today``, ``yesterday``, or a duration.

    A duration means that long ago. An ISO time without a time zone is local time; a
    date alone, ``today`` and ``yesterday`` are local midnight.

    Args:
        text: ``2024-05-01T12:00:00Z``, ``2024-05-01``, ``now``, ``1h``, ``30m ago``...
        now: The current time (for tests); the clock's by default.

    Returns:
        An aware datetime in UTC.

    Raises:
        InvalidTimeError: ``text`` is none of these.
    """
    current = (now or datetime.now(UTC)).astimezone(UTC)
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered == "now":
        return current
    if lowered in ("today", "yesterday"):
        midnight = current.astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
        if lowered == "yesterday":
            midnight -= timedelta(days=1)
        return midnight.astimezone(UTC)
    if lowered.endswith(" ago"):
        lowered = lowered[: -len(" ago")]
    if lowered and lowered[0].isdigit() and _DURATION.match(lowered.replace(" ", "")):
        try:
            return current - parse_duration(lowered)
        except OverflowError:
            raise InvalidTimeError(f"{text!r} is too long ago", hint=_HINT) from None
    try:
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        raise InvalidTimeError(f"{text!r} is not a time", hint=_HINT) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # local time, as a person typing it means
    return moment.astimezone(UTC)


def format_time(moment: datetime) -> str:
    """Write ``moment`` as UTC ISO 8601 with milliseconds: ``2024-05-01T12:00:00.123Z``.

    Texts in this form sort in time order, which the audit log relies on.
    """
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + f".{utc.microsecond // 1000:03d}Z"


def format_duration(duration: timedelta) -> str:
    """Write a non-negative duration as :func:`parse_duration` reads it (``1d2h3m4s5ms``).

    Whole milliseconds are kept; less is dropped.

    Raises:
        ValueError: ``duration`` is negative.
    """
    if duration < timedelta():
        raise ValueError("a duration to format must not be negative")
    millis = duration // timedelta(milliseconds=1)
    parts: list[str] = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    if millis or not parts:
        parts.append(f"{millis}ms")
    return "".join(parts)
