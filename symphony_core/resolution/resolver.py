"""Resolve requirements on extensions to one version each, and order them for loading."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from packaging.version import Version
from resolvelib import ResolutionImpossible, ResolutionTooDeep, Resolver

from symphony_core.errors import InternalError
from symphony_core.hostapi import HOST_API_VERSION
from symphony_core.resolution.candidate import Candidate
from symphony_core.resolution.errors import DependencyCycleError, ResolutionTooComplexError
from symphony_core.resolution.explain import Demand, explain_impossible
from symphony_core.resolution.order import find_cycle, load_order
from symphony_core.resolution.provider import ExtensionProvider, Finished, RejectionRecorder
from symphony_core.resolution.requirement import Requirement
from symphony_core.resolution.sources import CandidateSource

__all__ = ["DEFAULT_MAX_ROUNDS", "Resolution", "resolve"]

DEFAULT_MAX_ROUNDS = 200_000
"""resolvelib rounds before giving up (one round pins one extension); pip's figure."""


@dataclass(frozen=True, slots=True)
class Resolution:
    """The chosen version of every extension needed, and the order to load them in.

    Attributes:
        roots: The requirements resolved, sorted.
        chosen: Extension id -> chosen candidate, sorted by id.
        load_order: The chosen candidates, every one after those it depends on;
            among those free to go next, the smallest id first.
        graph: Extension id -> the ids it depends on, sorted.
    """

    roots: tuple[Requirement, ...]
    chosen: Mapping[str, Candidate]
    load_order: tuple[Candidate, ...]
    graph: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __getitem__(self, ext_id: str) -> Candidate:
        return self.chosen[ext_id]

    def __contains__(self, ext_id: object) -> bool:
        return ext_id in self.chosen

    def __iter__(self) -> Iterator[Candidate]:
        return iter(self.load_order)

    def __len__(self) -> int:
        return len(self.chosen)

    @property
    def to_install(self) -> tuple[Candidate, ...]:
        """The chosen candidates that are not installed yet, in load order."""
        return tuple(c for c in self.load_order if c.origin != "installed")


def _as_requirement(root: str | Requirement) -> Requirement:
    return root if isinstance(root, Requirement) else Requirement.parse(root)


def resolve(
    roots: Iterable[str | Requirement],
    source: CandidateSource,
    *,
    host_api: Version = HOST_API_VERSION,
    prefer_installed: bool = True,
    max_rounds: int = DEFAULT_MAX_ROUNDS,
) -> Resolution:
    """Choose one version of each extension so that every requirement holds.

    The roots and, transitively, the dependencies of every chosen version must all be
    satisfied; every chosen version must support ``host_api``; pre-releases are chosen
    only as PEP 440 allows (see :mod:`symphony_core.resolution.rules`). When several answers
    exist, newer versions win — but with ``prefer_installed`` an installed version that
    satisfies is kept rather than upgraded. The same input always gives the same answer.

    Args:
        roots: Requirements such as ``"acme.a"`` or ``"acme.a>=1,<2"``.
        source: Where versions come from (installed, registry, or a chain of both).
        host_api: The host API version chosen extensions must support.
        prefer_installed: Keep installed versions when they satisfy.
        max_rounds: Give up after this many resolver rounds.

    Returns:
        The chosen versions and their load order.

    Raises:
        InvalidRequirementError: A root, or a manifest met on the way, is malformed.
        MissingExtensionError: A required extension is unknown to ``source``.
        HostApiConflictError: Only versions for another host API would do.
        DependencyCycleError: The answer has extensions that depend on each other.
        ResolutionTooComplexError: No answer either way within ``max_rounds``.
        symphony_core.errors.ResolutionError: The requirements conflict; the message
            quotes who requires what and lists the versions that exist.
    """
    # Equal requirements may be spelled differently (">=1,<2" / "<2,>=1"); keep the
    # smallest spelling of each so messages do not depend on the order of the roots.
    unique: dict[Requirement, Requirement] = {}
    for requirement in sorted(map(_as_requirement, roots), key=lambda r: (r.id, str(r))):
        unique.setdefault(requirement, requirement)
    wanted = tuple(unique.values())
    provider = ExtensionProvider(source, host_api=host_api, prefer_installed=prefer_installed)
    chosen = _run(wanted, provider, max_rounds)
    _check(wanted, chosen, provider)
    return _finish(wanted, chosen)


