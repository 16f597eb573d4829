"""The example's nodes, run through a real in-process runtime as a host would run them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symphony_core import HookCallError, InProcessRuntime
from symphony_sdk import NodeInputError
from symphony_sdk.testing import make_runtime


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessRuntime]:
    home: Path = tmp_path_factory.mktemp("textops-home")
    with make_runtime(home, ["symphony_example_textops"]) as rt:
        yield rt


def run(runtime: InProcessRuntime, node_type: str, inputs: Any, **params: Any) -> Any:
    return dict(runtime.call_node(node_type, inputs, params))


def test_tokenize_normalises_case_folds_and_splits(runtime: InProcessRuntime) -> None:
    text = "Straße \uff26\uff35\uff2c\uff2c-width café, naïve CAFÉ! x"
    assert run(runtime, "tokenize", {"text": text})["tokens"] == [
        "strasse",
        "full",
        "width",
        "café",
        "naïve",
        "café",
        "x",
    ]
    kept = run(runtime, "tokenize", {"text": text}, lowercase=False, normalize="none")
    assert kept["tokens"][:2] == ["Straße", "\uff26\uff35\uff2c\uff2c"]
    long_only = run(runtime, "tokenize", {"text": text}, min_length=5)
    assert long_only["tokens"] == ["strasse", "width", "naïve"]
    digits = run(runtime, "tokenize", {"text": "a1 b22 c333"}, pattern=r"\d+")
    assert digits["tokens"] == ["1", "22", "333"]


def test_an_invalid_pattern_is_reported_as_the_users_mistake(runtime: InProcessRuntime) -> None:
    with pytest.raises(HookCallError) as info:
        run(runtime, "tokenize", {"text": "x"}, pattern="(unclosed")
    assert isinstance(info.value.__cause__, NodeInputError)
    assert "not a valid regular expression" in str(info.value)


def test_word_count_ranks_by_count_then_alphabetically(runtime: InProcessRuntime) -> None:
    tokens = ["b", "a", "c", "b", "a", "d", "b"]
    assert run(runtime, "word_count", {"tokens": tokens}, top=3) == {
        "counts": {"b": 3, "a": 2, "c": 1},
        "total": 7,
        "distinct": 4,
    }
    assert run(runtime, "word_count", {"tokens": []}) == {"counts": {}, "total": 0, "distinct": 0}


def test_ngrams_and_their_bounds(runtime: InProcessRuntime) -> None:
    tokens = ["to", "be", "or", "not"]
    assert run(runtime, "ngrams", {"tokens": tokens})["ngrams"] == ["to be", "be or", "or not"]
    assert run(runtime, "ngrams", {"tokens": tokens}, n=1, separator="_")["ngrams"] == tokens
    assert run(runtime, "ngrams", {"tokens": tokens}, n=5)["ngrams"] == []
    with pytest.raises(HookCallError) as info:
        run(runtime, "ngrams", {"tokens": tokens}, n=6)
    assert "above the maximum 5" in str(info.value)


words = st.lists(st.sampled_from(["alpha", "beta", "gamma", "δέλτα", "ε"]), max_size=40)


@settings(max_examples=150, deadline=None)
@given(tokens=words, top=st.integers(1, 6), n=st.integers(1, 5))
def test_counts_and_ngrams_agree_with_a_direct_computation(
    runtime: InProcessRuntime, tokens: list[str], top: int, n: int
) -> None:
    counted = run(runtime, "word_count", {"tokens": tokens}, top=top)
    expected = Counter(tokens)
    assert counted["total"] == len(tokens)
    assert counted["distinct"] == len(expected)
    assert len(counted["counts"]) == min(top, len(expected))
    assert all(expected[token] == count for token, count in counted["counts"].items())
    ranked = list(counted["counts"].items())
    assert ranked == sorted(ranked, key=lambda item: (-item[1], item[0]))
    grams = run(runtime, "ngrams", {"tokens": tokens}, n=n)["ngrams"]
    assert len(grams) == max(0, len(tokens) - n + 1)
    if grams:
        assert grams[0].split(" ") == tokens[:n]
    joined = " ".join(tokens)
    assert run(runtime, "tokenize", {"text": joined})["tokens"] == [t.casefold() for t in tokens]
