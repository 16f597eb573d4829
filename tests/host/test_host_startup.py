"""Host.start() on a warm index: the same answers as a cold start, and never stale ones."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from host_sites import Site, bump, manifest_text

import symphony_core.resolution.installed as installed_module
from symphony_core.app import ExtensionStatus, Host, UnknownExtensionError
from symphony_core.config import Config
from symphony_core.discovery import StrictDiscoveryError, index_path
from symphony_core.discovery import cache as index_cache
from symphony_core.errors import ResolutionError, UserError
from symphony_core.ports.runtime import UnknownExtensionError as PortUnknownExtensionError
from symphony_core.resolution.errors import DependencyCycleError, MissingExtensionError


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path / "site")


def _config(tmp_path: Path, **settings: object) -> Config:
    base: dict[str, object] = {"home": tmp_path / "home", "trusted": ("acme.*",)}
    base.update(settings)
    return Config(**base)  # type: ignore[arg-type]


def _start(config: Config, site: Site) -> Host:
    return Host(config, paths=[str(site.path)]).start()


def _snapshot(
    host: Host,
) -> tuple[list[dict[str, object]], list[str], dict[str, dict[str, object]]]:
    statuses = [s.to_dict() for s in host.extensions()]
    refused = {ext: err.to_dict() for ext, err in host.resolution.refused.items()}
    return statuses, host.load_order(), refused


@pytest.fixture
def no_resolver(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count calls of the real resolver (the warm path must not need it)."""
    calls: list[int] = []
    real = installed_module.resolve_installed

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(installed_module, "resolve_installed", counting)
    return calls


def _populate(site: Site) -> None:
    site.add("acme.base", version="1.4.0")
    site.add("acme.mid", dependencies={"acme.base": ">=1.0,<2"})
    site.add("acme.top", dependencies={"acme.mid": "", "acme.base": "~=1.2"})
    site.add("acme.orphan", dependencies={"acme.gone": ">=1"})
    site.add("acme.future", host_api=">=2")
    site.add("acme.needs-future", dependencies={"acme.future": ""})
    site.add("acme.cyc-a", dependencies={"acme.cyc-b": ""})
    site.add("acme.cyc-b", dependencies={"acme.cyc-a": ""})
    site.add("acme.broken", manifest=None)


def test_warm_start_answers_like_the_cold_one_without_resolving(
    site: Site, tmp_path: Path, no_resolver: list[int]
) -> None:
    _populate(site)
    config = _config(tmp_path)

    cold = _start(config, site)
    assert (cold.discovery.cache, len(no_resolver)) == ("miss", 1)
    warm = _start(config, site)

    assert warm.discovery.cache == "hit"
    assert len(no_resolver) == 1  # the resolution came from the index
    assert _snapshot(warm) == _snapshot(cold)
    assert warm.load_order() == ["acme.base", "acme.mid", "acme.top"]
    refused = warm.resolution.refused
    assert isinstance(refused["acme.orphan"], MissingExtensionError)
    assert isinstance(refused["acme.cyc-a"], DependencyCycleError)
    assert refused["acme.cyc-a"].cycle == ("acme.cyc-a", "acme.cyc-b", "acme.cyc-a")
    assert str(refused["acme.needs-future"]) == str(cold.resolution.refused["acme.needs-future"])
    # The loadable records are the discovered ones, not copies.
    assert [r.id for r in warm.runtime.records()] == warm.load_order()
    assert warm.record("acme.top") is warm.resolution.loadable[-1]


def test_editing_a_dependency_is_seen_at_once(site: Site, tmp_path: Path) -> None:
    site.add("acme.base", version="1.4.0")
    top = site.add("acme.top", dependencies={"acme.base": ">=1"})
    config = _config(tmp_path)
    assert _start(config, site).load_order() == ["acme.base", "acme.top"]
    assert _start(config, site).discovery.cache == "hit"

    top.write_text(manifest_text("acme.top", dependencies={"acme.base": ">=2"}))
    bump(top)
    host = _start(config, site)

    assert host.discovery.cache == "miss"
    assert host.load_order() == ["acme.base"]
    assert "the installed acme.base is 1.4.0" in host.resolution.refused["acme.top"].message
    assert _start(config, site).load_order() == ["acme.base"]  # and stays so when warm


def test_removing_a_dependency_is_seen_at_once(site: Site, tmp_path: Path) -> None:
    site.add("acme.base")
    site.add("acme.top", dependencies={"acme.base": ""})
    config = _config(tmp_path)
    _start(config, site)

    site.remove("acme.base")
    host = _start(config, site)

    assert host.load_order() == []
    assert isinstance(host.resolution.refused["acme.top"], MissingExtensionError)


def test_another_configuration_gets_its_own_resolution(
    site: Site, tmp_path: Path, no_resolver: list[int]
) -> None:
    site.add("acme.base")
    site.add("acme.top", dependencies={"acme.base": ""})
    plain = _config(tmp_path)
    disabling = _config(tmp_path, disabled=("acme.base",))

    assert _start(plain, site).load_order() == ["acme.base", "acme.top"]
    host = _start(disabling, site)
    assert host.discovery.cache == "hit"
    assert host.load_order() == []
    assert host.status("acme.top").status == "refused"
    assert host.status("acme.base").status == "disabled"
    calls = len(no_resolver)

    # Both results are kept: switching back and forth resolves nothing again.
    assert _start(plain, site).load_order() == ["acme.base", "acme.top"]
    assert _start(disabling, site).load_order() == []
    assert len(no_resolver) == calls == 2


