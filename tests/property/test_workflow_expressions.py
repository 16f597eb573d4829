"""The condition language: printing and parsing agree; nothing but its own errors escape."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from test_workflow_strategies import json_values

from symphony_core.workflow.errors import ExpressionEvaluationError, ExpressionSyntaxError
from symphony_core.workflow.expressions import (
    Attr,
    BoolOp,
    Compare,
    ExprNode,
    Index,
    ListExpr,
    Literal,
    Name,
    Neg,
    Not,
    json_equal,
    parse,
    truthy,
    unparse,
)
from symphony_core.workflow.values import INT_MAX, INT_MIN, freeze

NAMES = ["score", "label", "items", "result", "flag", "n"]

literals = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=INT_MIN, max_value=INT_MAX),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
).map(Literal)
field_names = st.sampled_from(["a", "b", "kind", "value", "x_1"])


def trees(max_leaves: int = 10) -> st.SearchStrategy[ExprNode]:
    leaves = st.one_of(literals, st.sampled_from(NAMES).map(Name))

    def extend(children: st.SearchStrategy[ExprNode]) -> st.SearchStrategy[ExprNode]:
        return st.one_of(
            st.builds(Attr, children, field_names),
            st.builds(Index, children, children),
            st.builds(ListExpr, st.lists(children, max_size=3).map(tuple)),
            st.builds(Not, children),
            st.builds(Neg, children),
            st.builds(
                BoolOp,
                st.sampled_from(["and", "or"]),
                st.lists(children, min_size=2, max_size=3).map(tuple),
            ),
            st.integers(1, 3).flatmap(
                lambda k: st.builds(
                    Compare,
                    children,
                    st.lists(
                        st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in", "not in"]),
                        min_size=k,
                        max_size=k,
                    ).map(tuple),
                    st.lists(children, min_size=k, max_size=k).map(tuple),
                )
            ),
        )

    return st.recursive(leaves, extend, max_leaves=max_leaves)


envs = st.fixed_dictionaries({name: json_values.map(freeze) for name in NAMES})


def outcome(tree: ExprNode, env: dict[str, Any]) -> tuple[str, Any]:
    from symphony_core.workflow.expressions import Expression

    try:
        return "value", Expression("", tree, frozenset()).value(env)
    except ExpressionEvaluationError:
        return "error", None


@settings(max_examples=300, deadline=None)
@given(trees(), envs)
def test_printed_conditions_parse_back_to_the_same_meaning(
    tree: ExprNode, env: dict[str, Any]
) -> None:
    text = unparse(tree)
    parsed = parse(text)
    # After one round (which folds e.g. -(0) into the literal 0) printing is a fixed
    # point, and the parsed tree means what the original did.
    normal = unparse(parsed.tree)
    assert unparse(parse(normal).tree) == normal
    kind, value = outcome(tree, env)
    again_kind, again_value = outcome(parsed.tree, env)
    assert kind == again_kind
    if kind == "value":
        assert json_equal(value, again_value)
        assert truthy(value) == parsed.evaluate(env)


@settings(max_examples=300, deadline=None)
@given(trees(), envs)
def test_evaluation_gives_a_value_or_an_evaluation_error(
    tree: ExprNode, env: dict[str, Any]
) -> None:
    expression = parse(unparse(tree))
    try:
        result: object = expression.evaluate(env)
    except ExpressionEvaluationError as exc:
        result = exc
    assert isinstance(result, bool | ExpressionEvaluationError)
    assert expression.names <= set(NAMES)


alphabet = st.sampled_from(
    [
        *list("abcxyz_019 .,()[]'\"\\=!<>-+*/&|#$\n\t"),
        "and",
        "or",
        "not",
        "in",
        "true",
        "false",
        "null",
        "é",
        "😀",
        "\\u00e9",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=40), st.lists(alphabet, max_size=25).map("".join)))
def test_any_text_parses_or_raises_a_syntax_error(text: str) -> None:
    try:
        expression = parse(text)
    except ExpressionSyntaxError as exc:
        error = exc
    else:
        error = None
    if error is not None:
        assert 0 <= error.position <= len(text)
        return
    # A condition that parses prints to text that parses to a tree printing the same.
    printed = unparse(expression.tree)
    assert unparse(parse(printed).tree) == printed


@settings(max_examples=200, deadline=None)
@given(json_values.map(freeze), json_values.map(freeze))
def test_json_equality_is_an_equivalence_that_tells_booleans_from_numbers(a: Any, b: Any) -> None:
    assert json_equal(a, a)
    assert json_equal(a, b) == json_equal(b, a)
    if isinstance(a, bool) != isinstance(b, bool) and not isinstance(a, tuple | dict):
        assert not json_equal(a, b)
