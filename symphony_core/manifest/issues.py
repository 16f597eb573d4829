"""Problems found in a manifest, and the error that carries all of them at once."""

from __future__ import annotations

import datetime
import json
import math
import re
from collections.abc import Sequence
from typing import Any

import msgspec

from symphony_core.errors import UserError

__all__ = [
    "ISSUE_CODES",
    "Issue",
    "KeyPath",
    "ManifestError",
    "ManifestNotFoundError",
    "describe_value",
    "format_key_path",
]

KeyPath = tuple[str | int, ...]
"""Where a value sits in the document: table keys (``str``) and array indexes (``int``)."""

ISSUE_CODES: dict[str, str] = {
    "manifest.unreadable": "The file could not be read.",
    "manifest.too_large": "The file is larger than a manifest may be.",
    "manifest.encoding": "The file is not valid UTF-8.",
    "manifest.syntax": "The file is not valid TOML.",
    "manifest.missing": "A required key is missing.",
    "manifest.unknown_key": "A key the manifest format does not define.",
    "manifest.type": "A value of the wrong type (e.g. a number where a string belongs).",
    "manifest.choice": "A value that is not one of the allowed ones.",
    "manifest.pattern": "A string that does not have the required form.",
    "manifest.range": "A number or length outside its allowed range.",
    "manifest.too_deep": "A value nested more deeply than allowed.",
    "manifest.version": "Not a valid PEP 440 version.",
    "manifest.specifier": "Not a valid PEP 440 version specifier set.",
    "manifest.requirement": "Not a valid PEP 508 requirement.",
    "manifest.port_type": "Not a valid port type expression.",
    "manifest.path": "A path that is absolute or leads outside its directory.",
    "manifest.size": "Not a valid byte size.",
    "manifest.regex": "Not a valid regular expression.",
    "manifest.url": "Not an http(s) URL.",
    "manifest.duplicate": "A name defined twice where names must be unique.",
    "manifest.default": "A parameter default that its own type or constraints reject.",
    "manifest.parameter": "A parameter constraint that does not fit the parameter's type.",
    "manifest.self_reference": "The extension names itself as a dependency or ordering peer.",
    "manifest.order_conflict": "The same extension listed in both order-before and order-after.",
    "manifest.activation": "An activation event that names a node type the manifest lacks.",
    "manifest.file_missing": "A file the manifest names does not exist in the package.",
}
"""Every issue code, with what it means. Codes are stable; scripts may branch on them."""

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_FOUND_LIMIT = 60


def format_key_path(path: KeyPath) -> str:
    """Render a key path the way TOML would spell it: ``nodes[2].inputs[0].type``.

    Keys that are not bare TOML keys are quoted (``dependencies."acme.tokenizer"``).

    Args:
        path: Keys and indexes from the document's root.

    Returns:
        The dotted path; the empty string for the root.
    """
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
            continue
        key = part if _BARE_KEY.match(part) else json.dumps(part, ensure_ascii=False)
        out.append(f".{key}" if out else key)
    return "".join(out)


def _clip(text: str) -> str:
    return text if len(text) <= _FOUND_LIMIT else text[: _FOUND_LIMIT - 3] + "..."


def describe_value(value: Any) -> str:
    """Describe a value briefly for a message: its TOML kind and, for scalars, the value.

    Args:
        value: Anything found in a decoded TOML document (or a Python mapping).

    Returns:
        Text such as ``the string "abc"``, ``the integer 3`` or ``a table``.
    """
    if isinstance(value, bool):
        return f"the boolean {'true' if value else 'false'}"
    if isinstance(value, int):
        return _clip(f"the integer {value}") if value.bit_length() < 256 else "a huge integer"
    if isinstance(value, float):
        text = "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return f"the float {repr(value) if math.isfinite(value) else text}"
    if isinstance(value, str):
        return "the string " + _clip(json.dumps(value, ensure_ascii=False))
    if isinstance(value, datetime.datetime):
        return f"the date-time {value.isoformat()}"
    if isinstance(value, datetime.date):
        return f"the date {value.isoformat()}"
    if isinstance(value, datetime.time):
        return f"the time {value.isoformat()}"
    if isinstance(value, list | tuple):
        return f"an array of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return "a table"
    if value is None:
        return "nothing (null)"
    return f"a {type(value).__name__} object"


class Issue(msgspec.Struct, frozen=True, kw_only=True):
    """One problem in a manifest.

    Attributes:
        file: The manifest file (or other source name) the problem is in.
        path: Key path of the offending value, e.g. ``nodes[2].inputs[0].type``; empty
            when the problem concerns the whole file.
        code: Stable identifier of the kind of problem (see :data:`ISSUE_CODES`).
        message: What is wrong, in plain words.
        found: What the file has there (``None`` when nothing is relevant).
        expected: What would be accepted, phrased as a way to fix it.
        line: 1-based line of the problem, when known (syntax and encoding errors).
        column: 1-based column of the problem, when known.
    """

    file: str
    path: str
    code: str
    message: str
    found: str | None = None
    expected: str | None = None
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}: " if self.path else f"{self.file}: "
        extra = [
            text
            for text in (
                f"found {self.found}" if self.found is not None else None,
                f"expected {self.expected}" if self.expected is not None else None,
            )
            if text is not None
        ]
        tail = f" ({', '.join(extra)})" if extra else ""
        return f"{where}{self.message}{tail}"

    def to_dict(self) -> dict[str, Any]:
        """Return the issue as a JSON-serialisable dict."""
        return {
            "file": self.file,
            "path": self.path,
            "code": self.code,
            "message": self.message,
            "found": self.found,
            "expected": self.expected,
            "line": self.line,
            "column": self.column,
        }


class ManifestError(UserError):
    """A manifest is invalid; carries every problem found in it, not just the first.

    Args:
        file: The manifest file (or source name).
        issues: The problems, in the order found; at least one.

    Attributes:
        file: The manifest file (or source name).
        issues: Every problem found.
    """

    code = "manifest.invalid"

    def __init__(self, file: str, issues: Sequence[Issue]) -> None:
        self.file = file
        self.issues: list[Issue] = list(issues)
        count = len(self.issues)
        super().__init__(
            f"{count} problem{'s' if count != 1 else ''} in manifest {file}",
            where=file,
            hint="fix each key listed; `symphony ext check` re-checks the file",
            details={"issues": [issue.to_dict() for issue in self.issues]},
        )

    def __str__(self) -> str:
        return "\n".join(str(issue) for issue in self.issues) or self.message

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable description with every issue."""
        return {
            "code": self.code,
            "message": self.message,
            "where": self.file,
            "hint": self.hint,
            "file": self.file,
            "issues": [issue.to_dict() for issue in self.issues],
        }


class ManifestNotFoundError(UserError):
    """No ``symphony.toml`` where one was looked for."""

    code = "manifest.not_found"