def test_trust_comes_from_the_current_configuration(site: Site, tmp_path: Path) -> None:
    site.add("acme.base")
    _start(_config(tmp_path), site)

    host = _start(_config(tmp_path, trusted=("nobody.*",)), site)

    assert host.discovery.cache == "hit"
    assert host.status("acme.base").status == "sandboxed"
    assert host.runtime.records() == []


def test_strict_mode_raises_for_a_cached_refusal(site: Site, tmp_path: Path) -> None:
    site.add("acme.orphan", dependencies={"acme.gone": ""})
    _start(_config(tmp_path), site)

    with pytest.raises(ResolutionError, match=r"acme\.orphan"):
        _start(_config(tmp_path, strict=True), site)


def test_strict_discovery_failure_still_writes_the_index(site: Site, tmp_path: Path) -> None:
    site.add("acme.broken", manifest=None)
    config = _config(tmp_path, strict=True)
    with pytest.raises(StrictDiscoveryError):
        _start(config, site)
    key = index_cache.make_key([str(site.path)], group="symphony.extensions", import_system=False)
    assert index_path(config.cache_dir, key).is_file()


def test_a_manifest_msgpack_cannot_hold_is_resolved_every_time(
    site: Site, tmp_path: Path, no_resolver: list[int]
) -> None:
    # A TOML date as a parameter default cannot round-trip through msgpack, so this
    # manifest is read again on every start and nothing derived from it is kept.
    extra = '\n[nodes.parameters.since]\ntype = "list"\ndefault = [2024-01-02]\n'
    site.add("acme.dated", extra=extra)
    site.add("acme.user", dependencies={"acme.dated": ""})
    config = _config(tmp_path)

    first = _start(config, site)
    second = _start(config, site)

    assert second.discovery.cache == "hit"
    assert first.load_order() == second.load_order() == ["acme.dated", "acme.user"]
    assert len(no_resolver) == 2


def test_a_corrupt_kept_resolution_is_recomputed(
    site: Site, tmp_path: Path, no_resolver: list[int]
) -> None:
    site.add("acme.base")
    site.add("acme.top", dependencies={"acme.base": ""})
    config = _config(tmp_path)
    _start(config, site)
    key = index_cache.make_key([str(site.path)], group="symphony.extensions", import_system=False)
    path = index_path(config.cache_dir, key)
    loaded = index_cache.load_index(config.cache_dir, key)
    assert loaded.index is not None
    (kept,) = loaded.index.derived
    loaded.index.derived = [index_cache.Derived(name=kept.name, inputs=kept.inputs, data=b"\xc1")]
    path.write_bytes(loaded.index.encode())
    # Rewriting the file in place changed nothing the index watches.

    host = _start(config, site)

    assert host.discovery.cache == "hit"
    assert host.load_order() == ["acme.base", "acme.top"]
    assert len(no_resolver) == 2


def test_status_of_each_id_matches_the_listing(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _populate(site)
    site.add("acme.twice", dist="first-dist")
    site.add("acme.twice", dist="second-dist")
    site.add("acme.off")
    host = _start(_config(tmp_path, disabled=("acme.off",)), site)
    monkeypatch.syspath_prepend(str(site.path))  # so that acme.base can be imported
    try:
        host.activate("acme.base")
    finally:
        for name in ("acme_base.plugin", "acme_base"):
            sys.modules.pop(name, None)

    listing = host.extensions()
    by_id: dict[str, ExtensionStatus] = {}
    for status in listing:
        by_id.setdefault(status.id, status)  # the listing is sorted: first distribution
    assert {s.id for s in listing} >= {"acme.twice", "acme.off", "acme.broken"}
    for ext_id, expected in by_id.items():
        assert host.status(ext_id) == expected
    assert host.status("acme.base").status == "active"
    assert host.status("acme.twice").distribution == "first-dist"


def test_unknown_id_error_is_a_user_error_and_the_runtime_ports_error(
    site: Site, tmp_path: Path
) -> None:
    host = _start(_config(tmp_path), site)
    with pytest.raises(UnknownExtensionError) as info:
        host.status("acme.nope")
    assert isinstance(info.value, PortUnknownExtensionError)
    assert isinstance(info.value, UserError)
    assert info.value.code == "host.unknown_extension"
    assert UnknownExtensionError.__module__ == "symphony_core.app"
    with pytest.raises(UnknownExtensionError):
        host.record("acme.nope")


def test_restarting_in_the_same_process_sees_changes(site: Site, tmp_path: Path) -> None:
    site.add("acme.base")
    config = _config(tmp_path)
    host = Host(config, paths=[str(site.path)])
    assert host.start().load_order() == ["acme.base"]
    host.close()

    site.add("acme.more")
    assert host.start().load_order() == ["acme.base", "acme.more"]
