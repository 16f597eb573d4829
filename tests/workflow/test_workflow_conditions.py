"""The condition language, case by case: meaning, errors, and that it never runs code."""

from __future__ import annotations

from typing import Any

import pytest

from symphony_core.workflow import (
    ExpressionEvaluationError,
    ExpressionSyntaxError,
    evaluate,
    freeze,
    parse,
)
from symphony_core.workflow.expressions import MAX_DEPTH, MAX_LENGTH, literal_text, unparse

ENV = freeze(
    {
        "score": 0.75,
        "count": 3,
        "label": "spam",
        "flag": False,
        "items": [{"kind": "text", "n": 1}, {"kind": "image", "n": 2}],
        "result": {"ok": True, "error": None, "tags": ["a", "b"]},
        "empty": [],
    }
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("score >= 0.5", True),
        ("score > 0.5 and label == 'spam'", True),
        ('label in ["spam", "ham"] and not flag', True),
        ("0 < count <= 3", True),
        ("0 < count < 3", False),
        ("count == 3.0", True),
        ("flag == 0", False),
        ("true == 1", False),
        ("result.ok", True),
        ("result.error == null", True),
        ('"error" in result', True),
        ('"missing" not in result', True),
        ('items[1].kind == "image"', True),
        ("items[-1].n == 2", True),
        ('"pa" in label', True),
        ('"b" in result.tags', True),
        ("empty", False),
        ("not empty", True),
        ("flag or count", True),
        ("-count < -2", True),
        ("--count == 3", True),
        ("(score > 1) or (count > 2)", True),
        ("[1, count] == [1, 3]", True),
        ("result.tags == ['a', 'b']", True),
        ('"\\u00e9" == "é"', True),
        ("1e3 == 1000", True),
    ],
)
def test_meaning(text: str, expected: bool) -> None:
    assert evaluate(text, ENV) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope > 1", "unknown name 'nope'"),
        ("result.missing", "no key 'missing'"),
        ("items[5]", "out of range"),
        ("items['a']", "must be an integer"),
        ("label < 3", "cannot order"),
        ("count in 3", "'in' needs"),
        ("1 in label", "needs a string on the left"),
        ("-label", "cannot negate"),
        ("count.x", "cannot read .x"),
        ("count[0]", "cannot index"),
    ],
)
def test_evaluation_errors(text: str, message: str) -> None:
    with pytest.raises(ExpressionEvaluationError, match=message):
        evaluate(text, ENV)


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("", 0),
        ("score >", 7),
        ("score > > 1", 8),
        ("(score", 6),
        ("'open", 0),
        ("a ? b", 2),
        ("__import__('os').system('x')", 10),
        ("lambda: 1", 6),
        ("a and", 5),
        ("1abc", 1),
        ("x.1", 2),
        ("'\\q'", 1),
        ("true()", 4),
        ("99999999999999999999", 0),
        ("1e999", 0),
    ],
)
def test_syntax_errors_give_the_position(text: str, position: int) -> None:
    with pytest.raises(ExpressionSyntaxError) as info:
        parse(text)
    assert info.value.position == position
    assert info.value.code == "workflow.expression_syntax"


def test_limits() -> None:
    with pytest.raises(ExpressionSyntaxError, match="longer than"):
        parse("a" * (MAX_LENGTH + 1))
    with pytest.raises(ExpressionSyntaxError, match="nested more than"):
        parse("(" * (MAX_DEPTH + 5) + "1" + ")" * (MAX_DEPTH + 5))
    with pytest.raises(ExpressionSyntaxError, match="nested more than"):
        parse("not " * (MAX_DEPTH + 5) + "a")
    assert parse("-9223372036854775808").tree.value == -(2**63)  # type: ignore[union-attr]


def test_names_are_what_the_condition_reads() -> None:
    assert parse("a.b > c[d] and not e").names == frozenset({"a", "c", "d", "e"})
    assert parse("1 < 2").names == frozenset()


def test_printing() -> None:
    text = 'not (a or b) and c.d[0] in [1, -2.5, "x\\"y", null]'
    assert unparse(parse(text).tree) == 'not (a or b) and c.d[0] in [1, -2.5, "x\\"y", null]'
    assert literal_text('say "hi"\n') == '"say \\"hi\\"\\n"'
    with pytest.raises(ValueError, match=r"no spelling|not a literal"):
        literal_text({"a": 1})


def test_nothing_outside_the_environment_is_reachable() -> None:
    env: dict[str, Any] = {"x": 1}
    for text in ("__class__", "x.__class__", "x.real", "globals"):
        with pytest.raises((ExpressionEvaluationError, ExpressionSyntaxError)):
            evaluate(text, env)
