"""Byte sizes: parse_size and format_size."""

from __future__ import annotations

import re
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symphony_core.errors import UserError
from symphony_core.manifest import InvalidSizeError, format_size, parse_size
from symphony_core.manifest.model import SIZE_PATTERN
from symphony_core.manifest.size import MAX_SIZE, SIZE_UNITS


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("0", 0),
        ("1048576", 1048576),
        ("512MiB", 512 * 1024**2),
        ("2GB", 2 * 10**9),
        ("1.5 GiB", 3 * 1024**3 // 2),
        ("1.5KB", 1500),
        ("0.5B", 0),
        ("1.1MiB", 1153433),
        (" 7 TiB ", 7 * 1024**4),
        ("3B", 3),
    ],
)
def test_examples(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    "text",
    ["", "MiB", "-1MiB", "1 mib", "1.MiB", ".5MiB", "1e3", "1 MiBs", "1 KiB B", "1_000", "\u0661"],
)
def test_rejects_non_sizes(text: str) -> None:
    with pytest.raises(InvalidSizeError) as caught:
        parse_size(text)
    assert isinstance(caught.value, UserError)
    assert isinstance(caught.value, ValueError)
    assert caught.value.hint is not None
    assert "MiB" in caught.value.hint


def test_rejects_absurdly_long_numbers_without_working_hard() -> None:
    with pytest.raises(InvalidSizeError):
        parse_size("9" * 5000 + "B")


units = st.sampled_from(sorted(SIZE_UNITS))


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=10**12), units, st.sampled_from(["", " ", "  "]))
def test_whole_numbers_times_unit(number: int, unit: str, space: str) -> None:
    assert parse_size(f"{number}{space}{unit}") == number * SIZE_UNITS[unit]


@settings(max_examples=300)
@given(st.integers(0, 10**6), st.from_regex(r"[0-9]{1,6}", fullmatch=True), units)
def test_fractions_round_down_exactly(whole: int, fraction: str, unit: str) -> None:
    exact = (whole + Fraction(int(fraction), 10 ** len(fraction))) * SIZE_UNITS[unit]
    assert parse_size(f"{whole}.{fraction}{unit}") == int(exact)


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=MAX_SIZE))
def test_format_round_trips(size: int) -> None:
    text = format_size(size)
    assert parse_size(text) == size
    assert re.search(SIZE_PATTERN, text)


@settings(max_examples=300)
@given(st.text(max_size=20))
def test_arbitrary_text_is_a_size_or_invalid_size_error(text: str) -> None:
    try:
        size = parse_size(text)
    except InvalidSizeError:
        return
    assert size >= 0
    # Anything parse_size takes also passes the model's pattern (around white space).
    assert re.search(SIZE_PATTERN, text.strip())


@pytest.mark.parametrize("bad", [-1, MAX_SIZE + 1, True, 1.5])
def test_format_rejects_non_counts(bad: object) -> None:
    with pytest.raises(InvalidSizeError):
        format_size(bad)  # type: ignore[arg-type]


def test_format_picks_the_largest_exact_binary_unit() -> None:
    assert format_size(0) == "0B"
    assert format_size(1000) == "1000B"
    assert format_size(1536) == "1536B"
    assert format_size(3 * 1024) == "3KiB"
    assert format_size(512 * 1024**2) == "512MiB"
    assert format_size(1024**4) == "1TiB"
