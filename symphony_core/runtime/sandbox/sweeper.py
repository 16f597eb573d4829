"""The sweeper: when a sandboxed extension process ends, nothing it started survives it.

A grandchild that calls ``setsid()`` and is orphaned leaves the extension's process
tree, its process group and its session: only a cgroup finds it for sure, and a host
without cgroup delegation (any non-root user, usually) has none. The sweeper closes that
gap. Before the child confines itself, :func:`start` forks a small process that detaches
(double fork, its own session) and does only this: it waits on a pidfd of the extension
process, and once that process has ended — exit, crash, ``SIGKILL``, its fork server
dying — it SIGKILLs every process that carries the extension's mark, until none is left.

The mark is one the extension's processes cannot shed:

* **Non-root host** — the child's own user namespace (it has one: see :mod:`.netns`). The
  child writes a random token into the namespace's ``projid_map`` right after creating it
  (:func:`projid_map_text`). A map is written once and then never changes, every process
  of the namespace shows it in ``/proc/<pid>/projid_map`` (readable without ptrace
  rights, unlike ``/proc/<pid>/ns/user`` of a non-dumpable process), and nothing leaves a
  user namespace for its parent: the kernel refuses ``setns`` upward, and seccomp refuses
  creating a nested one. Project ids only name XFS/ext4 quota projects, which the
  extension could not change anyway; the map has no other effect.
* **Host with cgroups** (root, or a user they are delegated to) — the extension's
  cgroup: ``cgroup.kill`` on v2, on v1 members are SIGKILLed until the cgroup is empty.
  The host kills the cgroup too when it closes the process; the sweeper also does it
  when the process dies on its own.

Why not a PID namespace with a reaper as its init, the textbook answer? After
``unshare(CLONE_NEWPID)`` the calling process can no longer create threads (``clone``
with ``CLONE_THREAD`` fails with ``EINVAL`` while its children's PID namespace differs
from its own), and the extension host runs its extension on a thread of its own. Putting
the extension itself inside the namespace changes its pid, and as the namespace's init it
would ignore signals it has no handler for. The sweeper keeps the extension process's
pid, signals, exit status and threads as they are.

Finding every member without a race: the sweep lists ``/proc`` in ascending pid order,
SIGKILLs each marked process through a pidfd (the mark is checked again once the pidfd
is open, so a recycled pid is never hit), then follows ``/proc/sys/kernel/ns_last_pid`` and checks
every pid allocated since the listing began, until no new pid appears. Pids are
allocated in increasing order, so a process forked during the sweep always lands in the
range checked after it; a wrap-around of the pid counter makes the pass count as
unclean. The sweep ends with a pass that found no live marked process.

The host waits for it: the child names its sweeper (and the mark) in its boot report,
the fork server — by then the sweeper's parent, as a child subreaper — opens a pidfd of
it and hands it over, and ``SandboxedProcess.kill()``/``close()`` return once that pidfd
is readable, i.e. once the sweep is done (see :mod:`.zygote` and :mod:`.launcher`).
:func:`survivors` names what is left if a sweep does not finish in time.

The sweeper process is protected from the extension: it is outside the extension's
Landlock domain (signals to it are refused by Landlock's scoping) and its pid is one of
the seccomp filter's protected pids. As root it keeps ``CAP_KILL`` only (a child that
runs as a dedicated uid must still be killable); otherwise it holds no capability at
all, the owner of the user namespace needs none there to signal processes of its uid.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import secrets
import select
import signal
import socket
import time
from collections.abc import Iterable
from typing import NoReturn

import msgspec

from symphony_core.runtime.sandbox import syscalls

__all__ = [
    "SweepResult",
    "SweepTarget",
    "Sweeper",
    "new_token",
    "projid_map_text",
    "read_projid_map",
    "start",
    "survivors",
    "sweep",
]

_MAX_ID = 0xFFFF_FFFE  # (u32)-1 is the invalid id
_CAP_KILL = 5
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAPABILITY_VERSION_3 = 0x20080522
_EPERM = 1
_SWEEP_TIMEOUT = 30.0
_RANGE_PROBE = 4096
_LAST_PID = "/proc/sys/kernel/ns_last_pid"


class SweepTarget(msgspec.Struct, frozen=True, kw_only=True):
    """What marks the processes of one extension.

    Attributes:
        namespace_token: The project ids in the ``projid_map`` of the extension's own
            user namespace (empty: no user namespace of its own).
        cgroup_procs: The ``cgroup.procs`` files of the extension's cgroup, if any.
    """

    namespace_token: tuple[int, ...] = ()
    cgroup_procs: tuple[str, ...] = ()


class SweepResult(msgspec.Struct, frozen=True, kw_only=True):
    """What one :func:`sweep` did.

    Attributes:
        killed: Processes that were sent SIGKILL.
        passes: Passes over ``/proc`` (and the cgroup) it took to find none left.
    """

    killed: tuple[int, ...]
    passes: int


def new_token() -> tuple[int, int]:
    """Return two distinct random project ids (64 random bits) to mark a user namespace."""
    first = 1 + secrets.randbelow(_MAX_ID)
    second = first
    while second == first:
        second = 1 + secrets.randbelow(_MAX_ID)
    return first, second


def projid_map_text(token: Iterable[int]) -> str:
    """Return the ``projid_map`` that writes ``token`` (ids 0, 1... inside map to it)."""
    return "".join(f"{inside} {outside} 1\n" for inside, outside in enumerate(token))


def read_projid_map(pid: int | str) -> tuple[int, ...] | None:
    """Return the ``projid_map`` of process ``pid`` as flat integers, ``None`` if unreadable."""
    try:
        with open(f"/proc/{pid}/projid_map", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    try:
        return tuple(int(field) for field in data.split())
    except ValueError:
        return None


def _expected(token: tuple[int, ...]) -> tuple[int, ...]:
    out: list[int] = []
    for inside, outside in enumerate(token):
        out += (inside, outside, 1)
    return tuple(out)


def _alive(pid: int) -> bool:
    # A zombie leader whose other threads still run is alive (it shows state Z, but its
    # thread count is above one): only a lone zombie is dead.
    try:
        with open(f"/proc/{pid}/status", "rb") as handle:
            status = handle.read()
    except OSError:
        return False
    state = threads = b""
    for line in status.splitlines():
        if line.startswith(b"State:"):
            state = line[6:].strip()[:1]
        elif line.startswith(b"Threads:"):
            threads = line[8:].strip()
    if state in (b"Z", b"X"):
        return threads not in (b"", b"0", b"1")
    return bool(state)


def _last_pid() -> int | None:
    try:
        with open(_LAST_PID, "rb") as handle:
            return int(handle.read())
    except (OSError, ValueError):
        return None


def _listing() -> list[int]:
    return sorted(int(name) for name in os.listdir("/proc") if name.isdigit())


class _NamespaceSweep:
    def __init__(self, token: tuple[int, ...]) -> None:
        self.expected = _expected(token)
        self.me = os.getpid()
        self.killed: set[int] = set()

    def visit(self, pid: int) -> bool:
        """SIGKILL ``pid`` if it is a live member; return whether it was one."""
        if pid == self.me or read_projid_map(pid) != self.expected:
            return False
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:  # gone, or a thread id rather than a process
            return False
        try:
            # Checked again now that the pidfd pins the process: the pid may have been
            # recycled in between, and the pidfd never reaches a newer process.
            if read_projid_map(pid) != self.expected or not _alive(pid):
                return False
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            self.killed.add(pid)
            return True
        finally:
            os.close(pidfd)

    def one_pass(self) -> bool:
        """Kill every member found; return whether the pass was clean (none found)."""
        found = False
        start = _last_pid()
        for pid in _listing():
            found |= self.visit(pid)
        if start is None:
            return not found
        previous = start
        while True:
            latest = _last_pid()
            if latest is None or latest < previous:
                return False  # the pid counter wrapped: the listing may have missed some
            if latest == previous:
                return not found
            if latest - previous <= _RANGE_PROBE:
                fresh: Iterable[int] = range(previous + 1, latest + 1)
            else:
                fresh = [p for p in _listing() if previous < p <= latest]
            for pid in fresh:
                found |= self.visit(pid)
            previous = latest


def _cgroup_members(procs_files: tuple[str, ...]) -> set[int]:
    members: set[int] = set()
    for path in procs_files:
        with contextlib.suppress(OSError, ValueError), open(path, encoding="ascii") as handle:
            members.update(int(p) for p in handle.read().split())
    return members


def _kill_cgroup(procs_files: tuple[str, ...], killed: set[int]) -> bool:
    """SIGKILL every member of the cgroup; return whether it was already empty."""
    members = _cgroup_members(procs_files) - {os.getpid()}
    if not members:
        return True
    pidfds: dict[int, int] = {}
    for pid in members:
        with contextlib.suppress(OSError):
            pidfds[pid] = os.pidfd_open(pid)
    # Only pids still members once their pidfd is open: the pidfd pins that process.
    still = _cgroup_members(procs_files)
    for pid, pidfd in pidfds.items():
        try:
            if pid in still:
                with contextlib.suppress(ProcessLookupError):
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                killed.add(pid)
        finally:
            os.close(pidfd)
    return False


def survivors(target: SweepTarget) -> tuple[int, ...]:
    """Return the live processes that carry ``target``'s mark now (one look, no kill).

    For reports: a process forked while ``/proc`` is being listed may be missed, which
    :func:`sweep` never does.
    """
    found: set[int] = set()
    if target.namespace_token:
        expected = _expected(target.namespace_token)
        found.update(pid for pid in _listing() if read_projid_map(pid) == expected and _alive(pid))
    if target.cgroup_procs:
        found.update(pid for pid in _cgroup_members(target.cgroup_procs) if _alive(pid))
    found.discard(os.getpid())
    return tuple(sorted(found))


def sweep(target: SweepTarget, *, timeout: float = _SWEEP_TIMEOUT) -> SweepResult:
    """SIGKILL every process that carries ``target``'s mark, until none is left.

    Args:
        target: The mark (user-namespace token and/or cgroup).
        timeout: Seconds to keep trying.

    Returns:
        The processes signalled and the passes it took.

    Raises:
        TimeoutError: Marked processes were still found after ``timeout``.
    """
    deadline = time.monotonic() + timeout
    killed: set[int] = set()
    namespace = _NamespaceSweep(target.namespace_token) if target.namespace_token else None
    procs = tuple(target.cgroup_procs)
    if procs:
        for directory in {os.path.dirname(p) for p in procs}:
            kill_file = os.path.join(directory, "cgroup.kill")
            if os.path.exists(kill_file):
                with contextlib.suppress(OSError), open(kill_file, "w", encoding="ascii") as f:
                    f.write("1")
    passes = 0
    clean_in_a_row = 0
    while True:
        passes += 1
        clean = True
        if procs:
            clean &= _kill_cgroup(procs, killed)
        if namespace is not None:
            clean &= namespace.one_pass()
            killed |= namespace.killed
        clean_in_a_row = clean_in_a_row + 1 if clean else 0
        # Without ns_last_pid a single clean pass proves less: ask for two in a row.
        if clean_in_a_row >= (1 if _last_pid() is not None else 2):
            return SweepResult(killed=tuple(sorted(killed)), passes=passes)
        if time.monotonic() > deadline:
            raise TimeoutError(f"processes of the extension survived {timeout} s of sweeping")
        time.sleep(0.001)


def _keep_only_cap_kill() -> None:
    # Root's sweeper: CAP_KILL (a dedicated-uid child must stay killable) and nothing else.
    # The cgroup files it writes belong to root, which needs no capability to write them.
    try:
        with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as handle:
            last = int(handle.read())
    except (OSError, ValueError):
        last = 40
    for cap in range(last + 1):
        if cap == _CAP_KILL:
            continue
        try:
            syscalls.prctl(_PR_CAPBSET_DROP, cap)
        except OSError as exc:
            if exc.errno != _EPERM:
                raise
            break
    syscalls.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL)
    header = syscalls.CapHeader(version=_CAPABILITY_VERSION_3, pid=0)
    data = (syscalls.CapData * 2)()
    data[0].effective = data[0].permitted = 1 << _CAP_KILL
    capset = syscalls.libc().capset
    capset.restype = ctypes.c_int
    syscalls.check(int(capset(ctypes.byref(header), ctypes.byref(data))), "capset")
    syscalls.prctl(_PR_SET_NO_NEW_PRIVS, 1)


def _close_all_but(keep: set[int]) -> None:
    low = 0
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 1 << 20)


def _above_stdio(fd: int) -> int:
    if fd > 2:
        return fd
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    os.close(fd)
    return moved


def _serve(pidfd: int, channel: int) -> NoReturn:
    """The sweeper process: receive the mark, wait for the extension's end, sweep, exit."""
    code = 1
    try:
        os.setsid()  # no group or session kill aimed at the extension reaches it
        for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_IGN)
        pidfd, channel = _above_stdio(pidfd), _above_stdio(channel)
        _close_all_but({pidfd, channel})
        # Standard streams on /dev/null, so nothing it opens later takes their numbers.
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            if fd != devnull:
                os.dup2(devnull, fd)
        if devnull > 2:
            os.close(devnull)
        if os.geteuid() == 0:
            _keep_only_cap_kill()
        data = b""
        while chunk := os.read(channel, 65536):  # until the extension closes its end
            data += chunk
        os.close(channel)
        target = msgspec.msgpack.decode(data, type=SweepTarget) if data else None
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        while not poller.poll():  # readable once the extension process has ended
            pass
        if target is not None:
            sweep(target)
        code = 0
    finally:
        os._exit(code)


