"""The Artifact Store port: content-addressed blobs with metadata, search and lineage.

A blob is named by its digest, ``<algorithm>:<hex>`` (``sha256:9f86...``), computed from
its bytes; the same bytes always get the same digest in one store, so storing them twice
stores them once. Every read re-hashes what it read and refuses bytes that do not match.

Metadata is attached to a digest: storing existing bytes again with metadata replaces
that metadata. Lineage comes from the metadata's ``parents`` (the digests an artifact
was derived from): they must exist when it is stored, and lineage can never form a cycle.

Promises every adapter keeps are checked by
:class:`symphony_core.testing.contracts.ArtifactStoreContract`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import IO, Protocol, runtime_checkable

import msgspec

from symphony_core.errors import SymphonyError, UserError

__all__ = [
    "ArtifactCorruptedError",
    "ArtifactInfo",
    "ArtifactMeta",
    "ArtifactNotFoundError",
    "ArtifactStore",
    "ArtifactStoreError",
    "ByteSource",
    "Corruption",
    "DIGEST_PATTERN",
    "InvalidDigestError",
    "Lineage",
    "LineageError",
    "check_digest",
]

DIGEST_PATTERN = r"^[a-z0-9]{2,16}:[0-9a-f]{32,128}$"
"""``<algorithm>:<lower-case hex>``."""

_DIGEST = re.compile(DIGEST_PATTERN)

ByteSource = bytes | bytearray | memoryview | IO[bytes] | Iterable[bytes]
"""What :meth:`ArtifactStore.put` accepts: bytes, a binary file object, or chunks."""


class ArtifactMeta(msgspec.Struct, frozen=True, kw_only=True):
    """What is known about an artifact besides its bytes.

    Attributes:
        name: A human-readable name (searchable).
        media_type: The MIME type of the bytes.
        text: Free text describing the content (searchable).
        labels: Key/value labels (values are searchable).
        parents: Digests of the artifacts it was derived from.
        producer: What produced it (``extension.id`` or ``run-id/node-id``).
    """

    name: str = ""
    media_type: str = "application/octet-stream"
    text: str = ""
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    parents: list[str] = msgspec.field(default_factory=list)
    producer: str = ""


class ArtifactInfo(msgspec.Struct, frozen=True, kw_only=True):
    """An artifact's digest, size and metadata.

    Attributes:
        digest: ``<algorithm>:<hex>``.
        size: Size of the bytes.
        meta: Its metadata.
    """

    digest: str
    size: int
    meta: ArtifactMeta


class Lineage(msgspec.Struct, frozen=True, kw_only=True):
    """Where an artifact comes from and what was derived from it.

    Attributes:
        digest: The artifact.
        parents: Its direct inputs, as recorded in its metadata.
        children: Stored artifacts that list it as a parent, sorted.
        ancestors: Every artifact it derives from, transitively: breadth first, nearest
            first, each once.
        descendants: Every stored artifact derived from it, transitively: breadth first,
            nearest first, each once.
    """

    digest: str
    parents: list[str]
    children: list[str]
    ancestors: list[str]
    descendants: list[str]


class Corruption(msgspec.Struct, frozen=True, kw_only=True):
    """One artifact that failed a check.

    Attributes:
        digest: The artifact.
        problem: ``missing`` (the bytes are gone) or ``mismatch`` (they hash differently).
    """

    digest: str
    problem: str


class ArtifactStoreError(SymphonyError):
    """Base of the Artifact Store errors."""

    code = "store.error"


class InvalidDigestError(ArtifactStoreError, UserError):
    """A digest is not ``<algorithm>:<hex>``."""

    code = "store.invalid_digest"


class ArtifactNotFoundError(ArtifactStoreError, UserError):
    """No artifact has that digest."""

    code = "store.not_found"


class ArtifactCorruptedError(ArtifactStoreError):
    """The stored bytes do not match their digest (or are gone): the store is damaged."""

    code = "store.corrupted"


class LineageError(ArtifactStoreError, UserError):
    """A parent is unknown, or the metadata would make lineage a cycle."""

    code = "store.lineage"


def check_digest(digest: object) -> str:
    """Return ``digest`` if it is ``<algorithm>:<hex>``.

    Args:
        digest: The value to check.

    Returns:
        The digest.

    Raises:
        InvalidDigestError: It is not a digest.
    """
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise InvalidDigestError(
            f"{digest!r} is not a digest",
            hint="a digest looks like 'sha256:' followed by lower-case hex",
        )
    return digest


@runtime_checkable
class ArtifactStore(Protocol):
    """Content-addressed blobs (see the module documentation)."""

    def put(self, data: ByteSource, meta: ArtifactMeta | None = None) -> str:
        """Store bytes and return their digest. Idempotent for the same bytes.

        Args:
            data: Bytes, a binary file object (read to its end), or an iterable of chunks.
            meta: Metadata; replaces the artifact's metadata when given.

        Returns:
            The digest.

        Raises:
            LineageError: A parent does not exist, or lineage would form a cycle.
            InvalidDigestError: A parent is not a digest.
        """
        ...

    def get(self, digest: str) -> bytes:
        """Return the bytes of an artifact, verified against the digest.

        Raises:
            InvalidDigestError: ``digest`` is not a digest.
            ArtifactNotFoundError: No artifact has that digest.
            ArtifactCorruptedError: The stored bytes do not match.
        """
        ...

    def exists(self, digest: str) -> bool:
        """Return whether an artifact with that digest is stored.

        Raises:
            InvalidDigestError: ``digest`` is not a digest.
        """
        ...

    def info(self, digest: str) -> ArtifactInfo:
        """Return an artifact's size and metadata without reading its bytes.

        Raises:
            InvalidDigestError: ``digest`` is not a digest.
            ArtifactNotFoundError: No artifact has that digest.
        """
        ...

    def search(self, text: str, *, limit: int = 20) -> list[ArtifactInfo]:
        """Find artifacts whose name, text or label values match every word of ``text``.

        A word matches a word of the artifact that starts with it, ignoring case. An
        empty ``text`` matches nothing.

        Args:
            text: Words to look for.
            limit: Most results to return, at least 1.

        Returns:
            Matching artifacts, best first.
        """
        ...

    def lineage(self, digest: str) -> Lineage:
        """Return where an artifact comes from and what derives from it.

        Raises:
            InvalidDigestError: ``digest`` is not a digest.
            ArtifactNotFoundError: No artifact has that digest.
        """
        ...

    def delete(self, digest: str) -> bool:
        """Delete an artifact's bytes and metadata.

        Artifacts derived from it keep naming it as a parent.

        Returns:
            Whether something was deleted (``False`` if it was not stored).

        Raises:
            InvalidDigestError: ``digest`` is not a digest.
        """
        ...

    def check(self) -> list[Corruption]:
        """Re-read every artifact and report those that are missing or damaged.

        Returns:
            The damaged artifacts, sorted by digest; empty when all is well.
        """
        ...
