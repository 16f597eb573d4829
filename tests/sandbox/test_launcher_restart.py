"""A fork server that dies is noticed, reported, replaced; a crash loop is refused clearly.

Every test kills a real fork server (``SIGKILL``, ``SIGTERM``, a broken interpreter, a
server that sends garbage) and looks at what the launcher reports and does next. Each
test has its own launcher, so the deaths of one do not count in another's crash loop.
"""

from __future__ import annotations

import os
import signal
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sandbox_harness import accepted_weakenings, own_cgroups, sandbox_unavailable

from symphony_core.errors import SymphonyError
from symphony_core.runtime.sandbox import selftest
from symphony_core.runtime.sandbox.errors import (
    ForkServerCrashLoopError,
    ForkServerDiedError,
    LauncherError,
)
from symphony_core.runtime.sandbox.launcher import (
    ForkServerPolicy,
    Launcher,
    ServerDeath,
)
from symphony_core.runtime.sandbox.policy import SandboxProfile
from symphony_core.runtime.sandbox.probe import probe_kernel

CAPS = probe_kernel()
UNAVAILABLE = sandbox_unavailable(CAPS)
ACCEPTED = accepted_weakenings(CAPS)
needs_sandbox = pytest.mark.skipif(UNAVAILABLE is not None, reason=UNAVAILABLE or "")


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.005)


def launcher_threads() -> int:
    """Threads alive, not counting the watchdog's (started on first use without cgroups)."""
    return sum(1 for t in threading.enumerate() if t.name != "sandbox-watchdog")


def open_fds() -> set[int]:
    found = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # closed by now (the listing's own descriptor, for one)
            continue
        # Background threads (the watchdog, psutil) hold a /proc file open for an
        # instant at every poll: a snapshot may catch one, and it is no leak.
        if target.startswith("/proc/"):
            continue
        found.add(int(name))
    return found


def fork_servers() -> list[psutil.Process]:
    """Fork servers (of any launcher) that are children of this process and alive."""
    found = []
    for child in psutil.Process().children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and any(
                "sandbox.zygote" in part for part in child.cmdline()
            ):
                found.append(child)
        except psutil.Error:
            continue
    return found


def gone(pid: int) -> bool:
    try:
        status: str = psutil.Process(pid).status()
    except psutil.NoSuchProcess:
        return True
    return status == "zombie"


