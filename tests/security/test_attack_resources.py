"""Attacks on resources and on the host's lifecycle: fork bombs, memory and CPU hogs, crashes.

Each has a positive control: the same probe without the sandbox gets what the sandbox
refuses. The host (this test process) survives every one of them.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import resource
import signal
import subprocess
import time
from collections.abc import Iterator

import msgspec
import psutil
import pytest
from attack_harness import (
    Recorder,
    accepted_weakenings,
    cgroup_unavailable,
    process_limit_unavailable,
    sandbox_unavailable,
)

from symphony_core.runtime.sandbox import cgroups, limits, selftest, sweeper
from symphony_core.runtime.sandbox.launcher import Launcher
from symphony_core.runtime.sandbox.policy import Network, SandboxProfile, plan
from symphony_core.runtime.sandbox.probe import probe_kernel
from symphony_core.runtime.sandbox.watchdog import WatchdogStats

CAPS = probe_kernel()
UNAVAILABLE = sandbox_unavailable(CAPS)
pytestmark = pytest.mark.skipif(UNAVAILABLE is not None, reason=UNAVAILABLE or "")
MIB = 1 << 20
NO_PROCESS_LIMIT = process_limit_unavailable(CAPS)
NO_MEMORY_CGROUP = cgroup_unavailable(CAPS, "memory")


@pytest.fixture(scope="module")
def watchdog_launcher(recorder: Recorder) -> Iterator[Launcher]:
    # limits="watchdog" is itself the `no-cgroups` weakening: accepted on every machine.
    with Launcher(limits="watchdog", accept_weaker=["no-cgroups"], audit_sink=recorder) as launcher:
        launcher.wait_ready()
        yield launcher


def _alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def test_fork_without_the_subprocess_grant(launcher: Launcher) -> None:
    assert selftest.run_unconfined("fork_bomb", {"limit": 10, "sleep": 5}).value == 10
    no_fork = selftest.run_sandboxed(launcher, "fork_bomb", {"limit": 10}, SandboxProfile())
    assert no_fork.outcome is not None
    assert no_fork.outcome.errno == errno.EPERM  # seccomp: not a single fork


@pytest.mark.skipif(NO_PROCESS_LIMIT is not None, reason=NO_PROCESS_LIMIT or "")
@pytest.mark.parametrize("network", ["none", "any"])
def test_fork_bomb_is_held_at_the_pids_limit(launcher: Launcher, network: Network) -> None:
    # As root the pids cgroup holds it; as a non-root host, RLIMIT_NPROC counted in the
    # child's own user namespace (with network "any" that namespace holds nothing else).
    assert selftest.run_unconfined("fork_bomb", {"limit": 100, "sleep": 5}).value == 100
    pids = 32
    # Bystanders of the host's own uid, outside the sandbox: they must not count (an
    # RLIMIT_NPROC set in the host's namespace would refuse the very first fork).
    bystanders = [subprocess.Popen(["sleep", "30"]) for _ in range(40)]
    try:
        profile = SandboxProfile(pids=pids, subprocess=True, network=network)
        run = selftest.run_sandboxed(launcher, "fork_bomb", {"limit": 2000, "sleep": 5}, profile)
    finally:
        for proc in bystanders:
            proc.kill()
            proc.wait()
    assert run.outcome is not None
    assert not run.outcome.ok
    assert run.outcome.errno == errno.EAGAIN
    assert "after" in run.outcome.error
    forked = int(run.outcome.error.split("after ")[1].split()[0])
    # The child itself (and any thread it has) counts against the limit.
    assert pids // 2 <= forked < pids, run.outcome.error


def test_nproc_is_never_set_in_the_hosts_user_namespace() -> None:
    # There it would count every process of the uid, the host's included.
    own = os.readlink("/proc/self/ns/user")
    before = resource.getrlimit(resource.RLIMIT_NPROC)
    with pytest.raises(RuntimeError, match="would count every process of the uid"):
        limits.limit_processes_in_userns(4, host_namespace=own)
    assert resource.getrlimit(resource.RLIMIT_NPROC) == before


def test_memory_hog_two_sided_and_peak(launcher: Launcher) -> None:
    limit = 192 * MIB
    assert selftest.run_unconfined("memory", {"bytes": int(1.2 * limit)}).ok
    profile = SandboxProfile(memory_bytes=limit)
    small = selftest.run_sandboxed(launcher, "memory", {"bytes": int(0.6 * limit)}, profile)
    assert small.outcome is not None
    assert small.outcome.ok
    session = selftest.start_probe(launcher, "memory", {"bytes": int(1.2 * limit)}, profile)
    try:
        outcome = session.outcome()
        code = session.process.wait(10)
        stats = session.process.stats()
    finally:
        session.close()
    refused = outcome is None or not outcome.ok
    assert refused, outcome
    assert code == -signal.SIGKILL or (outcome is not None and outcome.errno == errno.ENOMEM)
    if NO_MEMORY_CGROUP is None:
        assert isinstance(stats, cgroups.CgroupStats)
        assert stats.memory_peak is not None
        assert 0.9 * limit <= stats.memory_peak <= 1.1 * limit, stats
        assert (stats.oom_kills or 0) >= 1 or (stats.memory_limit_hits or 0) >= 1
    else:
        # `no-cgroups` accepted: RLIMIT_DATA refused the allocation, the watchdog measured.
        assert isinstance(stats, WatchdogStats)
        assert outcome is not None
        assert outcome.errno == errno.ENOMEM
        assert stats.peak_rss_bytes <= limit, stats


def test_memory_hog_tree_without_cgroups(watchdog_launcher: Launcher) -> None:
    limit = 192 * MIB
    profile = SandboxProfile(memory_bytes=limit, subprocess=True)
    # Per process under the limit (RLIMIT_DATA does not fire), the tree 1.5x over it.
    params = {"count": 3, "bytes": int(0.5 * limit), "hold": 20}
    session = selftest.start_probe(watchdog_launcher, "tree_memory", params, profile)
    try:
        try:
            code = session.process.wait(20)
        except TimeoutError:
            raise AssertionError(f"not killed: {session.process.stats()}") from None
        stats = session.process.stats()
    finally:
        session.close()
    assert code == -signal.SIGKILL
    assert isinstance(stats, WatchdogStats)
    assert stats.killed_for == "memory"
    # What was held against the limit (the RSS sum also counts the parent's pages each
    # fork shares once per fork).
    assert limit < stats.peak_memory_bytes <= 1.25 * limit, stats  # polling overshoots
    # Per process, RLIMIT_DATA gives a catchable MemoryError at the limit.
    single = selftest.run_sandboxed(
        watchdog_launcher, "memory", {"bytes": int(1.2 * limit)}, profile
    )
    assert single.outcome is not None
    assert single.outcome.errno == errno.ENOMEM


def test_forks_sharing_memory_are_not_counted_once_each(watchdog_launcher: Launcher) -> None:
    # Eight forks of the probe, each allocating only 1 MiB of its own: their RSS adds
    # up to well over the limit (each counts the pages it shares with its parent), what
    # they use is well within it. The tree above is the control: private memory over
    # the limit is killed.
    limit = 96 * MIB
    profile = SandboxProfile(memory_bytes=limit, subprocess=True)
    params = {"count": 8, "bytes": MIB, "hold": 1.5}
    session = selftest.start_probe(watchdog_launcher, "tree_memory", params, profile)
    try:
        outcome = session.outcome()
        code = session.process.wait(20)
        stats = session.process.stats()
    finally:
        session.close()
    assert isinstance(stats, WatchdogStats)
    assert stats.killed_for is None, stats
    assert outcome is not None
    assert outcome.ok, outcome
    assert outcome.value == [0] * 8
    assert code == 0
    assert stats.peak_rss_bytes > limit, stats  # the RSS sum alone would have killed it
    assert stats.peak_memory_bytes <= limit, stats


def _cpu_share(launcher: Launcher, share: float, seconds: float) -> float:
    run = selftest.run_sandboxed(
        launcher, "cpu", {"seconds": seconds}, SandboxProfile(cpu_share=share)
    )
    assert run.outcome is not None
    assert run.outcome.ok
    return float(run.outcome.value)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["cgroup", "watchdog"])
def test_cpu_hog_is_held_to_its_share(
    launcher: Launcher, watchdog_launcher: Launcher, backend: str
) -> None:
    no_cpu_cgroup = cgroup_unavailable(CAPS, "cpu")
    if backend == "cgroup" and no_cpu_cgroup is not None:
        pytest.skip(f"{no_cpu_cgroup}: the watchdog case holds the share instead")
    target, seconds = 0.5, 1.5
    free = selftest.run_unconfined("cpu", {"seconds": seconds})
    if float(free.value) < target * 1.2:
        pytest.skip(
            f"inconclusive: an unthrottled control only got {free.value:.2f} of a core "
            f"on this loaded machine, below the {target:.2f} target"
        )
    chosen = launcher if backend == "cgroup" else watchdog_launcher
    share = _cpu_share(chosen, target, seconds)
    assert abs(share - target) <= 0.2 * target, f"{backend}: got {share:.3f} for {target}"


def test_crashes_do_not_take_the_host_down(launcher: Launcher) -> None:
    for probe, params, expected in (
        ("segfault", {}, -signal.SIGSEGV),
        ("exit", {"code": 3}, 3),
        ("abort", {}, -signal.SIGABRT),
    ):
        # Positive control: the probe really crashes a plain process the same way.
        assert selftest.run_unconfined(probe, params).value == expected
        run = selftest.run_sandboxed(launcher, probe, params, SandboxProfile())
        assert run.outcome is None
        assert run.returncode == expected
    # The fork server still serves.
    after = selftest.run_sandboxed(launcher, "exit", {"code": 0}, SandboxProfile())
    assert after.returncode == 0


def test_infinite_loop_ignoring_sigterm(launcher: Launcher) -> None:
    session = selftest.start_probe(launcher, "hang", {}, SandboxProfile())
    try:
        notice = session.outcome()
        assert notice is not None
        session.process.send_signal(signal.SIGTERM)
        with pytest.raises(TimeoutError):
            session.process.wait(0.3)
        assert session.process.returncode is None
    finally:
        started = time.monotonic()
        code = session.close()
    assert code == -signal.SIGKILL
    assert time.monotonic() - started < 5


def _sweeper_expected(launcher: Launcher, profile: SandboxProfile) -> bool:
    """Whether this launcher's children get a sweeper (see boot.py): a mark to find by."""
    enforcement = plan(profile, launcher.caps, launcher.accept_weaker, limits=launcher.limits)
    return enforcement.userns or enforcement.cgroup


