from __future__ import annotations

import pytest
from conftest import cand, record
from packaging.version import Version

from symphony_core.errors import HostApiError, ResolutionError
from symphony_core.resolve import (
    ChainedSource,
    DependencyCycleError,
    HostApiConflictError,
    InstalledSource,
    InvalidRequirementError,
    MemorySource,
    MissingExtensionError,
    Requirement,
    ResolutionTooComplexError,
    resolve,
)


def versions(result: object) -> dict[str, str]:
    return {c.id: str(c.version) for c in result}  # type: ignore[attr-defined]


def ids(result: object) -> list[str]:
    return [c.id for c in result]  # type: ignore[attr-defined]


# --- choosing versions -------------------------------------------------------------


def test_newest_matching_version_is_chosen() -> None:
    src = MemorySource([cand("acme.a", v) for v in ("1.0", "1.5", "2.0", "2.1")])
    assert versions(resolve(["acme.a<2"], src)) == {"acme.a": "1.5"}
    assert versions(resolve(["acme.a"], src)) == {"acme.a": "2.1"}
    assert versions(resolve(["acme.a==1.0"], src)) == {"acme.a": "1.0"}


def test_diamond_settles_on_a_version_both_sides_accept() -> None:
    src = MemorySource(
        [
            cand("acme.app", "1.0", {"acme.left": ">=1", "acme.right": ">=1"}),
            cand("acme.left", "1.0", {"acme.base": ">=1.2"}),
            cand("acme.right", "1.0", {"acme.base": "<2"}),
            *(cand("acme.base", v) for v in ("1.0", "1.2", "1.9", "2.0", "2.5")),
        ]
    )
    result = resolve(["acme.app"], src)
    assert versions(result)["acme.base"] == "1.9"
    assert ids(result) == ["acme.base", "acme.left", "acme.right", "acme.app"]
    assert result.graph["acme.app"] == ("acme.left", "acme.right")


def test_backtracks_when_the_newest_version_forces_a_conflict() -> None:
    # acme.x 2.0 needs acme.tok>=2, which acme.b rules out; acme.x 1.0 works.
    src = MemorySource(
        [
            cand("acme.x", "2.0", {"acme.tok": ">=2"}),
            cand("acme.x", "1.0", {"acme.tok": ">=1"}),
            cand("acme.b", "1.0", {"acme.tok": "<2"}),
            cand("acme.tok", "1.0"),
            cand("acme.tok", "2.0"),
        ]
    )
    result = resolve(["acme.x", "acme.b"], src)
    assert versions(result) == {"acme.x": "1.0", "acme.b": "1.0", "acme.tok": "1.0"}


def test_backtracks_through_a_chain() -> None:
    # Only the oldest acme.top works: each newer one pulls in a dependency that clashes.
    src = MemorySource(
        [
            cand("acme.top", "3.0", {"acme.mid": ">=3"}),
            cand("acme.top", "2.0", {"acme.mid": ">=2"}),
            cand("acme.top", "1.0", {"acme.mid": ">=1"}),
            cand("acme.mid", "3.0", {"acme.low": "==3.0"}),
            cand("acme.mid", "2.0", {"acme.low": "==2.0"}),
            cand("acme.mid", "1.0", {"acme.low": "==1.0"}),
            *(cand("acme.low", v) for v in ("1.0", "2.0", "3.0")),
            cand("acme.pin", "1.0", {"acme.low": "<2"}),
        ]
    )
    result = resolve(["acme.top", "acme.pin"], src)
    assert versions(result) == {
        "acme.top": "1.0",
        "acme.mid": "1.0",
        "acme.low": "1.0",
        "acme.pin": "1.0",
    }


def test_unreachable_extensions_are_not_chosen() -> None:
    src = MemorySource([cand("acme.a", "1.0"), cand("acme.unused", "1.0")])
    assert versions(resolve(["acme.a"], src)) == {"acme.a": "1.0"}
    assert len(resolve([], src)) == 0


