"""Topic names and subscription patterns of the event bus.

A topic is one or more dot-separated segments, each of letters, digits, ``_``, ``-``
and ``:`` (``run.started``, ``ext.acme-textops.ready``), at most 256 characters; topics
are case-sensitive. (The character set is the IPC layer's, so every topic travels.)

A pattern is a topic in which a segment may be a wildcard:

* ``*`` matches exactly one segment: ``run.*`` matches ``run.started`` but neither
  ``run`` nor ``run.node.done``;
* ``**``, allowed only as the last segment, matches one or more segments: ``run.**``
  matches ``run.started`` and ``run.node.done`` but not ``run``; ``**`` alone matches
  every topic.

Every bus adapter uses these functions, so a pattern means the same thing on every bus.
"""

from __future__ import annotations

import re
from functools import lru_cache

from symphony_core.errors import UserError

__all__ = [
    "InvalidTopicError",
    "MAX_TOPIC_LENGTH",
    "check_pattern",
    "check_topic",
    "topic_matches",
]

MAX_TOPIC_LENGTH = 256
"""Longest topic or pattern accepted, in characters."""

_SEGMENT = re.compile(r"[A-Za-z0-9_:-]+")


class InvalidTopicError(UserError):
    """A topic name or subscription pattern is malformed."""

    code = "bus.invalid_topic"


def _segments(text: str, what: str) -> list[str]:
    if not isinstance(text, str) or not text:
        raise InvalidTopicError(
            f"{what} must be a non-empty string, got {text!r}",
            hint="use dot-separated segments such as 'run.started'",
        )
    if len(text) > MAX_TOPIC_LENGTH:
        raise InvalidTopicError(
            f"{what} is {len(text)} characters long, the limit is {MAX_TOPIC_LENGTH}",
            where=text[:40] + "...",
        )
    return text.split(".")


def check_topic(topic: str) -> str:
    """Return ``topic`` if it is a valid topic name (no wildcards).

    Args:
        topic: The topic to check.

    Returns:
        The same topic.

    Raises:
        InvalidTopicError: It is empty, too long, or has a malformed segment.
    """
    for segment in _segments(topic, "topic"):
        if not _SEGMENT.fullmatch(segment):
            raise InvalidTopicError(
                f"topic segment {segment!r} is invalid: use letters, digits, '_', '-' and "
                "':' (wildcards are only allowed in subscription patterns)",
                where=topic,
            )
    return topic


def check_pattern(pattern: str) -> str:
    """Return ``pattern`` if it is a valid subscription pattern.

    Args:
        pattern: The pattern to check.

    Returns:
        The same pattern.

    Raises:
        InvalidTopicError: It is malformed, or ``**`` is not its last segment.
    """
    segments = _segments(pattern, "pattern")
    last = len(segments) - 1
    for index, segment in enumerate(segments):
        if segment == "*" or (segment == "**" and index == last):
            continue
        if segment == "**":
            raise InvalidTopicError(
                "'**' is only allowed as the last segment of a pattern",
                where=pattern,
                hint="use '*' to match exactly one segment in the middle",
            )
        if not _SEGMENT.fullmatch(segment):
            raise InvalidTopicError(
                f"pattern segment {segment!r} is invalid: use letters, digits, '_', '-', "
                "':', or a wildcard '*' / '**'",
                where=pattern,
            )
    return pattern


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> tuple[tuple[str, ...], bool]:
    segments = tuple(check_pattern(pattern).split("."))
    if segments[-1] == "**":
        return segments[:-1], True
    return segments, False


def topic_matches(pattern: str, topic: str) -> bool:
    """Return whether ``topic`` matches the subscription ``pattern``.

    Args:
        pattern: A valid pattern (see the module documentation).
        topic: A valid topic.

    Returns:
        ``True`` if the topic matches.

    Raises:
        InvalidTopicError: The pattern is malformed.
    """
    fixed, open_tail = _compiled(pattern)
    parts = topic.split(".")
    if open_tail:
        if len(parts) <= len(fixed):
            return False
    elif len(parts) != len(fixed):
        return False
    return all(want == "*" or want == got for want, got in zip(fixed, parts, strict=False))
