"""Network namespaces, privilege drop and rlimits, each applied in a forked child."""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import socket
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sandbox_harness import outcome, run_in_child

from symphony_core.runtime.sandbox import limits, netns, privileges
from symphony_core.runtime.sandbox.policy import SandboxProfile
from symphony_core.runtime.sandbox.probe import probe_kernel

CAPS = probe_kernel()
needs_netns = pytest.mark.skipif(not CAPS.network_namespaces, reason="no network namespaces")
ROOT = os.geteuid() == 0


def _connect(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        sock.connect(("127.0.0.1", port))


@needs_netns
@pytest.mark.parametrize("user_namespace", [False, True])
def test_fresh_namespace_cannot_reach_the_host(user_namespace: bool) -> None:
    if not user_namespace and not ROOT:
        pytest.skip("a bare network namespace needs root")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    host_ns = os.readlink("/proc/self/ns/net")
    try:
        assert run_in_child(lambda: outcome(lambda: _connect(port))) == "ok"

        def confined() -> dict[str, object]:
            result = netns.enter_new_netns(user_namespace=user_namespace)
            return {
                "ns": result.namespace,
                "userns": result.user_namespace,
                "connect": outcome(lambda: _connect(port)),
                "uid": os.getuid(),
            }

        seen = run_in_child(confined)
        assert seen["ns"] != host_ns
        assert seen["userns"] is user_namespace
        assert seen["connect"] == errno.ENETUNREACH
        assert seen["uid"] == os.getuid()  # the uid maps to itself
    finally:
        listener.close()


@needs_netns
def test_loopback_up_talks_to_itself_only() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    host_port = listener.getsockname()[1]
    try:

        def confined() -> dict[str, object]:
            netns.enter_new_netns(loopback_up=True)
            own = socket.create_server(("127.0.0.1", 0))
            own_port = own.getsockname()[1]
            result: dict[str, object] = {
                "own": outcome(lambda: _connect(own_port)),
                "host": outcome(lambda: _connect(host_port)),
            }
            own.close()
            return result

        seen = run_in_child(confined)
        assert seen["own"] == "ok"
        assert seen["host"] == errno.ECONNREFUSED  # its own lo has nothing on that port
    finally:
        listener.close()


_CLONE_NEWUTS = 0x04000000


def _new_uts_namespace() -> None:
    # Needs CAP_SYS_ADMIN over the current user namespace (Python 3.11 has no os.unshare).
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWUTS) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _cap_field(name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1], 16)
    raise AssertionError(name)


@pytest.mark.skipif(not CAPS.user_namespaces, reason="no user namespaces")
def test_capabilities_held_in_a_user_namespace_are_dropped() -> None:
    # A non-root host's child holds every capability inside its own user namespace
    # until the privilege step drops them; the kernel then refuses what they allowed.
    def control() -> dict[str, object]:
        netns.enter_new_netns(user_namespace=True)
        return {"cap_eff": _cap_field("CapEff"), "uts": outcome(_new_uts_namespace)}

    held = run_in_child(control)
    assert held["cap_eff"] != 0
    assert held["uts"] == "ok"

    def confined() -> dict[str, object]:
        netns.enter_new_netns(user_namespace=True)
        result = privileges.drop()
        return {
            "caps": [_cap_field("CapEff"), _cap_field("CapPrm"), _cap_field("CapBnd")],
            "result": [result.effective_caps, result.bounding_caps, result.no_new_privs],
            "uts": outcome(_new_uts_namespace),
            "uid": os.getuid(),
        }

    seen = run_in_child(confined)
    assert seen["caps"] == [0, 0, 0]
    assert seen["result"] == [0, 0, True]
    assert seen["uts"] == errno.EPERM
    assert seen["uid"] == os.getuid()


@pytest.mark.skipif(
    not ROOT,
    reason="chown and mknod need capabilities in the initial user namespace, which only "
    "root holds (the user-namespace case is tested above)",
)
def test_capabilities_dropped_for_good(tmp_path: Path) -> None:
    target = tmp_path / "owned"
    target.write_text("x")

    def attempts() -> dict[str, int | str]:
        return {
            "chown": outcome(lambda: os.chown(target, 1, 1)),
            "mknod": outcome(
                lambda: os.mknod(
                    tmp_path / f"null-{os.getpid()}", stat.S_IFCHR | 0o600, os.makedev(1, 3)
                )
            ),
        }

    control = run_in_child(attempts)
    assert control["chown"] == "ok"
    assert control["mknod"] == "ok"

    def confined() -> dict[str, object]:
        result = privileges.drop()
        seen: dict[str, object] = dict(attempts())
        seen["become_other"] = outcome(lambda: os.setresuid(1, 1, 1))
        seen["result"] = [
            result.effective_caps,
            result.bounding_caps,
            result.no_new_privs,
            result.uid,
        ]
        return seen

    seen = run_in_child(confined)
    assert seen["result"] == [0, 0, True, 0]
    assert seen["chown"] == errno.EPERM
    assert seen["mknod"] == errno.EPERM
    assert seen["become_other"] == errno.EPERM