def test_requirement_objects_and_strings_mix() -> None:
    src = MemorySource([cand("acme.a", "1.0"), cand("acme.a", "2.0")])
    result = resolve([Requirement.of("acme.a", "<2"), "acme.a>=1"], src)
    assert result["acme.a"].version == Version("1.0")
    assert "acme.a" in result
    assert "acme.b" not in result


# --- installed and registry ----------------------------------------------------------


def test_installed_version_is_kept_when_it_satisfies() -> None:
    installed = InstalledSource([record("acme.a", "1.0")])
    registry = MemorySource([cand("acme.a", "1.0"), cand("acme.a", "2.0")])
    both = ChainedSource(installed, registry)
    kept = resolve(["acme.a"], both)
    assert kept["acme.a"].origin == "installed"
    assert kept["acme.a"].record is not None
    assert kept.to_install == ()
    upgraded = resolve(["acme.a"], both, prefer_installed=False)
    assert versions(upgraded) == {"acme.a": "2.0"}
    assert [str(c) for c in upgraded.to_install] == ["acme.a 2.0"]


def test_registry_version_is_used_when_installed_does_not_satisfy() -> None:
    both = ChainedSource(
        InstalledSource([record("acme.a", "1.0")]),
        MemorySource([cand("acme.a", "1.0"), cand("acme.a", "2.0")]),
    )
    result = resolve(["acme.a>=2"], both)
    assert result["acme.a"].origin == "registry"


def test_installed_version_is_abandoned_when_it_conflicts() -> None:
    both = ChainedSource(
        InstalledSource([record("acme.tok", "2.0"), record("acme.b", "1.0", {"acme.tok": "<2"})]),
        MemorySource([cand("acme.tok", "1.0"), cand("acme.tok", "2.0")]),
    )
    result = resolve(["acme.b", "acme.tok"], both)
    assert (result["acme.tok"].version, result["acme.tok"].origin) == (Version("1.0"), "registry")
    assert result["acme.b"].origin == "installed"


def test_chained_source_prefers_the_first_source_for_the_same_version() -> None:
    first = MemorySource([cand("acme.a", "1.0", origin="installed")], origin="installed")
    second = MemorySource([cand("acme.a", "1.0.0"), cand("acme.a", "1.1")])
    merged = ChainedSource(first, second)
    assert [(str(c.version), c.origin) for c in merged.versions("acme.a")] == [
        ("1.0", "installed"),
        ("1.1", "registry"),
    ]
    assert merged.origins == {"installed", "registry"}


def test_memory_source_refuses_a_candidate_of_another_origin() -> None:
    with pytest.raises(ValueError, match="installed"):
        MemorySource([cand("acme.a", "1.0", origin="installed")])


def test_broken_installed_manifest_is_reported_when_needed() -> None:
    src = InstalledSource([record("acme.bad", "not-a-version"), record("acme.ok", "1.0")])
    assert src.ids() == ["acme.bad", "acme.ok"]
    assert versions(resolve(["acme.ok"], src)) == {"acme.ok": "1.0"}
    with pytest.raises(InvalidRequirementError, match=r"acme\.bad's version 'not-a-version'"):
        resolve(["acme.bad"], src)


# --- host API --------------------------------------------------------------------------


def test_host_api_incompatible_versions_are_not_matches() -> None:
    src = MemorySource([cand("acme.x", "1.0", host="<2"), cand("acme.x", "2.0", host=">=2")])
    assert versions(resolve(["acme.x"], src)) == {"acme.x": "1.0"}
    assert versions(resolve(["acme.x"], src, host_api=Version("2.1"))) == {"acme.x": "2.0"}


def test_host_api_refusal_names_the_version_and_the_host() -> None:
    src = MemorySource(
        [
            cand("acme.a", "1.0", {"acme.x": ">=2"}),
            cand("acme.x", "1.0", host="<2"),
            cand("acme.x", "2.0", host=">=2"),
        ]
    )
    with pytest.raises(HostApiConflictError) as info:
        resolve(["acme.a"], src)
    err = info.value
    assert isinstance(err, HostApiError)
    assert isinstance(err, ResolutionError)
    assert err.message.startswith("acme.x 2.0 needs host API >=2 but this host provides 1.0.0")
    assert "acme.a 1.0 requires acme.x>=2" in err.message
    assert err.extension_id == "acme.x"
    assert err.code == "resolve.host_api"
    (conflict,) = err.conflicts
    assert conflict["reason"] == "host_api"
    assert conflict["needs_host_api"] == {"2.0": ">=2"}
    assert conflict["requirer"] == "acme.a"


