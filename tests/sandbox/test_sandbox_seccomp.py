"""seccomp: the BPF program against a reference model, and the live filter in a child."""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import socket
import struct
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sandbox_harness import outcome, run_in_child

from symphony_core.runtime.sandbox import seccomp, syscalls
from symphony_core.runtime.sandbox.errors import MechanismUnavailableError

ALLOW, DENY, ENOSYS, KILL = "allow", "deny", "enosys", "kill"
ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}


def run_bpf(program: bytes, nr: int, arch: int, args: tuple[int, ...]) -> str:
    """Evaluate a classic-BPF seccomp program on one syscall (reference interpreter)."""
    data = struct.pack("<iIQ6Q", nr, arch, 0, *args)
    code = [struct.unpack_from("<HBBI", program, i) for i in range(0, len(program), 8)]
    acc, pc = 0, 0
    for _ in range(10_000):
        op, jt, jf, k = code[pc]
        if op == 0x20:
            acc = struct.unpack_from("<I", data, k)[0]
            pc += 1
        elif op == 0x15:
            pc += 1 + (jt if acc == k else jf)
        elif op == 0x35:
            pc += 1 + (jt if acc >= k else jf)
        elif op == 0x45:
            pc += 1 + (jt if acc & k else jf)
        elif op == 0x05:
            pc += 1 + k
        elif op == 0x06:
            if k == 0x7FFF0000:
                return ALLOW
            if k == 0x80000000:
                return KILL
            if k == 0x00050000 | errno.EPERM:
                return DENY
            if k == 0x00050000 | errno.ENOSYS:
                return ENOSYS
            raise AssertionError(hex(k))
        else:
            raise AssertionError(f"unknown op {op:#x}")
    raise AssertionError("program did not terminate")


def model(
    machine: str,
    name: str | None,
    nr: int,
    args: tuple[int, ...],
    *,
    families: set[int],
    subprocess: bool,
    metadata: bool,
    pids: set[int],
) -> str:
    if machine == "x86_64" and nr >= 0x40000000:
        return KILL
    denied = set(seccomp.denied_syscalls(subprocess=subprocess, metadata=metadata, machine=machine))
    if name in denied:
        return DENY
    lo = [a & 0xFFFFFFFF for a in args]
    if name == "socket":
        return ALLOW if lo[0] in families else DENY
    if name == "prlimit64":
        return ALLOW if args[2] == 0 else DENY
    if name == "clone":
        if lo[0] & 0x7E020000:
            return DENY
        if not subprocess and not lo[0] & 0x10000:
            return DENY
        return ALLOW
    if name == "clone3":
        return ENOSYS
    if name in ("kill", "tkill", "tgkill"):
        target = lo[0]
        protected = {p & 0xFFFFFFFF for p in pids} | {(-p) & 0xFFFFFFFF for p in pids}
        return DENY if target == 0xFFFFFFFF or target in protected else ALLOW
    if name == "pidfd_open":
        return DENY if lo[0] in {p & 0xFFFFFFFF for p in pids} else ALLOW
    return ALLOW


@settings(max_examples=300, deadline=None)
@given(
    machine=st.sampled_from(["x86_64", "aarch64"]),
    pick=st.one_of(st.integers(0, 600), st.sampled_from(["table"])),
    which=st.integers(0, 10_000),
    args=st.tuples(
        *[
            st.sampled_from(
                [
                    0,
                    1,
                    2,
                    10,
                    16,
                    17,
                    0x10000,
                    0x40000000,
                    0x10011,
                    0xFFFFFFFF,
                    1 << 32,
                    4242,
                    2**64 - 4242,
                ]
            )
            for _ in range(6)
        ]
    ),
    families=st.sets(st.sampled_from([1, 2, 10, 16, 17]), max_size=3),
    subprocess=st.booleans(),
    metadata=st.booleans(),
    pids=st.sets(st.integers(2, 4_000_000), max_size=3),
)
def test_program_matches_the_model(
    machine: str,
    pick: int | str,
    which: int,
    args: tuple[int, ...],
    families: set[int],
    subprocess: bool,
    metadata: bool,
    pids: set[int],
) -> None:
    table = syscalls.SYSCALLS[machine]
    by_number = {v: k for k, v in table.items()}
    name: str | None
    if pick == "table":
        name = sorted(table)[which % len(table)]
        nr = table[name]
    else:
        assert isinstance(pick, int)
        nr = pick if which % 7 else 0x40000000 + pick  # sometimes an x32 call
        name = by_number.get(nr)
    program = seccomp.build_filter(
        socket_families=families,
        subprocess=subprocess,
        protected_pids=pids,
        metadata=metadata,
        machine=machine,
    )
    got = run_bpf(program, nr, ARCH[machine], args)
    want = model(
        machine,
        name,
        nr,
        args,
        families=families,
        subprocess=subprocess,
        metadata=metadata,
        pids=pids,
    )
    assert got == want, (name, nr, args)