@pytest.mark.skipif(not ROOT, reason="switching uid needs root")
def test_run_as_dedicated_uid(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    (private / "f").write_text("root only")

    def confined() -> dict[str, object]:
        result = privileges.drop(run_as_uid=65534, run_as_gid=65534)
        return {
            "ids": [os.getuid(), os.geteuid(), os.getgid(), os.getgroups()],
            "switched": result.switched_uid,
            "caps": result.effective_caps,
            "read_private": outcome(lambda: (private / "f").read_text()),
            "back_to_root": outcome(lambda: os.setuid(0)),
        }

    assert run_in_child(lambda: outcome(lambda: (private / "f").read_text())) == "ok"
    seen = run_in_child(confined)
    assert seen["ids"] == [65534, 65534, 65534, []]
    assert seen["switched"] is True
    assert seen["caps"] == 0
    assert seen["read_private"] == errno.EACCES
    assert seen["back_to_root"] == errno.EPERM


def test_readable_by(tmp_path: Path) -> None:
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    (open_dir / "f").write_text("x")
    closed = tmp_path / "closed"
    closed.mkdir()
    (closed / "f").write_text("x")
    closed.chmod(0o700)
    tmp_path.chmod(0o755)
    (open_dir / "f").chmod(0o644)
    other = 65534 if os.geteuid() != 65534 else 65533
    refused = privileges.readable_by(
        [str(open_dir / "f"), str(closed / "f"), str(open_dir), str(tmp_path / "missing")],
        other,
        other,
    )
    parents_ok = all(
        p.stat().st_mode & 0o001 for p in [*reversed(tmp_path.parents), tmp_path] if p != Path("/")
    )
    if parents_ok:
        assert refused == [str(closed / "f"), str(tmp_path / "missing")]
    else:  # the temp dir itself is not searchable by others on this machine
        assert str(closed / "f") in refused
    assert privileges.readable_by([str(closed / "f")], 0, 0) == []


@settings(max_examples=200, deadline=None)
@given(
    memory=st.integers(16 << 20, 64 << 30),
    cpu_seconds=st.one_of(st.none(), st.integers(1, 10_000)),
    files=st.integers(16, 1 << 16),
    cgroup=st.booleans(),
    dedicated=st.booleans(),
)
def test_rlimit_plan(
    memory: int, cpu_seconds: int | None, files: int, cgroup: bool, dedicated: bool
) -> None:
    profile = SandboxProfile(
        memory_bytes=memory, cpu_seconds=cpu_seconds, open_files=files, pids=33
    )
    plan = limits.plan_limits(profile, memory_cgroup=cgroup, dedicated_uid=dedicated)
    data_soft, data_hard = plan.limits["RLIMIT_DATA"]
    assert data_soft == data_hard
    assert data_soft == (2 * memory + (64 << 20) if cgroup else memory)
    assert plan.limits["RLIMIT_NOFILE"] == (files, files)
    assert plan.limits["RLIMIT_CORE"] == (0, 0)
    assert ("RLIMIT_CPU" in plan.limits) == (cpu_seconds is not None)
    if cpu_seconds is not None:
        assert plan.limits["RLIMIT_CPU"] == (cpu_seconds, cpu_seconds + 1)
    assert ("RLIMIT_NPROC" in plan.limits) == dedicated


def test_rlimits_applied_never_raised() -> None:
    profile = SandboxProfile(
        memory_bytes=64 << 20, cpu_seconds=5, open_files=64, file_size_bytes=1 << 20
    )
    plan = limits.plan_limits(profile, memory_cgroup=False, dedicated_uid=False)

    def confined() -> dict[str, object]:
        resource.setrlimit(resource.RLIMIT_NOFILE, (32, 32))  # already stricter
        applied = limits.apply(plan)
        try:
            bytearray(128 << 20)
            too_big = "ok"
        except MemoryError:
            too_big = "MemoryError"
        return {
            "applied": {k: list(v) for k, v in applied.items()},
            "nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE)),
            "alloc": too_big,
        }

    seen = run_in_child(confined)
    assert seen["nofile"] == [32, 32]
    assert seen["applied"]["RLIMIT_DATA"] == [64 << 20, 64 << 20]
    assert seen["applied"]["RLIMIT_CORE"] == [0, 0]
    assert seen["applied"]["RLIMIT_CPU"] == [5, 6]
    assert seen["alloc"] == "MemoryError"  # RLIMIT_DATA at the limit: a catchable error


def test_unknown_rlimit_is_refused() -> None:
    # Refused before any limit is set: safe in the test runner.
    with pytest.raises(ValueError, match="unknown rlimit"):
        limits.apply(limits.RlimitPlan(limits={"RLIMIT_BOGUS": (1, 1)}))