def test_host_api_is_not_blamed_when_it_is_not_the_only_reason() -> None:
    src = MemorySource([cand("acme.x", "1.0"), cand("acme.x", "2.0", host=">=2")])
    with pytest.raises(ResolutionError) as info:
        resolve(["acme.x>=3"], src)
    assert not isinstance(info.value, HostApiConflictError)
    assert info.value.message == (
        "cannot satisfy acme.x: you asked for acme.x>=3; available: 1.0, 2.0 (needs host API >=2)"
    )


# --- pre-releases ------------------------------------------------------------------------


@pytest.fixture
def pre_src() -> MemorySource:
    return MemorySource(
        [
            cand("acme.a", "1.0"),
            cand("acme.a", "1.5"),
            cand("acme.a", "2.0b1"),
            cand("acme.only", "3.0rc1"),
            cand("acme.only", "3.0a1"),
        ]
    )


def test_prerelease_is_skipped_when_a_final_release_fits(pre_src: MemorySource) -> None:
    assert versions(resolve(["acme.a"], pre_src)) == {"acme.a": "1.5"}
    assert versions(resolve(["acme.a>=1"], pre_src)) == {"acme.a": "1.5"}


def test_prerelease_is_used_when_the_requirement_names_one(pre_src: MemorySource) -> None:
    assert versions(resolve(["acme.a>=2.0b1"], pre_src)) == {"acme.a": "2.0b1"}
    assert versions(resolve(["acme.a>=1.0a1"], pre_src)) == {"acme.a": "2.0b1"}


def test_prerelease_is_used_when_no_final_release_fits(pre_src: MemorySource) -> None:
    assert versions(resolve(["acme.a>=1.6"], pre_src)) == {"acme.a": "2.0b1"}
    assert versions(resolve(["acme.a>1.5"], pre_src)) == {"acme.a": "2.0b1"}
    assert versions(resolve(["acme.only"], pre_src)) == {"acme.only": "3.0rc1"}


def test_prerelease_must_satisfy_each_requirement_by_itself(pre_src: MemorySource) -> None:
    src = MemorySource(
        [
            *pre_src.versions("acme.a"),
            cand("acme.beta", "1.0", {"acme.a": ">=2.0b1"}),
            cand("acme.plain", "1.0", {"acme.a": ">=1"}),
        ]
    )
    with pytest.raises(ResolutionError) as info:
        resolve(["acme.beta", "acme.plain"], src)
    msg = info.value.message
    assert "acme.beta 1.0 requires acme.a>=2.0b1, acme.plain 1.0 requires acme.a>=1" in msg
    assert "2.0b1 is a pre-release" in msg


def test_installed_prerelease_satisfies_any_range_it_is_in() -> None:
    both = ChainedSource(
        InstalledSource([record("acme.a", "2.0b1")]),
        MemorySource([cand("acme.a", "1.5")]),
    )
    assert versions(resolve(["acme.a>=1"], both)) == {"acme.a": "2.0b1"}
    registry_only = MemorySource([cand("acme.a", "2.0b1"), cand("acme.a", "1.5")])
    assert versions(resolve(["acme.a>=1"], registry_only)) == {"acme.a": "1.5"}


def test_host_incompatible_finals_do_not_hide_prereleases() -> None:
    src = MemorySource([cand("acme.a", "2.0", host=">=2"), cand("acme.a", "2.1b1")])
    assert versions(resolve(["acme.a>=2"], src)) == {"acme.a": "2.1b1"}


# --- explanations ------------------------------------------------------------------------


