"""The port type grammar: parsing, printing and assignability."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symphony_core.manifest.porttypes import (
    SCALARS,
    PortType,
    PortTypeError,
    is_assignable,
    parse_port_type,
)

leaf = st.sampled_from([*sorted(SCALARS), "any"]) | st.from_regex(
    r"[a-z][a-z0-9_-]{0,6}\.[a-z][a-z0-9_-]{0,6}", fullmatch=True
)
port_types = st.recursive(
    leaf,
    lambda inner: inner.map(lambda t: f"list[{t}]") | inner.map(lambda t: f"dict[str, {t}]"),
    max_leaves=8,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("str", PortType("str")),
        ("any", PortType("any")),
        ("acme.embedding", PortType("acme.embedding")),
        ("list[int]", PortType("list", PortType("int"))),
        ("dict[str, float]", PortType("dict", PortType("float"))),
        (
            " list [ dict [ str , list[none] ] ] ",
            PortType("list", PortType("dict", PortType("list", PortType("none")))),
        ),
    ],
)
def test_parse_examples(text: str, expected: PortType) -> None:
    assert parse_port_type(text) == expected


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("", "character 0"),
        ("string", "character 0"),
        ("list", "character 4"),
        ("list[int", "character 8"),
        ("list[int]]", "end of the type"),
        ("dict[int, str]", "'str' (dict keys are strings)"),
        ("dict[str int]", "','"),
        ("Str", "a type name"),
        ("acme.", "character"),
        ("list[]", "a type name"),
    ],
)
def test_parse_errors_say_where(text: str, where: str) -> None:
    with pytest.raises(PortTypeError) as caught:
        parse_port_type(text)
    assert where in caught.value.message
    assert caught.value.code == "manifest.port_type_invalid"


def test_nesting_is_bounded() -> None:
    parse_port_type("list[" * 30 + "int" + "]" * 30)
    with pytest.raises(PortTypeError, match="shallower"):
        parse_port_type("list[" * 40 + "int" + "]" * 40)


@settings(max_examples=300)
@given(port_types)
def test_generated_types_parse_and_print_back(text: str) -> None:
    parsed = parse_port_type(text)
    assert str(parsed) == text
    assert parse_port_type(str(parsed)) == parsed


@settings(max_examples=200)
@given(port_types, st.data())
def test_white_space_between_tokens_is_ignored(text: str, data: st.DataObject) -> None:
    tokens = re.findall(r"[a-z][a-z0-9_.-]*|[\[\],]", text)
    spaced = "".join(t + data.draw(st.sampled_from(["", " ", "\t", "  "])) for t in tokens)
    assert parse_port_type(spaced) == parse_port_type(text)


@settings(max_examples=300)
@given(st.text(max_size=40))
def test_arbitrary_text_parses_or_raises_port_type_error(text: str) -> None:
    try:
        parsed = parse_port_type(text)
    except PortTypeError:
        return
    assert parse_port_type(str(parsed)) == parsed


@settings(max_examples=300)
@given(port_types)
def test_assignability_is_reflexive_and_any_takes_everything(text: str) -> None:
    assert is_assignable(text, text)
    assert is_assignable(text, "any")
    assert is_assignable("any", text)


@settings(max_examples=200)
@given(port_types, port_types, port_types)
def test_assignability_is_transitive(a: str, b: str, c: str) -> None:
    if "any" in (a, b, c) or "any" in a + b + c:
        return  # any is a wildcard on both sides, which is deliberately not transitive
    if is_assignable(a, b) and is_assignable(b, c):
        assert is_assignable(a, c)


@pytest.mark.parametrize(
    ("source", "target", "ok"),
    [
        ("int", "float", True),
        ("float", "int", False),
        ("list[int]", "list[float]", True),
        ("dict[str, int]", "dict[str, float]", True),
        ("list[int]", "dict[str, int]", False),
        ("str", "json", True),
        ("none", "json", True),
        ("bytes", "json", False),
        ("list[dict[str, bool]]", "json", True),
        ("list[bytes]", "json", False),
        ("acme.embedding", "json", False),
        ("acme.embedding", "acme.embedding", True),
        ("acme.embedding", "acme.vector", False),
        ("json", "str", False),
        ("list[any]", "list[int]", True),
    ],
)
def test_assignability_rules(source: str, target: str, ok: bool) -> None:
    assert is_assignable(source, target) is ok
