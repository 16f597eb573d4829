"""End-to-end attacks through the real supervisor: a hostile extension in its sandbox.

Each attack runs in a sandboxed process of the hostile extension (tests/security/hostile)
next to a healthy bystander extension. After each one the host (this process) is alive
and serves the next call — to the restarted attacker and to the bystander, whose process
was never disturbed — the cause is named correctly, and the audit log holds the attempt
where there is one to hold. Each attack has a positive control showing that the probe
works where nothing stops it.
"""

from __future__ import annotations

import os
import pickle
import resource
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from e2e_harness import (
    BYSTANDER,
    HOSTILE,
    HOSTILE_PACKAGE,
    SPECS,
    AuditLog,
    bystander_record,
    hostile_record,
    profiles,
)

from symphony_core.config import Config
from symphony_core.errors import HookCallError
from symphony_core.ipc.framing import encode_frame
from symphony_core.ipc.protocol import Hello, Publish
from symphony_core.runtime.crashes import ExtensionCrashedError
from symphony_core.runtime.crossing import EXTHOST_TARGET
from symphony_core.runtime.sandbox.launcher import Launcher
from symphony_core.runtime.sandbox.policy import Weakening
from symphony_core.runtime.sandbox.probe import probe_kernel
from symphony_core.runtime.sandboxed import SandboxedRuntime
from symphony_core.runtime.supervisor import SupervisorPolicy
from symphony_core.testing.sandbox import process_limit_unavailable

_MIB = 1 << 20
POLICY = SupervisorPolicy(restart_backoff=0.05, restart_backoff_max=0.2)
_NEEDED = probe_kernel().guarantees().required_weakenings
# A host without cgroup delegation (e.g. running as nobody) opts in to `no-cgroups`
# explicitly, as a user would; without any other mechanism the sandbox cannot run.
ACCEPTED = (Weakening.NO_CGROUPS.value,) if Weakening.NO_CGROUPS in _NEEDED else ()
CGROUPS = not ACCEPTED
NO_PROCESS_LIMIT = process_limit_unavailable(probe_kernel())
pytestmark = pytest.mark.skipif(
    any(w != Weakening.NO_CGROUPS for w in _NEEDED),
    reason=f"this kernel cannot give the full sandbox: {[w.value for w in _NEEDED]}",
)


@pytest.fixture(scope="module")
def audit() -> AuditLog:
    return AuditLog()


@pytest.fixture(scope="module", autouse=True)
def specs_on_path() -> Iterator[None]:
    """The hook specs are host code: the host finds them on its path (never imports them)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(HOSTILE_PACKAGE.parent))
        yield


@pytest.fixture(scope="module")
def launcher(audit: AuditLog) -> Iterator[Launcher]:
    # Named "launcher": the directory's leftover check then also watches its fork server.
    launcher = Launcher(allowed_targets={EXTHOST_TARGET}, audit_sink=audit, accept_weaker=ACCEPTED)
    launcher.start_server()
    launcher.wait_ready()
    yield launcher
    launcher.close()


class Host:
    """A sandboxed runtime with the attacker and a bystander, both already running."""

    def __init__(self, tmp: Path, launcher: Launcher, audit: AuditLog, **profile: Any) -> None:
        site = tmp / "site"
        site.mkdir(parents=True)
        config = Config(home=tmp / "home")
        self.audit = audit
        self.runtime = SandboxedRuntime(
            config,
            launcher=launcher,
            audit_sink=audit,
            profile_for=profiles(config, **profile),
            hookspecs=(SPECS,),
            policy=POLICY,
        )
        self.runtime.add(hostile_record())
        self.runtime.add(bystander_record(site))
        assert self.attack("echo", "ready") == "ready"
        assert self.bystander("ready") == ["still here", "ready"]
        self.bystander_pid = self.runtime.status(BYSTANDER).pid

    def attack(self, action: str, arg: Any = None, **kw: Any) -> Any:
        return self.runtime.call(HOSTILE, "hostile_attack", {"action": action, "arg": arg}, **kw)

    def bystander(self, arg: Any) -> Any:
        return self.runtime.call(BYSTANDER, "hostile_attack", {"action": "echo", "arg": arg})

    def crash(self, action: str, arg: Any = None, **kw: Any) -> ExtensionCrashedError:
        with pytest.raises(ExtensionCrashedError) as info:
            self.attack(action, arg, **kw)
        assert info.value.extension_id == HOSTILE
        return info.value

    def assert_serving(self) -> None:
        """The next calls succeed: the attacker restarted, the bystander untouched."""
        assert self.attack("echo", "next") == "next"
        assert self.bystander("next") == ["still here", "next"]
        status = self.runtime.status(BYSTANDER)
        assert (status.pid, status.total_crashes) == (self.bystander_pid, 0)


@pytest.fixture
def make_host(tmp_path: Path, launcher: Launcher, audit: AuditLog) -> Iterator[Callable[..., Host]]:
    hosts: list[Host] = []
    audit.clear()

    def make(**profile: Any) -> Host:
        host = Host(tmp_path / f"host{len(hosts)}", launcher, audit, **profile)
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.runtime.close()


# -- frames ------------------------------------------------------------------------------


class Trap:
    """Unpickling it creates a directory: proof that a pickle ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.marker),))


