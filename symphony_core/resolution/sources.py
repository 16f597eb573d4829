"""Where candidate versions come from: installed extensions, the registry, or both.

Resolution asks a :class:`CandidateSource` for the versions of one extension id at a
time, only for the ids it meets, so a registry-backed source can fetch lazily.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

from symphony_core.errors import SymphonyError
from symphony_core.extension import ExtensionRecord
from symphony_core.resolution.candidate import Candidate, Origin

__all__ = ["CandidateSource", "ChainedSource", "InstalledSource", "MemorySource"]


@runtime_checkable
class CandidateSource(Protocol):
    """What the resolver needs to know about available versions.

    A registry adapter implements this over the data-access port; the in-memory
    sources below implement it over installed records and fixed lists.
    """

    @property
    def origins(self) -> frozenset[Origin]:
        """The places this source looks in, used to word "not found" messages."""
        ...

    def versions(self, ext_id: str) -> Sequence[Candidate]:
        """Return every known version of ``ext_id`` (any order; empty if unknown).

        Args:
            ext_id: The extension id.

        Returns:
            The candidates; all with ``id == ext_id``.
        """
        ...


class MemorySource:
    """A fixed set of candidates from one origin (a test double, or a registry snapshot).

    Args:
        candidates: The candidates; a second one with the same id and version is ignored.
        origin: The origin they all come from; candidates of another origin are refused.

    Raises:
        ValueError: A candidate's origin differs from ``origin``.
    """

    def __init__(self, candidates: Iterable[Candidate], *, origin: Origin = "registry") -> None:
        self._origin: Origin = origin
        self._by_id: dict[str, list[Candidate]] = {}
        for cand in candidates:
            if cand.origin != origin:
                raise ValueError(f"{cand} comes from {cand.origin!r}, not {origin!r}")
            known = self._by_id.setdefault(cand.id, [])
            if all(other.version != cand.version for other in known):
                known.append(cand)

    @property
    def origins(self) -> frozenset[Origin]:
        """The single origin of this source."""
        return frozenset({self._origin})

    def versions(self, ext_id: str) -> Sequence[Candidate]:
        """Return the known versions of ``ext_id``.

        Args:
            ext_id: The extension id.

        Returns:
            Its candidates, in the order given.
        """
        return tuple(self._by_id.get(ext_id, ()))

    def ids(self) -> list[str]:
        """Return every extension id this source knows, sorted."""
        return sorted(self._by_id)


class InstalledSource:
    """The extensions installed here, from their discovery records.

    A record whose manifest holds a malformed version or specifier does not break the
    others: asking for its id raises the error that says what is wrong with it.

    Args:
        records: The installed extensions.
    """

    def __init__(self, records: Iterable[ExtensionRecord]) -> None:
        self._by_id: dict[str, list[Candidate]] = {}
        self._broken: dict[str, SymphonyError] = {}
        for record in records:
            try:
                cand = Candidate.from_record(record)
            except SymphonyError as exc:
                self._broken.setdefault(record.id, exc)
                continue
            known = self._by_id.setdefault(cand.id, [])
            if all(other.version != cand.version for other in known):
                known.append(cand)

    @property
    def origins(self) -> frozenset[Origin]:
        """Always ``{"installed"}``."""
        return frozenset({"installed"})

    def versions(self, ext_id: str) -> Sequence[Candidate]:
        """Return the installed versions of ``ext_id``.

        Args:
            ext_id: The extension id.

        Returns:
            Its installed candidates.

        Raises:
            SymphonyError: The installed manifest of ``ext_id`` is malformed.
        """
        broken = self._broken.get(ext_id)
        if broken is not None:
            raise broken
        return tuple(self._by_id.get(ext_id, ()))

    def ids(self) -> list[str]:
        """Return every installed extension id, sorted (malformed ones included)."""
        return sorted(self._by_id.keys() | self._broken.keys())


class ChainedSource:
    """Several sources seen as one: the union of their versions.

    When two sources know the same version of an extension, the earlier source's
    candidate wins — so ``ChainedSource(installed, registry)`` reports an installed
    version as installed even though the registry knows it too.

    Args:
        *sources: The sources, most authoritative first.
    """

    def __init__(self, *sources: CandidateSource) -> None:
        self._sources = sources

    @property
    def origins(self) -> frozenset[Origin]:
        """Every origin any of the sources looks in."""
        out: frozenset[Origin] = frozenset()
        for source in self._sources:
            out |= source.origins
        return out

    def versions(self, ext_id: str) -> Sequence[Candidate]:
        """Return the versions of ``ext_id`` every source knows, de-duplicated.

        Args:
            ext_id: The extension id.

        Returns:
            The merged candidates.
        """
        merged: dict[object, Candidate] = {}
        for source in self._sources:
            for cand in source.versions(ext_id):
                merged.setdefault(cand.version, cand)
        return tuple(merged.values())
