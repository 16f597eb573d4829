"""Landlock: rights per ABI, and the kernel refusing what the rules do not grant."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sandbox_harness import outcome, run_in_child

from symphony_core.runtime.sandbox import landlock
from symphony_core.runtime.sandbox.errors import MechanismUnavailableError

ABI = landlock.abi_version()
needs_landlock = pytest.mark.skipif(ABI < 1, reason="Landlock is not available")


@given(st.integers(0, 9))
def test_rights_grow_with_the_abi(abi: int) -> None:
    rights = landlock.fs_rights(abi)
    if abi < 1:
        assert rights == {"all": 0, "read": 0, "write": 0, "execute": 0}
        return
    assert rights["read"] & ~rights["all"] == 0
    assert rights["write"] & ~rights["all"] == 0
    assert rights["read"] & rights["write"] == rights["read"]
    assert not rights["write"] & landlock.ACCESS_FS_EXECUTE
    assert not rights["write"] & ((1 << 6) | (1 << 11))  # never device nodes
    assert bool(rights["all"] & (1 << 13)) == (abi >= 2)  # refer
    assert bool(rights["all"] & (1 << 14)) == (abi >= 3)  # truncate
    assert bool(rights["all"] & (1 << 15)) == (abi >= 5)  # ioctl on devices
    if abi > 1:
        smaller = landlock.fs_rights(abi - 1)["all"]
        assert smaller & ~rights["all"] == 0


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    readable = tmp_path / "readable"
    writable = tmp_path / "writable"
    outside = tmp_path / "outside"
    for directory in (readable, writable, outside):
        directory.mkdir()
    (readable / "in.txt").write_text("inside")
    (outside / "secret.txt").write_text("outside")
    (outside / "secret.txt").chmod(0o644)
    (writable / "file.txt").write_text("mine")
    return {"readable": readable, "writable": writable, "outside": outside}


@needs_landlock
def test_filesystem_rules(tree: dict[str, Path]) -> None:
    readable, writable, outside = tree["readable"], tree["writable"], tree["outside"]
    actions = {
        "read_inside": lambda: (readable / "in.txt").read_text(),
        "list_inside": lambda: os.listdir(readable),
        "read_outside": lambda: (outside / "secret.txt").read_text(),
        "list_outside": lambda: os.listdir(outside),
        "write_readable": lambda: (readable / "new.txt").write_text("x"),
        "write_writable": lambda: (writable / "new.txt").write_text("x"),
        "write_outside": lambda: (outside / "new.txt").write_text("x"),
        "truncate_outside": lambda: os.truncate(outside / "secret.txt", 0),
        "rename_out": lambda: os.rename(writable / "file.txt", outside / "moved.txt"),
        "hardlink_out": lambda: os.link(writable / "file.txt", outside / "linked.txt"),
        "hardlink_in": lambda: os.link(outside / "secret.txt", writable / "linked.txt"),
        "stat_outside": lambda: os.stat(outside / "secret.txt"),
    }
    # Positive control: the same actions without Landlock (in a child, to keep the tree).
    control = run_in_child(
        lambda: {
            name: outcome(a) for name, a in actions.items() if name.startswith(("read", "list"))
        }
    )
    assert control == {
        "read_inside": "ok",
        "list_inside": "ok",
        "read_outside": "ok",
        "list_outside": "ok",
    }

    def confined() -> dict[str, int | str]:
        result = landlock.restrict_self(read=[str(readable)], write=[str(writable)])
        assert result.abi == ABI
        return {name: outcome(a) for name, a in actions.items()}

    seen = run_in_child(confined)
    assert seen["read_inside"] == "ok"
    assert seen["list_inside"] == "ok"
    assert seen["write_writable"] == "ok"
    assert seen["stat_outside"] == "ok"  # metadata is not covered by Landlock
    for name in ("read_outside", "list_outside", "write_readable", "write_outside"):
        assert seen[name] == errno.EACCES, name
    if ABI >= 3:
        assert seen["truncate_outside"] == errno.EACCES
    assert seen["rename_out"] in (errno.EXDEV, errno.EACCES)
    assert seen["hardlink_out"] in (errno.EXDEV, errno.EACCES)
    assert seen["hardlink_in"] in (errno.EXDEV, errno.EACCES)
    assert (outside / "secret.txt").read_text() == "outside"
    assert not (outside / "moved.txt").exists()


@needs_landlock
def test_single_file_rule_and_symlink_out(tree: dict[str, Path]) -> None:
    writable, outside = tree["writable"], tree["outside"]
    (outside / "allowed.txt").write_text("one file")
    os.symlink(outside / "secret.txt", writable / "link")

    def confined() -> dict[str, int | str]:
        landlock.restrict_self(read=[str(outside / "allowed.txt")], write=[str(writable)])
        return {
            "allowed_file": outcome(lambda: (outside / "allowed.txt").read_text()),
            "sibling": outcome(lambda: (outside / "secret.txt").read_text()),
            "symlink_out": outcome(lambda: (writable / "link").read_text()),
            "new_symlink": outcome(lambda: os.symlink("/etc/passwd", writable / "link2")),
            "follow_new": outcome(lambda: (writable / "link2").read_text()),
        }

    seen = run_in_child(confined)
    assert seen["allowed_file"] == "ok"
    assert seen["sibling"] == errno.EACCES
    assert seen["symlink_out"] == errno.EACCES
    assert seen["new_symlink"] == "ok"  # creating a link inside is fine...
    assert seen["follow_new"] == errno.EACCES  # ...following it out is not


@needs_landlock
def test_missing_paths_are_reported_and_the_ruleset_fd_closed(tree: dict[str, Path]) -> None:
    def confined() -> list[str]:
        result = landlock.restrict_self(
            read=[str(tree["readable"]), str(tree["readable"] / "missing")], write=[]
        )
        return list(result.skipped)

    assert run_in_child(confined) == [str(tree["readable"] / "missing")]

    def fd_count() -> dict[str, int]:
        before = len(os.listdir("/proc/self/fd"))
        landlock.restrict_self(read=["/proc/self"], write=[])
        return {"before": before, "after": len(os.listdir("/proc/self/fd"))}

    counts = run_in_child(fd_count)
    assert counts["after"] == counts["before"]


@pytest.mark.skipif(ABI < 4, reason="TCP rules need Landlock ABI 4")
def test_tcp_connect_rules() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    other = socket.create_server(("127.0.0.1", 0))
    port, other_port = listener.getsockname()[1], other.getsockname()[1]
    try:

        def connect(p: int) -> None:
            # A plain connect: getaddrinfo would need the NSS libraries, not granted here.
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.settimeout(2)
                s.connect(("127.0.0.1", p))

        assert run_in_child(lambda: outcome(lambda: connect(port))) == "ok"

        def confined() -> dict[str, int | str]:
            landlock.restrict_self(read=[], write=[], tcp_connect=[port], tcp_bind=[])
            return {
                "granted": outcome(lambda: connect(port)),
                "other": outcome(lambda: connect(other_port)),
                "bind": outcome(lambda: socket.socket().bind(("127.0.0.1", 0))),
            }

        seen = run_in_child(confined)
        assert seen["granted"] == "ok"
        assert seen["other"] == errno.EACCES
        assert seen["bind"] == errno.EACCES
    finally:
        listener.close()
        other.close()


def test_tcp_rules_refused_below_abi_4() -> None:
    if ABI < 1:
        pytest.skip("Landlock is not available")
    # The check comes before any ruleset exists: safe to run in the test runner.
    with pytest.raises(MechanismUnavailableError, match="ABI 4"):
        landlock.restrict_self(tcp_connect=[80], abi=3)


@pytest.mark.skipif(ABI < 6, reason="scopes need Landlock ABI 6")
def test_scopes_refuse_signals_and_abstract_sockets_outside() -> None:
    sleeper = subprocess.Popen(["sleep", "30"], start_new_session=True)
    name = f"symphony-test-{os.getpid()}-{time.monotonic_ns()}"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind("\0" + name)
    server.listen()
    try:

        def attempts() -> dict[str, int | str]:
            def connect() -> None:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.connect("\0" + name)

            return {
                "signal": outcome(lambda: os.kill(sleeper.pid, 0)),
                "abstract": outcome(connect),
            }

        assert run_in_child(attempts) == {"signal": "ok", "abstract": "ok"}

        def confined() -> dict[str, int | str]:
            landlock.restrict_self(read=[], write=[])
            result = attempts()
            own = os.fork()
            if own == 0:
                time.sleep(5)
                os._exit(0)
            result["own_child"] = outcome(lambda: os.kill(own, signal.SIGKILL))
            os.waitpid(own, 0)
            return result

        seen = run_in_child(confined)
        assert seen["signal"] == errno.EPERM
        assert seen["abstract"] == errno.EPERM
        assert seen["own_child"] == "ok"
        assert sleeper.poll() is None
    finally:
        server.close()
        sleeper.kill()
        sleeper.wait()


@needs_landlock
def test_abi_cap_limits_handled_rights(tree: dict[str, Path]) -> None:
    def confined() -> dict[str, int]:
        result = landlock.restrict_self(read=[str(tree["readable"])], abi=1, scope=True)
        return {"abi": result.abi, "fs": result.handled_fs, "scoped": result.scoped}

    seen = run_in_child(confined)
    assert seen == {"abi": 1, "fs": landlock.fs_rights(1)["all"], "scoped": 0}


def test_existing_resolves_and_dedupes(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    os.symlink(tmp_path / "a", tmp_path / "b")
    got = landlock.existing([str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "none")])
    assert got == [str((tmp_path / "a").resolve())]
