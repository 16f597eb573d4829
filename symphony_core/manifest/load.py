"""Read a ``symphony.toml`` into a :class:`~symphony_core.manifest.model.Manifest`.

Whatever is wrong — an unreadable file, bytes that are not UTF-8, a TOML syntax error, or
any number of invalid values — comes out as one :class:`ManifestError` listing every
problem; nothing else escapes.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from symphony_core.manifest.issues import Issue, ManifestError
from symphony_core.manifest.model import Manifest
from symphony_core.manifest.validate import validate_manifest_data

__all__ = ["MAX_MANIFEST_BYTES", "load_manifest", "parse_manifest"]

MAX_MANIFEST_BYTES = 1024 * 1024
"""Largest manifest accepted; discovery reads manifests of any installed package."""

_TOML_WHERE = re.compile(
    r"^(?P<what>.*?) \(at (?:line (?P<line>\d+), column (?P<col>\d+)|end of document)\)$"
)
_MSGSPEC_AT = re.compile(r"^(?P<what>.*) - at `\$(?P<path>.*)`$")


def _single(source: str, code: str, message: str, **extra: Any) -> ManifestError:
    return ManifestError(source, [Issue(file=source, path="", code=code, message=message, **extra)])


def _decode(data: bytes, source: str) -> str:
    # A UTF-8 byte order mark is not TOML, but editors write one; it is harmless.
    skip = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + skip
        line = data.count(b"\n", 0, offset) + 1
        column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
        raise _single(
            source,
            "manifest.encoding",
            f"the file is not valid UTF-8 (bad byte at line {line}, column {column})",
            found=f"the byte 0x{data[offset]:02x}" if offset < len(data) else None,
            expected="a UTF-8 text file",
            line=line,
            column=column,
        ) from None


def _toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_WHERE.match(str(exc))
        what = match.group("what") if match else str(exc)
        line = int(match.group("line")) if match and match.group("line") else None
        column = int(match.group("col")) if match and match.group("col") else None
        where = f"line {line}, column {column}" if line is not None else "the end of the file"
        raise _single(
            source,
            "manifest.syntax",
            f"TOML syntax error at {where}: {what}",
            expected="valid TOML (see https://toml.io)",
            line=line,
            column=column,
        ) from None
    except RecursionError:
        raise _single(
            source,
            "manifest.too_deep",
            "arrays or tables are nested too deeply to read",
            expected="a manifest nested a few levels deep",
        ) from None


def _convert(data: dict[str, Any], source: str) -> Manifest:
    try:
        return msgspec.convert(data, Manifest)
    except msgspec.ValidationError as exc:
        # The validator mirrors msgspec's rules, so this is a safety net only; it keeps the
        # promise that a bad manifest yields a ManifestError and never anything else.
        match = _MSGSPEC_AT.match(str(exc))
        path = match.group("path").lstrip(".") if match else ""
        message = match.group("what") if match else str(exc)
        raise ManifestError(
            source, [Issue(file=source, path=path, code="manifest.type", message=message)]
        ) from None
    except RecursionError:
        raise _single(source, "manifest.too_deep", "values are nested too deeply to read") from None


def parse_manifest(data: bytes | str, *, source: str) -> Manifest:
    """Decode and validate a manifest's content.

    Args:
        data: The TOML text, as bytes (UTF-8, an optional BOM is ignored) or ``str``.
        source: The file (or other source name) to name in messages.

    Returns:
        The validated manifest.

    Raises:
        ManifestError: The content is too large, not UTF-8, not TOML, or invalid; the
            error lists every problem found.
    """
    if len(data) > MAX_MANIFEST_BYTES:
        raise _single(
            source,
            "manifest.too_large",
            f"the manifest is larger than {MAX_MANIFEST_BYTES} bytes",
            found=f"{len(data)} {'bytes' if isinstance(data, bytes) else 'characters'}",
            expected=f"at most {MAX_MANIFEST_BYTES} bytes",
        )
    text = _decode(data, source) if isinstance(data, bytes) else data
    document = _toml(text, source)
    issues = validate_manifest_data(document, source=source)
    if issues:
        raise ManifestError(source, issues)
    return _convert(document, source)


def load_manifest(path: Path) -> Manifest:
    """Read and validate the manifest file at ``path``.

    Args:
        path: A ``symphony.toml`` file.

    Returns:
        The validated manifest.

    Raises:
        ManifestError: The file cannot be read or is invalid; the error lists every
            problem found.
    """
    source = str(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise _single(
            source,
            "manifest.unreadable",
            f"cannot read the file: {reason}",
            expected="a readable symphony.toml file",
        ) from None
    return parse_manifest(data, source=source)
