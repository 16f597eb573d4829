"""Time and duration parsing for ``--since``/``--until``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symphony_core.audit import (
    InvalidTimeError,
    format_duration,
    format_time,
    parse_duration,
    parse_time,
)

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("1.5h", timedelta(minutes=90)),
        ("250ms", timedelta(milliseconds=250)),
        ("1m5s", timedelta(seconds=65)),
        (" 1H 30M ", timedelta(hours=1, minutes=30)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "h", "1", "1x", "-1h", "1h-", "1.h", "one hour", "1e3s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(InvalidTimeError) as info:
        parse_duration(text)
    assert info.value.code == "audit.time_invalid"


def test_times() -> None:
    assert parse_time("now", now=NOW) == NOW
    assert parse_time("1h", now=NOW) == NOW - timedelta(hours=1)
    assert parse_time("30m ago", now=NOW) == NOW - timedelta(minutes=30)
    assert parse_time("2024-05-01T10:00:00Z", now=NOW) == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert parse_time("2024-05-01T12:00:00+02:00") == datetime(2024, 5, 1, 10, tzinfo=UTC)
    local = parse_time("2024-05-01T10:00")
    assert local == datetime(2024, 5, 1, 10).astimezone().astimezone(UTC)
    assert parse_time("2024-05-01") == datetime(2024, 5, 1).astimezone().astimezone(UTC)
    today = parse_time("today", now=NOW)
    assert parse_time("yesterday", now=NOW) == today - timedelta(days=1)
    assert today.astimezone().time().hour == 0


@pytest.mark.parametrize("text", ["tomorrow", "2024-13-01", "", "999999999w", "1h ago ago"])
def test_bad_times(text: str) -> None:
    with pytest.raises(InvalidTimeError) as info:
        parse_time(text, now=NOW)
    assert "hint" in str(info.value)


_durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=20000)).map(
    lambda d: timedelta(milliseconds=d // timedelta(milliseconds=1))
)


@settings(max_examples=300)
@given(_durations)
def test_duration_round_trip(duration: timedelta) -> None:
    text = format_duration(duration)
    assert parse_duration(text) == duration
    assert parse_time(text, now=NOW) == NOW - duration


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(st.integers(0, 10**6), st.sampled_from(["ms", "s", "m", "h", "d", "w"])),
        min_size=1,
        max_size=5,
    )
)
def test_duration_is_the_sum_of_its_parts(parts: list[tuple[int, str]]) -> None:
    units = {
        "ms": timedelta(milliseconds=1),
        "s": timedelta(seconds=1),
        "m": timedelta(minutes=1),
        "h": timedelta(hours=1),
        "d": timedelta(days=1),
        "w": timedelta(weeks=1),
    }
    text = "".join(f"{n}{u}" for n, u in parts)
    assert parse_duration(text) == sum((units[u] * n for n, u in parts), timedelta())


@settings(max_examples=300)
@given(st.text(max_size=30))
def test_any_text_parses_or_is_a_user_error(text: str) -> None:
    try:
        moment = parse_time(text, now=NOW)
    except InvalidTimeError:
        return
    assert moment.tzinfo is not None


@settings(max_examples=300)
@given(
    st.datetimes(
        min_value=datetime(1970, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
    )
)
def test_iso_round_trip_and_sortable_format(moment: datetime) -> None:
    assert parse_time(moment.isoformat()) == moment.astimezone(UTC)
    text = format_time(moment)
    assert len(text) == 24
    assert text.endswith("Z")
    floored = moment.astimezone(UTC).replace(microsecond=moment.microsecond // 1000 * 1000)
    assert parse_time(text) == floored


def test_format_duration_refuses_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_duration(timedelta(seconds=-1))
    assert format_duration(timedelta(0)) == "0ms"
    assert format_duration(timedelta(days=1, seconds=3661, milliseconds=5)) == "1d1h1m1s5ms"