class Sweeper:
    """The extension process's handle on its sweeper (see :func:`start`)."""

    def __init__(self, intermediate: int, channel: socket.socket) -> None:
        self._intermediate: int | None = intermediate
        self._channel: socket.socket | None = channel
        self._pid: int | None = None

    @property
    def pid(self) -> int:
        """The sweeper's pid, known once :meth:`arm` returned (protect it from the extension).

        Raises:
            RuntimeError: Not armed yet.
        """
        if self._pid is None:
            raise RuntimeError("the sweeper's pid is known once it is armed")
        return self._pid

    def _reap(self) -> int:
        if self._intermediate is None:
            return 0
        _, status = os.waitpid(self._intermediate, 0)
        self._intermediate = None
        return os.waitstatus_to_exitcode(status)

    def arm(self, target: SweepTarget) -> int:
        """Tell the sweeper what marks this extension's processes, and let it go.

        Call it once the mark exists (user namespace created, cgroup joined) and before
        any untrusted code runs. Until then, or if this process dies first, the sweeper
        exits without sweeping. The short-lived intermediate process is reaped here, so
        no child of ours is left for the extension's own ``wait()`` to find.

        Returns:
            The sweeper's pid.

        Raises:
            RuntimeError: The sweeper did not start, or is armed already.
            OSError: The sweeper could not be reached.
        """
        channel = self._channel
        if channel is None:
            raise RuntimeError("the sweeper is already armed")
        self._channel = None
        try:
            raw = channel.recv(4, socket.MSG_WAITALL)
            if self._reap() != 0 or len(raw) != 4:
                raise RuntimeError("the sweeper process did not start")
            channel.sendall(msgspec.msgpack.encode(target))
        finally:
            channel.close()
        self._pid = int.from_bytes(raw, "little")
        return self._pid

    def close(self) -> None:
        """Let the sweeper go without a target (it exits without sweeping)."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        self._reap()


def start() -> Sweeper:
    """Start the sweeper of this process: a detached process that outlives it briefly.

    Call it while this process is single-threaded, before it enters a user namespace of
    its own and before it joins its cgroup (the sweeper stays outside both), then
    :meth:`Sweeper.arm` it. The forks run while this process goes on with its boot.

    Returns:
        The handle to arm.

    Raises:
        OSError: ``pidfd_open``, ``socketpair`` or ``fork`` failed.
    """
    pidfd = os.pidfd_open(os.getpid())
    try:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            first = os.fork()
            if first == 0:  # pragma: no cover - runs in the intermediate process
                code = 1
                try:
                    ours.close()
                    second = os.fork()
                    if second == 0:
                        _serve(pidfd, theirs.detach())
                    theirs.sendall(second.to_bytes(4, "little"))
                    code = 0
                finally:
                    os._exit(code)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
    finally:
        os.close(pidfd)
    return Sweeper(first, ours)
