"""Start-up check: which installed extensions can load, in what order, and why not the rest.

Each installed extension is pinned to its installed version, and its dependencies can
only be met by installed extensions, so there is nothing to choose — only to check. An
extension is refused, with its own reason, when:

* its manifest holds a malformed version or specifier;
* two installed distributions provide its id;
* its host-API range excludes this host;
* a dependency is not installed, or the installed version is outside the range it asks;
* a dependency is refused (the message carries that dependency's reason); or
* it is on a dependency cycle.

Everything else loads, dependencies first, ties broken by id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from packaging.version import Version

from symphony_core.errors import ResolutionError, SymphonyError
from symphony_core.extension import ExtensionRecord
from symphony_core.hostapi import HOST_API_VERSION
from symphony_core.resolution.candidate import Candidate
from symphony_core.resolution.errors import (
    DependencyRefusedError,
    DuplicateExtensionError,
    HostApiConflictError,
    InvalidRequirementError,
    MissingExtensionError,
)
from symphony_core.resolution.explain import absence_phrase
from symphony_core.resolution.order import cycle_through, load_order
from symphony_core.resolution.outcome import InstalledResolution, refusals_error
from symphony_core.resolution.rules import VersionPool

__all__ = ["InstalledResolution", "resolve_installed"]


def resolve_installed(
    records: Iterable[ExtensionRecord],
    *,
    host_api: Version = HOST_API_VERSION,
    strict: bool = False,
) -> InstalledResolution:
    """Check every installed extension against the others and order the loadable ones.

    Args:
        records: Every installed extension.
        host_api: The host API version this host provides.
        strict: Raise instead of returning when any extension is refused.

    Returns:
        The loadable extensions in load order, and the refused ones with their reasons.

    Raises:
        symphony_core.errors.ResolutionError: ``strict`` and at least one extension is
            refused; the message lists each one's reason and ``details["refused"]``
            holds each error as a dict.
    """
    by_id: dict[str, list[ExtensionRecord]] = {}
    for record in records:
        by_id.setdefault(record.id, []).append(record)

    refused: dict[str, ResolutionError] = {}
    installed: dict[str, Candidate] = {}
    for ext_id, found in sorted(by_id.items()):
        if len(found) > 1:
            refused[ext_id] = _duplicate(ext_id, found)
            continue
        try:
            installed[ext_id] = Candidate.from_record(found[0])
        except SymphonyError as exc:
            refused[ext_id] = _invalid(ext_id, exc)

    pools = {ext_id: VersionPool([cand], host_api) for ext_id, cand in installed.items()}
    for ext_id, cand in installed.items():
        problem = _own_problem(cand, installed, pools, refused, host_api)
        if problem is not None:
            refused[ext_id] = problem

    _refuse_dependents(installed, refused)
    graph = {
        ext_id: tuple(sorted({r.id for r in cand.dependencies}))
        for ext_id, cand in installed.items()
        if ext_id not in refused
    }
    ordered = load_order(graph)
    if ordered.blocked:
        for ext_id in ordered.blocked:
            cycle = cycle_through(graph, ext_id)
            if cycle is not None:
                from symphony_core.resolution.resolver import cycle_error  # imports resolvelib

                refused[ext_id] = cycle_error([installed[i] for i in cycle])
        _refuse_dependents(installed, refused)
        graph = {k: v for k, v in graph.items() if k not in refused}
        ordered = load_order(graph)

    loadable = [installed[i].record for i in ordered.order]
    result = InstalledResolution(
        loadable=tuple(r for r in loadable if r is not None),
        refused=dict(sorted(refused.items())),
        graph=graph,
    )
    if strict and refused:
        raise refusals_error(result.refused)
    return result


def _duplicate(ext_id: str, found: list[ExtensionRecord]) -> DuplicateExtensionError:
    who = ", ".join(
        f"{r.distribution} {r.distribution_version} (version {r.version})"
        for r in sorted(found, key=lambda r: (r.distribution, r.distribution_version))
    )
    return DuplicateExtensionError(
        f"{ext_id} is provided by {len(found)} installed distributions: {who}",
        hint="uninstall all but one of them",
        conflicts=[
            {
                "extension": ext_id,
                "requirer": None,
                "requirer_version": None,
                "requirement": ext_id,
                "available": sorted(r.version for r in found),
                "reason": "duplicate",
                "distribution": r.distribution,
            }
            for r in found
        ],
    )


def _invalid(ext_id: str, exc: SymphonyError) -> InvalidRequirementError:
    return InvalidRequirementError(
        f"{ext_id}'s manifest cannot be used: {exc.message}",
        hint=exc.hint or "fix the manifest and reinstall the extension",
    )


def _own_problem(
    cand: Candidate,
    installed: Mapping[str, Candidate],
    pools: Mapping[str, VersionPool],
    refused: Mapping[str, ResolutionError],
    host_api: Version,
) -> ResolutionError | None:
    if not cand.supports_host(host_api):
        return HostApiConflictError(
            f"{cand} needs host API {cand.host_api_display} but this host provides {host_api}",
            extension_id=cand.id,
            where=None,
            hint=f"install a version of {cand.id} made for host API {host_api}",
            conflicts=[
                {
                    "extension": cand.id,
                    "requirer": None,
                    "requirer_version": None,
                    "requirement": f"{cand.id}=={cand.version}",
                    "available": [str(cand.version)],
                    "reason": "host_api",
                    "host_api": str(host_api),
                    "needs_host_api": {str(cand.version): cand.host_api_display},
                }
            ],
        )
    missing: list[str] = []
    mismatched: list[str] = []
    conflicts: list[dict[str, object]] = []
    for req in cand.dependencies:
        dep = installed.get(req.id)
        if dep is None and req.id in refused:
            continue  # reported as a refused dependency once the others are settled
        if dep is None:
            missing.append(f"{cand} requires {req}, {absence_phrase(['installed'])}")
            reason, available = "missing", []
        elif not pools[req.id].satisfies(req, dep):
            mismatched.append(f"{cand} requires {req}, but the installed {req.id} is {dep.version}")
            reason, available = "conflict", [str(dep.version)]
        else:
            continue
        conflicts.append(
            {
                "extension": req.id,
                "requirer": cand.id,
                "requirer_version": str(cand.version),
                "requirement": str(req),
                "available": available,
                "reason": reason,
            }
        )
    if not conflicts:
        return None
    message = "; ".join(missing + mismatched)
    if mismatched:
        return ResolutionError(
            message,
            conflicts=conflicts,
            hint="install versions that satisfy these requirements",
        )
    return MissingExtensionError(
        message,
        conflicts=conflicts,
        hint="install the missing extensions, or remove the requirement on them",
    )


def _refuse_dependents(
    installed: Mapping[str, Candidate], refused: dict[str, ResolutionError]
) -> None:
    # Fixpoint: an extension with a refused dependency is refused too. Messages are
    # written once the set is final and name the original causes, so they do not depend
    # on the order refusals were found in and stay short along long chains.
    causes = dict(refused)
    newly: set[str] = set()
    changed = True
    while changed:
        changed = False
        for ext_id, cand in installed.items():
            if ext_id in causes or ext_id in newly:
                continue
            if any(r.id in causes or r.id in newly for r in cand.dependencies):
                newly.add(ext_id)
                changed = True
    for ext_id in sorted(newly):
        cand = installed[ext_id]
        blockers = [r for r in cand.dependencies if r.id in causes or r.id in newly]
        reasons = []
        conflicts: list[dict[str, object]] = []
        for req in blockers:
            if req.id in causes:
                why = f": {causes[req.id].message}"
            else:
                roots = _root_causes(req.id, installed, causes, newly)
                why = " because " + "; ".join(
                    f"{root} cannot: {causes[root].message}" for root in roots
                )
            reasons.append(f"{cand} requires {req}, which cannot be loaded{why}")
            dep = installed.get(req.id)
            conflicts.append(
                {
                    "extension": req.id,
                    "requirer": cand.id,
                    "requirer_version": str(cand.version),
                    "requirement": str(req),
                    "available": [] if dep is None else [str(dep.version)],
                    "reason": "dependency_refused",
                }
            )
        refused[ext_id] = DependencyRefusedError(
            "; ".join(reasons),
            conflicts=conflicts,
            hint=f"fix {', '.join(r.id for r in blockers)} first",
        )


def _root_causes(
    start: str,
    installed: Mapping[str, Candidate],
    causes: Mapping[str, ResolutionError],
    newly: set[str],
) -> list[str]:
    found: set[str] = set()
    seen = {start}
    queue = [start]
    while queue:
        ext_id = queue.pop()
        if ext_id in causes:
            found.add(ext_id)
            continue
        for req in installed[ext_id].dependencies:
            if req.id not in seen and (req.id in causes or req.id in newly):
                seen.add(req.id)
                queue.append(req.id)
    return sorted(found)
