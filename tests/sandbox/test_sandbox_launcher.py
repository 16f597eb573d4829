"""The launcher and fork server: boot order, child state, lifecycle, failures, audit."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import msgspec
import psutil
import pytest
from sandbox_harness import (
    Recorder,
    accepted_weakenings,
    cgroup_unavailable,
    own_cgroups,
    sandbox_unavailable,
)

from symphony_core.runtime.sandbox import cgroups, limits, selftest
from symphony_core.runtime.sandbox.boot import STEPS
from symphony_core.runtime.sandbox.errors import (
    SandboxSetupError,
    SandboxUnavailableError,
    TargetNotAllowedError,
)
from symphony_core.runtime.sandbox.launcher import Launcher
from symphony_core.runtime.sandbox.policy import SandboxProfile
from symphony_core.runtime.sandbox.probe import probe_kernel
from symphony_core.runtime.sandbox.watchdog import WatchdogStats

CAPS = probe_kernel()
UNAVAILABLE = sandbox_unavailable(CAPS)
pytestmark = pytest.mark.skipif(UNAVAILABLE is not None, reason=UNAVAILABLE or "")
#: `no-cgroups` where this uid has no cgroup delegation (e.g. a host running as nobody).
ACCEPTED = accepted_weakenings(CAPS)
NO_CGROUPS = cgroup_unavailable(CAPS, *cgroups.CONTROLLERS)


def _handshake(
    launcher: Launcher, profile: SandboxProfile | None = None, **kw: object
) -> tuple[socket.socket, object]:
    host_end, child_end = socket.socketpair()
    proc = launcher.start(
        profile or SandboxProfile(),
        target=selftest.HANDSHAKE,
        ipc_fd=child_end.fileno(),
        extension_id="test.handshake",
        **kw,  # type: ignore[arg-type]
    )
    child_end.close()
    return host_end, proc


def test_handshake_and_boot_order(launcher: Launcher) -> None:
    host_end, proc = _handshake(launcher)
    try:
        frame = selftest.read_frame(host_end.fileno())
        assert frame is not None
        hello = msgspec.msgpack.decode(frame)
        assert hello == {"ready": True, "pid": proc.pid}  # type: ignore[attr-defined]
        assert list(proc.step_ms) == list(STEPS)  # type: ignore[attr-defined]
        assert proc.returncode is None  # type: ignore[attr-defined]
    finally:
        host_end.close()  # EOF: the handshake target returns 0
        assert proc.wait(5) == 0  # type: ignore[attr-defined]
        proc.close()  # type: ignore[attr-defined]


def test_child_state_after_boot(
    launcher: Launcher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("SYMPHONY_TEST_GRANTED", "yes")
    monkeypatch.setenv("SYMPHONY_TEST_SECRET", "no")
    leaked = os.open(os.devnull, os.O_RDONLY)  # inheritable descriptor in the host
    os.set_inheritable(leaked, True)
    try:
        profile = SandboxProfile(
            scratch_dir=str(scratch), env=("SYMPHONY_TEST_GRANTED",), open_files=100, cpu_seconds=30
        )
        run = selftest.run_sandboxed(launcher, "introspect", {}, profile)
    finally:
        os.close(leaked)
    assert run.outcome is not None
    assert run.outcome.ok, run.outcome.error
    facts = run.outcome.value
    assert facts["sid"] == facts["pid"] == facts["pgid"]  # own session and group
    assert facts["ppid"] == launcher.server_pid
    assert facts["fds"] == [0, 1, 2, 3, 4]  # stdio, IPC, audit; nothing inherited
    assert facts["env"] == {"SYMPHONY_TEST_GRANTED": "yes", "PYTHONDONTWRITEBYTECODE": "1"}
    assert facts["cwd"] == str(scratch.resolve())
    assert facts["netns"] != os.readlink("/proc/self/ns/net")
    assert facts["cap_eff"] == facts["cap_prm"] == facts["cap_bnd"] == 0
    assert facts["no_new_privs"] == 1
    assert facts["seccomp"] == 2
    assert facts["dumpable"] == 0
    assert facts["dont_write_bytecode"] is True
    assert facts["sigpipe_ignored"] is True  # BrokenPipeError, as in any Python process
    assert facts["rlimits"]["RLIMIT_NOFILE"] == [100, 100]
    assert facts["rlimits"]["RLIMIT_CORE"] == [0, 0]
    assert facts["rlimits"]["RLIMIT_CPU"] == [30, 31]
    if NO_CGROUPS is None:
        assert "symphony-" in facts["cgroup"]
    else:  # `no-cgroups`: the child stays in the host's cgroups, the watchdog watches it
        assert facts["cgroup"] == Path("/proc/self/cgroup").read_text()
        assert facts["rlimits"]["RLIMIT_DATA"] == [SandboxProfile().memory_bytes] * 2
    assert run.returncode == 0


def test_target_must_be_allowed(launcher: Launcher) -> None:
    with pytest.raises(TargetNotAllowedError):
        launcher.start(SandboxProfile(), target="os:system", extension_id="evil")
    with pytest.raises(ValueError, match="module:function"):
        Launcher(allowed_targets={"os.system"})


@pytest.mark.parametrize("step", ["cgroup", "rlimits"])
def test_failed_boot_step_is_named_and_cleaned_up(
    launcher: Launcher, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    if step == "cgroup":
        if NO_CGROUPS is not None:
            pytest.skip(f"{NO_CGROUPS}: no cgroup step to fail")
        monkeypatch.setattr(
            cgroups.Cgroup, "procs_files", property(lambda self: ["/nonexistent/cgroup.procs"])
        )
    else:
        # The child refuses an rlimit it does not know, at its rlimits step.
        monkeypatch.setattr(
            limits,
            "plan_limits",
            lambda *_a, **_k: limits.RlimitPlan(limits={"RLIMIT_BOGUS": (1, 1)}),
        )
    with pytest.raises(SandboxSetupError) as info:
        _handshake(launcher)
    assert info.value.details["step"] == step
    assert info.value.details["returncode"] == 121
    assert step in str(info.value)
    assert own_cgroups() == []


def test_a_missing_mechanism_must_be_accepted_by_name() -> None:
    # Where cgroups are not delegated (a host running as nobody), the plain launcher
    # refuses; elsewhere the watchdog backend is the same weakening, asked for explicitly.
    refusing = Launcher() if ACCEPTED else Launcher(limits="watchdog")
    try:
        with pytest.raises(SandboxUnavailableError, match="no-cgroups") as info:
            refusing.start(SandboxProfile(), target=selftest.HANDSHAKE, extension_id="x")
        assert "no-cgroups" in (info.value.hint or "")  # the fix is named
        assert refusing.server_pid is None  # refused while planning: no fork server started
    finally:
        refusing.close()
    assert own_cgroups() == []


def test_exit_codes_and_pidfd(launcher: Launcher) -> None:
    session = selftest.start_probe(launcher, "exit", {"code": 7}, SandboxProfile())
    try:
        assert session.process.pidfd is not None
        ready, _, _ = select.select([session.process.pidfd], [], [], 10)
        assert ready  # the pidfd turns readable when the child exits
        assert session.process.wait(5) == 7
        assert session.outcome(5) is None
    finally:
        assert session.close() == 7


def test_close_kills_a_running_child(launcher: Launcher) -> None:
    session = selftest.start_probe(launcher, "hang", {}, SandboxProfile())
    pid = session.process.pid
    try:
        notice = session.outcome()
        assert notice is not None
        assert notice.value == "looping"
        session.process.send_signal(signal.SIGTERM)  # ignored by the probe
        with pytest.raises(TimeoutError):
            session.process.wait(0.3)
    finally:
        code = session.close()
    assert code == -signal.SIGKILL
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


def test_concurrent_starts(launcher: Launcher) -> None:
    results: list[int] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            host_end, proc = _handshake(launcher)
            frame = selftest.read_frame(host_end.fileno())
            assert frame is not None
            results.append(msgspec.msgpack.decode(frame)["pid"])
            host_end.close()
            proc.close()  # type: ignore[attr-defined]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(set(results)) == 4


def test_audit_records_are_attributed(
    launcher: Launcher, recorder: Recorder, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("s")
    secret.chmod(0o644)
    session = selftest.start_probe(
        launcher, "read_file", {"path": str(secret)}, SandboxProfile(), extension_id="acme.reader"
    )
    try:
        outcome = session.outcome()
        assert outcome is not None
        assert outcome.errno == 13
        record = recorder.wait_for(lambda r: r.event.target == str(secret.resolve()))
        assert record.extension_id == "acme.reader"
        assert record.pid == session.process.pid
        assert record.event.rule == "landlock.fs.read"
    finally:
        session.close()


def test_corrupt_audit_channel_is_reported(launcher: Launcher, recorder: Recorder) -> None:
    garbage = (10_000).to_bytes(4, "little").hex()
    run = selftest.run_sandboxed(
        launcher,
        "write_fd",
        {"fd": 4, "hex": garbage},
        SandboxProfile(),
        extension_id="acme.forger",
    )
    assert run.outcome is not None
    assert run.outcome.ok
    record = recorder.wait_for(lambda r: r.extension_id == "acme.forger")
    assert record.event.rule == "witness.corrupt"


def test_child_stderr_goes_where_the_host_says(launcher: Launcher) -> None:
    read_end, write_end = os.pipe()
    session = selftest.start_probe(launcher, "read_file", {}, SandboxProfile(), stderr_fd=write_end)
    os.close(write_end)
    try:
        assert session.process.wait(10) == 1  # KeyError: traceback, exit 1
    finally:
        session.close()
    text = b""
    while chunk := os.read(read_end, 65536):
        text += chunk
    os.close(read_end)
    assert b"KeyError" in text


def test_watchdog_backend(recorder: Recorder) -> None:
    with Launcher(limits="watchdog", accept_weaker=["no-cgroups"], audit_sink=recorder) as launcher:
        host_end, proc = _handshake(launcher, SandboxProfile(memory_bytes=256 << 20))
        try:
            assert selftest.read_frame(host_end.fileno()) is not None
            assert proc.cgroup is None  # type: ignore[attr-defined]
            deadline = time.monotonic() + 5
            stats = proc.stats()  # type: ignore[attr-defined]
            while (
                not isinstance(stats, WatchdogStats) or not stats.rss_bytes
            ) and time.monotonic() < deadline:
                time.sleep(0.02)
                stats = proc.stats()  # type: ignore[attr-defined]
            assert isinstance(stats, WatchdogStats)
            assert stats.rss_bytes > 1 << 20
            assert proc.pid in stats.pids  # type: ignore[attr-defined]
        finally:
            host_end.close()
            proc.close()  # type: ignore[attr-defined]


def test_dead_fork_server_is_reported_and_replaced() -> None:
    with Launcher(accept_weaker=ACCEPTED) as launcher:
        launcher.wait_ready()
        host_end, proc = _handshake(launcher)
        server = launcher.server_pid
        assert server is not None
        os.kill(server, signal.SIGKILL)
        # The child died with its parent (PR_SET_PDEATHSIG), and says why.
        assert proc.wait(10) == -signal.SIGKILL  # type: ignore[attr-defined]
        death = proc.server_death  # type: ignore[attr-defined]
        assert death is not None
        assert death.pid == server
        host_end.close()
        deadline = time.monotonic() + 5
        while psutil.pid_exists(proc.pid) and time.monotonic() < deadline:  # type: ignore[attr-defined]
            if psutil.Process(proc.pid).status() == "zombie":  # type: ignore[attr-defined]
                break
            time.sleep(0.02)
        assert not psutil.pid_exists(proc.pid) or psutil.Process(proc.pid).status() == "zombie"  # type: ignore[attr-defined]
        proc.close()  # type: ignore[attr-defined]
        # A new fork server took over: the next process starts and shakes hands.
        again, second = _handshake(launcher)
        assert launcher.server_pid not in (None, server)
        frame = selftest.read_frame(again.fileno())
        assert frame is not None
        assert msgspec.msgpack.decode(frame) == {"ready": True, "pid": second.pid}  # type: ignore[attr-defined]
        again.close()  # EOF: the handshake target returns 0
        assert second.wait(5) == 0  # type: ignore[attr-defined]
        second.close()  # type: ignore[attr-defined]


def test_host_death_takes_the_fork_server_and_children(tmp_path: Path) -> None:
    script = tmp_path / "host.py"
    script.write_text(
        textwrap.dedent(
            """
            import socket, sys, time
            from symphony_core.runtime.sandbox import selftest
            from symphony_core.runtime.sandbox.launcher import Launcher
            from symphony_core.runtime.sandbox.policy import SandboxProfile
            launcher = Launcher(accept_weaker=sys.argv[1:])
            host_end, child_end = socket.socketpair()
            proc = launcher.start(
                SandboxProfile(), target=selftest.HANDSHAKE, ipc_fd=child_end.fileno()
            )
            group = proc.cgroup.name if proc.cgroup is not None else "-"
            print(launcher.server_pid, proc.pid, group, flush=True)
            time.sleep(60)
            """
        )
    )
    host = subprocess.Popen(
        [sys.executable, str(script), *ACCEPTED], stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert host.stdout is not None
        server, child, name = host.stdout.readline().decode().split()
        host.kill()
        host.wait()
        deadline = time.monotonic() + 5
        while (
            psutil.pid_exists(int(server)) or psutil.pid_exists(int(child))
        ) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not psutil.pid_exists(int(server))
        assert not psutil.pid_exists(int(child))
        if NO_CGROUPS is None:
            # Its cgroup outlived it; the next host's sweep removes it.
            removed = cgroups.sweep_stale()
            assert any(name in r for r in removed)
        else:
            assert name == "-"
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()


def _open_fds() -> set[int]:
    found = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            os.fstat(int(name))  # the listing's own descriptor is closed by now
        except OSError:
            continue
        found.add(int(name))
    return found


def test_bad_arguments_leave_nothing_behind(launcher: Launcher) -> None:
    before = _open_fds()
    with pytest.raises(TypeError):
        launcher.start(
            SandboxProfile(), target=selftest.HANDSHAKE, args={"x": object()}, extension_id="bad"
        )
    assert own_cgroups() == []
    assert _open_fds() <= before


def test_launcher_close_ends_its_processes() -> None:
    launcher = Launcher(accept_weaker=ACCEPTED)
    launcher.start_server()
    session = selftest.start_probe(launcher, "hang", {}, SandboxProfile())
    assert session.outcome() is not None
    pid = session.process.pid
    launcher.close()
    assert session.process.returncode == -signal.SIGKILL
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
    assert own_cgroups() == []
    session.sock.close()


def test_profile_problems_are_refused_before_forking(launcher: Launcher, tmp_path: Path) -> None:
    missing = SandboxProfile(scratch_dir=str(tmp_path / "missing"))
    with pytest.raises(SandboxSetupError, match="scratch directory"):
        launcher.start(missing, target=selftest.HANDSHAKE, extension_id="x")
    if os.geteuid() != 0:
        with pytest.raises(SandboxUnavailableError, match="needs a host running as root"):
            launcher.start(SandboxProfile(run_as_uid=65533), target=selftest.HANDSHAKE)
        return
    root_home = Path("/root")
    if os.geteuid() != 0 or not Path(sys.base_prefix).resolve().is_relative_to(root_home):
        pytest.skip("the interpreter is not under /root here")
    if root_home.stat().st_mode & 0o005:
        pytest.skip("/root is readable by others here")
    with pytest.raises(SandboxUnavailableError, match="cannot read the Python runtime"):
        launcher.start(SandboxProfile(run_as_uid=65534), target=selftest.HANDSHAKE)