def test_conflict_names_who_requires_what_and_what_exists() -> None:
    src = MemorySource(
        [
            cand("acme.a", "1.0", {"acme.tok": ">=2"}),
            cand("acme.b", "1.3", {"acme.tok": "<2"}),
            *(cand("acme.tok", v) for v in ("2.1", "1.0", "1.5")),
        ]
    )
    with pytest.raises(ResolutionError) as info:
        resolve(["acme.b", "acme.a"], src)
    err = info.value
    assert type(err) is ResolutionError
    assert err.message == (
        "cannot satisfy acme.tok: acme.a 1.0 requires acme.tok>=2, "
        "acme.b 1.3 requires acme.tok<2; available: 1.0, 1.5, 2.1"
    )
    assert err.conflicts == [
        {
            "extension": "acme.tok",
            "requirer": "acme.a",
            "requirer_version": "1.0",
            "requirement": "acme.tok>=2",
            "available": ["1.0", "1.5", "2.1"],
            "reason": "conflict",
        },
        {
            "extension": "acme.tok",
            "requirer": "acme.b",
            "requirer_version": "1.3",
            "requirement": "acme.tok<2",
            "available": ["1.0", "1.5", "2.1"],
            "reason": "conflict",
        },
    ]
    assert err.to_dict()["code"] == "resolve.conflict"


def test_root_conflict_says_you_asked() -> None:
    src = MemorySource(
        [
            cand("acme.a", "1.0", {"acme.tok": ">=2"}),
            cand("acme.tok", "1.0"),
            cand("acme.tok", "2.0"),
        ]
    )
    with pytest.raises(ResolutionError) as info:
        resolve(["acme.a", "acme.tok<2"], src)
    assert info.value.message == (
        "cannot satisfy acme.tok: you asked for acme.tok<2, acme.a 1.0 requires acme.tok>=2; "
        "available: 1.0, 2.0"
    )
    assert info.value.conflicts[0]["requirer"] is None


def test_only_the_requirements_that_clash_are_quoted() -> None:
    # No acme.tok is >=2, so acme.a's requirement fails alone; "you asked for acme.tok<2"
    # and acme.c's "any version" add nothing and are left out.
    src = MemorySource(
        [
            cand("acme.a", "1.0", {"acme.tok": ">=2"}),
            cand("acme.c", "1.0", {"acme.tok": ""}),
            cand("acme.tok", "1.0"),
        ]
    )
    with pytest.raises(ResolutionError) as info:
        resolve(["acme.c", "acme.a", "acme.tok<2"], src)
    assert info.value.message == (
        "cannot satisfy acme.tok: acme.a 1.0 requires acme.tok>=2; available: 1.0"
    )


@pytest.mark.parametrize(
    ("origins", "wording"),
    [
        ("installed", "which is not installed"),
        ("registry", "which is not known to the registry"),
        ("both", "which is not installed (and not known to the registry)"),
    ],
)
def test_missing_dependency_wording_follows_where_we_looked(origins: str, wording: str) -> None:
    installed = InstalledSource([record("acme.a", "1.0", {"acme.missing": ">=1"})])
    registry = MemorySource([cand("acme.a", "1.0", {"acme.missing": ">=1"})])
    source = {
        "installed": installed,
        "registry": registry,
        "both": ChainedSource(installed, registry),
    }[origins]
    with pytest.raises(MissingExtensionError) as info:
        resolve(["acme.a"], source)  # type: ignore[arg-type]
    assert info.value.message == f"acme.a 1.0 requires acme.missing>=1, {wording}"
    assert info.value.code == "resolve.missing"
    assert info.value.conflicts[0]["available"] == []


def test_missing_root() -> None:
    with pytest.raises(MissingExtensionError, match=r"^you asked for acme\.ghost, which is not"):
        resolve(["acme.ghost"], MemorySource([]))


