"""Resolution benchmark: start-up check, install-time resolve, explained conflict.

Same work on both sides, in the same run:

* **start-up check, N installed** — ours: ``resolve_installed`` over N installed records
  (each with up to 3 dependencies): parse every manifest's version and specifiers, check
  host API and every dependency, order the loadable ones. Peer: the same checks written
  directly with ``packaging`` plus ``networkx.lexicographical_topological_sort`` for the
  order (the minimum a host could do by hand). Target: < 100 ms at 1000 (SPEC "load <
  100 ms with dependency resolution").
* **install resolve** — 2 roots into a registry of 300 extensions x 5 versions with
  random ranges, so resolvelib pins about 100 and backtracks. Ours: ``resolve`` (host
  API, pre-release rules, load order, result check). Peer: resolvelib with a plain
  provider (specifier filter, newest first, nothing else). Target: ratio <= 1.5x.
* **conflict** — a root whose newest versions all clash, so every one is tried. Ours
  also writes the explanation; the peer only raises ``ResolutionImpossible``.
  Target: ratio <= 2x.

Run: ``uv run python bench/bench_resolve.py``
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import networkx as nx  # type: ignore[import-untyped]
from _table import Row, print_table  # bench/ is the script's directory
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from resolvelib import AbstractProvider, BaseReporter, ResolutionImpossible, Resolver

from symphony_core.errors import ResolutionError
from symphony_core.extension import ExtensionRecord
from symphony_core.hostapi import HOST_API_VERSION
from symphony_core.manifest.model import ExtensionInfo, Manifest
from symphony_core.resolve import Candidate, MemorySource, resolve, resolve_installed

Universe = dict[str, list[tuple[str, dict[str, str]]]]  # id -> [(version, deps)]


def _record(ext_id: str, version: str, deps: dict[str, str]) -> ExtensionRecord:
    manifest = Manifest(
        extension=ExtensionInfo(
            id=ext_id, version=version, kind="operator", entry="m.ext:E", host_api=">=1,<2"
        ),
        dependencies=deps,
    )
    return ExtensionRecord(
        manifest=manifest,
        manifest_path=Path("/x/symphony.toml"),
        distribution=ext_id,
        distribution_version=version,
        entry_point=ext_id,
        package_dir=Path("/x"),
    )


def _installed(n: int, rng: random.Random) -> list[ExtensionRecord]:
    out = []
    for i in range(n):
        deps = {f"acme.e{j:05d}": ">=1,<2" for j in rng.sample(range(i), min(i, 3))}
        out.append(_record(f"acme.e{i:05d}", "1.0", deps))
    return out


def _peer_startup(records: Sequence[ExtensionRecord]) -> list[str]:
    versions = {r.id: Version(r.version) for r in records}
    graph: nx.DiGraph[str] = nx.DiGraph()
    for r in records:
        graph.add_node(r.id)
        if not SpecifierSet(r.manifest.extension.host_api).contains(HOST_API_VERSION):
            raise RuntimeError(r.id)
        for dep, spec in r.manifest.dependencies.items():
            if dep not in versions or not SpecifierSet(spec).contains(versions[dep]):
                raise RuntimeError(r.id)
            graph.add_edge(dep, r.id)
    return list(nx.lexicographical_topological_sort(graph))


def _registry(rng: random.Random, n: int = 300) -> Universe:
    uni: Universe = {}
    for i in range(n):
        uni[f"acme.e{i:05d}"] = [
            (
                v,
                {
                    f"acme.e{j:05d}": rng.choice([">=1", ">=1.1,<2", "<2.1", ""])
                    for j in rng.sample(range(i), min(i, 3))
                },
            )
            for v in ("1.0", "1.1", "1.2", "2.0", "2.1")
        ]
    return uni


def _conflicting() -> tuple[Universe, list[str]]:
    # acme.app 1..20 each need acme.tok>=2, acme.pin needs acme.tok<2: nothing works.
    uni: Universe = {
        "acme.app": [(f"{k}.0", {"acme.tok": ">=2"}) for k in range(1, 21)],
        "acme.pin": [("1.0", {"acme.tok": "<2"})],
        "acme.tok": [(f"{k}.0", {}) for k in range(1, 4)],
    }
    return uni, ["acme.pin", "acme.app"]


class _Req:
    def __init__(self, name: str, spec: str) -> None:
        self.name, self.spec = name, SpecifierSet(spec)


class _Cand:
    def __init__(self, name: str, version: str, deps: dict[str, str]) -> None:
        self.name, self.version, self.deps = name, Version(version), deps


class _PlainProvider(AbstractProvider):  # type: ignore[type-arg]
    """resolvelib's textbook provider: filter by specifier, newest first."""

    def __init__(self, uni: Universe) -> None:
        self.uni = uni

    def identify(self, requirement_or_candidate: Any) -> str:
        return str(requirement_or_candidate.name)

    def get_preference(self, identifier: str, *args: Any, **kwargs: Any) -> Any:
        return identifier

    def find_matches(
        self,
        identifier: str,
        requirements: Mapping[str, Iterator[Any]],
        incompatibilities: Mapping[str, Iterator[Any]],
    ) -> list[_Cand]:
        reqs = list(requirements[identifier])
        bad = {c.version for c in incompatibilities[identifier]}
        found = [
            _Cand(identifier, v, d)
            for v, d in self.uni.get(identifier, [])
            if Version(v) not in bad and all(Version(v) in r.spec for r in reqs)
        ]
        return sorted(found, key=lambda c: c.version, reverse=True)

    def is_satisfied_by(self, requirement: Any, candidate: Any) -> bool:
        return bool(candidate.version in requirement.spec)

    def get_dependencies(self, candidate: Any) -> Iterable[_Req]:
        return [_Req(n, s) for n, s in candidate.deps.items()]


