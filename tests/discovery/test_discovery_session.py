"""Results derived from discovery, kept in the index: valid exactly as long as it is."""

from __future__ import annotations

from pathlib import Path

import pytest
from discovery_sites import Site, manifest_text

from symphony_core.config import Config
from symphony_core.discovery import ENTRY_POINT_GROUP, index_path, open_discovery
from symphony_core.discovery import cache as index_cache


@pytest.fixture
def local(tmp_path: Path) -> Site:
    site = Site(tmp_path / "local")
    site.path.mkdir()
    return site


def _open(config: Config, site: Site) -> index_cache.Loaded:
    key = index_cache.make_key([str(site.path)], group=ENTRY_POINT_GROUP, import_system=False)
    return index_cache.load_index(config.cache_dir, key)


def _index_file(config: Config, site: Site) -> Path:
    key = index_cache.make_key([str(site.path)], group=ENTRY_POINT_GROUP, import_system=False)
    return index_path(config.cache_dir, key)


def test_a_derived_result_is_kept_with_the_index(local: Site, config: Config) -> None:
    local.add("acme-a")
    local.add("acme-b")
    first = open_discovery(config, paths=[str(local.path)])
    assert first.reusable(["acme.a", "acme.b"])
    assert first.recall("thing", ["acme.a", "acme.b"]) is None
    first.remember("thing", ["acme.a", "acme.b"], b"computed")
    first.close()

    second = open_discovery(config, paths=[str(local.path)])

    assert second.result.cache == "hit"
    assert second.recall("thing", ["acme.a", "acme.b"]) == b"computed"
    assert second.recall("thing", ["acme.a"]) is None  # other inputs, other result
    assert second.recall("other", ["acme.a", "acme.b"]) is None


def test_a_hit_with_nothing_new_writes_nothing(local: Site, config: Config) -> None:
    local.add("acme-a")
    open_discovery(config, paths=[str(local.path)]).close()
    before = _index_file(config, local).stat()

    session = open_discovery(config, paths=[str(local.path)])
    session.close()

    after = _index_file(config, local).stat()
    assert session.result.cache == "hit"
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_remembering_on_a_hit_keeps_the_entries(local: Site, config: Config) -> None:
    local.add("acme-a")
    open_discovery(config, paths=[str(local.path)]).close()
    session = open_discovery(config, paths=[str(local.path)])
    session.remember("thing", ["acme.a"], b"late")
    session.close()

    again = open_discovery(config, paths=[str(local.path)])

    assert again.result.cache == "hit"
    assert again.result.extensions == session.result.extensions
    assert again.recall("thing", ["acme.a"]) == b"late"


def test_any_change_drops_derived_results(local: Site, config: Config) -> None:
    pkg = local.add("acme-a")
    session = open_discovery(config, paths=[str(local.path)])
    session.remember("thing", ["acme.a"], b"old")
    session.close()

    (pkg / "symphony.toml").write_text(manifest_text("acme.a", version="2.0.0"))
    rebuilt = open_discovery(config, paths=[str(local.path)])

    assert rebuilt.result.cache == "miss"
    assert rebuilt.recall("thing", ["acme.a"]) is None


def test_only_the_newest_derived_results_are_kept(local: Site, config: Config) -> None:
    local.add("acme-a")
    session = open_discovery(config, paths=[str(local.path)])
    for i in range(index_cache.MAX_DERIVED + 3):
        session.remember("thing", [f"input-{i}"], str(i).encode())
    session.remember("thing", ["input-3"], b"replaced")
    session.close()

    loaded = _open(config, local)
    assert loaded.index is not None
    kept = [(d.inputs[0], d.data) for d in loaded.index.derived]
    assert len(kept) == index_cache.MAX_DERIVED
    assert kept[-1] == ("input-3", b"replaced")
    assert ("input-0", b"0") not in kept
    assert ("input-10", b"10") in kept


def test_results_from_reevaluated_extensions_are_not_reusable(local: Site, config: Config) -> None:
    local.add("acme-a")
    late = local.add("acme-late", manifest=None)
    open_discovery(config, paths=[str(local.path)]).close()
    (late / "symphony.toml").write_text(manifest_text("acme.late"))

    # A failed entry point is evaluated again on every start: what it is now is not
    # vouched for by the index, so nothing derived from it may be kept there.
    session = open_discovery(config, paths=[str(local.path)])

    assert session.result.cache == "hit"
    assert [r.id for r in session.result.extensions] == ["acme.a", "acme.late"]
    assert session.reusable(["acme.a"])
    assert not session.reusable(["acme.a", "acme.late"])


def test_a_manifest_msgpack_cannot_hold_is_not_reusable(local: Site, config: Config) -> None:
    extra = '\n[[nodes]]\ntype = "n"\n[nodes.parameters.since]\ntype = "list"\n'
    extra += "default = [2024-01-02]\n"
    local.add("acme-dated", manifest=manifest_text("acme.dated", extra=extra))
    local.add("acme-a")

    for expected in ("miss", "hit"):
        session = open_discovery(config, paths=[str(local.path)])
        session.close()
        assert session.result.cache == expected
        assert [r.id for r in session.result.extensions] == ["acme.a", "acme.dated"]
        assert session.reusable(["acme.a"])
        assert not session.reusable(["acme.dated"])


def test_without_the_cache_nothing_is_reusable(local: Site, tmp_path: Path) -> None:
    local.add("acme-a")
    config = Config(home=tmp_path / "home", discovery_cache=False)
    session = open_discovery(config, paths=[str(local.path)])
    session.remember("thing", ["acme.a"], b"x")
    session.close()

    assert not session.reusable(["acme.a"])
    assert session.recall("thing", ["acme.a"]) is None
    assert not config.cache_dir.exists()
