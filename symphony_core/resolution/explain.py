"""Turn resolvelib's "impossible" into plain words: who requires what, what exists."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from symphony_core.errors import ResolutionError
from symphony_core.resolution.candidate import Candidate, Origin
from symphony_core.resolution.errors import HostApiConflictError, MissingExtensionError
from symphony_core.resolution.requirement import Requirement
from symphony_core.resolution.rules import VersionPool

if TYPE_CHECKING:
    from symphony_core.resolution.provider import ExtensionProvider, RejectionRecorder

__all__ = ["Demand", "explain_impossible", "requirer_phrase", "absence_phrase"]

Kind = Literal["missing", "host_api", "conflict"]


@dataclass(frozen=True, slots=True)
class Demand:
    """One requirement and who made it (``None``: it was asked for directly).

    Attributes:
        requirement: The requirement.
        parent: The candidate that declares it, or ``None`` for a root requirement.
    """

    requirement: Requirement
    parent: Candidate | None

    def sort_key(self) -> tuple[bool, str, Any, str]:
        """Roots first, then by requirer id and version, then by requirement."""
        if self.parent is None:
            return (False, "", (), str(self.requirement))
        return (True, self.parent.id, self.parent.version, str(self.requirement))

    def phrase(self) -> str:
        """``acme.a 1.0 requires acme.tok>=2`` or ``you asked for acme.tok>=2``."""
        return f"{requirer_phrase(self.parent)} {self.requirement}"


def requirer_phrase(parent: Candidate | None) -> str:
    """``acme.a 1.0 requires`` for a dependency, ``you asked for`` for a root.

    Args:
        parent: The requiring candidate, or ``None``.

    Returns:
        The phrase, to be followed by the requirement.
    """
    return "you asked for" if parent is None else f"{parent} requires"


def absence_phrase(origins: Iterable[Origin]) -> str:
    """How to say that an id was not found, given where the source looked.

    Args:
        origins: The origins the source consulted.

    Returns:
        E.g. ``which is not installed (and not known to the registry)``.
    """
    looked = set(origins)
    if looked == {"installed"}:
        return "which is not installed"
    if looked == {"registry"}:
        return "which is not known to the registry"
    return "which is not installed (and not known to the registry)"


@dataclass(frozen=True, slots=True)
class _Group:
    ext_id: str
    demands: tuple[Demand, ...]

    @property
    def requirements(self) -> list[Requirement]:
        return [d.requirement for d in self.demands]


def _groups(demands: Iterable[Demand]) -> list[_Group]:
    by_id: dict[str, dict[tuple[object, ...], Demand]] = {}
    for demand in demands:
        parent = demand.parent
        key = (
            demand.requirement,
            None if parent is None else (parent.id, parent.version, parent.origin),
        )
        by_id.setdefault(demand.requirement.id, {}).setdefault(key, demand)
    return [
        _Group(ext_id, tuple(sorted(found.values(), key=Demand.sort_key)))
        for ext_id, found in sorted(by_id.items())
    ]


def _versions_text(known: Sequence[Candidate], provider: ExtensionProvider) -> str:
    if not known:
        return "none"
    parts = []
    for cand in sorted(known, key=lambda c: c.version):
        note = (
            ""
            if cand.supports_host(provider.host_api)
            else f" (needs host API {cand.host_api_display})"
        )
        parts.append(f"{cand.version}{note}")
    return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class _Explained:
    kind: Kind
    ext_id: str
    text: str
    conflicts: list[dict[str, Any]]


def _explain_group(group: _Group, provider: ExtensionProvider) -> _Explained:
    pool = provider.pool(group.ext_id)
    known = pool.known
    available = [str(c.version) for c in sorted(known, key=lambda c: c.version)]
    items = [d.phrase() for d in group.demands]
    reqs = group.requirements
    kind: Kind
    extra: dict[str, Any] = {}
    fitting = pool.admissible(reqs)
    blocked_by_host = [
        c
        for c in known
        if not c.supports_host(provider.host_api) and all(pool.satisfies(r, c) for r in reqs)
    ]
    if not known:
        kind = "missing"
        text = f"{' and '.join(items)}, {absence_phrase(provider.source.origins)}"
    elif not fitting and blocked_by_host:
        kind = "host_api"
        ordered = sorted(blocked_by_host, key=lambda c: c.version)
        needs = ", ".join(f"{c} needs host API {c.host_api_display}" for c in ordered)
        text = f"{needs} but this host provides {provider.host_api} ({'; '.join(items)})"
        extra = {
            "host_api": str(provider.host_api),
            "needs_host_api": {str(c.version): c.host_api_display for c in ordered},
        }
    else:
        kind = "conflict"
        text = (
            f"cannot satisfy {group.ext_id}: {', '.join(items)}; "
            f"available: {_versions_text(known, provider)}"
        )
        if fitting:
            tried = ", ".join(str(c.version) for c in sorted(fitting, key=lambda c: c.version))
            text += f"; the versions that fit ({tried}) each conflict with other requirements"
        else:
            text += _prerelease_note(pool, reqs, provider)
    conflicts = [
        {
            "extension": group.ext_id,
            "requirer": None if d.parent is None else d.parent.id,
            "requirer_version": None if d.parent is None else str(d.parent.version),
            "requirement": str(d.requirement),
            "available": available,
            "reason": kind,
            **extra,
        }
        for d in group.demands
    ]
    return _Explained(kind, group.ext_id, text, conflicts)


def _prerelease_note(
    pool: VersionPool, reqs: Sequence[Requirement], provider: ExtensionProvider
) -> str:
    # A pre-release inside every range but refused by one requirement's pre-release rule
    # is the one case where "available" alone would look wrong; say why it does not count.
    held_back = [
        c
        for c in pool.inside_all(reqs)
        if c.supports_host(provider.host_api) and c.version.is_prerelease
    ]
    if not held_back:
        return ""
    names = ", ".join(str(c.version) for c in sorted(held_back, key=lambda c: c.version))
    return (
        f" ({names} {'is a pre-release' if len(held_back) == 1 else 'are pre-releases'}: "
        "a requirement accepts one only if it names a pre-release itself, e.g. >=2.0b1, "
        "or no final release fits it)"
    )


def _is_genuine(group: _Group, provider: ExtensionProvider) -> bool:
    # A group is a real conflict on its own when no version fits all its requirements,
    # whatever else was tried; resolvelib's causes can also be groups that only failed
    # because backtracking had already ruled out the versions that fit.
    return not provider.pool(group.ext_id).admissible(group.requirements)


_MAX_DEEP_CONFLICTS = 3


def _dig(
    start: Sequence[_Group], provider: ExtensionProvider, recorder: RejectionRecorder
) -> list[_Group]:
    # First follow, for each version that would fit a group, the recorded reason it was
    # rejected, until groups that conflict on their own are found. A version ruled out
    # while backjumping has no reason of its own; then fall back to the latest real
    # conflicts the resolver met — the whole search was for these roots, and each of
    # them is a set of requirements that truly cannot hold together.
    found: dict[tuple[str, tuple[Demand, ...]], _Group] = {}
    seen: set[Candidate] = set()
    queue = list(start)
    while queue:
        group = queue.pop(0)
        if _is_genuine(group, provider):
            found.setdefault((group.ext_id, group.demands), group)
            continue
        for cand in provider.pool(group.ext_id).admissible(group.requirements):
            if cand in seen:
                continue
            seen.add(cand)
            reason = recorder.rejected.get(cand)
            if reason:
                queue.extend(_groups(Demand(i.requirement, i.parent) for i in reason))
    if not found:
        for failure in reversed(recorder.failures):
            for group in _groups(Demand(i.requirement, i.parent) for i in failure):
                if len(found) < _MAX_DEEP_CONFLICTS and _is_genuine(group, provider):
                    found.setdefault((group.ext_id, group.demands), group)
    return list(found.values())


def _pure_conflict(group: _Group, provider: ExtensionProvider) -> bool:
    pool = provider.pool(group.ext_id)
    if not pool.known or pool.admissible(group.requirements):
        return False
    return all(
        c.supports_host(provider.host_api)
        or not all(pool.satisfies(r, c) for r in group.requirements)
        for c in pool.known
    )


def _minimal(group: _Group, provider: ExtensionProvider) -> _Group:
    # Quote only requirements that matter: drop each one whose absence still leaves a
    # conflict ("you asked for acme.tok" adds nothing when two others already clash).
    # Missing extensions and host-API refusals keep every requirer: each one is a reason.
    if not _pure_conflict(group, provider):
        return group
    kept = list(group.demands)
    # Dependencies go before roots: what the user asked for is the part to keep.
    for demand in reversed(group.demands):
        trial = _Group(group.ext_id, tuple(d for d in kept if d is not demand))
        if trial.demands and _pure_conflict(trial, provider):
            kept = list(trial.demands)
    return _Group(group.ext_id, tuple(kept))


def _unique(groups: Iterable[_Group]) -> list[_Group]:
    out: dict[tuple[str, tuple[Demand, ...]], _Group] = {}
    for group in groups:
        out.setdefault((group.ext_id, group.demands), group)
    return list(out.values())


def _context(group: _Group, provider: ExtensionProvider) -> str:
    fitting = provider.pool(group.ext_id).admissible(group.requirements)
    versions = ", ".join(str(c.version) for c in sorted(fitting, key=lambda c: c.version))
    items = ", ".join(d.phrase() for d in group.demands)
    return f"no version of {group.ext_id} works ({items}): the ones that fit ({versions}) fail"


def explain_impossible(
    demands: Iterable[Demand],
    provider: ExtensionProvider,
    recorder: RejectionRecorder,
) -> ResolutionError:
    """Build the error for a resolution that has no answer.

    Args:
        demands: resolvelib's causes: the requirements that could not be met together.
        provider: The provider used, to look versions up.
        recorder: What the resolver rejected along the way.

    Returns:
        A :class:`MissingExtensionError` when every problem is a missing extension, a
        :class:`HostApiConflictError` when every problem is the host API, otherwise a
        :class:`~symphony_core.errors.ResolutionError`. Its message quotes the
        requirements that cannot hold together, with who made each, and the versions
        that exist; ``conflicts`` holds the same facts, one dict per requirement.
    """
    top = _groups(demands)
    genuine = [g for g in top if _is_genuine(g, provider)]
    context: list[_Group] = []
    if not genuine:
        # resolvelib blamed requirements that some version does fit; that version
        # failed further down, so explain where.
        genuine = _dig(top, provider, recorder)
        context = top if genuine else []
    if not genuine:
        genuine = top
    genuine = _unique(_minimal(group, provider) for group in genuine)
    parts = [_explain_group(group, provider) for group in genuine]
    if len(parts) == 1:
        message = parts[0].text
    else:
        numbered = "; ".join(f"({n}) {part.text}" for n, part in enumerate(parts, 1))
        message = f"no combination of versions satisfies every requirement: {numbered}"
    if context:
        lead = "; ".join(_context(group, provider) for group in context)
        message = f"{lead} further down — {message}"
    conflicts = [c for part in parts for c in part.conflicts]
    kinds = {part.kind for part in parts}
    ids = sorted({part.ext_id for part in parts})
    if kinds == {"missing"}:
        action = "install" if "installed" in provider.source.origins else "check the id of"
        return MissingExtensionError(
            message,
            conflicts=conflicts,
            hint=f"{action} {', '.join(ids)}, or remove the requirement on it",
        )
    if kinds == {"host_api"}:
        return HostApiConflictError(
            message,
            conflicts=conflicts,
            extension_id=ids[0] if len(ids) == 1 else None,
            where=None,
            hint=(
                f"use a version of {', '.join(ids)} made for host API {provider.host_api}, "
                "or a Symphony release that provides the host API it needs"
            ),
        )
    return ResolutionError(
        message,
        conflicts=conflicts,
        hint="relax one of the conflicting requirements, or pick versions that agree",
    )