def test_a_pickled_frame_is_never_unpickled(make_host: Callable[..., Host], tmp_path: Path) -> None:
    marker = tmp_path / "pickle-ran"
    payload = pickle.dumps(Trap(marker))
    # Positive control: the payload does run code under pickle.
    pickle.loads(payload)
    assert marker.is_dir()
    marker.rmdir()
    host = make_host()
    # As a value it is just bytes: carried, never decoded.
    assert host.attack("echo", payload) == payload
    # As a frame body it is malformed msgpack: the connection is closed, nothing runs.
    error = host.crash("body", payload)
    assert error.cause.kind == "protocol"
    assert "broke the IPC protocol" in error.cause.message
    assert not marker.exists()
    assert "ipc.protocol" in host.audit.rules(HOSTILE)
    host.assert_serving()
    assert not marker.exists()


def _framed(body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + body


MALFORMED = {
    "not msgpack": _framed(b"\xc1\xc1\xc1\xc1"),
    "not a message": _framed(msgspec.msgpack.encode([99, "x"])),
    "extension type": _framed(
        msgspec.msgpack.encode([13, "t", msgspec.msgpack.Ext(7, b"\x00" * 8)])
    ),
    "handshake again": encode_frame(Hello([1], "evil", 1024, 8)),
}


def test_a_valid_frame_on_the_raw_path_is_accepted(make_host: Callable[..., Host]) -> None:
    """Positive control for the frame attacks: the raw write path itself is fine."""
    host = make_host()
    frame = encode_frame(Publish("hostile.note", 1))
    assert host.attack("frame", {"data": frame, "wait": 0.2}) == "the host did not react"
    assert host.runtime.status(HOSTILE).total_crashes == 0


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_a_malformed_frame_closes_the_connection(make_host: Callable[..., Host], kind: str) -> None:
    host = make_host()
    error = host.crash("frame", {"data": MALFORMED[kind]})
    assert error.cause.kind == "protocol"
    assert "the host closed its connection" in error.cause.message
    assert "ipc.protocol" in host.audit.rules(HOSTILE)
    host.assert_serving()


def test_an_oversized_frame_is_refused_by_its_header(make_host: Callable[..., Host]) -> None:
    host = make_host()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    header = (2**31 - 1).to_bytes(4, "big")  # announces 2 GiB, sends 16 bytes
    error = host.crash("frame", {"data": header + b"\x00" * 16})
    assert error.cause.kind == "protocol"
    assert "exceeds" in error.cause.message
    # Nothing was reserved for the announced body.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 64 * 1024
    host.assert_serving()


def test_a_flood_of_messages_gets_the_extension_disconnected(
    make_host: Callable[..., Host],
) -> None:
    host = make_host()
    error = host.crash("flood", 500)  # 500 000 events as fast as it can write
    assert error.cause.kind == "flood"
    assert "flooding" in error.cause.message
    assert "ipc.flood" in host.audit.rules(HOSTILE)
    host.assert_serving()


# -- process deaths --------------------------------------------------------------------------


def test_a_segfault(make_host: Callable[..., Host]) -> None:
    host = make_host()
    error = host.crash("segfault")
    assert (error.cause.kind, error.cause.signal) == ("signal", 11)
    assert "SIGSEGV" in str(error)
    host.assert_serving()


def test_os_exit(make_host: Callable[..., Host]) -> None:
    host = make_host()
    error = host.crash("exit", 3)
    assert (error.cause.kind, error.cause.returncode) == ("exit", 3)
    host.assert_serving()


def test_an_endless_loop_that_ignores_sigterm(make_host: Callable[..., Host]) -> None:
    host = make_host()
    assert host.attack("cpu", 0.05, timeout=5) == 0.05  # control: a short loop finishes
    error = host.crash("spin", timeout=0.5)
    assert error.cause.kind == "call_timeout"
    assert error.cause.signal == 9  # SIGKILL from the cgroup: SIGTERM is never relied on
    assert "supervisor.call_timeout" in host.audit.rules(HOSTILE)
    host.assert_serving()


# -- resources -------------------------------------------------------------------------------


def test_a_fork_bomb_without_the_subprocess_grant_is_refused_and_audited(
    make_host: Callable[..., Host],
) -> None:
    host = make_host()
    with pytest.raises(HookCallError) as info:
        host.attack("fork", 1000)
    assert "forked 0 processes" in str(info.value)
    assert "Operation not permitted" in str(info.value)
    _wait(lambda: "seccomp.subprocess" in host.audit.rules(HOSTILE))
    host.assert_serving()


@pytest.mark.skipif(NO_PROCESS_LIMIT is not None, reason=NO_PROCESS_LIMIT or "")
def test_a_fork_bomb_is_held_at_the_process_limit(make_host: Callable[..., Host]) -> None:
    # As root a pids cgroup holds it; a host without cgroups (e.g. running as nobody)
    # gives the extension a user namespace of its own, where RLIMIT_NPROC counts its
    # processes and threads only. The memory limit is the manifest's: a dozen idle
    # forks of the extension host sum ~300 MiB of RSS, but the pages they share
    # copy-on-write count once (the cgroup's accounting, or the watchdog's PSS).
    host = make_host(subprocess=True, pids=16)
    assert host.attack("fork", 3) == 3  # control: forking works with the grant
    with pytest.raises(HookCallError) as info:
        host.attack("fork", 1000)
    message = str(info.value)
    assert "Resource temporarily unavailable" in message
    forked = int(message.split("forked ")[1].split()[0])
    assert 0 < forked < 16 - 3  # the three sleepers of the control still count
    if CGROUPS:
        assert "its process limit of 16 refused a fork" in message
        assert "limit.processes" in host.audit.rules(HOSTILE)
    else:
        # The kernel refused the fork just the same, but RLIMIT_NPROC keeps no count of
        # refusals: the host names no limit it cannot prove was hit.
        assert "process limit" not in message
        assert "limit.processes" not in host.audit.rules(HOSTILE)
    host.assert_serving()
    # The sleeping children die with the tree at shutdown (leftover check): the cgroup
    # as root; without one, the sweeper (the extension's user namespace).


def test_a_memory_hog_is_stopped_at_its_limit(make_host: Callable[..., Host]) -> None:
    host = make_host()  # the manifest asks for 128 MiB
    assert host.attack("memory", 48 * _MIB) == 48 * _MIB  # control: well under the limit
    if not CGROUPS:
        # RLIMIT_DATA stands in per process: the allocation fails, the process lives on.
        with pytest.raises(HookCallError, match="MemoryError"):
            host.attack("memory", 192 * _MIB)
        host.assert_serving()
        return
    error = host.crash("memory", 192 * _MIB)
    assert error.cause.kind == "oom"
    assert error.cause.limit == "memory 128 MiB"
    assert "ran out of memory" in str(error)
    assert "limit.memory" in host.audit.rules(HOSTILE)
    host.assert_serving()


def test_a_cpu_hog_is_killed_at_its_cpu_time_limit(make_host: Callable[..., Host]) -> None:
    host = make_host(cpu_seconds=1)
    assert host.attack("cpu", 0.1) == 0.1  # control: within the limit
    error = host.crash("cpu", 30)
    assert error.cause.kind == "cpu_time"
    assert error.cause.limit == "CPU time 1 s"
    assert "SIGXCPU" in str(error)
    assert "limit.cpu_time" in host.audit.rules(HOSTILE)
    host.assert_serving()


def _wait(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.01)
