"""The watchdog: processes that vanish mid-walk, and memory shared copy-on-write counted once.

Real process trees (plain subprocesses of the test, no sandbox) for the watchdog itself;
the launcher for what the host can read of a sandboxed process. Each memory case has
its control: the same tree, its memory made private, is killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sandbox_harness import run_in_child, sandbox_unavailable

from symphony_core.runtime.sandbox import selftest, watchdog
from symphony_core.runtime.sandbox.launcher import Launcher
from symphony_core.runtime.sandbox.policy import SandboxProfile
from symphony_core.runtime.sandbox.probe import probe_kernel
from symphony_core.runtime.sandbox.watchdog import Watchdog, WatchdogStats

CAPS = probe_kernel()
MIB = 1 << 20
_PR_SET_DUMPABLE = 4

# A parent holding `size` bytes, then `count` forks sharing them; with "write" each fork
# writes every page of its copy (copy-on-write makes it private), with "late" it does so
# on SIGUSR1. Each fork writes one byte on stdout once ready, the parent one more.
TREE = """
import os, signal, sys, time
size, mode, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
block = bytearray(size)
for offset in range(0, size, 4096):
    block[offset] = 1
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
for _ in range(count):
    if os.fork() == 0:
        if mode == "late":
            os.write(1, b"c")
            signal.sigwait({signal.SIGUSR1})
        if mode in ("write", "late"):
            for offset in range(0, size, 4096):
                block[offset] = 2
        if mode != "late":
            os.write(1, b"c")
        time.sleep(120)
        os._exit(0)