def _run(
    wanted: tuple[Requirement, ...], provider: ExtensionProvider, max_rounds: int
) -> dict[str, Candidate]:
    recorder = RejectionRecorder()
    resolver: Resolver[Requirement, Candidate, str] = Resolver(provider, recorder)
    try:
        resolver.resolve(wanted, max_rounds=max_rounds)
    except Finished as done:
        pins = done.mapping
    except ResolutionImpossible as exc:
        causes = [Demand(info.requirement, info.parent) for info in exc.causes]
        raise explain_impossible(causes, provider, recorder) from None
    except ResolutionTooDeep:
        raise ResolutionTooComplexError(
            f"gave up after {max_rounds} rounds without finding versions that work together "
            f"for {', '.join(str(r) for r in wanted)}",
            hint="pin some of the extensions to exact versions to narrow the search",
        ) from None
    else:
        raise InternalError("resolvelib returned without reporting its final state")
    # Keep only what the roots need: pins left over from abandoned branches are dropped.
    chosen: dict[str, Candidate] = {}
    queue = [req.id for req in wanted]
    while queue:
        ext_id = queue.pop()
        if ext_id in chosen or ext_id not in pins:
            continue
        chosen[ext_id] = pins[ext_id]
        queue.extend(req.id for req in pins[ext_id].dependencies)
    return dict(sorted(chosen.items()))


def _check(
    wanted: tuple[Requirement, ...], chosen: Mapping[str, Candidate], provider: ExtensionProvider
) -> None:
    # resolvelib's answer is only as good as the provider's consistency; re-check it
    # against the rules so that a bug shows up as one, not as a half-satisfied load.
    demands = [(req, None) for req in wanted] + [
        (req, cand) for cand in chosen.values() for req in cand.dependencies
    ]
    for req, parent in demands:
        cand = chosen.get(req.id)
        if (
            cand is None
            or not cand.supports_host(provider.host_api)
            or not provider.pool(req.id).satisfies(req, cand)
        ):
            who = "a root requirement" if parent is None else str(parent)
            raise InternalError(
                f"resolution chose {cand} for {req} (from {who}), which does not satisfy it",
                hint="please report this as a bug in Symphony with the extensions involved",
            )


def _finish(wanted: tuple[Requirement, ...], chosen: dict[str, Candidate]) -> Resolution:
    graph = {
        ext_id: tuple(sorted({r.id for r in cand.dependencies})) for ext_id, cand in chosen.items()
    }
    ordered = load_order(graph)
    if ordered.blocked:
        cycle = find_cycle(graph, ordered.blocked)
        raise cycle_error([chosen[i] for i in cycle])
    return Resolution(
        roots=wanted,
        chosen=chosen,
        load_order=tuple(chosen[i] for i in ordered.order),
        graph=graph,
    )


def cycle_error(path: list[Candidate]) -> DependencyCycleError:
    """Build the error for extensions that depend on each other.

    Args:
        path: The candidates along the cycle, the first repeated at the end.

    Returns:
        The error, naming the cycle and quoting each requirement along it.
    """
    links = []
    conflicts = []
    for here, there in itertools.pairwise(path):
        reqs = [r for r in here.dependencies if r.id == there.id]
        links.append(f"{here} requires {reqs[0]}")
        conflicts.append(
            {
                "extension": there.id,
                "requirer": here.id,
                "requirer_version": str(here.version),
                "requirement": str(reqs[0]),
                "available": [str(there.version)],
                "reason": "cycle",
            }
        )
    names = " -> ".join(c.id for c in path)
    return DependencyCycleError(
        f"extensions depend on each other in a cycle ({names}), so they cannot be loaded "
        f"in order: {', '.join(links)}",
        cycle=[c.id for c in path],
        conflicts=conflicts,
        hint="one of them must stop depending on the other (move the shared part into a "
        "third extension both depend on)",
    )
