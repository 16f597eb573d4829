"""Parameter values against their declarations."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symphony_core.manifest import Parameter, describe_parameter, parameter_value_problems
from symphony_core.manifest.parameters import values_equal


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        (Parameter(type="int", min=1, max=3), 2),
        (Parameter(type="int"), 10**40),
        (Parameter(type="float", min=0, max=1), 1),
        (Parameter(type="float"), 0.25),
        (Parameter(type="bool"), False),
        (Parameter(type="str", pattern="^a+$", min=1, max=3), "aaa"),
        (Parameter(type="path"), "data/x.txt"),
        (Parameter(type="list", max=2), [1, "x"]),
        (Parameter(type="dict", min=1), {"k": 1}),
        (Parameter(type="json"), {"a": [1, None, 2.5, {"b": "c"}]}),
        (Parameter(type="enum", choices=["a", 1, True]), 1),
        (Parameter(type="str", choices=["x", "y"]), "y"),
    ],
)
def test_accepted(parameter: Parameter, value: Any) -> None:
    assert parameter_value_problems(parameter, value) == []


@pytest.mark.parametrize(
    ("parameter", "value", "problem"),
    [
        (Parameter(type="int"), True, "not an integer"),
        (Parameter(type="int"), 1.0, "not an integer"),
        (Parameter(type="int", min=1), 0, "below the minimum 1"),
        (Parameter(type="int", max=3), 10**40, "above the maximum 3"),
        (Parameter(type="float"), float("nan"), "not a finite number"),
        (Parameter(type="float"), "1", "not a finite number"),
        (Parameter(type="bool"), 1, "not true or false"),
        (Parameter(type="str", pattern="^a+$"), "b", "does not match the pattern"),
        (Parameter(type="str", max=2), "abc", "length 3 is above the maximum 2"),
        (Parameter(type="list"), "abc", "not an array"),
        (Parameter(type="dict"), {1: 2}, "not a table"),
        (Parameter(type="json"), {"a": datetime.date(2024, 1, 1)}, "not a JSON value"),
        (Parameter(type="json"), [float("inf")], "not a JSON value"),
        (Parameter(type="enum", choices=[1, 2]), True, "not one of the choices"),
        (Parameter(type="enum", choices=["1"]), 1, "not one of the choices"),
        (Parameter(type="str", choices=["x"]), "z", "not one of the choices"),
    ],
)
def test_refused(parameter: Parameter, value: Any, problem: str) -> None:
    problems = parameter_value_problems(parameter, value)
    assert any(problem in p for p in problems), problems


def test_several_problems_are_all_listed() -> None:
    parameter = Parameter(type="str", choices=["abc"], max=2, pattern="^z")
    assert len(parameter_value_problems(parameter, "abd")) == 3


def test_an_invalid_pattern_is_left_to_manifest_validation() -> None:
    assert parameter_value_problems(Parameter(type="str", pattern="("), "x") == []


@pytest.mark.parametrize(
    ("parameter", "text"),
    [
        (Parameter(type="int", min=1, max=10), "an integer from 1 to 10"),
        (Parameter(type="float", min=0.5), "a finite number no smaller than 0.5"),
        (Parameter(type="int", max=3), "an integer no larger than 3"),
        (
            Parameter(type="str", min=2, max=2, pattern="^x"),
            "a string of 2 to 2 characters matching ^x",
        ),
        (Parameter(type="list", min=1), "an array of at least 1 items"),
        (Parameter(type="enum", choices=["a", True, 2]), 'one of "a", true, 2'),
        (Parameter(type="enum"), "a value from an empty list of choices"),
        (Parameter(type="bool"), "true or false"),
    ],
)
def test_describe(parameter: Parameter, text: str) -> None:
    assert describe_parameter(parameter) == text


scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5)
)


@settings(max_examples=300)
@given(scalars, scalars)
def test_values_equal_is_symmetric_and_strict_about_booleans(a: Any, b: Any) -> None:
    assert values_equal(a, b) == values_equal(b, a)
    if values_equal(a, b):
        assert a == b
        assert isinstance(a, bool) == isinstance(b, bool)
    assert values_equal(a, a)
