"""The double of ``ArtifactStore``: content-addressed blobs in memory, hashed and verified."""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from collections.abc import Iterable
from typing import Literal

from symphony_core.ports.artifacts import (
    ArtifactCorruptedError,
    ArtifactInfo,
    ArtifactMeta,
    ArtifactNotFoundError,
    ByteSource,
    Corruption,
    Lineage,
    LineageError,
    check_digest,
)
from symphony_core.testing.wordmatch import query_words, text_words, words_match

__all__ = ["FakeArtifactStore", "HashAlgorithm"]

HashAlgorithm = Literal["sha256", "blake2b"]
_CHUNK = 1 << 16


def _hexdigest(algorithm: HashAlgorithm, data: bytes) -> str:
    if algorithm == "blake2b":
        return hashlib.blake2b(data, digest_size=32).hexdigest()
    return hashlib.sha256(data).hexdigest()


class FakeArtifactStore:
    """Keeps blobs in a dict keyed by digest, hashing on put and re-hashing on every get.

    Args:
        algorithm: ``sha256`` (default) or ``blake2b`` (32-byte digest).
    """

    def __init__(self, *, algorithm: HashAlgorithm = "sha256") -> None:
        self._algorithm: HashAlgorithm = algorithm
        self._lock = threading.RLock()
        self._blobs: dict[str, bytes] = {}
        self._infos: dict[str, ArtifactInfo] = {}
        self._children: dict[str, set[str]] = {}

    def _digest(self, data: bytes) -> str:
        return f"{self._algorithm}:{_hexdigest(self._algorithm, data)}"

    @staticmethod
    def _read(data: ByteSource) -> bytes:
        if isinstance(data, bytes | bytearray | memoryview):
            return bytes(data)
        read = getattr(data, "read", None)
        if callable(read):
            parts: list[bytes] = []
            while chunk := read(_CHUNK):
                parts.append(bytes(chunk))
            return b"".join(parts)
        if isinstance(data, Iterable):
            return b"".join(bytes(chunk) for chunk in data)
        raise TypeError(f"cannot store {type(data).__name__}: pass bytes, a file or chunks")

    def _ancestors(self, start: Iterable[str]) -> list[str]:
        seen: dict[str, None] = {}
        queue = deque(start)
        while queue:
            digest = queue.popleft()
            if digest in seen:
                continue
            seen[digest] = None
            info = self._infos.get(digest)
            if info is not None:
                queue.extend(info.meta.parents)
        return list(seen)

    def _descendants(self, digest: str) -> list[str]:
        seen: dict[str, None] = {}
        queue = deque(sorted(self._children.get(digest, ())))
        while queue:
            child = queue.popleft()
            if child in seen or child not in self._infos:
                continue
            seen[child] = None
            queue.extend(sorted(self._children.get(child, ())))
        return list(seen)

    def _check_parents(self, digest: str, meta: ArtifactMeta) -> None:
        for parent in meta.parents:
            check_digest(parent)
            if parent == digest:
                raise LineageError("an artifact cannot be its own parent", where=digest)
            if parent not in self._infos:
                raise LineageError(
                    "a parent is not stored", where=parent, hint="store the parents first"
                )
        if digest in self._ancestors(meta.parents):
            raise LineageError(
                "these parents derive from the artifact itself: lineage would form a cycle",
                where=digest,
            )

    def put(self, data: ByteSource, meta: ArtifactMeta | None = None) -> str:
        """Store bytes; return their digest (see ``ArtifactStore.put``).

        Storing bytes that are already stored repairs a damaged copy.

        Args:
            data: Bytes, a binary file object or chunks.
            meta: Metadata; replaces the existing metadata when given.

        Returns:
            The digest.
        """
        payload = self._read(data)
        digest = self._digest(payload)
        with self._lock:
            old = self._infos.get(digest)
            if meta is None:
                meta = old.meta if old is not None else ArtifactMeta()
            else:
                self._check_parents(digest, meta)
            self._blobs[digest] = payload
            if old is not None:
                for parent in old.meta.parents:
                    self._children.get(parent, set()).discard(digest)
            for parent in meta.parents:
                self._children.setdefault(parent, set()).add(digest)
            self._infos[digest] = ArtifactInfo(digest=digest, size=len(payload), meta=meta)
        return digest

    def _info(self, digest: str) -> ArtifactInfo:
        check_digest(digest)
        info = self._infos.get(digest)
        if info is None:
            raise ArtifactNotFoundError("no artifact has this digest", where=digest)
        return info

    def get(self, digest: str) -> bytes:
        """Return the verified bytes of an artifact (see ``ArtifactStore.get``).

        Args:
            digest: The artifact.

        Returns:
            The bytes.
        """
        with self._lock:
            self._info(digest)
            payload = self._blobs.get(digest)
        if payload is None or self._digest(payload) != digest:
            raise ArtifactCorruptedError(
                "the stored bytes are missing or do not match the digest",
                where=digest,
                hint="run the store check and restore the artifact from its source",
            )
        return payload

    def exists(self, digest: str) -> bool:
        """Return whether the artifact is stored."""
        check_digest(digest)
        with self._lock:
            return digest in self._infos

    def info(self, digest: str) -> ArtifactInfo:
        """Return an artifact's size and metadata."""
        with self._lock:
            return self._info(digest)

    def search(self, text: str, *, limit: int = 20) -> list[ArtifactInfo]:
        """Find artifacts by words of their name, text and label values.

        Args:
            text: Words to look for.
            limit: Most results, at least 1.

        Returns:
            Matches ordered by name, then digest.
        """
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        words = query_words(text)
        if not words:
            return []
        with self._lock:
            found = [
                info
                for info in self._infos.values()
                if words_match(
                    words,
                    text_words((info.meta.name, info.meta.text, *info.meta.labels.values())),
                )
            ]
        found.sort(key=lambda info: (info.meta.name, info.digest))
        return found[:limit]

    def lineage(self, digest: str) -> Lineage:
        """Return an artifact's parents, children, ancestors and descendants."""
        with self._lock:
            info = self._info(digest)
            return Lineage(
                digest=digest,
                parents=list(info.meta.parents),
                children=sorted(c for c in self._children.get(digest, ()) if c in self._infos),
                ancestors=self._ancestors(info.meta.parents),
                descendants=self._descendants(digest),
            )

    def delete(self, digest: str) -> bool:
        """Delete an artifact; return whether it was stored."""
        check_digest(digest)
        with self._lock:
            info = self._infos.pop(digest, None)
            self._blobs.pop(digest, None)
            if info is None:
                return False
            for parent in info.meta.parents:
                self._children.get(parent, set()).discard(digest)
            return True

    def check(self) -> list[Corruption]:
        """Re-hash every artifact; return the missing or damaged ones, by digest."""
        with self._lock:
            items = [(digest, self._blobs.get(digest)) for digest in sorted(self._infos)]
        problems: list[Corruption] = []
        for digest, payload in items:
            if payload is None:
                problems.append(Corruption(digest=digest, problem="missing"))
            elif self._digest(payload) != digest:
                problems.append(Corruption(digest=digest, problem="mismatch"))
        return problems

    def raw(self, digest: str) -> bytes | None:
        """Return the stored bytes behind a digest without verifying them (a test aid).

        Args:
            digest: A digest.

        Returns:
            The bytes as stored, or ``None`` if none are.
        """
        with self._lock:
            return self._blobs.get(digest)

    def tamper(self, digest: str, data: bytes | None) -> None:
        """Replace an artifact's stored bytes, or remove them, without touching the digest.

        A test aid that simulates disk damage; never use it outside tests.

        Args:
            digest: A stored artifact.
            data: The damaged bytes, or ``None`` for bytes that vanished.
        """
        with self._lock:
            self._info(digest)
            if data is None:
                self._blobs.pop(digest, None)
            else:
                self._blobs[digest] = data