os.write(1, b"p")
time.sleep(120)
"""


class Tree:
    """A running TREE script."""

    def __init__(self, size: int, mode: str, count: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", TREE, str(size), mode, str(count)],
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        got = b""
        while len(got) < count + 1:
            chunk = self.proc.stdout.read(1)
            assert chunk, f"the tree script failed: exit {self.proc.wait()}"
            got += chunk
        self.pids = [self.proc.pid, *(c.pid for c in psutil.Process(self.proc.pid).children())]
        assert len(self.pids) == count + 1

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture
def trees() -> Iterator[list[Tree]]:
    made: list[Tree] = []
    yield made
    for tree in made:
        tree.close()


def _watch(dog: Watchdog, pid: int, until: float) -> WatchdogStats:
    """Poll the figures of ``pid`` until its tree is killed or ``until`` (monotonic)."""
    while True:
        stats = dog.stats(pid)
        assert stats is not None
        if stats.killed_for is not None or time.monotonic() > until:
            return stats
        time.sleep(0.01)


# -- processes that vanish ---------------------------------------------------------------


def test_kill_tree_copes_with_a_process_that_ends_while_it_is_looked_at(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The race seen in closes without cgroups: listed alive, gone by the status read.
    victim = subprocess.Popen(["sleep", "30"], start_new_session=True)
    real_status = psutil.Process.status

    def status_after_its_end(self: psutil.Process) -> str:
        if self.pid == victim.pid and victim.poll() is None:
            victim.kill()
            victim.wait()  # reaped: /proc/<pid> is gone
        return real_status(self)

    monkeypatch.setattr(psutil.Process, "status", status_after_its_end)
    try:
        assert Watchdog().kill_tree(victim.pid) == []
        assert victim.returncode == -signal.SIGKILL
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()


def test_kill_tree_kills_a_live_tree(trees: list[Tree]) -> None:
    # Control for the test above: the same walk signals a live tree.
    tree = Tree(MIB, "share", 2)
    trees.append(tree)
    assert sorted(Watchdog().kill_tree(tree.proc.pid)) == sorted(tree.pids)
    assert tree.proc.wait(5) == -signal.SIGKILL


# -- memory shared copy-on-write ---------------------------------------------------------


def test_forks_sharing_their_memory_are_counted_once(trees: list[Tree]) -> None:
    limit = 128 * MIB
    tree = Tree(48 * MIB, "share", 4)
    trees.append(tree)
    dog = Watchdog()
    dog.register(tree.proc.pid, memory_bytes=limit, cpu_share=None)
    try:
        stats = _watch(dog, tree.proc.pid, time.monotonic() + 1.0)
    finally:
        dog.stop()
    # Their RSS adds up to twice the limit; what they use is well within it.
    assert stats.killed_for is None, stats
    assert stats.peak_rss_bytes > 1.5 * limit, stats
    assert stats.memory_bytes < limit, stats
    assert stats.peak_memory_bytes < limit, stats
    assert all(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in tree.pids)


def test_forks_that_copy_their_memory_are_killed(trees: list[Tree]) -> None:
    # Control: the same tree, each fork's copy made private: 5 x 48 MiB really used.
    limit = 128 * MIB
    tree = Tree(48 * MIB, "write", 4)
    trees.append(tree)
    dog = Watchdog()
    dog.register(tree.proc.pid, memory_bytes=limit, cpu_share=None)
    try:
        stats = _watch(dog, tree.proc.pid, time.monotonic() + 10.0)
    finally:
        dog.stop()
    assert stats.killed_for == "memory", stats
    assert stats.peak_memory_bytes > limit, stats
    assert tree.proc.wait(5) == -signal.SIGKILL


def test_memory_that_becomes_private_after_a_measurement_is_seen(trees: list[Tree]) -> None:
    # Copies made after PSS was measured change no RSS: the measurement is not reused
    # for ever. The forks write their copies only once the watchdog has measured them.
    limit = 128 * MIB
    tree = Tree(48 * MIB, "late", 4)
    trees.append(tree)
    dog = Watchdog()
    dog.register(tree.proc.pid, memory_bytes=limit, cpu_share=None)
    try:
        stats = _watch(dog, tree.proc.pid, time.monotonic() + 0.5)
        assert stats.killed_for is None
        assert stats.memory_bytes < limit < stats.rss_bytes, stats
        for pid in tree.pids[1:]:
            os.kill(pid, signal.SIGUSR1)  # now each fork writes its copy
        stats = _watch(dog, tree.proc.pid, time.monotonic() + 10.0)
    finally:
        dog.stop()
    assert stats.killed_for == "memory", stats


@settings(max_examples=300, deadline=None)
@given(
    polls=st.lists(
        st.dictionaries(
            st.integers(1, 6),
            st.tuples(st.integers(0, 400), st.integers(0, 400)),
            min_size=1,
            max_size=6,
        ),
        min_size=1,
        max_size=12,
    ),
    limit=st.integers(1, 1200),
)
def test_counted_memory_kills_on_measurements_only(
    polls: list[dict[int, tuple[int, int]]], limit: int
) -> None:
    # Each poll: pid -> (RSS, PSS the kernel would report). Whatever is reused, the
    # figure never exceeds the RSS sum, is the RSS sum within the limit, and is above
    # the limit only when freshly measured.
    tree = watchdog._Tree(1, limit, None)
    truth: dict[int, int] = {}
    original = watchdog._pss
    watchdog._pss = truth.get  # type: ignore[assignment]
    try:
        for poll in polls:
            truth.clear()
            truth.update({pid: pss for pid, (_, pss) in poll.items()})
            rss = {pid: resident for pid, (resident, _) in poll.items()}
            counted = watchdog._counted_memory(tree, rss)
            total = sum(rss.values())
            assert counted <= total
            if total <= limit:
                assert counted == total
            elif counted > limit:
                assert counted == sum(min(truth[p], rss[p]) for p in rss)
    finally:
        watchdog._pss = original


# -- what the host can read of a sandboxed process -----------------------------------------


def _own_nondumpable_smaps() -> str:
    # Positive control: the kernel's rule for a non-dumpable process of the same uid
    # whose memory belongs to the host's user namespace.
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            import ctypes

            ctypes.CDLL(None).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
            os.write(write_end, b"x")
            time.sleep(30)
        finally:
            os._exit(0)
    try:
        os.read(read_end, 1)
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
                return "readable" if b"Pss:" in handle.read() else "empty"
        except PermissionError:
            return "refused"
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read_end)
        os.close(write_end)


@pytest.mark.skipif(sandbox_unavailable(CAPS) is not None, reason=sandbox_unavailable(CAPS) or "")
def test_the_host_reads_the_pss_of_its_sandboxed_processes(launcher: Launcher) -> None:
    control = run_in_child(_own_nondumpable_smaps)
    if CAPS.is_root:
        assert control == "readable"  # CAP_SYS_PTRACE
    else:
        assert control == "refused"
    ready = launcher.ready_info
    assert ready is not None
    host_namespace = os.readlink("/proc/self/ns/user")
    # A non-root host's fork server runs in a user namespace of its own, which the
    # host owns; root's needs none.
    if CAPS.is_root or not CAPS.user_namespaces:
        assert ready.user_namespace == host_namespace
    else:
        assert ready.user_namespace != host_namespace
        assert ready.user_namespace_error is None
    session = selftest.start_probe(
        launcher, "grandchildren", {"count": 0, "hold": True}, SandboxProfile()
    )
    try:
        assert session.outcome() is not None
        with open(f"/proc/{session.process.pid}/smaps_rollup", "rb") as handle:
            rollup = handle.read()
        pss = watchdog._pss(session.process.pid)
        assert b"Pss:" in rollup
        assert pss is not None
        assert 0 < pss <= psutil.Process(session.process.pid).memory_info().rss
    finally:
        session.close()
