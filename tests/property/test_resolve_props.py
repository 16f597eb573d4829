"""Property tests for extension resolution, checked against a brute-force solver.

Universes are small (at most 4 extensions x 4 versions) so that every assignment can be
enumerated. The brute force re-implements the rules from docs/resolution.md with
packaging directly, independently of symphony_core.resolution.rules:

* every root and every dependency of a chosen version is satisfied by the chosen
  version of its target (pre-releases counted as inside a specifier);
* every chosen version supports the host API;
* a pre-release satisfies a requirement only if that requirement names a pre-release,
  or no host-compatible final release is inside it, or the pre-release is installed;
* exactly the extensions reachable from the roots are chosen.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from symphony_core.errors import ResolutionError
from symphony_core.resolve import (
    Candidate,
    ChainedSource,
    DependencyCycleError,
    MemorySource,
    Resolution,
    resolve,
)

HOST = Version("1.0.0")
IDS = ["p.a", "p.b", "p.c", "p.d"]
VERSIONS = ["0.9", "1.0", "1.1b1", "1.5", "2.0a1", "2.0", "3.0"]
HOST_RANGES = ["", "", "", "", ">=1", ">=2", "<2"]
OPS = [">=", "<", "==", "!=", "<=", ">"]


@dataclass(frozen=True)
class Release:
    ext_id: str
    version: str
    host_api: str
    deps: tuple[tuple[str, str], ...]
    installed: bool


@dataclass(frozen=True)
class Universe:
    releases: tuple[Release, ...]
    roots: tuple[tuple[str, str], ...]
    split: bool = False  # installed releases come from an installed source

    def of(self, ext_id: str) -> list[Release]:
        return [r for r in self.releases if r.ext_id == ext_id]

    def ids(self) -> list[str]:
        found = {r.ext_id for r in self.releases} | {i for i, _ in self.roots}
        for rel in self.releases:
            found |= {d for d, _ in rel.deps}
        return sorted(found)


def _spec(draw: st.DrawFn, target_versions: list[str]) -> str:
    pool = target_versions or VERSIONS
    parts = []
    for _ in range(draw(st.integers(0, 2))):
        op = draw(st.sampled_from(OPS))
        # Mostly versions that exist, sometimes any version from the pool.
        ver = (
            draw(st.sampled_from(pool)) if draw(st.booleans()) else draw(st.sampled_from(VERSIONS))
        )
        parts.append(f"{op}{ver}")
    return ",".join(parts)


@st.composite
def universes(draw: st.DrawFn, cycles: bool = False) -> Universe:
    n = draw(st.integers(1, len(IDS)))
    ids = IDS[:n]
    versions = {
        i: draw(
            st.lists(st.sampled_from(VERSIONS), min_size=0 if k else 1, max_size=4, unique=True)
        )
        for k, i in enumerate(ids)
    }
    releases = []
    for k, ext_id in enumerate(ids):
        for ver in versions[ext_id]:
            targets = ids if cycles else ids[k + 1 :]
            targets = [t for t in targets if t != ext_id]
            chosen = (
                draw(st.lists(st.sampled_from(targets), unique=True, max_size=2)) if targets else []
            )
            deps = tuple(sorted((t, _spec(draw, versions[t])) for t in chosen))
            releases.append(
                Release(
                    ext_id,
                    ver,
                    draw(st.sampled_from(HOST_RANGES)),
                    deps,
                    draw(st.booleans()),
                )
            )
    root_ids = draw(st.lists(st.sampled_from(ids), min_size=1, max_size=3))
    roots = tuple((i, _spec(draw, versions[i])) for i in root_ids)
    return Universe(tuple(releases), roots, draw(st.booleans()))


def _source(u: Universe) -> MemorySource | ChainedSource:
    def cand(r: Release, origin: str) -> Candidate:
        return Candidate.create(
            r.ext_id,
            r.version,
            host_api=r.host_api,
            dependencies=dict(r.deps),
            origin=origin,  # type: ignore[arg-type]
        )

    if not u.split:
        return MemorySource([cand(r, "registry") for r in u.releases])
    installed = MemorySource(
        [cand(r, "installed") for r in u.releases if r.installed], origin="installed"
    )
    registry = MemorySource([cand(r, "registry") for r in u.releases if not r.installed])
    return ChainedSource(installed, registry)


# --- the brute force -------------------------------------------------------------------


def _inside(spec: str, version: str) -> bool:
    return SpecifierSet(spec).contains(Version(version), prereleases=True)


def _names_pre(spec: str) -> bool:
    for part in SpecifierSet(spec):
        if (
            part.operator != "!="
            and not part.version.endswith(".*")
            and Version(part.version).is_prerelease
        ):
            return True
    return False


def _host_ok(rel: Release) -> bool:
    return _inside(rel.host_api, str(HOST))


def _satisfies(u: Universe, spec: str, rel: Release) -> bool:
    if not _inside(spec, rel.version):
        return False
    if not Version(rel.version).is_prerelease or _names_pre(spec):
        return True
    if u.split and rel.installed:
        return True
    return not any(
        _host_ok(o) and not Version(o.version).is_prerelease and _inside(spec, o.version)
        for o in u.of(rel.ext_id)
    )


def _allowed(u: Universe, rel: Release, specs: list[str]) -> bool:
    return _host_ok(rel) and all(_satisfies(u, s, rel) for s in specs)


def _demands(u: Universe, chosen: Mapping[str, Release]) -> dict[str, list[str]]:
    demands: dict[str, list[str]] = {}
    for ext_id, spec in u.roots:
        demands.setdefault(ext_id, []).append(spec)
    for rel in chosen.values():
        for ext_id, spec in rel.deps:
            demands.setdefault(ext_id, []).append(spec)
    return demands


def valid(u: Universe, chosen: Mapping[str, Release]) -> bool:
    reach = {i for i, _ in u.roots}
    frontier = list(reach)
    while frontier:
        rel = chosen.get(frontier.pop())
        if rel is None:
            return False
        for dep, _ in rel.deps:
            if dep not in reach:
                reach.add(dep)
                frontier.append(dep)
    if reach != set(chosen):
        return False
    demands = _demands(u, chosen)
    return all(_allowed(u, chosen[ext_id], specs) for ext_id, specs in demands.items())


def brute_force(u: Universe) -> list[dict[str, Release]]:
    ids = u.ids()
    options = [[None, *u.of(i)] for i in ids]
    found = []
    for combo in itertools.product(*options):
        chosen = {i: r for i, r in zip(ids, combo, strict=True) if r is not None}
        if valid(u, chosen):
            found.append(chosen)
    return found


# --- properties --------------------------------------------------------------------------


def _release(u: Universe, ext_id: str, version: str) -> Release:
    (rel,) = [r for r in u.of(ext_id) if Version(r.version) == Version(version)]
    return rel


def _check_success(u: Universe, result_chosen: Mapping[str, Candidate], order: list[str]) -> None:
    chosen = {i: _release(u, i, str(c.version)) for i, c in result_chosen.items()}
    assert valid(u, chosen), chosen
    assert sorted(order) == sorted(chosen)
    pos = {i: n for n, i in enumerate(order)}
    for ext_id, rel in chosen.items():
        for dep, _ in rel.deps:
            assert pos[dep] < pos[ext_id]


def _check_explanation(u: Universe, err: ResolutionError) -> None:
    assert err.conflicts, err
    groups: dict[str, list[dict[str, object]]] = {}
    for c in err.conflicts:
        groups.setdefault(str(c["extension"]), []).append(c)
    for ext_id, items in groups.items():
        specs = []
        for c in items:
            req = str(c["requirement"])
            assert req.startswith(ext_id)
            spec = req[len(ext_id) :]
            if c["requirer"] is None:
                assert (ext_id, spec) in u.roots, c
            else:
                rel = _release(u, str(c["requirer"]), str(c["requirer_version"]))
                assert (ext_id, spec) in rel.deps, c
            specs.append(spec)
        # The quoted requirements really cannot be met together by any version.
        assert not any(_allowed(u, rel, specs) for rel in u.of(ext_id)), (ext_id, specs)


def _attempt(u: Universe, prefer: bool = True) -> Resolution | ResolutionError:
    try:
        return resolve(
            [f"{i}{s}" for i, s in u.roots], _source(u), host_api=HOST, prefer_installed=prefer
        )
    except ResolutionError as err:
        return err


def _check_cycle(u: Universe, err: DependencyCycleError) -> None:
    assert err.cycle[0] == err.cycle[-1]
    for c in err.conflicts:
        rel = _release(u, str(c["requirer"]), str(c["requirer_version"]))
        assert c["extension"] in {d for d, _ in rel.deps}
    assert [c["requirer"] for c in err.conflicts] == list(err.cycle[:-1])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(u=universes(), prefer=st.booleans())
def test_resolver_agrees_with_brute_force(u: Universe, prefer: bool) -> None:
    answers = brute_force(u)
    outcome = _attempt(u, prefer)
    assert not isinstance(outcome, DependencyCycleError), "no cycles in this universe"
    if isinstance(outcome, ResolutionError):
        assert not answers, f"resolver gave up but {answers[0]} works: {outcome}"
        _check_explanation(u, outcome)
    else:
        _check_success(u, outcome.chosen, [c.id for c in outcome.load_order])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(u=universes(cycles=True))
def test_cycles_are_named_or_absent(u: Universe) -> None:
    answers = brute_force(u)
    outcome = _attempt(u)
    if isinstance(outcome, DependencyCycleError):
        assert answers, "a cycle was reported, so a resolution was found"
        _check_cycle(u, outcome)
    elif isinstance(outcome, ResolutionError):
        assert not answers, f"resolver gave up but {answers[0]} works: {outcome}"
        _check_explanation(u, outcome)
    else:
        _check_success(u, outcome.chosen, [c.id for c in outcome.load_order])


@settings(max_examples=100, deadline=None)
@given(u=universes())
def test_result_does_not_depend_on_root_order(u: Universe) -> None:
    roots = [f"{i}{s}" for i, s in u.roots]

    def run(rs: list[str]) -> object:
        try:
            r = resolve(rs, _source(u), host_api=HOST)
        except ResolutionError as err:
            return err.to_dict()
        return [(c.id, str(c.version), c.origin) for c in r.load_order]

    assert run(roots) == run(list(reversed(roots)))