def _held_grandchildren(
    launcher: Launcher, profile: SandboxProfile
) -> tuple[selftest.ProbeSession, list[int]]:
    """Start the probe: three setsid grandchildren, orphaned, the extension staying up."""
    session = selftest.start_probe(launcher, "grandchildren", {"count": 3, "hold": True}, profile)
    outcome = session.outcome()
    assert outcome is not None
    assert outcome.ok, outcome
    pids = list(outcome.value)
    assert all(_alive(pid) for pid in pids)
    # Out of the extension's reach by the usual means: other sessions, not its children.
    assert all(os.getsid(pid) not in (session.process.pid, os.getsid(0)) for pid in pids)
    children = {c.pid for c in psutil.Process(session.process.pid).children(recursive=True)}
    assert not children & set(pids)
    return session, pids


def _ended(proc: psutil.Process) -> bool:
    """Whether ``proc`` has exited (a zombie not reaped yet has)."""
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_dead(pids: list[int], timeout: float = 3.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := [pid for pid in pids if _alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.01)
    return left


def _grandchildren_escape_unconfined() -> None:
    # Positive control: a plain process's setsid grandchildren outlive it.
    control = selftest.run_unconfined("grandchildren", {"count": 3})
    assert control.ok
    escaped = [pid for pid in control.value if _alive(pid)]
    assert len(escaped) == 3
    for pid in escaped:
        os.kill(pid, signal.SIGKILL)


def test_setsid_grandchildren_die_with_the_extension(launcher: Launcher) -> None:
    # As root the cgroup holds them too; as an unprivileged host there is no cgroup and
    # the sweeper finds them by the extension's user namespace.
    _grandchildren_escape_unconfined()
    profile = SandboxProfile(subprocess=True)
    session, pids = _held_grandchildren(launcher, profile)
    try:
        if session.process.cgroup is not None:
            assert set(pids) <= session.process.cgroup.pids()
    finally:
        session.close()
    # close() returned after the sweep: none is left, not even for a moment.
    assert [pid for pid in pids if _alive(pid)] == []


@pytest.mark.parametrize("how", ["kill", "close"])
def test_kill_and_close_return_only_once_the_sweep_is_done(launcher: Launcher, how: str) -> None:
    profile = SandboxProfile(subprocess=True)
    if not _sweeper_expected(launcher, profile):
        pytest.skip("no sweeper here: no cgroup and no user namespace to find orphans by")
    session, pids = _held_grandchildren(launcher, profile)
    process = session.process
    try:
        # The host knows the sweeper: the fork server's other child, and its mark.
        assert process.sweeper_pid is not None
        assert launcher.server_pid is not None
        server = psutil.Process(launcher.server_pid)
        assert process.sweeper_pid in {c.pid for c in server.children()}
        assert process.sweep_target is not None
        if process.cgroup is None:
            assert process.sweep_target.namespace_token
            assert set(pids) <= set(sweeper.survivors(process.sweep_target))
        sweeper_proc = psutil.Process(process.sweeper_pid)
        if how == "kill":
            process.kill()
        else:
            process.close()
        # No polling: when it returns, the escapees and the sweeper itself are gone.
        assert [pid for pid in pids if _alive(pid)] == []
        assert _ended(sweeper_proc)
        assert process.returncode == -signal.SIGKILL
    finally:
        session.close()


def test_a_sweep_that_does_not_finish_is_reported_and_done_by_the_host(
    launcher: Launcher, caplog: pytest.LogCaptureFixture
) -> None:
    profile = SandboxProfile(subprocess=True)
    if not _sweeper_expected(launcher, profile):
        pytest.skip("no sweeper here: no cgroup and no user namespace to find orphans by")
    session, pids = _held_grandchildren(launcher, profile)
    process = session.process
    # Without cgroups the watchdog may have seen some of them before they escaped, and
    # would kill those at close: it forgets them here, so only their mark finds them.
    launcher.watchdog.unregister(process.pid)
    assert process.sweeper_pid is not None
    stuck = psutil.Process(process.sweeper_pid)
    stuck.suspend()  # the host may signal it; the extension may not
    try:
        with caplog.at_level(logging.ERROR, logger="symphony.sandbox.launcher"):
            process.close(timeout=0.5)
        assert [pid for pid in pids if _alive(pid)] == []
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert any(
            f"the sweeper (pid {process.sweeper_pid})" in m and "did not finish" in m
            for m in errors
        ), errors
        if process.cgroup is None:
            # Found by their mark alone (as root the host's cgroup kill got them first).
            assert any(all(str(pid) in m for pid in pids) for m in errors), errors
    finally:
        with contextlib.suppress(psutil.Error):
            stuck.resume()
        session.close()
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("backend", ["auto", "watchdog"])
def test_setsid_grandchildren_die_when_the_extension_is_killed(
    launcher: Launcher, watchdog_launcher: Launcher, backend: str
) -> None:
    # SIGKILL to the extension process alone: nothing of the host kills the tree, only
    # the sweeper can. A launcher without a mark to find them by (root without cgroups)
    # is the positive control: there they survive.
    chosen = launcher if backend == "auto" else watchdog_launcher
    profile = SandboxProfile(subprocess=True)
    expected = _sweeper_expected(chosen, profile)
    session, pids = _held_grandchildren(chosen, profile)
    try:
        session.process.send_signal(signal.SIGKILL)
        assert session.process.wait(5) == -signal.SIGKILL
        left = _wait_dead(pids, timeout=3.0 if expected else 0.5)
        if expected:
            assert left == [], "orphans outlived the extension"
        else:
            assert left == pids, "control: nothing should have killed them"
    finally:
        session.close()
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_clean_shutdown_leaves_no_process_behind(launcher: Launcher) -> None:
    # The host closes the extension's socket, the extension exits 0 by itself: nothing
    # the host kills, yet nothing of it is left, grandchildren included.
    profile = SandboxProfile(subprocess=True)
    session, pids = _held_grandchildren(launcher, profile)
    try:
        session.sock.close()
        assert session.process.wait(5) == 0
        assert _wait_dead(pids) == []
    finally:
        session.close()


def test_closing_the_launcher_leaves_no_process_behind(recorder: Recorder) -> None:
    # Its own launcher: closing it kills every tree, then waits for each sweep.
    profile = SandboxProfile(subprocess=True)
    with Launcher(audit_sink=recorder, accept_weaker=accepted_weakenings(CAPS)) as own:
        if not _sweeper_expected(own, profile):
            pytest.skip("no sweeper here: no cgroup and no user namespace to find orphans by")
        sessions = [_held_grandchildren(own, profile) for _ in range(3)]
        pids = [pid for _, held in sessions for pid in held]
        extensions = [session.process.pid for session, _ in sessions]
        sweepers = [session.process.sweeper_pid for session, _ in sessions]
        own.close()
        assert [pid for pid in pids + extensions if _alive(pid)] == []
        assert [pid for pid in sweepers if pid is not None and _alive(pid)] == []
        for session, _ in sessions:
            session.sock.close()


def test_the_extension_cannot_kill_its_sweeper(launcher: Launcher) -> None:
    profile = SandboxProfile(subprocess=True)
    if not _sweeper_expected(launcher, profile):
        pytest.skip("no sweeper here: no cgroup and no user namespace to find orphans by")
    # Positive control: the probe kills a process of the host's uid when unconfined.
    victim = subprocess.Popen(["sleep", "30"])
    try:
        assert selftest.run_unconfined("kill", {"pid": victim.pid, "signal": 9}).ok
        assert victim.wait(5) == -signal.SIGKILL
    finally:
        victim.kill()
        victim.wait()
    session = selftest.start_probe(launcher, "kill_named", {"signal": 9}, profile)
    try:
        assert launcher.server_pid is not None
        server = psutil.Process(launcher.server_pid)
        others = [c for c in server.children() if c.pid != session.process.pid]
        assert len(others) == 1, others  # the sweeper: a child of the fork server by now
        sweeper_proc = others[0]
        assert sweeper_proc.pid == session.process.sweeper_pid
        extension = psutil.Process(session.process.pid)
        selftest.write_frame(session.sock.fileno(), msgspec.msgpack.encode(sweeper_proc.pid))
        outcome = session.outcome()
        assert outcome is not None
        assert not outcome.ok
        assert outcome.errno == errno.EPERM
        # The probe returns right after reporting, and then the sweeper sweeps and exits:
        # it may be gone by now, but never before the extension process.
        if _ended(sweeper_proc):
            assert _ended(extension), "the sweeper died while the extension ran"
    finally:
        session.close()
