"""Topic names and patterns: validation and matching, against a reference model."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symphony_core.ports.topics import (
    MAX_TOPIC_LENGTH,
    InvalidTopicError,
    check_pattern,
    check_topic,
    topic_matches,
)

segment = st.text(alphabet="abcXYZ019_-:", min_size=1, max_size=6)
topics = st.lists(segment, min_size=1, max_size=5).map(".".join)
pattern_segments = st.one_of(segment, st.just("*"))


@st.composite
def patterns(draw: st.DrawFn) -> str:
    parts = draw(st.lists(pattern_segments, min_size=1, max_size=5))
    if draw(st.booleans()):
        parts.append("**")
    return ".".join(parts)


def reference_match(pattern: str, topic: str) -> bool:
    """A regex translation of the documented semantics."""
    parts = pattern.split(".")
    tail = parts[-1] == "**"
    if tail:
        parts = parts[:-1]
    regex = r"\.".join("[^.]+" if p == "*" else re.escape(p) for p in parts)
    if tail:
        regex = (regex + r"\." if regex else "") + r"[^.]+(\.[^.]+)*"
    return re.fullmatch(regex, topic) is not None


@settings(max_examples=300)
@given(patterns(), topics)
def test_matching_agrees_with_the_reference(pattern: str, topic: str) -> None:
    assert topic_matches(pattern, topic) is reference_match(pattern, topic)


@settings(max_examples=200)
@given(topics)
def test_a_topic_matches_itself_and_the_catch_all(topic: str) -> None:
    assert check_topic(topic) == topic
    assert topic_matches(topic, topic)
    assert topic_matches("**", topic)
    star = ".".join("*" for _ in topic.split("."))
    assert topic_matches(star, topic)


@settings(max_examples=300)
@given(st.text(max_size=40))
def test_only_invalid_topic_errors_escape_checks(text: str) -> None:
    for check in (check_topic, check_pattern):
        error: InvalidTopicError | None = None
        try:
            check(text)
        except InvalidTopicError as exc:
            error = exc
        assert error is None or error.code == "bus.invalid_topic"


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        ("run.*", "run.started", True),
        ("run.*", "run", False),
        ("run.*", "run.node.done", False),
        ("run.**", "run.node.done", True),
        ("run.**", "run", False),
        ("*.done", "node.done", True),
        ("**", "a", True),
        ("a.*.c", "a.b.c", True),
        ("a.*.c", "a.b.b.c", False),
        ("Run.x", "run.x", False),
    ],
)
def test_documented_examples(pattern: str, topic: str, expected: bool) -> None:
    assert topic_matches(pattern, topic) is expected


def test_length_limit() -> None:
    longest = "a" * MAX_TOPIC_LENGTH
    assert check_topic(longest) == longest
    with pytest.raises(InvalidTopicError):
        check_topic(longest + "a")
    with pytest.raises(InvalidTopicError):
        check_topic(None)  # type: ignore[arg-type]