def test_wrong_architecture_is_killed() -> None:
    program = seccomp.build_filter(machine="x86_64")
    assert run_bpf(program, 0, ARCH["aarch64"], (0,) * 6) == KILL


def test_unknown_machine_is_refused() -> None:
    with pytest.raises(MechanismUnavailableError):
        seccomp.build_filter(machine="sparc")


def test_too_many_pids_do_not_build_a_broken_program() -> None:
    with pytest.raises(ValueError, match="out of range"):
        seccomp.build_filter(protected_pids=range(2, 400))


def _live_checks(*, confined: bool = True) -> dict[str, int | str]:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    scratch_file = f"/tmp/symphony-seccomp-test-{os.getpid()}"
    with open(scratch_file, "w") as handle:
        handle.write("x")

    def raw(name: str, *args: int) -> None:
        nr = syscalls.number(name)
        assert nr is not None
        if libc.syscall(ctypes.c_long(nr), *(ctypes.c_long(a) for a in args)) == -1:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))

    def thread() -> None:
        t = threading.Thread(target=lambda: None)
        t.start()
        t.join()

    def fork() -> None:
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)

    checks: dict[str, int | str] = {}
    if confined:
        # Only under the filter: unconfined, PTRACE_TRACEME would make the test runner
        # the tracer and stop the child at its next signal.
        checks["ptrace"] = outcome(lambda: raw("ptrace", 0, 0, 0, 0))
    return (
        checks
        | {
            "unshare": outcome(lambda: raw("unshare", 0x40000000)),
            "mount": outcome(lambda: raw("mount", 0, 0, 0, 0, 0)),
            "bpf": outcome(lambda: raw("bpf", 0, 0, 0)),
            "io_uring": outcome(lambda: raw("io_uring_setup", 1, 0)),
            "socket_unix": outcome(lambda: socket.socket(socket.AF_UNIX)),
            "socket_inet": outcome(lambda: socket.socket(socket.AF_INET)),
            "socketpair": outcome(lambda: socket.socketpair()[0].close()),
            "getrlimit": outcome(lambda: resource.getrlimit(resource.RLIMIT_NOFILE)),
            "setrlimit": outcome(lambda: raw("setrlimit", resource.RLIMIT_NOFILE, 0)),
            "prlimit_set": outcome(lambda: raw("prlimit64", 0, resource.RLIMIT_NOFILE, 1, 0)),
            "thread": outcome(thread),
            "fork": outcome(fork),
            "kill_all": outcome(lambda: os.kill(-1, 0)),
            "kill_parent": outcome(lambda: os.kill(os.getppid(), 0)),
            "kill_self": outcome(lambda: os.kill(os.getpid(), 0)),
            "chmod": outcome(lambda: os.chmod(scratch_file, 0o600)),
            "pidfd_parent": outcome(lambda: os.close(os.pidfd_open(os.getppid()))),
        }
        | {"cleanup": outcome(lambda: os.unlink(scratch_file))}
    )


@pytest.mark.skipif(syscalls.AUDIT_ARCH is None, reason="no syscall table for this machine")
def test_live_filter_refuses_and_allows() -> None:
    control = run_in_child(lambda: _live_checks(confined=False))
    for name in (
        "socket_unix",
        "socket_inet",
        "socketpair",
        "getrlimit",
        "thread",
        "fork",
        "kill_parent",
    ):
        assert control[name] == "ok", name

    def confined() -> dict[str, int | str]:
        result = seccomp.install(socket_families=(), protected_pids=[os.getppid()])
        assert result.instructions > 10
        return _live_checks()

    seen = run_in_child(confined)
    for name in (
        "ptrace", "unshare", "mount", "bpf", "io_uring", "socket_unix", "socket_inet",
        "setrlimit", "prlimit_set", "fork", "kill_all", "kill_parent", "chmod", "pidfd_parent",
    ):  # fmt: skip
        assert seen[name] == errno.EPERM, (name, seen[name])
    for name in ("socketpair", "getrlimit", "thread", "kill_self"):
        assert seen[name] == "ok", (name, seen[name])


def test_live_grants() -> None:
    def confined() -> dict[str, int | str]:
        seccomp.install(socket_families=[socket.AF_INET], subprocess=True, metadata=True)
        checks = _live_checks()
        return {k: checks[k] for k in ("socket_inet", "socket_unix", "fork", "chmod")}

    seen = run_in_child(confined)
    assert seen == {"socket_inet": "ok", "socket_unix": errno.EPERM, "fork": "ok", "chmod": "ok"}


def test_families_by_network_grant() -> None:
    assert seccomp.FAMILIES["none"] == ()
    assert socket.AF_UNIX not in seccomp.FAMILIES["any"]
    assert set(seccomp.FAMILIES["loopback"]) == {socket.AF_INET, socket.AF_INET6}
    assert Path(__file__).exists()
