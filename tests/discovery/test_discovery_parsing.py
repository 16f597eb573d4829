"""The small parsers discovery uses agree with importlib.metadata and the email parser."""

from __future__ import annotations

import email
import importlib.metadata
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symphony_core.discovery import ENTRY_POINT_GROUP, EntryPointValueError
from symphony_core.discovery.locate import check_value
from symphony_core.discovery.scan import _group_pairs, _headers, normalize_distribution_name


class _TextDistribution(importlib.metadata.Distribution):
    """A distribution whose entry_points.txt is given as text (no files needed)."""

    def __init__(self, entry_points: str) -> None:
        self._entry_points = entry_points

    def read_text(self, filename: str) -> str | None:
        return self._entry_points if filename == "entry_points.txt" else None

    def locate_file(self, path: str | os.PathLike[str]) -> Any:
        return Path(path)


_token = st.text(
    alphabet=st.characters(
        blacklist_characters="=[]#", blacklist_categories=("Cs", "Cc", "Zl", "Zp")
    ),
    max_size=12,
)
_space = st.sampled_from(["", " ", "  ", "\t"])
_section = st.one_of(
    st.just(ENTRY_POINT_GROUP),
    st.sampled_from(["console_scripts", "symphony", "symphony.extensions.more"]),
    _token,
)


@st.composite
def _entry_points_text(draw: st.DrawFn) -> str:
    lines: list[str] = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["section", "pair", "pair", "comment", "blank"]))
        if kind == "section":
            brackets = draw(st.sampled_from([("[", "]"), ("[[", "]]"), ("[ ", " ]"), ("[", "]]")]))
            lines.append(f"{draw(_space)}{brackets[0]}{draw(_section)}{brackets[1]}{draw(_space)}")
        elif kind == "pair":
            name, value = draw(_token), draw(_token)
            extra = draw(st.sampled_from(["", "=x", " = y = z"]))
            lines.append(f"{draw(_space)}{name}{draw(_space)}={draw(_space)}{value}{extra}")
        elif kind == "comment":
            lines.append(f"{draw(_space)}# {draw(_token)}")
        else:
            lines.append(draw(_space))
    return "\n".join(lines)


@settings(max_examples=300)
@given(_entry_points_text())
def test_entry_points_parser_agrees_with_importlib_metadata(text: str) -> None:
    expected = [
        (ep.name, ep.value)
        for ep in _TextDistribution(text).entry_points.select(group=ENTRY_POINT_GROUP)
    ]

    assert _group_pairs(text, ENTRY_POINT_GROUP) == expected


def test_entry_points_line_without_equals_is_kept_for_reporting() -> None:
    text = f"[{ENTRY_POINT_GROUP}]\nacme.lonely\n"

    assert _group_pairs(text, ENTRY_POINT_GROUP) == [("acme.lonely", "")]


_identifier = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)


@settings(max_examples=300)
@given(st.lists(_identifier, min_size=1, max_size=4))
def test_dotted_package_names_are_accepted(parts: list[str]) -> None:
    assert check_value("acme.x", ".".join(parts), "here") == parts


@settings(max_examples=300)
@given(st.text(max_size=30))
def test_check_value_accepts_exactly_dotted_identifiers(value: str) -> None:
    valid = bool(value) and all(part.isidentifier() for part in value.split("."))
    if valid:
        assert check_value("acme.x", value, "here") == value.split(".")
    else:
        with pytest.raises(EntryPointValueError):
            check_value("acme.x", value, "here")


_header_value = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="\x85"
    ),
    max_size=20,
).map(str.strip)


@settings(max_examples=300)
@given(
    name=_header_value,
    version=_header_value,
    others=st.lists(st.sampled_from(["Summary", "Requires-Dist", "License"]), max_size=3),
    body=st.text(max_size=40),
)
def test_metadata_headers_agree_with_the_email_parser(
    name: str, version: str, others: list[str], body: str
) -> None:
    lines = [f"{other}: something" for other in others]
    lines += ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", "Name: second"]
    text = "\n".join(lines) + "\n\n" + body
    parsed = email.message_from_string(text)

    ours = _headers(text)

    assert ours["name"] == parsed["Name"].strip()
    assert ours["version"] == parsed["Version"].strip()


@given(st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,20}[A-Za-z0-9])?", fullmatch=True))
def test_distribution_names_normalize_like_importlib(name: str) -> None:
    expected = importlib.metadata.Prepared.normalize(name)  # type: ignore[attr-defined]

    assert normalize_distribution_name(name) == expected
