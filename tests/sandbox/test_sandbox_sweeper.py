"""The sweeper: processes marked like an extension's die once it ends, and only those.

Real trees, real namespaces: ``marked_tree.py`` (run as a script) enters a fresh user
namespace with a token in its ``projid_map`` and leaves orphans in sessions of their
own. Each kill has its control: the same orphans outlive their parent when nothing
sweeps. Runs as root and as an unprivileged user alike.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symphony_core.runtime.sandbox import cgroups, sweeper
from symphony_core.runtime.sandbox.policy import Weakening
from symphony_core.runtime.sandbox.probe import KernelCapabilities, probe_kernel

HELPER = Path(__file__).with_name("marked_tree.py")
CAPS = probe_kernel()
pytestmark = pytest.mark.skipif(
    not CAPS.user_namespaces or not CAPS.pidfd_open,
    reason=f"needs user namespaces ({CAPS.user_namespaces_error}) and pidfd_open",
)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie leader whose other threads run counts as running)."""
    try:
        proc = psutil.Process(pid)
        return bool(proc.status() != psutil.STATUS_ZOMBIE or proc.num_threads() > 1)
    except psutil.NoSuchProcess:
        return False


def _wait_dead(pids: list[int], timeout: float = 5.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := [p for p in pids if _alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.01)
    return left


def _last_pid() -> int:
    return int(Path("/proc/sys/kernel/ns_last_pid").read_text())


def _marked(token: tuple[int, ...], *, born_after: int | None = None) -> list[int]:
    """Processes whose projid_map carries ``token``: live ones, or every one (zombies
    included) whose pid was allocated after the pid ``born_after`` (see ``_last_pid``)."""
    expected = tuple(int(f) for f in sweeper.projid_map_text(token).split())
    latest = _last_pid()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or sweeper.read_projid_map(name) != expected:
            continue
        pid = int(name)
        if born_after is None:
            if _alive(pid):
                found.append(pid)
        elif born_after < pid <= latest or (latest < born_after and not latest < pid <= born_after):
            found.append(pid)  # allocated since, the pid counter wrapping or not
    return found


class Tree:
    """One run of marked_tree.py."""

    def __init__(self, **spec: Any) -> None:
        self.token: tuple[int, ...] = tuple(spec.get("token") or ())
        self.proc = subprocess.Popen(
            [sys.executable, str(HELPER), json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"marked_tree.py failed: exit {self.proc.wait()}"
        report = json.loads(line)
        self.pids: list[int] = report["pids"]
        self.sweeper: int | None = report["sweeper"]
        self.pid: int = report["pid"]

    def end(self) -> int:
        """Let the script exit (it waits for end of file when asked to stay)."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self.proc.wait(10)

    def cleanup(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        if self.token:
            sweeper.sweep(sweeper.SweepTarget(namespace_token=self.token), timeout=10)
        for pid in self.pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def trees() -> Iterator[list[Tree]]:
    made: list[Tree] = []
    yield made
    for tree in made:
        tree.cleanup()


def _tree(trees: list[Tree], **spec: Any) -> Tree:
    tree = Tree(**spec)
    trees.append(tree)
    return tree


# -- the token -------------------------------------------------------------------------


@settings(max_examples=200)
@given(st.lists(st.integers(0, 0xFFFF_FFFE), min_size=1, max_size=4))
def test_projid_map_text_reads_back_as_written(token: list[int]) -> None:
    text = sweeper.projid_map_text(token)
    fields = [int(f) for f in text.split()]
    assert fields[1::3] == token
    assert fields[0::3] == list(range(len(token)))
    assert set(fields[2::3]) == {1}


def test_tokens_are_distinct_valid_project_ids() -> None:
    tokens = {sweeper.new_token() for _ in range(200)}
    assert len(tokens) == 200
    for first, second in tokens:
        assert first != second
        assert 0 < first <= 0xFFFF_FFFE
        assert 0 < second <= 0xFFFF_FFFE


def test_the_host_namespace_never_carries_a_token() -> None:
    # The host's namespace maps project ids to themselves (the initial one: all of them),
    # never ``0 -> token, 1 -> token`` in single steps as a marked namespace does.
    mine = sweeper.read_projid_map(os.getpid())
    assert mine is not None
    assert mine
    extents = [mine[i : i + 3] for i in range(0, len(mine), 3)]
    assert all(inside == outside for inside, outside, _ in extents), mine


def test_a_token_is_written_once_and_cannot_be_replaced(trees: list[Tree]) -> None:
    tree = _tree(trees, token=sweeper.new_token(), count=1, stay=True)
    pid = tree.pids[0]
    assert sweeper.read_projid_map(pid) == tuple(
        int(f) for f in sweeper.projid_map_text(tree.token).split()
    )
    # Its owner may not write it again (neither may anyone: maps are written once).
    with pytest.raises(PermissionError):
        Path(f"/proc/{pid}/projid_map").write_text(sweeper.projid_map_text((7,)))


# -- sweep() ---------------------------------------------------------------------------


def test_sweep_kills_every_marked_orphan_and_nothing_else(trees: list[Tree]) -> None:
    token = sweeper.new_token()
    tree = _tree(trees, token=token, count=4)
    assert tree.proc.wait(10) == 0
    # Control: their parent is gone, they live on in sessions of their own.
    time.sleep(0.2)
    assert all(_alive(p) for p in tree.pids)
    assert all(os.getsid(p) not in (tree.pid, os.getsid(0)) for p in tree.pids)
    assert sorted(_marked(token)) == sorted(tree.pids)
    # Bystanders of the same uid: another token, and the host's own namespace.
    other = _tree(trees, token=sweeper.new_token(), count=2)
    plain = _tree(trees, token=None, count=2)
    result = sweeper.sweep(sweeper.SweepTarget(namespace_token=token))
    assert set(tree.pids) <= set(result.killed)
    assert _wait_dead(tree.pids) == []
    assert _marked(token) == []
    assert all(_alive(p) for p in other.pids + plain.pids)
    assert not set(result.killed) & set(other.pids + plain.pids)


@pytest.mark.parametrize("round_", range(4))
def test_sweep_outruns_a_fork_chain(trees: list[Tree], round_: int) -> None:
    # A process that forks and exits in a loop: no link lives long, each new one gets a
    # new pid, beyond the /proc listing a pass started from. Without following the pid
    # counter past the listing, about one sweep in five stops while a link lives on.
    token = sweeper.new_token()
    tree = _tree(trees, token=token, count=1, chain=True)
    tree.proc.wait(10)
    # Control: links keep appearing (a link lives ~2 ms: too short to be seen alive by a
    # slow scan, so count the links whose pids were allocated within 0.2 s instead).
    since = _last_pid()
    time.sleep(0.2)
    assert len(_marked(token, born_after=since)) > 10, "the chain is not running"
    sweeper.sweep(sweeper.SweepTarget(namespace_token=token))
    since = _last_pid()
    time.sleep(0.2)
    assert _marked(token, born_after=since) == []
    assert _marked(token) == []


def test_sweep_kills_a_process_whose_main_thread_has_exited(trees: list[Tree]) -> None:
    token = sweeper.new_token()
    tree = _tree(trees, token=token, count=0, zombie_leader=True)
    tree.proc.wait(10)
    pid = tree.pids[-1]
    deadline = time.monotonic() + 5
    while psutil.Process(pid).status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
        time.sleep(0.01)
    # What makes it hard: its leader shows as a zombie, yet the process runs on.
    assert psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert psutil.Process(pid).num_threads() >= 2
    result = sweeper.sweep(sweeper.SweepTarget(namespace_token=token))
    assert pid in result.killed
    assert _wait_dead([pid]) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can make a cgroup here")
def test_sweep_kills_every_member_of_a_cgroup() -> None:
    support = CAPS.cgroups
    if "pids" not in support.usable:
        pytest.skip("no usable pids cgroup")
    with cgroups.Cgroup.create("sweeper-test", pids=64, support=support) as group:
        sleepers = [subprocess.Popen(["sleep", "30"], start_new_session=True) for _ in range(3)]
        outside = subprocess.Popen(["sleep", "30"], start_new_session=True)
        try:
            for proc in sleepers:
                group.add(proc.pid)
            result = sweeper.sweep(sweeper.SweepTarget(cgroup_procs=tuple(group.procs_files)))
            assert {p.pid for p in sleepers} <= set(result.killed)
            for proc in sleepers:
                assert proc.wait(5) == -signal.SIGKILL
            assert group.pids() == set()
            assert outside.poll() is None
        finally:
            for proc in [*sleepers, outside]:
                proc.kill()
                proc.wait()


# -- the sweeper process ---------------------------------------------------------------


def test_the_sweeper_sweeps_once_its_process_is_killed(trees: list[Tree]) -> None:
    tree = _tree(trees, token=sweeper.new_token(), sweeper="armed", count=3, stay=True)
    assert tree.sweeper is not None
    watcher = psutil.Process(tree.sweeper)
    # Outside the marked namespace, in a session of its own, not in the tree's process.
    assert sweeper.read_projid_map(tree.sweeper) == sweeper.read_projid_map(os.getpid())
    assert os.getsid(tree.sweeper) == tree.sweeper
    assert tree.sweeper not in {c.pid for c in psutil.Process(tree.pid).children()}
    assert all(_alive(p) for p in tree.pids)
    os.kill(tree.pid, signal.SIGKILL)
    assert tree.proc.wait(5) == -signal.SIGKILL
    assert _wait_dead(tree.pids, timeout=3) == []
    watcher.wait(5)  # done, and gone (raises TimeoutExpired otherwise)


def test_a_normal_exit_leaves_nothing_behind(trees: list[Tree]) -> None:
    tree = _tree(trees, token=sweeper.new_token(), sweeper="armed", count=3, stay=True)
    assert all(_alive(p) for p in tree.pids)
    assert tree.end() == 0
    assert _wait_dead(tree.pids, timeout=3) == []


def test_an_unarmed_sweeper_sweeps_nothing(trees: list[Tree]) -> None:
    # Control for the two above: the same tree, the sweeper never told what to sweep.
    tree = _tree(trees, token=sweeper.new_token(), sweeper="unarmed", count=3, stay=True)
    os.kill(tree.pid, signal.SIGKILL)
    tree.proc.wait(5)
    time.sleep(0.3)
    assert all(_alive(p) for p in tree.pids)


# -- what `symphony doctor` says -------------------------------------------------------


def _caps(
    *,
    root: bool,
    complete: bool,
    userns: bool,
    pidfd: bool,
    seccomp: bool,
    base: KernelCapabilities,
) -> KernelCapabilities:
    statuses = {
        name: cgroups.ControllerStatus(
            name=name,
            version="v1",
            directory="/sys/fs/cgroup/x",
            usable=complete,
            reason=None if complete else "Permission denied",
        )
        for name in cgroups.CONTROLLERS
    }
    return KernelCapabilities(
        **{
            **{f: getattr(base, f) for f in base.__struct_fields__},
            "uid": 0 if root else 1000,
            "is_root": root,
            "user_namespaces": userns,
            "network_namespaces": userns,
            "pidfd_open": pidfd,
            "seccomp": seccomp,
            "seccomp_error": None if seccomp else "unavailable",
            "pidfd_open_error": None if pidfd else "Function not implemented",
            "cgroups": cgroups.CgroupSupport(controllers=statuses),
        }
    )


@settings(max_examples=100)
@given(
    root=st.booleans(),
    complete=st.booleans(),
    userns=st.booleans(),
    pidfd=st.booleans(),
    seccomp=st.booleans(),
)
def test_the_orphans_guarantee_says_what_holds(
    root: bool, complete: bool, userns: bool, pidfd: bool, seccomp: bool
) -> None:
    caps = _caps(
        root=root, complete=complete, userns=userns, pidfd=pidfd, seccomp=seccomp, base=CAPS
    )
    guarantees = caps.guarantees()
    orphans = next(g for g in guarantees.items if g.name == "orphans")
    # The user-namespace mark only holds while seccomp keeps nested namespaces out.
    by_userns = not root and userns and seccomp
    assert orphans.active == ((complete or by_userns) and pidfd)
    if orphans.active:
        assert orphans.mechanism.startswith("orphans die with the extension")
        assert ("cgroup" in orphans.mechanism) == complete
        assert ("user namespace" in orphans.mechanism) == by_userns
        assert orphans.weakening is None
    elif complete:
        assert orphans.weakening is None  # the host still kills the cgroup at close
    elif not root and userns and not seccomp:
        assert orphans.weakening == Weakening.NO_SECCOMP
    else:
        assert orphans.weakening == Weakening.NO_CGROUPS
    # It never asks for an opt-in of its own: the weakening it names is needed anyway.
    assert (Weakening.NO_CGROUPS in guarantees.required_weakenings) == (not complete)
    assert (Weakening.NO_SECCOMP in guarantees.required_weakenings) == (not seccomp)
