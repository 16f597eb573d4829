from __future__ import annotations

import pytest
from conftest import record
from packaging.version import Version

from symphony_core.errors import HostApiError, ResolutionError
from symphony_core.resolve import (
    DependencyCycleError,
    DependencyRefusedError,
    DuplicateExtensionError,
    HostApiConflictError,
    InvalidRequirementError,
    MissingExtensionError,
    resolve_installed,
)


def test_everything_loads_dependencies_first() -> None:
    result = resolve_installed(
        [
            record("acme.app", "1.0", {"acme.tok": ">=1", "acme.fmt": ""}),
            record("acme.fmt", "0.3", {"acme.tok": "<2"}),
            record("acme.tok", "1.4"),
            record("acme.lone", "2.0"),
        ]
    )
    assert result.ok
    assert result.refused == {}
    assert result.load_order == ("acme.lone", "acme.tok", "acme.fmt", "acme.app")
    assert [r.distribution for r in result.loadable][-1] == "acme-app"
    assert result.graph["acme.app"] == ("acme.fmt", "acme.tok")


def test_each_refusal_has_its_own_reason_and_the_rest_still_loads() -> None:
    result = resolve_installed(
        [
            record("acme.ok", "1.0", {"acme.tok": ">=1"}),
            record("acme.tok", "1.0"),
            record("acme.new", "3.0", host=">=2"),
            record("acme.needs-new", "1.0", {"acme.new": ""}),
            record("acme.orphan", "1.0", {"acme.missing": ">=1"}),
            record("acme.picky", "1.0", {"acme.tok": ">=2"}),
            record("acme.top", "1.0", {"acme.needs-new": "", "acme.ok": ""}),
        ]
    )
    assert result.load_order == ("acme.tok", "acme.ok")
    refused = result.refused
    assert list(refused) == sorted(refused)
    assert set(refused) == {
        "acme.new",
        "acme.needs-new",
        "acme.orphan",
        "acme.picky",
        "acme.top",
    }

    new = refused["acme.new"]
    assert isinstance(new, HostApiConflictError)
    assert isinstance(new, HostApiError)
    assert new.message == "acme.new 3.0 needs host API >=2 but this host provides 1.0.0"

    orphan = refused["acme.orphan"]
    assert isinstance(orphan, MissingExtensionError)
    assert orphan.message == "acme.orphan 1.0 requires acme.missing>=1, which is not installed"

    picky = refused["acme.picky"]
    assert type(picky) is ResolutionError
    assert picky.message == "acme.picky 1.0 requires acme.tok>=2, but the installed acme.tok is 1.0"
    assert picky.conflicts[0]["available"] == ["1.0"]

    needs_new = refused["acme.needs-new"]
    assert isinstance(needs_new, DependencyRefusedError)
    assert needs_new.message == (
        "acme.needs-new 1.0 requires acme.new, which cannot be loaded: "
        "acme.new 3.0 needs host API >=2 but this host provides 1.0.0"
    )
    # Along a chain, the message names the original cause, not every link.
    assert refused["acme.top"].message == (
        "acme.top 1.0 requires acme.needs-new, which cannot be loaded because acme.new "
        "cannot: acme.new 3.0 needs host API >=2 but this host provides 1.0.0"
    )


def test_strict_mode_raises_one_error_listing_every_refusal() -> None:
    records = [record("acme.a", "1.0", {"acme.gone": ""}), record("acme.b", "1.0", host=">=9")]
    with pytest.raises(ResolutionError) as info:
        resolve_installed(records, strict=True)
    err = info.value
    assert err.message.startswith("2 installed extension(s) cannot be loaded: acme.a: ")
    assert "acme.b: acme.b 1.0 needs host API >=9" in err.message
    assert set(err.details["refused"]) == {"acme.a", "acme.b"}
    assert len(err.conflicts) == 2
    assert resolve_installed(records[:0], strict=True).ok


def test_duplicate_ids_are_refused_with_both_distributions() -> None:
    result = resolve_installed(
        [
            record("acme.x", "1.0", distribution="acme-x"),
            record("acme.x", "2.0", distribution="acme-x-fork"),
            record("acme.user", "1.0", {"acme.x": ""}),
        ]
    )
    dup = result.refused["acme.x"]
    assert isinstance(dup, DuplicateExtensionError)
    assert "acme-x 1.0 (version 1.0), acme-x-fork 2.0 (version 2.0)" in dup.message
    assert isinstance(result.refused["acme.user"], DependencyRefusedError)
    assert result.loadable == ()


def test_malformed_manifest_is_refused_alone() -> None:
    result = resolve_installed(
        [record("acme.bad", "1.0", {"acme.ok": "~~1"}), record("acme.ok", "1.0")]
    )
    assert isinstance(result.refused["acme.bad"], InvalidRequirementError)
    assert "acme.bad's manifest cannot be used" in result.refused["acme.bad"].message
    assert result.load_order == ("acme.ok",)


def test_cycle_members_are_refused_and_their_dependents_too() -> None:
    result = resolve_installed(
        [
            record("acme.a", "1.0", {"acme.b": ""}),
            record("acme.b", "1.0", {"acme.c": ""}),
            record("acme.c", "1.0", {"acme.a": ""}),
            record("acme.user", "1.0", {"acme.c": ""}),
            record("acme.free", "1.0"),
        ]
    )
    assert result.load_order == ("acme.free",)
    for ext_id, cycle in {
        "acme.a": ("acme.a", "acme.b", "acme.c", "acme.a"),
        "acme.b": ("acme.b", "acme.c", "acme.a", "acme.b"),
        "acme.c": ("acme.c", "acme.a", "acme.b", "acme.c"),
    }.items():
        err = result.refused[ext_id]
        assert isinstance(err, DependencyCycleError)
        assert err.cycle == cycle
    user = result.refused["acme.user"]
    assert isinstance(user, DependencyRefusedError)
    assert "acme.user 1.0 requires acme.c, which cannot be loaded" in user.message


def test_installed_prerelease_satisfies_a_plain_range() -> None:
    result = resolve_installed(
        [record("acme.a", "1.0", {"acme.b": ">=1"}), record("acme.b", "2.0b1")]
    )
    assert result.ok
    assert result.load_order == ("acme.b", "acme.a")


def test_host_api_can_be_chosen() -> None:
    records = [record("acme.a", "1.0", host=">=2,<3")]
    assert not resolve_installed(records).ok
    assert resolve_installed(records, host_api=Version("2.4")).ok