def _peer_resolve(uni: Universe, roots: list[str]) -> int:
    resolver = Resolver(_PlainProvider(uni), BaseReporter())
    try:
        return len(resolver.resolve([_Req(r, "") for r in roots], max_rounds=200_000).mapping)
    except ResolutionImpossible:
        return -1


def _source(uni: Universe) -> MemorySource:
    return MemorySource(
        Candidate.create(i, v, dependencies=d) for i, vs in uni.items() for v, d in vs
    )


def _ours_resolve(uni: Universe, roots: list[str]) -> int:
    try:
        return len(resolve(roots, _source(uni)))
    except ResolutionError:
        return -1


def _ms(fn: Callable[[], object], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - start) * 1000)
    return sorted(runs)[len(runs) // 2]


def main() -> None:
    rng = random.Random(7)
    rows = []
    for n in (100, 1000):
        records = _installed(n, rng)
        assert len(resolve_installed(records).loadable) == n
        assert len(_peer_startup(records)) == n
        ours = _ms(lambda records=records: resolve_installed(records), 7)  # type: ignore[misc]
        peer = _ms(lambda records=records: _peer_startup(records), 7)  # type: ignore[misc]
        target = "< 100 ms" if n == 1000 else "-"
        rows.append(
            Row(f"start-up check, {n} installed", ours, peer, "ms", target, "packaging+networkx")
        )

    uni = _registry(rng)
    roots = ["acme.e00299", "acme.e00298"]
    pinned = _ours_resolve(uni, roots)
    assert pinned > 0, pinned
    ours = _ms(lambda: _ours_resolve(uni, roots), 5)
    peer = _ms(lambda: _peer_resolve(uni, roots), 5)
    rows.append(
        Row(
            f"install resolve ({pinned} pinned)",
            ours,
            peer,
            "ms",
            "ratio <= 1.5x",
            "plain resolvelib",
        )
    )

    bad, bad_roots = _conflicting()
    assert _ours_resolve(bad, bad_roots) == -1
    assert _peer_resolve(bad, bad_roots) == -1
    ours = _ms(lambda: _ours_resolve(bad, bad_roots), 7)
    peer = _ms(lambda: _peer_resolve(bad, bad_roots), 7)
    rows.append(
        Row(
            "conflict, 20 versions tried + explained",
            ours,
            peer,
            "ms",
            "ratio <= 2x",
            "plain resolvelib",
        )
    )
    print_table("Resolution", rows)


if __name__ == "__main__":
    main()
