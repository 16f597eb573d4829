"""Trust globs, disabled ids and safe mode."""

from __future__ import annotations

from pathlib import Path

import pytest
from discovery_sites import Site, manifest_text
from hypothesis import given
from hypothesis import strategies as st

from symphony_core.config import Config
from symphony_core.discovery import StrictDiscoveryError, discover, trust_of


def _site_with(tmp_path: Path) -> Site:
    site = Site(tmp_path / "site")
    site.path.mkdir()
    site.add("symphony-pool", ext_id="symphony.pool", manifest=manifest_text("symphony.pool"))
    site.add("acme-textops")
    site.add("acme-tools")
    site.add("other-thing", ext_id="other.thing", manifest=manifest_text("other.thing"))
    return site


def test_default_trust_is_the_symphony_namespace(tmp_path: Path) -> None:
    site = _site_with(tmp_path)

    result = discover(Config(home=tmp_path / "home"), paths=[str(site.path)])

    trust = {r.id: r.trust for r in result.extensions}
    assert trust == {
        "symphony.pool": "trusted",
        "acme.textops": "community",
        "acme.tools": "community",
        "other.thing": "community",
    }


def test_trust_globs(tmp_path: Path) -> None:
    site = _site_with(tmp_path)
    config = Config(home=tmp_path / "home", trusted=("acme.text*", "other.?hing"))

    result = discover(config, paths=[str(site.path)])

    trusted = {r.id for r in result.extensions if r.trust == "trusted"}
    assert trusted == {"acme.textops", "other.thing"}


def test_safe_mode_skips_community_extensions(tmp_path: Path) -> None:
    site = _site_with(tmp_path)
    config = Config(home=tmp_path / "home", safe_mode=True)

    result = discover(config, paths=[str(site.path)])

    assert [r.id for r in result.extensions] == ["symphony.pool"]
    skipped = {s.extension_id: s for s in result.skipped}
    assert set(skipped) == {"acme.textops", "acme.tools", "other.thing"}
    for entry in skipped.values():
        assert entry.reason == "safe-mode"
        assert entry.record is not None
        assert entry.record.trust == "community"
    assert result.failures == []


def test_disabled_extensions_are_reported_not_loaded(tmp_path: Path) -> None:
    site = _site_with(tmp_path)
    config = Config(home=tmp_path / "home", disabled=("acme.tools", "symphony.pool"))

    result = discover(config, paths=[str(site.path)])

    assert {r.id for r in result.extensions} == {"acme.textops", "other.thing"}
    assert [(s.extension_id, s.reason) for s in result.skipped] == [
        ("acme.tools", "disabled"),
        ("symphony.pool", "disabled"),
    ]
    assert all(s.record is not None and s.error is None for s in result.skipped)


def test_disabling_a_broken_extension_silences_it_even_in_strict_mode(tmp_path: Path) -> None:
    site = Site(tmp_path / "site")
    site.path.mkdir()
    site.add("acme-broken", manifest=None)
    site.add("acme-fine")
    config = Config(home=tmp_path / "home", disabled=("acme.broken",), strict=True)

    result = discover(config, paths=[str(site.path)])

    assert [r.id for r in result.extensions] == ["acme.fine"]
    (skipped,) = result.skipped
    assert skipped.reason == "disabled"
    assert skipped.record is None
    assert skipped.error is not None
    assert skipped.error.code == "discovery.manifest_missing"


def test_safe_mode_does_not_hide_failures(tmp_path: Path) -> None:
    site = Site(tmp_path / "site")
    site.path.mkdir()
    site.add("acme-broken", manifest=None)
    config = Config(home=tmp_path / "home", safe_mode=True)

    result = discover(config, paths=[str(site.path)])

    assert [f.extension_id for f in result.failures] == ["acme.broken"]
    with pytest.raises(StrictDiscoveryError):
        discover(config, paths=[str(site.path)], strict=True)


_ids = st.from_regex(r"[a-z][a-z0-9_-]{0,8}\.[a-z][a-z0-9_-]{0,8}", fullmatch=True)


@given(_ids, st.lists(_ids, max_size=4))
def test_exact_ids_and_star_are_trusted(ext_id: str, others: list[str]) -> None:
    assert trust_of(ext_id, [*others, ext_id]) == "trusted"
    assert trust_of(ext_id, ["*"]) == "trusted"
    assert trust_of(ext_id, [ext_id.split(".")[0] + ".*"]) == "trusted"
    assert trust_of(ext_id, []) == "community"
    if ext_id not in others:
        assert trust_of(ext_id, others) == "community"


@given(_ids)
def test_trust_globs_are_case_sensitive(ext_id: str) -> None:
    if ext_id.upper() != ext_id:
        assert trust_of(ext_id, [ext_id.upper()]) == "community"
