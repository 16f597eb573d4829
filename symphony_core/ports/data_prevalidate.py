"""Pre-validation of data access requests: shape and syntax only, before anything is sent.

Every :class:`~symphony_core.ports.data.DataAccess` adapter runs these checks first, so a
malformed request fails the same way — :class:`~symphony_core.errors.PreValidationError`
naming the field — whichever adapter is used, and costs no request. Roles, ownership and
business rules are never judged here: that is the registry's job.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from symphony_core.errors import PreValidationError
from symphony_core.manifest.model import ID_PATTERN, Manifest

__all__ = [
    "MAX_ARCHIVE_BYTES",
    "MAX_CURSOR_LENGTH",
    "MAX_PAGE_SIZE",
    "MAX_QUERY_LENGTH",
    "MAX_REASON_LENGTH",
    "MAX_WORKFLOW_BYTES",
    "prevalidate_archive",
    "prevalidate_cursor",
    "prevalidate_description",
    "prevalidate_extension_id",
    "prevalidate_limit",
    "prevalidate_manifest",
    "prevalidate_namespace",
    "prevalidate_query",
    "prevalidate_reason",
    "prevalidate_revision",
    "prevalidate_version",
    "prevalidate_workflow_document",
    "prevalidate_workflow_name",
]

MAX_ARCHIVE_BYTES = 256 * 1024 * 1024
"""Largest archive a publish may carry."""
MAX_WORKFLOW_BYTES = 64 * 1024 * 1024
"""Largest workflow document a save may carry."""
MAX_PAGE_SIZE = 100
"""Largest ``limit`` of a listing."""
MAX_QUERY_LENGTH = 256
"""Longest search query, in characters."""
MAX_CURSOR_LENGTH = 512
"""Longest paging cursor, in characters."""
MAX_REASON_LENGTH = 1000
"""Longest yank reason or workflow description, in characters."""

_ID = re.compile(ID_PATTERN)
_NAMESPACE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,250}\.(whl|tar\.gz)$")
_CURSOR = re.compile(r"^[\x21-\x7e]+$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_AT_PATH = re.compile(r" - at (?P<key>`key` in )?`\$\.?(?P<path>[^`]*)`$")


def _text(value: Any, field: str, *, max_length: int) -> str:
    if not isinstance(value, str):
        raise PreValidationError(f"expected a string, got {type(value).__name__}", field=field)
    if len(value) > max_length:
        raise PreValidationError(
            f"is {len(value)} characters long, the limit is {max_length}", field=field
        )
    if _CONTROL.search(value):
        raise PreValidationError("contains control characters", field=field)
    return value


def prevalidate_extension_id(value: Any, *, field: str = "extension_id") -> str:
    """Check an extension id (``publisher.name``).

    Args:
        value: The id.
        field: Field name for the error.

    Returns:
        The id.

    Raises:
        PreValidationError: It is not a string matching ``publisher.name``.
    """
    if not isinstance(value, str) or not _ID.match(value):
        raise PreValidationError(
            f"{value!r} is not an extension id",
            field=field,
            hint="use 'publisher.name': lower-case letters, digits, '-' and '_'",
        )
    return value


def prevalidate_version(value: Any, *, field: str = "version") -> str:
    """Check a PEP 440 version.

    Args:
        value: The version string.
        field: Field name for the error.

    Returns:
        The version string.

    Raises:
        PreValidationError: It is not a PEP 440 version.
    """
    if not isinstance(value, str):
        raise PreValidationError(f"expected a version string, got {value!r}", field=field)
    try:
        Version(value)
    except InvalidVersion:
        raise PreValidationError(
            f"{value!r} is not a PEP 440 version", field=field, hint="e.g. '1.2.0'"
        ) from None
    return value


def _specifier(value: str, field: str) -> None:
    try:
        SpecifierSet(value)
    except InvalidSpecifier:
        raise PreValidationError(
            f"{value!r} is not a PEP 440 version specifier",
            field=field,
            hint="e.g. '>=1.0,<2'",
        ) from None


def prevalidate_manifest(manifest: Any) -> Manifest:
    """Check a manifest's whole shape: the schema, the version and every specifier.

    Struct constructors do not check constraints, so the manifest is re-validated from
    its builtin form.

    Args:
        manifest: The manifest.

    Returns:
        The manifest.

    Raises:
        PreValidationError: A field breaks the schema; ``field`` is its key path.
    """
    if not isinstance(manifest, Manifest):
        raise PreValidationError(
            f"expected a Manifest, got {type(manifest).__name__}", field="manifest"
        )
    try:
        msgspec.convert(msgspec.to_builtins(manifest), Manifest)
    except (msgspec.ValidationError, TypeError) as exc:
        text = str(exc)
        match = _AT_PATH.search(text)
        path = "manifest" + ("." + match.group("path") if match and match.group("path") else "")
        message = text[: match.start()] if match else text
        if match and match.group("key"):
            message = f"a key: {message}"
        raise PreValidationError(message, field=path) from None
    prevalidate_version(manifest.extension.version, field="manifest.extension.version")
    _specifier(manifest.extension.host_api, "manifest.extension.host-api")
    for dep_id, spec in manifest.dependencies.items():
        _specifier(spec, f"manifest.dependencies.{dep_id}")
    return manifest


def prevalidate_archive(archive: Any, filename: Any) -> None:
    """Check an archive's bytes and file name.

    Args:
        archive: The archive bytes.
        filename: Its file name.

    Raises:
        PreValidationError: The archive is empty, too large or not bytes, or the name is
            not a ``.whl`` / ``.tar.gz`` file name.
    """
    if not isinstance(archive, bytes | bytearray | memoryview):
        raise PreValidationError(f"expected bytes, got {type(archive).__name__}", field="archive")
    if len(archive) == 0:
        raise PreValidationError("the archive is empty", field="archive")
    if len(archive) > MAX_ARCHIVE_BYTES:
        raise PreValidationError(
            f"the archive is {len(archive)} bytes, the limit is {MAX_ARCHIVE_BYTES}",
            field="archive",
        )
    if not isinstance(filename, str) or not _FILENAME.match(filename):
        raise PreValidationError(
            f"{filename!r} is not an archive file name",
            field="filename",
            hint="a wheel ('name-1.0-py3-none-any.whl') or an sdist ('name-1.0.tar.gz')",
        )


def prevalidate_query(query: Any) -> str:
    """Check a search query.

    Args:
        query: The query text.

    Returns:
        The query.

    Raises:
        PreValidationError: It is not a string, too long or has control characters.
    """
    return _text(query, "query", max_length=MAX_QUERY_LENGTH)


def prevalidate_limit(limit: Any) -> int:
    """Check a page size.

    Args:
        limit: Items per page.

    Returns:
        The limit.

    Raises:
        PreValidationError: It is not an integer from 1 to :data:`MAX_PAGE_SIZE`.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise PreValidationError(
            f"expected an integer from 1 to {MAX_PAGE_SIZE}, got {limit!r}", field="limit"
        )
    return limit