class Exits:
    """Collects ``(pid, returncode)`` from a launcher's exit listener."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []
        self._lock = threading.Lock()

    def __call__(self, pid: int, returncode: int) -> None:
        with self._lock:
            self.seen.append((pid, returncode))

    def of(self, pid: int) -> list[int]:
        with self._lock:
            return [code for p, code in self.seen if p == pid]


@pytest.fixture
def make() -> Iterator[Callable[..., Launcher]]:
    made: list[Launcher] = []

    def factory(**kw: object) -> Launcher:
        launcher = Launcher(accept_weaker=ACCEPTED, **kw)  # type: ignore[arg-type]
        made.append(launcher)
        return launcher

    yield factory
    for launcher in made:
        launcher.close()
    assert fork_servers() == []
    assert own_cgroups() == []


def kill_server(launcher: Launcher, sig: int = signal.SIGKILL) -> int:
    """Kill the ready fork server with ``sig``; return its pid once its death is recorded."""
    launcher.wait_ready()
    pid = launcher.server_pid
    assert pid is not None
    count = len(launcher.server_deaths)
    os.kill(pid, sig)
    wait_for(lambda: len(launcher.server_deaths) > count)
    return pid


# -- the restart policy (a pure state machine) --------------------------------------------


@given(
    limit=st.integers(1, 12),
    backoff=st.floats(0, 5, allow_nan=False),
    extra=st.floats(0, 20, allow_nan=False),
    deaths=st.lists(st.integers(0, 40), min_size=1, max_size=10),
)
def test_restart_delays_grow_to_a_cap_and_stop_at_the_crash_limit(
    limit: int, backoff: float, extra: float, deaths: list[int]
) -> None:
    policy = ForkServerPolicy(
        crash_limit=limit, restart_backoff=backoff, restart_backoff_max=backoff + extra
    )
    previous = -1.0
    for n in range(0, 45):
        delay = policy.restart_delay(n)
        if n >= limit:
            assert delay is None
            continue
        assert delay is not None
        assert 0.0 <= delay <= policy.restart_backoff_max
        assert delay >= previous  # never shorter after more deaths
        previous = delay
        if n <= 1:
            assert delay == 0.0  # the first death is followed by a new server at once
        else:
            expected = min(policy.restart_backoff_max, backoff * 2 ** min(n - 2, 64))
            assert delay == pytest.approx(expected)
    for n in deaths:
        assert (policy.restart_delay(n) is None) == (n >= limit)


@pytest.mark.parametrize(
    "bad",
    [
        {"crash_limit": 0},
        {"crash_window": 0.0},
        {"restart_backoff": -1.0},
        {"restart_backoff": 2.0, "restart_backoff_max": 1.0},
    ],
)
def test_a_nonsensical_policy_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="invalid fork server policy"):
        ForkServerPolicy(**bad)  # type: ignore[arg-type]


# -- deaths, reports and restarts ----------------------------------------------------------


@needs_sandbox
def test_a_killed_fork_server_is_reported_and_replaced(make: Callable[..., Launcher]) -> None:
    launcher = make()
    exits = Exits()
    launcher.add_exit_listener(exits)
    launcher.wait_ready()
    first_server = launcher.server_pid
    assert first_server is not None
    # Positive control: a child that ends by itself is not blamed on the fork server.
    control = selftest.start_probe(launcher, "exit", {"code": 7}, SandboxProfile())
    assert control.process.wait(10) == 7
    assert control.process.server_death is None
    control.close()

    session = selftest.start_probe(launcher, "hang", {}, SandboxProfile(), extension_id="a.b")
    try:
        notice = session.outcome()
        assert notice is not None
        assert notice.value == "looping"
        child = session.process.pid
        assert session.process.server_pid == first_server
        os.kill(first_server, signal.SIGKILL)
        # Its child died with it and is reported so, to wait(), returncode and listeners.
        assert session.process.wait(10) == -signal.SIGKILL
        assert session.process.returncode == -signal.SIGKILL
        wait_for(lambda: exits.of(child) == [-signal.SIGKILL])
        death = session.process.server_death
        assert isinstance(death, ServerDeath)
        assert (death.pid, death.returncode, death.processes) == (
            first_server,
            -signal.SIGKILL,
            (child,),
        )
        assert death.cause == "was killed by signal 9 (SIGKILL)"
        assert death.describe() == (
            f"the sandbox fork server (pid {first_server}) was killed by signal 9 (SIGKILL)"
        )
        assert death.restart_delay == 0.0
        assert not death.expected
        assert launcher.server_deaths == (death,)
        wait_for(lambda: gone(child))
        assert gone(first_server)  # reaped
    finally:
        session.close()
    # A new server is started in the background, without waiting for a start() call.
    wait_for(lambda: launcher.server_pid not in (None, first_server))
    second_server = launcher.server_pid
    assert launcher.wait_ready().pid == second_server
    session = selftest.start_probe(launcher, "hang", {}, SandboxProfile())
    try:
        assert session.outcome() is not None
        assert session.process.server_pid == second_server
        assert psutil.Process(session.process.pid).ppid() == second_server
        assert session.process.server_death is None
    finally:
        assert session.close() == -signal.SIGKILL
    assert len(launcher.server_deaths) == 1


@needs_sandbox
def test_a_start_in_flight_fails_naming_the_cause(make: Callable[..., Launcher]) -> None:
    launcher = make()
    launcher.wait_ready()
    server = launcher.server_pid
    assert server is not None
    os.kill(server, signal.SIGSTOP)  # the request waits in its socket, unanswered
    box: dict[str, BaseException] = {}

    def start() -> None:
        try:
            selftest.start_probe(launcher, "hang", {}, SandboxProfile(), extension_id="x.y")
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=start)
    thread.start()
    try:
        wait_for(lambda: launcher.pending_starts == 1)
    finally:
        os.kill(server, signal.SIGKILL)
    thread.join(20)
    error = box["error"]
    assert isinstance(error, ForkServerDiedError)
    assert isinstance(error, LauncherError)
    assert error.where == "x.y"
    assert error.code == "sandbox.fork_server_died"
    assert f"fork server (pid {server}) was killed by signal 9 (SIGKILL)" in error.message
    assert "start the process again" in (error.hint or "")
    assert error.details["server_death"]["pid"] == server
    # The next start is served by a new fork server.
    session = selftest.start_probe(launcher, "hang", {}, SandboxProfile())
    try:
        assert session.outcome() is not None
        assert session.process.server_pid not in (None, server)
    finally:
        session.close()


@needs_sandbox
def test_a_terminated_fork_server_reports_the_signal(make: Callable[..., Launcher]) -> None:
    launcher = make()
    session = selftest.start_probe(launcher, "hang", {}, SandboxProfile())
    try:
        assert session.outcome() is not None
        server = kill_server(launcher, signal.SIGTERM)
        death = launcher.server_deaths[-1]
        # It ends its children first, then dies of the signal it got.
        assert (death.pid, death.returncode) == (server, -signal.SIGTERM)
        assert death.cause == "was killed by signal 15 (SIGTERM)"
        assert session.process.wait(10) == -signal.SIGKILL
        assert session.process.server_death == death
    finally:
        session.close()
    assert launcher.wait_ready().pid != server


# -- crash loops ---------------------------------------------------------------------------


@needs_sandbox
def test_a_crash_loop_stops_restarts_with_a_clear_error(make: Callable[..., Launcher]) -> None:
    policy = ForkServerPolicy(
        crash_limit=3, crash_window=60.0, restart_backoff=0.05, restart_backoff_max=0.08
    )
    launcher = make(server_policy=policy)
    killed = [kill_server(launcher) for _ in range(3)]
    deaths = launcher.server_deaths
    assert [d.pid for d in deaths] == killed
    assert [d.restart_delay for d in deaths] == [0.0, 0.05, None]
    assert launcher.server_pid is None
    with pytest.raises(ForkServerCrashLoopError) as caught:
        launcher.start(SandboxProfile(), target=selftest.HANDSHAKE, extension_id="a.b")
    error = caught.value
    assert error.code == "sandbox.fork_server_crash_loop"
    assert error.where == "a.b"
    assert "keeps dying: it died 3 times within 60 s" in error.message
    assert f"(pid {killed[-1]}) was killed by signal 9 (SIGKILL)" in error.message
    assert "symphony doctor" in (error.hint or "")
    assert [d["pid"] for d in error.details["deaths"]] == killed
    with pytest.raises(ForkServerCrashLoopError):
        launcher.wait_ready(5)
    launcher.start_server()  # does nothing in a crash loop
    # Nothing is started behind our back either (a restart would be due by now).
    time.sleep(0.3)
    assert launcher.server_pid is None
    assert fork_servers() == []
    # Once the cause is dealt with, the host can ask for a new server.
    launcher.forget_server_deaths()
    session = selftest.start_probe(launcher, "hang", {}, SandboxProfile())
    try:
        assert session.outcome() is not None
        assert session.process.server_pid not in killed
    finally:
        session.close()


@needs_sandbox
def test_a_crash_loop_ends_when_the_deaths_leave_the_window(
    make: Callable[..., Launcher],
) -> None:
    policy = ForkServerPolicy(crash_limit=2, crash_window=1.0, restart_backoff=0.0)
    launcher = make(server_policy=policy)
    launcher.start_server()
    for _ in range(2):  # without waiting for it to be ready: two deaths close together
        wait_for(lambda: launcher.server_pid is not None)
        pid = launcher.server_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda pid=pid: any(d.pid == pid for d in launcher.server_deaths))  # type: ignore[misc]
    with pytest.raises(ForkServerCrashLoopError, match="died 2 times within 1 s"):
        launcher.wait_ready(5)
    deadline = launcher.server_deaths[-1].at + 1.1
    time.sleep(max(0.0, deadline - time.time()))
    assert launcher.wait_ready(30).pid == launcher.server_pid  # started again, lazily


@needs_sandbox
def test_a_broken_interpreter_is_a_crash_loop_with_its_exit_code(
    make: Callable[..., Launcher], tmp_path: Path
) -> None:
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(broken.stat().st_mode | stat.S_IXUSR)
    policy = ForkServerPolicy(crash_limit=3, restart_backoff=0.01, restart_backoff_max=0.02)
    launcher = make(python=str(broken), server_policy=policy)
    with pytest.raises(ForkServerCrashLoopError) as caught:
        launcher.wait_ready(30)
    assert "died 3 times" in caught.value.message
    assert "exited with code 3" in caught.value.message
    assert [d.returncode for d in launcher.server_deaths] == [3, 3, 3]


@needs_sandbox
def test_a_fork_server_sending_garbage_is_killed(
    make: Callable[..., Launcher], tmp_path: Path
) -> None:
    rogue = tmp_path / "python"
    rogue.write_text(
        f"#!{sys.executable}\n"
        "import socket, sys, time\n"
        "sock = socket.socket(fileno=int(sys.argv[-1]))\n"
        "sock.send(b'\\xc1 not msgpack')\n"
        "time.sleep(60)\n"
    )
    rogue.chmod(rogue.stat().st_mode | stat.S_IXUSR)
    launcher = make(python=str(rogue), server_policy=ForkServerPolicy(crash_limit=1))
    with pytest.raises(ForkServerCrashLoopError) as caught:
        launcher.wait_ready(30)
    death = launcher.server_deaths[-1]
    assert death.cause == "sent a malformed message and was killed"
    assert death.returncode == -signal.SIGKILL
    assert death.restart_delay is None  # crash_limit=1: never restarted
    assert "sent a malformed message" in caught.value.message
    assert death.pid is not None
    assert gone(death.pid)


# -- close, and leaks ----------------------------------------------------------------------


@needs_sandbox
def test_close_is_final_even_with_a_restart_planned(make: Callable[..., Launcher]) -> None:
    threads_before = threading.active_count()
    launcher = make(server_policy=ForkServerPolicy(restart_backoff=0.3, restart_backoff_max=0.3))
    kill_server(launcher)  # a new server at once
    session = selftest.start_probe(launcher, "hang", {}, SandboxProfile())
    assert session.outcome() is not None
    kill_server(launcher)  # the next one is due in 0.3 s
    assert launcher.server_deaths[-1].restart_delay == 0.3
    launcher.close()
    assert launcher.closed
    assert session.process.returncode == -signal.SIGKILL
    session.sock.close()
    time.sleep(0.5)  # past the planned restart
    assert launcher.server_pid is None
    assert fork_servers() == []
    assert threading.active_count() == threads_before
    assert len(launcher.server_deaths) == 2  # close() itself is not a death
    with pytest.raises(LauncherError, match="launcher is closed"):
        launcher.start(SandboxProfile(), target=selftest.HANDSHAKE)
    with pytest.raises(LauncherError, match="launcher is closed"):
        launcher.start_server()
    launcher.close()  # twice is harmless


@needs_sandbox
def test_close_stops_the_server_without_counting_a_death(make: Callable[..., Launcher]) -> None:
    launcher = make()
    session = selftest.start_probe(launcher, "hang", {}, SandboxProfile())
    assert session.outcome() is not None
    server = launcher.server_pid
    assert server is not None
    launcher.close()
    assert launcher.server_deaths == ()
    assert session.process.returncode == -signal.SIGKILL
    assert session.process.server_death is None
    assert gone(server)
    session.sock.close()


@needs_sandbox
def test_no_descriptor_thread_or_process_leak_across_restarts(
    make: Callable[..., Launcher],
) -> None:
    fds_before = open_fds()
    threads_before = threading.active_count()
    launcher = make(server_policy=ForkServerPolicy(crash_limit=10))
    launcher.wait_ready()
    base = open_fds()
    threads = launcher_threads()
    servers = []
    for _ in range(4):
        session = selftest.start_probe(launcher, "hang", {}, SandboxProfile())
        assert session.outcome() is not None
        # Held by the test: its socket and the process's pidfd; the launcher holds the
        # audit pipe's read end (besides the server's socket and pidfd).
        assert len(open_fds()) == len(base) + 3
        servers.append(kill_server(launcher))
        assert session.process.wait(10) == -signal.SIGKILL
        # The old server's socket and pidfd are closed, a new server has its own, and
        # the dead child's audit pipe is drained and closed without anyone asking: the
        # test's socket and the pidfd are all that is left.
        wait_for(lambda: launcher.server_pid is not None)
        wait_for(lambda: len(open_fds()) == len(base) + 2)
        session.close()
        launcher.wait_ready()
        assert len(open_fds()) == len(base)
        assert launcher_threads() == threads
    assert all(gone(pid) for pid in servers)
    assert [p.pid for p in fork_servers()] == [launcher.server_pid]
    launcher.close()
    assert open_fds() == fds_before
    assert threading.active_count() == threads_before
    assert fork_servers() == []


def test_every_error_names_a_code_of_its_own() -> None:
    for cls in (ForkServerDiedError, ForkServerCrashLoopError):
        assert issubclass(cls, LauncherError)
        assert issubclass(cls, SymphonyError)
    assert len({LauncherError.code, ForkServerDiedError.code, ForkServerCrashLoopError.code}) == 3
