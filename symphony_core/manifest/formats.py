"""Semantic checks of manifest strings, keyed by the JSON Schema ``format`` the model gives.

The model marks a string field with ``format`` (e.g. ``pep440-version``); the validator
runs the matching check here once the value is a string that matched its pattern. The
same names appear in the exported JSON Schema and in the reference documentation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from symphony_core.manifest.porttypes import PortTypeError, parse_port_type
from symphony_core.manifest.size import InvalidSizeError, parse_size

__all__ = ["FORMATS", "Format", "FormatProblem", "relative_path_problem"]


@dataclass(frozen=True, slots=True)
class FormatProblem:
    """Why a string does not have its format.

    Attributes:
        code: The issue code to report.
        message: What is wrong.
    """

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Format:
    """A named string format.

    Attributes:
        name: The ``format`` name used in the model and the JSON Schema.
        title: What the format is, for documentation (``PEP 440 version``).
        expected: What a valid value looks like, for messages.
        check: Returns ``None`` for a valid string, or the problem.
    """

    name: str
    title: str
    expected: str
    check: Callable[[str], FormatProblem | None]


def _version(text: str) -> FormatProblem | None:
    try:
        Version(text)
    except InvalidVersion:
        return FormatProblem("manifest.version", "not a valid PEP 440 version")
    return None


def _specifier(text: str) -> FormatProblem | None:
    try:
        SpecifierSet(text)
    except InvalidSpecifier:
        return FormatProblem("manifest.specifier", "not a valid PEP 440 specifier set")
    return None


def _requirement(text: str) -> FormatProblem | None:
    try:
        Requirement(text)
    except InvalidRequirement as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else "invalid"
        return FormatProblem(
            "manifest.requirement", f"not a valid PEP 508 requirement: {first_line}"
        )
    return None


def _port_type(text: str) -> FormatProblem | None:
    try:
        parse_port_type(text)
    except PortTypeError as exc:
        # The parser's message starts by quoting the whole text, which the issue shows
        # already as "found"; keep the part that says where and what went wrong.
        detail = exc.message.split(": ", 1)[-1]
        return FormatProblem("manifest.port_type", f"not a valid port type: {detail}")
    return None


def relative_path_problem(text: str) -> str | None:
    """Tell why ``text`` is not a relative path that stays inside its directory.

    This is a check of the string alone; where a file is opened, the path still goes
    through :func:`symphony_core.fs.confine`, which also catches symlinks.

    Args:
        text: The path as written in the manifest.

    Returns:
        ``None`` when the path is acceptable, otherwise what is wrong with it.
    """
    if not text:
        return "the path is empty"
    if "\x00" in text:
        return "the path contains a NUL character"
    if "\\" in text:
        return "the path contains a backslash; separate directories with '/'"
    if text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        return "the path is absolute; it must be relative"
    if text.startswith("~"):
        return "the path starts with '~', which is not expanded; write a relative path"
    depth = 0
    for part in PurePosixPath(text).parts:
        if part == "..":
            depth -= 1
            if depth < 0:
                return "the path leads outside its directory through '..'"
        elif part != ".":
            depth += 1
    return None


def _relative_path(text: str) -> FormatProblem | None:
    problem = relative_path_problem(text)
    return None if problem is None else FormatProblem("manifest.path", problem)


def _byte_size(text: str) -> FormatProblem | None:
    try:
        size = parse_size(text)
    except InvalidSizeError:
        return FormatProblem("manifest.size", "not a byte size")
    if size <= 0:
        return FormatProblem("manifest.size", "the size must be at least one byte")
    return None


def _regex(text: str) -> FormatProblem | None:
    try:
        re.compile(text)
    except (re.error, OverflowError, RecursionError, ValueError) as exc:
        return FormatProblem("manifest.regex", f"not a valid regular expression: {exc}")
    return None


def _uri(text: str) -> FormatProblem | None:
    try:
        parts = urlsplit(text)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        return FormatProblem("manifest.url", "not an http or https URL")
    return None


FORMATS: dict[str, Format] = {
    fmt.name: fmt
    for fmt in (
        Format("pep440-version", "PEP 440 version", 'a PEP 440 version such as "1.2.0"', _version),
        Format(
            "pep440-specifier",
            "PEP 440 specifier set",
            'a PEP 440 specifier set such as ">=1.0,<2"',
            _specifier,
        ),
        Format(
            "pep508-requirement",
            "PEP 508 requirement",
            'a PEP 508 requirement such as "numpy>=1.26"',
            _requirement,
        ),
        Format(
            "port-type",
            "port type expression",
            "a port type such as str, list[int], dict[str, float], any or publisher.type",
            _port_type,
        ),
        Format(
            "relative-path",
            "relative path that stays inside its directory",
            'a relative path without leading "/" or escaping "..", such as "data/input"',
            _relative_path,
        ),
        Format(
            "byte-size",
            "positive byte size",
            'a positive size such as "512MiB", "2GB" or "1048576"',
            _byte_size,
        ),
        Format("regex", "Python regular expression", "a valid Python regular expression", _regex),
        Format("uri", "http(s) URL", 'an http or https URL such as "https://example.org"', _uri),
    )
}
"""Every format the model uses, by name."""
