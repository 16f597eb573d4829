"""The on-disk discovery index: hits, every kind of invalidation, and resilience."""

from __future__ import annotations

import logging
import os
import stat
import sys
from pathlib import Path

import msgspec
import pytest
from discovery_sites import Site, manifest_text

import symphony_core.discovery.pipeline as pipeline
from symphony_core.config import Config
from symphony_core.discovery import (
    ENTRY_POINT_GROUP,
    FORMAT_VERSION,
    MAX_INDEX_FILES,
    DiscoveryResult,
    discover,
    index_path,
)
from symphony_core.discovery import cache as index_cache


@pytest.fixture
def local(tmp_path: Path) -> Site:
    """A site directory searched through explicit paths (not on sys.path)."""
    site = Site(tmp_path / "local")
    site.path.mkdir()
    return site


def _run(config: Config, site: Site) -> DiscoveryResult:
    return discover(config, paths=[str(site.path)])


def _index_file(config: Config, site: Site) -> Path:
    key = index_cache.make_key([str(site.path)], group=ENTRY_POINT_GROUP, import_system=False)
    return index_path(config.cache_dir, key)


def _bump_mtime(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))


def test_second_discovery_is_a_hit_with_the_same_result(local: Site, config: Config) -> None:
    local.add("acme-a")
    local.add("acme-b", manifest=None)

    first = _run(config, local)
    second = _run(config, local)

    assert (first.cache, second.cache) == ("miss", "hit")
    assert second.cache_detail == ""
    assert second.extensions == first.extensions
    assert [f.error.code for f in second.failures] == [f.error.code for f in first.failures]
    assert _index_file(config, local).is_file()


