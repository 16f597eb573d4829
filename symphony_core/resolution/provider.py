"""The resolvelib provider: extensions x versions x host API."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from packaging.version import Version
from resolvelib import AbstractProvider, BaseReporter

from symphony_core.resolution.candidate import Candidate
from symphony_core.resolution.requirement import Requirement
from symphony_core.resolution.rules import VersionPool, preference_order
from symphony_core.resolution.sources import CandidateSource

if TYPE_CHECKING:
    from resolvelib.resolvers.criterion import Criterion
    from resolvelib.structs import RequirementInformation, State

__all__ = ["ExtensionProvider", "Finished", "RejectionRecorder"]


class ExtensionProvider(AbstractProvider[Requirement, Candidate, str]):
    """Tells resolvelib which versions exist, which fit, and what each one needs.

    * Matches: host-API compatible versions that satisfy every requirement, pre-releases
      only as :mod:`symphony_core.resolution.rules` allows.
    * Order of candidates: newest first; installed ones first when ``prefer_installed``.
    * Order of work: ids behind the latest conflict first, then the id with the fewest
      candidates left, then the smallest id, so results are deterministic.

    Args:
        source: Where versions come from.
        host_api: The host's API version.
        prefer_installed: Try installed versions before registry-only ones.
    """

    def __init__(
        self,
        source: CandidateSource,
        *,
        host_api: Version,
        prefer_installed: bool,
    ) -> None:
        self.source = source
        self.host_api = host_api
        self.prefer_installed = prefer_installed
        self._pools: dict[str, VersionPool] = {}
        self._satisfied: dict[tuple[int, int], tuple[Requirement, Candidate, bool]] = {}

    def pool(self, ext_id: str) -> VersionPool:
        """Every version the source knows of ``ext_id``, most preferred first (cached).

        Args:
            ext_id: The extension id.

        Returns:
            The versions with the matching rules.
        """
        found = self._pools.get(ext_id)
        if found is None:
            versions = [c for c in self.source.versions(ext_id) if c.id == ext_id]
            ordered = preference_order(versions, prefer_installed=self.prefer_installed)
            found = VersionPool(ordered, self.host_api)
            self._pools[ext_id] = found
        return found

    def identify(self, requirement_or_candidate: Requirement | Candidate) -> str:
        """Return the extension id of a requirement or candidate."""
        return requirement_or_candidate.id

    def get_preference(
        self,
        identifier: str,
        resolutions: Mapping[str, Candidate],
        candidates: Mapping[str, Iterator[Candidate]],
        information: Mapping[str, Iterator[RequirementInformation[Requirement, Candidate]]],
        backtrack_causes: Sequence[RequirementInformation[Requirement, Candidate]],
    ) -> tuple[bool, int, str]:
        """Sort key: ids behind the last conflict, then fewest candidates, then id."""
        in_conflict = any(
            cause.requirement.id == identifier
            or (cause.parent is not None and cause.parent.id == identifier)
            for cause in backtrack_causes
        )
        remaining = sum(1 for _ in candidates[identifier])
        return (not in_conflict, remaining, identifier)

    def find_matches(
        self,
        identifier: str,
        requirements: Mapping[str, Iterator[Requirement]],
        incompatibilities: Mapping[str, Iterator[Candidate]],
    ) -> list[Candidate]:
        """Return the admissible candidates not known to be incompatible, best first."""
        bad = set(incompatibilities[identifier])
        pool = self.pool(identifier)
        return [c for c in pool.admissible(requirements[identifier]) if c not in bad]

    def is_satisfied_by(self, requirement: Requirement, candidate: Candidate) -> bool:
        """Whether the candidate satisfies the requirement, pre-release rule included."""
        # resolvelib re-checks every pin against every requirement each round, so the
        # same pairs come back O(rounds) times. Keyed by identity (both objects live as
        # long as the provider: candidates in the pools, requirements in the candidates
        # and the roots) and kept alive by the entry itself, so an id is never reused.
        key = (id(requirement), id(candidate))
        hit = self._satisfied.get(key)
        if hit is None:
            answer = self.pool(requirement.id).satisfies(requirement, candidate)
            hit = (requirement, candidate, answer)
            self._satisfied[key] = hit
        return hit[2]

    def get_dependencies(self, candidate: Candidate) -> Sequence[Requirement]:
        """Return the candidate's requirements on other extensions, sorted by id."""
        return candidate.dependencies


class Finished(Exception):
    """Raised by :class:`RejectionRecorder` to hand over the final pins.

    Attributes:
        mapping: Extension id -> pinned candidate, for every id the resolver pinned.
    """

    def __init__(self, mapping: Mapping[str, Candidate]) -> None:
        super().__init__("resolution finished")
        self.mapping = dict(mapping)


class RejectionRecorder(BaseReporter[Requirement, Candidate, str]):
    """Remembers why candidates were rejected, and hands over the final pins.

    resolvelib's own result builder (``_build_result``, resolvelib 1.2.1) walks the
    requirement graph recursively without remembering what it visited, and overflows the
    stack when requirements left over from an abandoned branch form a cycle — and cycles
    between extensions are legal input. So the final pins are taken here, at ``ending``,
    by raising :class:`Finished`, and the caller keeps what the roots reach itself.

    Attributes:
        rejected: candidate -> the requirements (with who asked) that ruled it out,
            from the most recent rejection of that candidate.
        failures: The requirements behind the latest rejections, oldest first.
    """

    def __init__(self, keep: int = 256) -> None:
        self.rejected: dict[Candidate, list[RequirementInformation[Requirement, Candidate]]] = {}
        self.failures: deque[list[RequirementInformation[Requirement, Candidate]]] = deque(
            maxlen=keep
        )

    def rejecting_candidate(
        self, criterion: Criterion[Requirement, Candidate], candidate: Candidate
    ) -> None:
        """Record the criterion that could not be met once ``candidate`` was pinned."""
        info = list(criterion.information)
        self.rejected[candidate] = info
        self.failures.append(info)

    def ending(self, state: State[Requirement, Candidate, str]) -> None:
        """Hand the final pins over by raising :class:`Finished`."""
        raise Finished(state.mapping)
