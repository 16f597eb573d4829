"""Asked ∩ granted: examples of each rule, then properties over random manifests and policies."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from permissions_helpers import config, record

from symphony_core.manifest.size import parse_size
from symphony_core.permissions import (
    Grant,
    LimitGrant,
    Policy,
    data_dir,
    effective_grant,
    effective_profile,
    resolve_grant,
    scratch_dir,
)
from symphony_core.permissions.effective import (
    NETWORK_ORDER,
    beneath,
    intersect_trees,
    minimal_trees,
)
from symphony_core.permissions.store import MIN_MEMORY


def _policy(defaults: Grant | None = None, **extensions: Grant) -> Policy:
    return Policy(defaults=defaults or Grant(), extensions=dict(extensions))


# -- examples ---------------------------------------------------------------------------


def test_default_grant_is_own_files_and_scratch_only(tmp_path: Path) -> None:
    cfg = config(tmp_path / "home")
    rec = record(tmp_path)
    grant = effective_grant(rec, Policy(), cfg)
    p = grant.profile
    assert p.fs_read == (os.path.realpath(rec.package_dir),)
    assert p.fs_write == ()
    assert p.fs_exec == ()
    assert p.scratch_dir == str(scratch_dir(cfg, "acme.tool"))
    assert p.network == "none"
    assert p.env == ()
    assert p.subprocess is False
    assert p.runtime_read is True
    assert (p.memory_bytes, p.cpu_share, p.cpu_seconds, p.pids, p.open_files) == (
        512 << 20,
        1.0,
        None,
        64,
        256,
    )
    assert p.file_size_bytes == 1 << 30
    assert grant.shortfalls == ()
    assert grant.sources == ("defaults",)


def test_asking_for_more_gets_less_and_says_so(tmp_path: Path) -> None:
    rec = record(
        tmp_path,
        permissions={
            "network": "any",
            "env": ["HOME", "SECRET"],
            "subprocess": True,
            "filesystem": {"read": ["models"], "write": ["out"]},
        },
        limits={"memory": "2GiB", "cpu-share": 2.0, "processes": 500},
    )
    grant = effective_grant(rec, Policy(), config(tmp_path / "home"))
    texts = {s.describe() for s in grant.shortfalls}
    assert "network: asked any, granted none" in texts
    assert "env: asked HOME, granted none" in texts
    assert "subprocess: asked yes, granted no" in texts
    assert "filesystem.read: asked models, granted none" in texts
    assert "filesystem.write: asked out, granted none" in texts
    assert "limits.memory: asked 2GiB, granted 512MiB" in texts
    assert "limits.cpu-share: asked 2.0, granted 1.0" in texts
    assert "limits.processes: asked 500, granted 64" in texts
    p = grant.profile
    assert (p.network, p.env, p.subprocess, p.fs_write) == ("none", (), False, ())
    assert (p.memory_bytes, p.cpu_share, p.pids) == (512 << 20, 1.0, 64)


def test_asking_for_less_gets_what_it_asks(tmp_path: Path) -> None:
    rec = record(
        tmp_path,
        permissions={"network": "loopback", "env": ["HOME"]},
        limits={"memory": "128MiB", "cpu-share": 0.25, "cpu-time": 30, "open-files": 64},
    )
    policy = _policy(Grant(network="any", env=("*",), limits=LimitGrant(cpu_time=60)))
    p = effective_profile(rec, policy, config(tmp_path / "home"))
    assert (p.network, p.env) == ("loopback", ("HOME",))
    assert (p.memory_bytes, p.cpu_share, p.cpu_seconds, p.open_files) == (128 << 20, 0.25, 30, 64)


def test_ports_only_with_network_any(tmp_path: Path) -> None:
    cfg = config(tmp_path / "home")
    policy = _policy(**{"acme.tool": Grant(network="any", ports=(443,))})
    any_rec = record(tmp_path, permissions={"network": "any"})
    assert effective_profile(any_rec, policy, cfg).tcp_connect_ports == (443,)
    lo_rec = record(tmp_path, permissions={"network": "loopback"})
    p = effective_profile(lo_rec, policy, cfg)
    assert (p.network, p.tcp_connect_ports) == ("loopback", ())


def test_env_globs(tmp_path: Path) -> None:
    rec = record(tmp_path, permissions={"env": ["HF_HOME", "HF_TOKEN", "HOME"]})
    policy = _policy(**{"acme.*": Grant(env=("HF_*",))})
    grant = effective_grant(rec, policy, config(tmp_path / "home"))
    assert grant.profile.env == ("HF_HOME", "HF_TOKEN")
    assert [s.asked for s in grant.shortfalls] == ["HOME"]


def test_exec_only_with_subprocess(tmp_path: Path) -> None:
    cfg = config(tmp_path / "home")
    policy = _policy(**{"acme.tool": Grant(subprocess=True, exec=("/usr/bin",))})
    asks = record(tmp_path, permissions={"subprocess": True})
    p = effective_profile(asks, policy, cfg)
    assert (p.subprocess, p.fs_exec) == (True, (os.path.realpath("/usr/bin"),))
    silent = record(tmp_path, ext_id="acme.quiet")
    policy = _policy(**{"acme.quiet": Grant(subprocess=True, exec=("/usr/bin",))})
    p = effective_profile(silent, policy, cfg)
    assert (p.subprocess, p.fs_exec) == (False, ())


def test_filesystem_intersection(tmp_path: Path) -> None:
    cfg = config(tmp_path / "home")
    data = data_dir(cfg, "acme.tool")
    rec = record(
        tmp_path,
        permissions={"filesystem": {"read": ["models", "cache/x"], "write": ["out", "logs"]}},
    )
    policy = _policy(
        **{"acme.tool": Grant(read=("cache", "models/small"), write=("out/run", "logs"))}
    )
    grant = effective_grant(rec, policy, cfg)
    p = grant.profile
    assert set(p.fs_write) == {str(data / "out" / "run"), str(data / "logs")}
    assert str(data / "models" / "small") in p.fs_read  # granted beneath the ask
    assert str(data / "cache" / "x") in p.fs_read  # asked beneath the grant
    assert str(data / "cache") not in p.fs_read  # never more than asked
    # "out" itself is readable only where granted ("out/run" is already writable)
    assert not any(beneath(r, str(data / "out")) for r in p.fs_read)
    texts = {s.describe() for s in grant.shortfalls}
    assert f"filesystem.write: asked out, granted only {data / 'out' / 'run'}" in texts
    assert f"filesystem.read: asked models, granted only {data / 'models' / 'small'}" in texts
    assert set(grant.data_write) == {str(data / "out" / "run"), str(data / "logs")}


def test_write_asked_read_granted_is_read_only(tmp_path: Path) -> None:
    cfg = config(tmp_path / "home")
    rec = record(tmp_path, permissions={"filesystem": {"write": ["db"]}})
    grant = effective_grant(rec, _policy(Grant(read=(".",))), cfg)
    assert grant.profile.fs_write == ()
    assert str(data_dir(cfg, "acme.tool") / "db") in grant.profile.fs_read
    assert [s.describe() for s in grant.shortfalls] == [
        "filesystem.write: asked db, granted read only"
    ]


def test_absolute_grants_apply_as_written(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    link = tmp_path / "link"
    link.symlink_to(corpus)
    rec = record(tmp_path)
    policy = _policy(**{"acme.tool": Grant(read=(str(link),), write=("/tmp/out-x",))})
    p = effective_profile(rec, policy, config(tmp_path / "home"))
    assert str(corpus) in p.fs_read  # resolved: the kernel grants the target
    assert os.path.realpath("/tmp/out-x") in p.fs_write


def test_manifest_path_through_a_symlink_out_is_not_granted(tmp_path: Path) -> None:
    cfg = config(tmp_path / "home")
    data = data_dir(cfg, "acme.tool")
    data.mkdir(parents=True)
    (data / "escape").symlink_to("/etc")
    rec = record(tmp_path, permissions={"filesystem": {"read": ["escape"]}})
    grant = effective_grant(rec, _policy(Grant(read=(".",))), cfg)
    assert not any(beneath(r, "/etc") for r in grant.profile.fs_read)
    assert [s.reason for s in grant.shortfalls] == [
        "it leads outside the extension's data directory"
    ]


def test_layering_most_specific_wins_lists_add_up(tmp_path: Path) -> None:
    policy = _policy(
        Grant(network="loopback", read=("/d",), limits=LimitGrant(memory="256MiB")),
        **{
            "acme.*": Grant(network="any", read=("/g",), limits=LimitGrant(processes=10)),
            "acme.to*": Grant(network="none", read=("/h",)),
            "acme.tool": Grant(read=("/e",), limits=LimitGrant(memory="1GiB")),
            "other.*": Grant(read=("/o",)),
        },
    )
    resolved = resolve_grant(policy, "acme.tool")
    assert resolved.sources == ("defaults", "acme.*", "acme.to*", "acme.tool")
    assert resolved.read == ("/d", "/g", "/h", "/e")
    assert resolved.network == "none"
    assert (resolved.memory_bytes, resolved.processes, resolved.open_files) == (1 << 30, 10, 256)
    other = resolve_grant(policy, "acme.other")
    assert other.sources == ("defaults", "acme.*")
    assert (other.network, other.memory_bytes) == ("any", 256 << 20)


def test_cpu_time_unlimited_can_override(tmp_path: Path) -> None:
    policy = _policy(
        Grant(limits=LimitGrant(cpu_time=10)),
        **{"acme.tool": Grant(limits=LimitGrant(cpu_time="unlimited"))},
    )
    assert resolve_grant(policy, "acme.tool").cpu_seconds is None
    assert resolve_grant(policy, "acme.other").cpu_seconds == 10


def test_tiny_asks_are_raised_to_what_python_needs(tmp_path: Path) -> None:
    rec = record(tmp_path, limits={"memory": "1MiB", "cpu-share": 0.001})
    p = effective_profile(rec, Policy(), config(tmp_path / "home"))
    assert (p.memory_bytes, p.cpu_share) == (MIN_MEMORY, 0.01)


def test_tree_helpers() -> None:
    assert minimal_trees(["/a/b", "/a", "/c", "/a/b/c", "/ab"]) == ["/a", "/ab", "/c"]
    assert intersect_trees(["/a/b", "/x"], ["/a", "/x/y", "/z"]) == ["/a/b", "/x/y"]
    assert beneath("/anything", "/")
    assert not beneath("/ab", "/a")


# -- properties -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world() -> Iterator[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as root:
        base = Path(root)
        outside = base / "outside"
        for sub in ("p", "q/r"):
            (outside / sub).mkdir(parents=True)
        yield {"root": base, "cfg": config(base / "home"), "outside": outside}


_seg = st.sampled_from(["a", "b", "c"])
_rel = st.lists(_seg, min_size=1, max_size=3).map("/".join) | st.just(".")
_abs_names = st.sampled_from(["p", "q", "q/r"])
_env_names = st.sampled_from(["HOME", "LANG", "HF_A", "HF_B", "TOKEN"])
_env_globs = st.sampled_from(["HOME", "HF_*", "*", "L?NG", "NOPE"])
_networks = st.sampled_from(["none", "loopback", "any"])
_sizes = st.sampled_from(["16MiB", "100MiB", "512MiB", "2GiB"])


@st.composite
def _manifests(draw: st.DrawFn) -> dict[str, Any]:
    limits = {
        "memory": draw(st.none() | _sizes),
        "cpu-share": draw(st.none() | st.floats(0.001, 8)),
        "cpu-time": draw(st.none() | st.integers(1, 1000)),
        "processes": draw(st.none() | st.integers(1, 1000)),
        "open-files": draw(st.none() | st.integers(16, 5000)),
    }
    return {
        "permissions": {
            "network": draw(_networks),
            "env": draw(st.lists(_env_names, max_size=4, unique=True)),
            "subprocess": draw(st.booleans()),
            "filesystem": {
                "read": draw(st.lists(_rel, max_size=3, unique=True)),
                "write": draw(st.lists(_rel, max_size=3, unique=True)),
            },
        },
        "limits": {k: v for k, v in limits.items() if v is not None},
    }


@st.composite
def _grants(draw: st.DrawFn, outside: Path) -> Grant:
    def paths() -> tuple[str, ...]:
        rel = draw(st.lists(_rel, max_size=2))
        absolute = [str(outside / n) for n in draw(st.lists(_abs_names, max_size=2))]
        return tuple(dict.fromkeys(rel + absolute))

    subprocess = draw(st.none() | st.booleans())
    return Grant(
        read=paths(),
        write=paths(),
        exec=(str(outside / "p"),) if subprocess and draw(st.booleans()) else (),
        network=draw(st.one_of(st.none(), _networks)),
        ports=tuple(draw(st.lists(st.integers(1, 65535), max_size=2, unique=True))),
        env=tuple(draw(st.lists(_env_globs, max_size=2, unique=True))),
        subprocess=subprocess,
        limits=LimitGrant(
            memory=draw(st.none() | _sizes),
            cpu_share=draw(st.none() | st.floats(0.01, 4)),
            cpu_time=draw(st.none() | st.integers(1, 1000) | st.just("unlimited")),
            processes=draw(st.none() | st.integers(1, 1000)),
            open_files=draw(st.none() | st.integers(16, 5000)),
        ),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_effective_is_within_asked_and_granted(world: dict[str, Any], data: st.DataObject) -> None:
    outside: Path = world["outside"]
    cfg = world["cfg"]
    tables = data.draw(_manifests())
    policy = Policy(
        defaults=data.draw(_grants(outside)),
        extensions={
            key: data.draw(_grants(outside))
            for key in data.draw(st.lists(st.sampled_from(["acme.*", "acme.tool"]), unique=True))
        },
    )
    rec = record(world["root"], **tables)
    grant = effective_grant(rec, policy, cfg)
    granted = resolve_grant(policy, "acme.tool")
    asked = grant.asked
    p = grant.profile
    data_root = data_dir(cfg, "acme.tool")

    # network, ports, env, subprocess: never more than asked, never more than granted
    assert NETWORK_ORDER[p.network] <= NETWORK_ORDER[asked.network]
    assert NETWORK_ORDER[p.network] <= NETWORK_ORDER[granted.network]
    assert p.network == min(asked.network, granted.network, key=NETWORK_ORDER.__getitem__)
    assert set(p.tcp_connect_ports) <= set(granted.ports)
    assert not p.tcp_connect_ports or p.network == "any"
    assert set(p.env) <= set(asked.env)
    import fnmatch

    for name in asked.env:
        matched = any(fnmatch.fnmatchcase(name, g) for g in granted.env)
        assert (name in p.env) == matched
    assert p.subprocess == (asked.subprocess and granted.subprocess)
    assert not p.fs_exec or p.subprocess

    # filesystem: each granted tree lies within a granted path, and within an asked one
    # unless the user granted it by absolute path
    def resolved(paths: tuple[str, ...]) -> tuple[list[str], list[str]]:
        absolute = [os.path.realpath(x) for x in paths if os.path.isabs(x)]
        relative = [str((data_root / x).resolve()) for x in paths if not os.path.isabs(x)]
        return absolute, relative

    abs_w, rel_w = resolved(granted.write)
    abs_r, rel_r = resolved(granted.read)
    ask_w = [str((data_root / x).resolve()) for x in asked.write]
    ask_r = [str((data_root / x).resolve()) for x in asked.read] + ask_w
    for path in p.fs_write:
        assert any(beneath(path, g) for g in abs_w) or (
            any(beneath(path, g) for g in rel_w) and any(beneath(path, a) for a in ask_w)
        ), path
    own = set(grant.package_dirs)
    for path in p.fs_read:
        if path in own:
            continue
        assert any(beneath(path, g) for g in abs_r + abs_w) or (
            any(beneath(path, g) for g in rel_r + rel_w) and any(beneath(path, a) for a in ask_r)
        ), path
    # ...and the intersection is complete: whatever both allow is granted
    for a in ask_w:
        if any(beneath(a, g) for g in rel_w):
            assert any(beneath(a, w) for w in p.fs_write), a
    for a in ask_r:
        if any(beneath(a, g) for g in rel_r + rel_w):
            assert any(beneath(a, x) for x in (*p.fs_read, *p.fs_write)), a

    # limits: never above the ceiling, never above the ask (but the sandbox's floor)
    assert p.memory_bytes <= granted.memory_bytes
    assert p.memory_bytes == max(
        MIN_MEMORY,
        min(asked.memory_bytes or granted.memory_bytes, granted.memory_bytes),
    )
    assert p.cpu_share <= granted.cpu_share
    if asked.cpu_share is not None:
        assert p.cpu_share <= max(asked.cpu_share, 0.01)
    assert p.pids <= granted.processes
    assert p.open_files <= granted.open_files
    if asked.processes is not None:
        assert p.pids <= asked.processes
    if asked.open_files is not None:
        assert p.open_files <= asked.open_files
    if granted.cpu_seconds is not None:
        assert p.cpu_seconds is not None
        assert p.cpu_seconds <= granted.cpu_seconds
    if asked.cpu_seconds is not None:
        assert p.cpu_seconds is not None
        assert p.cpu_seconds <= asked.cpu_seconds
    assert p.file_size_bytes == granted.file_size_bytes
    if tables["limits"].get("memory"):
        assert asked.memory_bytes == parse_size(tables["limits"]["memory"])

    # shortfalls: a network shortfall exactly when less was granted than asked
    permissions = {s.permission for s in grant.shortfalls}
    assert ("network" in permissions) == (p.network != asked.network)
    assert ("subprocess" in permissions) == (asked.subprocess and not p.subprocess)
    assert ("limits.memory" in permissions) == (
        asked.memory_bytes is not None and asked.memory_bytes > granted.memory_bytes
    )