def test_hit_reads_no_metadata_and_parses_no_manifest(
    local: Site, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("a", "b", "c"):
        local.add(f"acme-{name}")
    expected = _run(config, local).extensions

    def forbidden(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a warm start must not scan or evaluate")

    monkeypatch.setattr(pipeline, "scan_entry_points", forbidden)
    monkeypatch.setattr(pipeline, "evaluate", forbidden)
    monkeypatch.setattr(os, "listdir", forbidden)

    result = _run(config, local)

    assert result.cache == "hit"
    assert result.extensions == expected


def test_hit_reevaluates_failures_so_a_fix_shows_at_once(local: Site, config: Config) -> None:
    pkg = local.add("acme-late", manifest=None)
    assert [f.extension_id for f in _run(config, local).failures] == ["acme.late"]

    # Writing into the package directory changes nothing the index watches ...
    (pkg / "symphony.toml").write_text(manifest_text("acme.late"))
    result = _run(config, local)

    # ... but failed entry points are never trusted to the index.
    assert result.cache == "hit"
    assert [r.id for r in result.extensions] == ["acme.late"]
    assert result.failures == []


def test_installing_a_distribution_invalidates(local: Site, config: Config) -> None:
    local.add("acme-a")
    _run(config, local)

    local.add("acme-new")
    result = _run(config, local)

    assert result.cache == "miss"
    assert str(local.path) in result.cache_detail
    assert [r.id for r in result.extensions] == ["acme.a", "acme.new"]


def test_removing_a_distribution_invalidates(local: Site, config: Config) -> None:
    local.add("acme-a")
    local.add("acme-gone")
    _run(config, local)

    local.remove("acme-gone")
    result = _run(config, local)

    assert result.cache == "miss"
    assert [r.id for r in result.extensions] == ["acme.a"]


def test_editing_a_manifest_invalidates(local: Site, config: Config) -> None:
    pkg = local.add("acme-edit")
    _run(config, local)

    (pkg / "symphony.toml").write_text(manifest_text("acme.edit", description="Now longer."))
    result = _run(config, local)

    assert result.cache == "miss"
    assert "symphony.toml" in result.cache_detail
    assert result.extensions[0].manifest.extension.description == "Now longer."


def test_same_size_manifest_edit_is_seen_through_mtime(local: Site, config: Config) -> None:
    pkg = local.add("acme-edit")
    _run(config, local)
    manifest = pkg / "symphony.toml"

    text = manifest.read_text()
    manifest.write_text(text.replace("1.0.0", "1.0.1"))  # same length
    _bump_mtime(manifest)
    result = _run(config, local)

    assert result.cache == "miss"
    assert result.extensions[0].version == "1.0.1"


def test_editing_entry_points_in_place_invalidates(local: Site, config: Config) -> None:
    local.add("acme-a")
    local.add("acme-other", manifest=manifest_text("acme.renamed"), ext_id="acme.other")
    assert [f.extension_id for f in _run(config, local).failures] == ["acme.other"]

    ep_file = local.path / "acme_other-1.0.0.dist-info" / "entry_points.txt"
    with ep_file.open("w") as handle:  # in place: same inode, directory untouched
        handle.write("[symphony.extensions]\nacme.renamed = acme_other\n")
    result = _run(config, local)

    assert result.cache == "miss"
    assert [r.id for r in result.extensions] == ["acme.a", "acme.renamed"]


def test_entry_points_file_appearing_invalidates(local: Site, config: Config) -> None:
    local.add("acme-a")
    local.add("acme-quiet", entry_points="")
    (local.path / "acme_quiet-1.0.0.dist-info" / "entry_points.txt").unlink()
    assert [r.id for r in _run(config, local).extensions] == ["acme.a"]

    ep_file = local.path / "acme_quiet-1.0.0.dist-info" / "entry_points.txt"
    ep_file.write_text("[symphony.extensions]\nacme.quiet = acme_quiet\n")
    result = _run(config, local)

    assert result.cache == "miss"
    assert [r.id for r in result.extensions] == ["acme.a", "acme.quiet"]


def test_a_different_search_path_uses_another_index(
    local: Site, config: Config, tmp_path: Path
) -> None:
    local.add("acme-a")
    _run(config, local)
    extra = Site(tmp_path / "extra")
    extra.path.mkdir()
    extra.add("acme-b")

    result = discover(config, paths=[str(local.path), str(extra.path)])

    assert result.cache == "miss"
    assert [r.id for r in result.extensions] == ["acme.a", "acme.b"]
    assert _run(config, local).cache == "hit"  # the first index is still there


def test_sys_path_change_invalidates(site: Site, config: Config, tmp_path: Path) -> None:
    site.add("acme-a")
    assert discover(config).cache == "miss"
    assert discover(config).cache == "hit"

    other = Site(tmp_path / "later")
    other.path.mkdir()
    other.add("acme-later")
    sys.path.append(str(other.path))
    try:
        result = discover(config)
    finally:
        sys.path.remove(str(other.path))

    assert result.cache == "miss"
    assert "acme.later" in {r.id for r in result.extensions}


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"\x00\x01\x02 definitely not msgpack",
        msgspec.msgpack.encode({"format": 1, "something": "else"}),
        msgspec.msgpack.encode([99, "future format"]),
    ],
)
def test_corrupt_index_is_rebuilt_quietly(
    local: Site, config: Config, caplog: pytest.LogCaptureFixture, garbage: bytes
) -> None:
    local.add("acme-a")
    _run(config, local)
    _index_file(config, local).write_bytes(garbage)

    with caplog.at_level(logging.DEBUG, logger="symphony"):
        result = _run(config, local)

    assert result.cache == "miss"
    assert [r.id for r in result.extensions] == ["acme.a"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert _run(config, local).cache == "hit"  # rewritten


def test_truncated_index_is_rebuilt(local: Site, config: Config) -> None:
    local.add("acme-a")
    _run(config, local)
    path = _index_file(config, local)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    result = _run(config, local)

    assert result.cache == "miss"
    assert [r.id for r in result.extensions] == ["acme.a"]


def test_index_with_a_corrupt_manifest_entry_is_rebuilt(local: Site, config: Config) -> None:
    local.add("acme-a")
    _run(config, local)
    path = _index_file(config, local)
    data = path.read_bytes()
    # Damage the manifest blob only: the header still decodes and validates.
    path.write_bytes(data.replace(b"acme.a", b"ACME!a"))

    result = _run(config, local)

    assert result.cache == "miss"
    assert [r.id for r in result.extensions] == ["acme.a"]


def test_unwritable_cache_dir_is_not_an_error(local: Site, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "cache").write_text("a file where the cache directory should be")
    config = Config(home=home)
    local.add("acme-a")

    first = _run(config, local)
    second = _run(config, local)

    assert [r.id for r in second.extensions] == ["acme.a"]
    assert (first.cache, second.cache) == ("miss", "miss")


def test_index_file_is_private(local: Site, config: Config) -> None:
    local.add("acme-a")
    _run(config, local)

    mode = stat.S_IMODE(_index_file(config, local).stat().st_mode)
    assert mode == 0o600


def test_cache_off(local: Site, tmp_path: Path) -> None:
    config = Config(home=tmp_path / "home", discovery_cache=False)
    local.add("acme-a")

    results = [_run(config, local) for _ in range(2)]

    assert [r.cache for r in results] == ["off", "off"]
    assert not config.cache_dir.exists()


def test_cache_works_for_an_interpreter_under_tmp(
    local: Site, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    # stevedore turns its cache off when sys.executable starts with /tmp; we must not.
    monkeypatch.setattr(sys, "executable", "/tmp/venv-xyz/bin/python")
    local.add("acme-a")

    results = [_run(config, local) for _ in range(2)]

    assert [r.cache for r in results] == ["miss", "hit"]
    assert [r.id for r in results[1].extensions] == ["acme.a"]


def test_another_interpreter_does_not_use_the_index(
    local: Site, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    local.add("acme-a")
    _run(config, local)
    path = _index_file(config, local)
    key = index_cache.make_key([str(local.path)], group=ENTRY_POINT_GROUP, import_system=False)

    monkeypatch.setattr(sys, "executable", "/opt/other/bin/python")
    other_key = index_cache.make_key(
        [str(local.path)], group=ENTRY_POINT_GROUP, import_system=False
    )
    # Force a name collision: the full key inside the file is what decides.
    monkeypatch.setattr(index_cache, "index_path", lambda _d, _k: path)
    loaded = index_cache.load_index(config.cache_dir, other_key)

    assert key != other_key
    assert loaded.outcomes is None
    assert "another interpreter" in loaded.reason


def test_a_change_to_symphony_code_invalidates(
    local: Site, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_source = tmp_path / "validate.py"
    fake_source.write_text("# version 1\n")
    real = index_cache.code_watch
    monkeypatch.setattr(
        index_cache,
        "code_watch",
        lambda: [*real(), (str(fake_source), index_cache._signature(str(fake_source)))],
    )
    local.add("acme-a")
    _run(config, local)
    assert _run(config, local).cache == "hit"

    fake_source.write_text("# version 2, judges manifests differently\n")
    result = _run(config, local)

    assert result.cache == "miss"
    assert "Symphony itself changed" in result.cache_detail


def test_code_watch_covers_the_manifest_validator() -> None:
    paths = {os.path.basename(p) for p, _ in index_cache.code_watch()}

    assert {"model.py", "load.py", "validate.py", "extension.py", "cache.py"} <= paths


def test_code_watch_covers_resolution_and_the_libraries_that_judge() -> None:
    import msgspec as msgspec_module
    import packaging.specifiers

    watched = {p for p, _ in index_cache.code_watch()}
    names = {os.path.basename(p) for p in watched}
    # Resolution results are kept in the index too, so its code and the host API count.
    assert {"installed.py", "snapshot.py", "hostapi.py", "resolve.py"} <= names
    assert packaging.specifiers.__file__ in watched
    assert os.path.dirname(msgspec_module.__file__) in watched


def test_rebuild_reuses_unchanged_manifests(
    local: Site, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("a", "b"):
        local.add(f"acme-{name}")
    _run(config, local)
    local.add("acme-c")
    parsed: list[str] = []
    import symphony_core.discovery.reading as reading
    from symphony_core.manifest import load_manifest as real_load

    def counting_load(path: Path) -> object:
        parsed.append(path.parent.name)
        return real_load(path)

    monkeypatch.setattr(reading, "load_manifest", counting_load)
    result = _run(config, local)

    assert result.cache == "miss"
    assert [r.id for r in result.extensions] == ["acme.a", "acme.b", "acme.c"]
    assert parsed == ["acme_c"]  # a and b came from the stale index, unchanged


def test_deleting_a_template_file_invalidates(local: Site, config: Config) -> None:
    extra = '\n[[templates]]\nname = "basic"\npath = "templates/basic.json"\n'
    pkg = local.add("acme-tpl", manifest=manifest_text("acme.tpl", extra=extra))
    (pkg / "templates").mkdir()
    (pkg / "templates" / "basic.json").write_text("{}")
    assert [r.id for r in _run(config, local).extensions] == ["acme.tpl"]

    (pkg / "templates" / "basic.json").unlink()
    result = _run(config, local)

    assert result.cache == "miss"
    (failure,) = result.failures
    assert failure.error.code == "manifest.invalid"


def test_old_index_files_are_pruned(local: Site, config: Config) -> None:
    config.cache_dir.mkdir(parents=True)
    for i in range(MAX_INDEX_FILES + 5):
        stale = config.cache_dir / f"discovery-v{FORMAT_VERSION}-{i:08x}.msgpack"
        stale.write_bytes(b"old")
        os.utime(stale, ns=(i * 10**9, i * 10**9))
    older = f"discovery-v{FORMAT_VERSION - 1}-00000000.msgpack"
    (config.cache_dir / older).write_bytes(b"older format")
    (config.cache_dir / "unrelated.txt").write_text("not ours")
    local.add("acme-a")

    _run(config, local)

    names = sorted(p.name for p in config.cache_dir.iterdir())
    index_files = [n for n in names if n.startswith("discovery-")]
    assert len(index_files) == MAX_INDEX_FILES
    assert _index_file(config, local).name in index_files
    assert older not in names
    assert f"discovery-v{FORMAT_VERSION}-00000000.msgpack" not in names  # the oldest went first
    assert "unrelated.txt" in names


def test_real_interpreter_under_tmp_caches(local: Site, tmp_path: Path) -> None:
    import json
    import shutil
    import subprocess
    import sysconfig
    import tempfile
    import venv

    root = Path(tempfile.mkdtemp(prefix="symphony-venv-", dir="/tmp"))
    try:
        venv.EnvBuilder(with_pip=False, symlinks=True).create(root / "venv")
        python = root / "venv" / "bin" / "python"
        local.add("acme-a")
        repo = Path(__file__).parents[2]
        script = (
            "import json, sys\n"
            "from pathlib import Path\n"
            "from symphony_core.config import Config\n"
            "from symphony_core.discovery import discover\n"
            f"config = Config(home=Path({str(tmp_path / 'home')!r}))\n"
            f"paths = [{str(local.path)!r}]\n"
            "runs = [discover(config, paths=paths) for _ in range(2)]\n"
            "print(json.dumps({'executable': sys.executable,\n"
            "                  'cache': [r.cache for r in runs],\n"
            "                  'ids': [e.id for e in runs[1].extensions]}))\n"
        )
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(repo), sysconfig.get_paths()["purelib"]]),
        }
        proc = subprocess.run(
            [str(python), "-c", script], env=env, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    assert out["executable"].startswith("/tmp/")
    assert out["cache"] == ["miss", "hit"]
    assert out["ids"] == ["acme.a"]
