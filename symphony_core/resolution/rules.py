"""Which versions of an extension satisfy a requirement: the rules all of resolution shares.

A candidate version satisfies a requirement when its version is inside the
requirement's specifier and, if it is a pre-release, when one of these holds (PEP 440's
rule, applied to each requirement on its own, as pip does for a single specifier):

* the requirement names a pre-release itself (``>=2.0b1``, ``==3.0rc2``);
* no final release known for that extension (and compatible with this host) is inside
  the specifier, so the pre-release is the only way to satisfy it; or
* the pre-release is already installed.

A candidate may be chosen when it supports the host's API version and satisfies every
requirement on its extension. Because each requirement decides on its own, adding a
requirement can only rule versions out, never back in — which is what lets the
resolver's backtracking be exhaustive.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from packaging.version import Version

from symphony_core.resolution.candidate import Candidate
from symphony_core.resolution.requirement import Requirement

__all__ = ["VersionPool", "preference_order"]


class VersionPool:
    """Every known version of one extension, with the rules to match them.

    Args:
        candidates: The known versions of one extension, most preferred first.
        host_api: The host API version; candidates that exclude it are never matches.
    """

    def __init__(self, candidates: Sequence[Candidate], host_api: Version) -> None:
        self.known = tuple(candidates)
        self.compatible = tuple(c for c in candidates if c.supports_host(host_api))
        self._has_final: dict[Requirement, bool] = {}

    def final_inside(self, requirement: Requirement) -> bool:
        """Whether some host-compatible final release is inside the requirement's range.

        Args:
            requirement: A requirement on this extension.

        Returns:
            ``True`` if a final (non-pre-release) compatible version satisfies it.
        """
        found = self._has_final.get(requirement)
        if found is None:
            found = any(
                not c.version.is_prerelease and requirement.contains(c.version)
                for c in self.compatible
            )
            self._has_final[requirement] = found
        return found

    def satisfies(self, requirement: Requirement, candidate: Candidate) -> bool:
        """Whether ``candidate`` satisfies ``requirement`` (see the module rules).

        Args:
            requirement: A requirement on this extension.
            candidate: One of its versions.

        Returns:
            ``True`` if the version is inside the range and, for a pre-release, the
            requirement names a pre-release, nothing final fits, or it is installed.
        """
        if not requirement.contains(candidate.version):
            return False
        if (
            not candidate.version.is_prerelease
            or candidate.origin == "installed"
            or requirement.names_prerelease
        ):
            return True
        return not self.final_inside(requirement)

    def admissible(self, requirements: Iterable[Requirement]) -> list[Candidate]:
        """The host-compatible versions that satisfy every requirement, order kept.

        Args:
            requirements: Requirements on this extension.

        Returns:
            The candidates that may be chosen, most preferred first.
        """
        reqs = list(requirements)
        return [c for c in self.compatible if all(self.satisfies(r, c) for r in reqs)]

    def inside_all(self, requirements: Iterable[Requirement]) -> list[Candidate]:
        """Every known version inside all the ranges, ignoring host API and pre-release rules.

        Args:
            requirements: Requirements on this extension.

        Returns:
            The candidates, most preferred first.
        """
        reqs = list(requirements)
        return [c for c in self.known if all(r.contains(c.version) for r in reqs)]


def preference_order(candidates: Iterable[Candidate], *, prefer_installed: bool) -> list[Candidate]:
    """Order candidates from most to least preferred.

    Newest first (a pre-release is only offered where the rules allow it); with
    ``prefer_installed``, every installed version before every version only the registry
    has, so an installed version is kept whenever it satisfies.

    Args:
        candidates: Versions of one extension.
        prefer_installed: Whether installed versions go first.

    Returns:
        A new list, most preferred first.
    """
    ordered = sorted(candidates, key=lambda c: c.version, reverse=True)
    if prefer_installed:
        ordered.sort(key=lambda c: c.origin != "installed")
    return ordered