def test_explanation_digs_below_versions_ruled_out_by_backtracking() -> None:
    # resolvelib's last causes are requirements on p.c that 2.0a1 fits; the real
    # conflict is further down, on p.a.
    src = MemorySource(
        [
            cand("p.a", "1.1b1"),
            cand("p.a", "0.9", {"p.b": "", "p.c": ""}),
            cand("p.b", "1.1b1"),
            cand("p.b", "0.9", {"p.a": "", "p.d": ">=0.9"}),
            cand("p.b", "1.0", {"p.c": "!=1.1b1,>=0.9"}),
            cand("p.b", "1.5", {"p.d": ""}),
            cand("p.c", "1.1b1"),
            cand("p.c", "2.0a1", {"p.a": "", "p.d": ""}),
            cand("p.d", "0.9", {"p.a": ">=1.0"}),
        ]
    )
    with pytest.raises(ResolutionError) as info:
        resolve(["p.a"], src)
    msg = info.value.message
    assert "cannot satisfy p.a: you asked for p.a, p.d 0.9 requires p.a>=1.0" in msg
    assert {(c["requirer"], c["requirement"]) for c in info.value.conflicts} == {
        (None, "p.a"),
        ("p.d", "p.a>=1.0"),
    }


def test_too_many_rounds_is_a_clear_error() -> None:
    src = MemorySource([cand(f"acme.e{i}", "1.0", {f"acme.e{i + 1}": ""}) for i in range(10)])
    src2 = ChainedSource(src, MemorySource([cand("acme.e10", "1.0")]))
    with pytest.raises(ResolutionTooComplexError, match="gave up after 3 rounds"):
        resolve(["acme.e0"], src2, max_rounds=3)
    assert len(resolve(["acme.e0"], src2)) == 11


# --- cycles and order ----------------------------------------------------------------------


def test_cycle_is_named_with_its_path() -> None:
    src = MemorySource(
        [
            cand("acme.root", "1.0", {"acme.a": ""}),
            cand("acme.a", "1.0", {"acme.b": ">=1"}),
            cand("acme.b", "2.0", {"acme.c": ""}),
            cand("acme.c", "1.0", {"acme.a": "<2"}),
        ]
    )
    with pytest.raises(DependencyCycleError) as info:
        resolve(["acme.root"], src)
    err = info.value
    assert err.cycle == ("acme.a", "acme.b", "acme.c", "acme.a")
    assert err.message == (
        "extensions depend on each other in a cycle (acme.a -> acme.b -> acme.c -> acme.a), "
        "so they cannot be loaded in order: acme.a 1.0 requires acme.b>=1, "
        "acme.b 2.0 requires acme.c, acme.c 1.0 requires acme.a<2"
    )
    assert err.to_dict()["cycle"] == ["acme.a", "acme.b", "acme.c", "acme.a"]
    assert [c["requirer"] for c in err.conflicts] == ["acme.a", "acme.b", "acme.c"]


def test_self_dependency_is_a_cycle() -> None:
    with pytest.raises(DependencyCycleError) as info:
        resolve(["acme.a"], MemorySource([cand("acme.a", "1.0", {"acme.a": ""})]))
    assert info.value.cycle == ("acme.a", "acme.a")


def test_load_order_is_deterministic_and_ties_break_on_id() -> None:
    cands = [
        cand("acme.app", "1.0", {"acme.zeta": "", "acme.alpha": "", "acme.mid": ""}),
        cand("acme.mid", "1.0", {"acme.zeta": ""}),
        cand("acme.zeta", "1.0"),
        cand("acme.alpha", "1.0"),
    ]
    orders = {
        tuple(ids(resolve(roots, MemorySource(order))))
        for roots in (["acme.app"], ["acme.app", "acme.alpha"], ["acme.zeta", "acme.app"])
        for order in (cands, list(reversed(cands)))
    }
    assert orders == {("acme.alpha", "acme.zeta", "acme.mid", "acme.app")}


def test_conflict_message_does_not_depend_on_how_roots_are_ordered() -> None:
    # Found by hypothesis: the same specifier spelled two ways, in either order.
    src = MemorySource([cand("p.a", "0.9")])
    messages = set()
    for roots in (["p.a<1.0,>=1.0", "p.a>=1.0,<1.0"], ["p.a>=1.0,<1.0", "p.a<1.0,>=1.0"]):
        with pytest.raises(ResolutionError) as info:
            resolve(roots, src)
        messages.add(str(info.value))
    assert len(messages) == 1
