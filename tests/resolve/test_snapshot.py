"""A start-up resolution kept in the discovery index comes back exactly as computed."""

from __future__ import annotations

from typing import Any

import msgspec
from conftest import record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symphony_core.errors import ResolutionError
from symphony_core.extension import ExtensionRecord
from symphony_core.resolution.outcome import InstalledResolution
from symphony_core.resolution.snapshot import dump_resolution, load_resolution
from symphony_core.resolve import resolve_installed

IDS = ["p.a", "p.b", "p.c", "p.d", "p.e", "p.f"]
# Repeats weight the draws towards what is valid, so that most sets load partly.
VERSIONS = ["0.9", "1.0", "1.0", "1.5", "1.5", "2.0b1", "2.0", "3.0", "not-a-version"]
SPECS = ["", "", "*", ">=1", "<2", "~=1.0", "==3.0", ">=2,<3", "!=1.5", "===oops"]
HOSTS = ["", "", ">=1,<2", ">=1,<2", ">=1,<2", ">=2", "<1", "bad spec"]


@st.composite
def installed_sets(draw: st.DrawFn) -> list[ExtensionRecord]:
    """Installed extensions with every kind of problem: missing, conflicting and
    refused dependencies, cycles, host-API misfits, malformed versions and specifiers,
    and the same id from two distributions."""
    ids = draw(st.lists(st.sampled_from(IDS), min_size=1, max_size=6, unique=True))
    records = []
    for ext_id in ids:
        deps = draw(
            st.dictionaries(
                st.sampled_from([*IDS, "p.missing"]), st.sampled_from(SPECS), max_size=3
            )
        )
        deps.pop(ext_id, None)
        records.append(
            record(
                ext_id,
                draw(st.sampled_from(VERSIONS)),
                deps,
                host=draw(st.sampled_from(HOSTS)),
            )
        )
    if len(ids) >= 2 and draw(st.booleans()):
        # Close a cycle between two of them (and whatever depends on them).
        first, second = draw(st.permutations(range(len(ids))))[:2]
        for this, other in ((first, second), (second, first)):
            deps = dict(records[this].manifest.dependencies)
            deps[ids[other]] = ""
            records[this] = record(ids[this], "1.0", deps)
    if draw(st.integers(0, 3)) == 0:
        twin = draw(st.sampled_from(ids))
        records.append(record(twin, "1.0", distribution=f"{twin}-twin"))
    return records


def _facts(resolution: InstalledResolution) -> dict[str, Any]:
    return {
        "order": resolution.load_order,
        "loadable": resolution.loadable,
        "graph": dict(resolution.graph),
        "refused": {
            ext: (type(err), err.to_dict(), str(err), err.args)
            for ext, err in resolution.refused.items()
        },
    }


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(installed_sets())
def test_round_trip_is_exact(records: list[ExtensionRecord]) -> None:
    computed = resolve_installed(records)

    data = dump_resolution(computed)
    assert data is not None
    back = load_resolution(data, records)

    assert back is not None
    assert _facts(back) == _facts(computed)
    assert list(back.refused) == list(computed.refused)  # sorted by id, as computed
    for ours, theirs in zip(back.loadable, computed.loadable, strict=True):
        assert ours is theirs  # the caller's records, not copies


def test_cycle_path_survives() -> None:
    records = [record("p.a", "1.0", {"p.b": ""}), record("p.b", "1.0", {"p.a": ""})]
    data = dump_resolution(resolve_installed(records))
    assert data is not None
    back = load_resolution(data, records)
    assert back is not None
    assert back.refused["p.a"].cycle == ("p.a", "p.b", "p.a")  # type: ignore[attr-defined]


def test_an_error_class_it_does_not_know_is_not_stored() -> None:
    class Custom(ResolutionError):
        code = "test.custom"

    resolution = InstalledResolution(loadable=(), refused={"p.a": Custom("nope")}, graph={})
    assert dump_resolution(resolution) is None


def test_a_detail_msgpack_cannot_carry_is_not_stored() -> None:
    error = ResolutionError("nope", details={"when": {1, 2}})
    resolution = InstalledResolution(loadable=(), refused={"p.a": error}, graph={})
    assert dump_resolution(resolution) is None


def test_unreadable_or_mismatched_data_gives_none() -> None:
    records = [record("p.a", "1.0"), record("p.b", "1.0", {"p.a": ""})]
    data = dump_resolution(resolve_installed(records))
    assert data is not None

    assert load_resolution(b"\xc1", records) is None
    assert load_resolution(msgspec.msgpack.encode([1, 2]), records) is None
    assert load_resolution(data, records[:1]) is None  # names an extension not given
    assert load_resolution(data, [*records, record("p.c", "1.0")]) is None  # one unaccounted