def prevalidate_cursor(cursor: Any) -> str | None:
    """Check a paging cursor's syntax (its meaning is the registry's business).

    Args:
        cursor: The cursor, or ``None``.

    Returns:
        The cursor.

    Raises:
        PreValidationError: It is not printable ASCII of 1 to 512 characters.
    """
    if cursor is None:
        return None
    if (
        not isinstance(cursor, str)
        or not 1 <= len(cursor) <= MAX_CURSOR_LENGTH
        or not _CURSOR.match(cursor)
    ):
        raise PreValidationError(
            "a cursor is the 'next_cursor' of a previous page, passed back unchanged",
            field="cursor",
        )
    return cursor


def prevalidate_reason(reason: Any) -> str:
    """Check a yank reason.

    Args:
        reason: The reason text.

    Returns:
        The reason.

    Raises:
        PreValidationError: It is not a string, too long or has control characters.
    """
    return _text(reason, "reason", max_length=MAX_REASON_LENGTH)


def prevalidate_description(description: Any) -> str:
    """Check a workflow description.

    Args:
        description: The description text.

    Returns:
        The description.

    Raises:
        PreValidationError: It is not a string, too long or has control characters.
    """
    return _text(description, "description", max_length=MAX_REASON_LENGTH)


def prevalidate_workflow_name(name: Any) -> str:
    """Check a saved workflow's name (``namespace.name``, like an extension id).

    Args:
        name: The name.

    Returns:
        The name.

    Raises:
        PreValidationError: It is not ``namespace.name``.
    """
    return prevalidate_extension_id(name, field="name")


def prevalidate_namespace(namespace: Any) -> str | None:
    """Check a namespace filter.

    Args:
        namespace: The namespace, or ``None``.

    Returns:
        The namespace.

    Raises:
        PreValidationError: It is not a namespace (the part before the dot of an id).
    """
    if namespace is None:
        return None
    if not isinstance(namespace, str) or not _NAMESPACE.match(namespace):
        raise PreValidationError(f"{namespace!r} is not a namespace", field="namespace")
    return namespace


def prevalidate_revision(revision: Any) -> int | None:
    """Check a workflow revision number.

    Args:
        revision: The revision, or ``None`` for the latest.

    Returns:
        The revision.

    Raises:
        PreValidationError: It is not a positive integer.
    """
    if revision is None:
        return None
    if isinstance(revision, bool) or not isinstance(revision, int) or revision < 1:
        raise PreValidationError(f"expected a positive integer, got {revision!r}", field="revision")
    return revision


def prevalidate_workflow_document(document: Any) -> bytes:
    """Check that a workflow document is non-empty JSON of a sane size (syntax only).

    Args:
        document: The document bytes.

    Returns:
        The document as ``bytes``.

    Raises:
        PreValidationError: It is not bytes, empty, too large or not JSON.
    """
    if not isinstance(document, bytes | bytearray | memoryview):
        raise PreValidationError(
            f"expected JSON bytes, got {type(document).__name__}", field="document"
        )
    data = bytes(document)
    if not data:
        raise PreValidationError("the document is empty", field="document")
    if len(data) > MAX_WORKFLOW_BYTES:
        raise PreValidationError(
            f"the document is {len(data)} bytes, the limit is {MAX_WORKFLOW_BYTES}",
            field="document",
        )
    try:
        msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise PreValidationError(f"the document is not JSON: {exc}", field="document") from None
    return data
