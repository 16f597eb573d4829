"""The host side of the sandbox: a warm fork server that makes one confined process per call.

Typical use by the host::

    launcher = Launcher(allowed_targets={"symphony_core.runtime.exthost:main"})
    launcher.start_server()            # with the host, off the critical path
    ...
    parent_end, child_end = socket.socketpair()
    proc = launcher.start(
        profile, target="symphony_core.runtime.exthost:main",
        args={"extension": "acme.tool"}, ipc_fd=child_end.fileno(),
        extension_id="acme.tool",
    )
    child_end.close()                  # the child has its own copy now
    ...                                # talk over parent_end; proc.pidfd for select()
    proc.close()                       # kill the tree, wait for its sweep, remove its cgroup

:meth:`Launcher.start` returns only once the child has applied every restriction
(:mod:`.boot`), or raises :class:`SandboxSetupError` naming the step that failed.
The target is called as ``target(ipc_fd, args)`` and must be on the allow-list given
to the launcher; the parameters cross to the fork server as msgpack structs.

Resource limits use a per-extension cgroup when the machine allows it, otherwise (only
when the user accepted the ``no-cgroups`` weakening) rlimits plus the psutil
:class:`~symphony_core.runtime.sandbox.watchdog.Watchdog`.

Nothing is left behind
----------------------
A child that may start processes has a sweeper (:mod:`.sweeper`): a detached process
that SIGKILLs every process carrying the child's mark once the child has ended. The
fork server hands the host a pidfd of it with the child's (see :mod:`.zygote`), and
:meth:`SandboxedProcess.kill` and :meth:`SandboxedProcess.close` return only once it
has exited — the sweep is done, ``setsid`` escapees included, cgroup or not. If it takes
longer than the timeout, an error names the processes still carrying the mark and the
host sweeps them itself. :meth:`Launcher.close` first kills every process and then waits
for each, so their sweeps run side by side.

When the fork server dies
-------------------------
The fork server is the parent of every sandboxed process, and they die with it
(``PR_SET_PDEATHSIG``). If it dies without :meth:`Launcher.close` asking it to (killed,
out of memory, a bug), the launcher's I/O thread notices at once — end of file on its
socket, or its pidfd turning readable — and:

* reaps it and records a :class:`ServerDeath` (its exit code or signal, the processes
  that ended with it), logged as an error and kept in :attr:`Launcher.server_deaths`;
* fails the :meth:`Launcher.start` calls waiting for it with
  :class:`ForkServerDiedError` naming the cause;
* reports the exit of each of its processes as ``-SIGKILL`` (the parent-death signal
  that ended them) to :attr:`SandboxedProcess.returncode`, :meth:`SandboxedProcess.wait`
  and the exit listeners; :attr:`SandboxedProcess.server_death` says why, so a
  supervisor can tell this from the extension's own crash;
* starts a new fork server **eagerly, in the background**: at once after a first death,
  so that the supervisor's restart of an extension finds a warm server (a cold start
  costs a few hundred milliseconds), then after a back-off that doubles with each
  further recent death (:class:`ForkServerPolicy`). A :meth:`Launcher.start` made in
  between waits for the new server.

:attr:`ForkServerPolicy.crash_limit` deaths within :attr:`ForkServerPolicy.crash_window`
seconds are a crash loop: no new server is started, and :meth:`Launcher.start` fails with
:class:`ForkServerCrashLoopError` (pointing at ``symphony doctor``) until fewer deaths fall
within the window, or until :meth:`Launcher.forget_server_deaths`. After
:meth:`Launcher.close` nothing is ever started again.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import os
import select
import selectors
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import msgspec

import symphony_core
from symphony_core.log import get_logger
from symphony_core.runtime.sandbox import cgroups, limits, privileges, sweeper
from symphony_core.runtime.sandbox.boot import BootSpec
from symphony_core.runtime.sandbox.errors import (
    ForkServerCrashLoopError,
    ForkServerDiedError,
    LauncherError,
    MechanismUnavailableError,
    SandboxSetupError,
    SandboxUnavailableError,
    TargetNotAllowedError,
)
from symphony_core.runtime.sandbox.landlock import existing
from symphony_core.runtime.sandbox.policy import EnforcementPlan, SandboxProfile, plan
from symphony_core.runtime.sandbox.probe import KernelCapabilities, probe_kernel
from symphony_core.runtime.sandbox.watchdog import Watchdog, WatchdogStats
from symphony_core.runtime.sandbox.witness import AuditEvent, AuditReader
from symphony_core.runtime.sandbox.zygote import (
    MAX_MESSAGE,
    Exited,
    Ready,
    Reply,
    Shutdown,
    Spawned,
    SpawnFailed,
    SpawnRequest,
    ZygoteConfig,
)

__all__ = [
    "SELFTEST_TARGETS",
    "AuditRecord",
    "ExitListener",
    "ForkServerPolicy",
    "Launcher",
    "SandboxedProcess",
    "ServerDeath",
    "runtime_read_paths",
]

_log = get_logger("sandbox.launcher")
_audit_log = get_logger("sandbox.audit")

#: Targets of the built-in self-test module (handshake and attack probes).
SELFTEST_TARGETS: frozenset[str] = frozenset(
    {
        "symphony_core.runtime.sandbox.selftest:handshake",
        "symphony_core.runtime.sandbox.selftest:attempt",
    }
)

_SYSTEM_READ = (
    "/lib",
    "/lib64",
    "/usr/lib",
    "/usr/lib64",
    "/usr/local/lib",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/usr/share/zoneinfo",
    "/dev/urandom",
    "/dev/zero",
)
_NETWORK_READ = (
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/host.conf",
    "/etc/services",
    "/etc/protocols",
)
_BOOTSTRAP = (
    "import time;_t=time.perf_counter();import sys,json;"
    "sys.path[:0]=json.loads(sys.argv[1])['sys_path'];"
    "from symphony_core.runtime.sandbox.zygote import main;"
    "main(int(sys.argv[2]),sys.argv[1],_t)"
)
#: Seconds a fork server whose socket ended is given to finish exiting before SIGKILL.
_REAP_GRACE = 1.0
#: Deaths of the fork server kept in :attr:`Launcher.server_deaths`.
_KEEP_DEATHS = 32
_DOCTOR_HINT = (
    "run `symphony doctor` to check the sandbox on this machine; each death's cause is "
    "logged by symphony.sandbox.launcher, and `dmesg` shows out-of-memory kills"
)


ExitListener = Callable[[int, int], None]
"""Called as ``listener(pid, returncode)`` when a sandboxed process ends (I/O thread)."""


class ForkServerPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """When a fork server that died is started again, and when the launcher gives up.

    The first death within ``crash_window`` is followed by a new server at once; each
    further one waits ``restart_backoff``, doubling per recent death, at most
    ``restart_backoff_max``. ``crash_limit`` deaths within ``crash_window`` seconds are a
    crash loop: nothing is started until fewer deaths fall within the window.

    Attributes:
        crash_limit: Deaths within ``crash_window`` that make a crash loop (1: never
            restart).
        crash_window: Seconds over which deaths are counted.
        restart_backoff: Delay before the second restart within the window.
        restart_backoff_max: The longest delay before a restart.
    """

    crash_limit: int = 3
    crash_window: float = 60.0
    restart_backoff: float = 0.25
    restart_backoff_max: float = 5.0

    def __post_init__(self) -> None:
        problems = []
        if self.crash_limit < 1:
            problems.append("crash_limit >= 1")
        if not self.crash_window > 0:
            problems.append("crash_window > 0")
        if not 0 <= self.restart_backoff <= self.restart_backoff_max:
            problems.append("0 <= restart_backoff <= restart_backoff_max")
        if problems:
            raise ValueError("invalid fork server policy: need " + "; ".join(problems))

    def restart_delay(self, recent_deaths: int) -> float | None:
        """Return the delay before the next server after ``recent_deaths``, or ``None``.

        Args:
            recent_deaths: Deaths within the window, the latest included.

        Returns:
            Seconds to wait before starting a new server; ``None`` in a crash loop.
        """
        if recent_deaths >= self.crash_limit:
            return None
        if recent_deaths <= 1:
            return 0.0
        # The exponent is capped so a large crash_limit cannot overflow a float.
        return min(
            self.restart_backoff_max, self.restart_backoff * 2.0 ** min(recent_deaths - 2, 64)
        )


class ServerDeath(msgspec.Struct, frozen=True, kw_only=True):
    """One death of the fork server.

    Attributes:
        pid: The fork server's pid (``None`` if it could not even be started).
        returncode: Its exit code, or minus the signal that killed it; ``None`` if unknown.
        cause: How it ended, in words (``was killed by signal 9 (SIGKILL)``).
        at: Unix time it was noticed.
        processes: Sandboxed processes that ended with it.
        restart_delay: Seconds until a new server was due; ``None`` if none was
            (a crash loop, or the launcher was closing).
        expected: It was stopped by :meth:`Launcher.close` (not counted as a death).
    """

    pid: int | None
    returncode: int | None
    cause: str
    at: float
    processes: tuple[int, ...] = ()
    restart_delay: float | None = None
    expected: bool = False

    def describe(self) -> str:
        """Return ``the sandbox fork server (pid N) <cause>``."""
        pid = f" (pid {self.pid})" if self.pid is not None else ""
        return f"the sandbox fork server{pid} {self.cause}"


class AuditRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A refused attempt, attributed by the host.

    Attributes:
        extension_id: The extension whose audit pipe carried the event (host's fact).
        pid: The sandboxed process the pipe belongs to (host's fact).
        event: What the child's witness reported (the extension's claim).
    """

    extension_id: str
    pid: int
    event: AuditEvent


def _default_sink(record: AuditRecord) -> None:
    _audit_log.warning(
        "refused %s %s (%s)",
        record.event.action,
        record.event.target,
        record.event.rule,
        extra={"extension_id": record.extension_id, "pid": record.pid},
    )


def _describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "ended; its exit status is unknown"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by signal {-returncode} ({name})"
    return f"exited with code {returncode}"


def _zygote_sys_path() -> list[str]:
    # Python puts the script's directory (or '' for -c and the REPL) first unless run
    # with -P or -I: never hand that to the fork server. Later entries stay, even if
    # equal to it (an editable install's .pth may name the same directory).
    entries = sys.path if (sys.flags.safe_path or sys.flags.isolated) else sys.path[1:]
    out: list[str] = []
    for entry in entries:
        if not entry or not os.path.isabs(entry):
            continue
        if os.path.exists(entry) and entry not in out:
            out.append(entry)
    return out


def runtime_read_paths() -> list[str]:
    """Return the paths a sandboxed Python needs to read: stdlib, site-packages, libraries.

    Only the ``symphony_core`` (and ``symphony_sdk``) package directories are granted
    from an editable checkout, never the whole ``sys.path[0]`` or repository.
    """
    paths: list[str] = []
    config = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        if key in config:
            paths.append(config[key])
    paths += [p for p in sys.path if p.endswith(("site-packages", "dist-packages", "lib-dynload"))]
    paths.append(os.path.dirname(symphony_core.__file__))
    sdk = importlib.util.find_spec("symphony_sdk")
    if sdk is not None and sdk.submodule_search_locations:
        paths += list(sdk.submodule_search_locations)
    paths += _SYSTEM_READ
    return existing(paths)


class _Pending:
    def __init__(self) -> None:
        self.event = threading.Event()
        self.reply: Spawned | SpawnFailed | None = None
        self.pidfd: int | None = None
        self.sweeper_pidfd: int | None = None
        self.death: ServerDeath | None = None


class _Server:
    """One fork server process and what the host tracks about it."""

    def __init__(self, proc: subprocess.Popen[bytes], sock: socket.socket, pidfd: int | None):
        self.proc = proc
        self.pid = proc.pid
        self.sock = sock
        self.pidfd = pidfd
        self.ready = threading.Event()
        self.ready_info: Ready | None = None
        # Guards sending, `pending` membership and `gone`: the socket is never closed
        # while a request is being written to it.
        self.send_lock = threading.Lock()
        self.pending: dict[int, _Pending] = {}
        self.children: set[int] = set()
        self.gone = False
        self.exits_final = False
        self.death: ServerDeath | None = None


class SandboxedProcess:
    """One running sandboxed child.

    Attributes:
        pid: The child's pid.
        pidfd: A pidfd of the child (readable once it exits), or ``None``.
        extension_id: The extension it runs.
        plan: The mechanisms enforcing its profile.
        cgroup: Its cgroup, when cgroups enforce the limits.
        boot_ms: Time the fork server saw from fork to ready.
        step_ms: Time of each boot step.
        server_pid: The fork server that made it (its parent).
        sweeper_pid: Its sweeper, if it has one (it may start processes, and something
            marks them).
        sweep_target: What marks its processes for the sweeper.
    """

    def __init__(
        self,
        launcher: Launcher,
        server: _Server,
        reply: Spawned,
        pidfd: int | None,
        extension_id: str,
        plan: EnforcementPlan,
        cgroup: cgroups.Cgroup | None,
        sweeper_pidfd: int | None = None,
    ) -> None:
        self._launcher = launcher
        self._server = server
        self.pid = reply.pid
        self.pidfd = pidfd
        self.sweeper_pid = reply.sweeper_pid
        self.sweep_target = reply.sweep_target
        self._sweeper_pidfd = sweeper_pidfd
        self._swept = sweeper_pidfd is None
        self.extension_id = extension_id
        self.plan = plan
        self.cgroup = cgroup
        self.boot_ms = reply.boot_ms
        self.step_ms = dict(reply.step_ms)
        self.server_pid = server.pid
        self._closed = False

    @property
    def returncode(self) -> int | None:
        """Exit code (minus the signal number if killed), or ``None`` while running.

        A process that ended with its fork server reports ``-SIGKILL`` (the parent-death
        signal); :attr:`server_death` then says why.
        """
        return self._launcher._exits.get(self.pid)

    @property
    def server_death(self) -> ServerDeath | None:
        """The fork server's death, if this process ended because its fork server died."""
        return self._launcher._lost.get(self.pid)

    def poll(self) -> int | None:
        """Return :attr:`returncode` without waiting."""
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the child to exit and return its exit code.

        Raises:
            TimeoutError: It was still running after ``timeout`` seconds.
            LauncherError: Its exit cannot be learnt (the fork server is gone and did
                not account for it).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        launcher = self._launcher
        with launcher._exit_cond:
            while self.pid not in launcher._exits:
                if self._server.exits_final:
                    raise LauncherError(
                        "the fork server is gone; the child's exit is unknown",
                        where=self.extension_id,
                    )
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"sandboxed process {self.pid} still running")
                launcher._exit_cond.wait(remaining if remaining is not None else 0.5)
            return launcher._exits[self.pid]

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the child itself (not its tree); no-op once it has exited."""
        if self.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, OSError):
            if self.pidfd is not None:
                signal.pidfd_send_signal(self.pidfd, sig)
            else:
                os.kill(self.pid, sig)

    def kill(self, timeout: float = 5.0) -> None:
        """Kill the child and every process it started; return once none is left.

        The cgroup or the watchdog's view of the tree kills what they find at once;
        the child's sweeper then kills anything else that carries its mark (orphans in
        sessions of their own) once the child has ended. This waits for that sweep.

        Args:
            timeout: Seconds to wait for the sweep; past them an error is logged naming
                the processes still marked, and the host sweeps them itself.
        """
        self._kill_now()
        self._await_sweep(timeout)

    def _kill_now(self) -> None:
        """Signal the child and its tree without waiting for anything."""
        self.send_signal(signal.SIGKILL)
        if self.cgroup is not None:
            self.cgroup.kill()
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
            self._launcher.watchdog.kill_tree(self.pid)

    def _await_sweep(self, timeout: float) -> None:
        """Wait until the sweeper has exited (its sweep done), at most ``timeout`` seconds."""
        pidfd = self._sweeper_pidfd
        if self._swept or pidfd is None:
            return
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        # A pidfd turns readable once its process has exited (poll() resumes by itself
        # after a signal, with what is left of the timeout).
        if poller.poll(max(0.0, timeout) * 1000):
            self._swept = True
            return
        self._sweep_from_host(timeout)

    def _sweep_from_host(self, waited: float) -> None:
        target = self.sweep_target
        left = sweeper.survivors(target) if target is not None else ()
        outcome = "none is marked any more"
        if target is not None and left:
            try:
                killed = sweeper.sweep(target, timeout=1.0).killed
                outcome = f"the host killed {list(killed)} itself"
            except (OSError, TimeoutError) as exc:
                outcome = f"the host could not kill them either: {exc}"
        _log.error(
            "the sweeper (pid %s) of sandboxed process %d (%s) did not finish within %g s; "
            "processes still carrying its mark: %s; %s",
            self.sweeper_pid,
            self.pid,
            self.extension_id,
            waited,
            list(left) or "none",
            outcome,
            extra={"pid": self.pid, "sweeper_pid": self.sweeper_pid, "survivors": list(left)},
        )

    def stats(self) -> cgroups.CgroupStats | WatchdogStats | None:
        """Resource figures: from the cgroup, else from the watchdog, else ``None``."""
        if self.cgroup is not None:
            return self.cgroup.stats()
        return self._launcher.watchdog.stats(self.pid)

    def close(self, timeout: float = 5.0) -> int | None:
        """Kill the tree if still running, wait, remove the cgroup, release the pidfds.

        Returns once the child has exited and its sweeper is done: nothing it started
        is left, ``setsid`` escapees included (see :meth:`kill`).

        Args:
            timeout: Seconds to wait for the child's exit, and then for the sweep.

        Returns:
            The exit code, or ``None`` if it could not be learnt.
        """
        if self._closed:
            return self.returncode
        self._closed = True
        self._launcher._processes.pop(self.pid, None)
        code: int | None = None
        try:
            if self.returncode is None:
                self._kill_now()
            code = self.wait(timeout)
        except (TimeoutError, LauncherError):
            code = self.returncode
        finally:
            try:
                if self.cgroup is not None:
                    self.cgroup.kill()
                    self.cgroup.remove()
                else:
                    self._launcher.watchdog.kill_tree(self.pid)
                self._await_sweep(timeout)
            finally:
                self._launcher.watchdog.unregister(self.pid)
                for fd in (self.pidfd, self._sweeper_pidfd):
                    if fd is not None:
                        with contextlib.suppress(OSError):
                            os.close(fd)
                self.pidfd = None
                self._sweeper_pidfd = None
        return code

    def __enter__(self) -> SandboxedProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SandboxedProcess(pid={self.pid}, extension_id={self.extension_id!r})"


class Launcher:
    """Starts sandboxed processes from a warm fork server, restarting it if it dies.

    Args:
        allowed_targets: ``module:function`` callables a child may run; they are
            imported once in the fork server. Defaults to the self-test targets.
        caps: Kernel capabilities (probed when ``None``).
        accept_weaker: Weakening names the user accepted (see :mod:`.policy`).
        limits: Resource-limit backend: ``auto`` (cgroups if usable), ``cgroup`` or
            ``watchdog``.
        audit_sink: Receives every refused attempt; defaults to the ``symphony.sandbox.audit``
            logger.
        python: Interpreter for the fork server (the host's by default).
        extra_read: Paths every child may read in addition to its profile's.
        seccomp_log: Ask the kernel to log refused syscalls to its own audit log.
        server_policy: When a fork server that died is started again, and how many
            deaths make a crash loop (see the module documentation).
    """

    def __init__(
        self,
        *,
        allowed_targets: Iterable[str] = SELFTEST_TARGETS,
        caps: KernelCapabilities | None = None,
        accept_weaker: Iterable[str] = (),
        limits: Literal["auto", "cgroup", "watchdog"] = "auto",
        audit_sink: Callable[[AuditRecord], None] | None = None,
        python: str = sys.executable,
        extra_read: Iterable[str] = (),
        seccomp_log: bool = False,
        server_policy: ForkServerPolicy | None = None,
    ) -> None:
        self.allowed_targets = frozenset(allowed_targets)
        for target in self.allowed_targets:
            if ":" not in target:
                raise ValueError(f"allowed target {target!r} is not 'module:function'")
        self._caps = caps
        self.accept_weaker = tuple(accept_weaker)
        self.limits: Literal["auto", "cgroup", "watchdog"] = limits
        self.audit_sink = audit_sink or _default_sink
        self.python = python
        self.extra_read = tuple(extra_read)
        self.seccomp_log = seccomp_log
        self.server_policy = server_policy or ForkServerPolicy()
        self.watchdog = Watchdog()
        self._ids = itertools.count(1)
        self._decoder: msgspec.msgpack.Decoder[Reply] = msgspec.msgpack.Decoder(Reply)
        # Server life cycle: the current server, the restart plan, recent deaths.
        self._state = threading.Condition()
        self._server: _Server | None = None
        self._restart_at: float | None = None
        self._death_times: deque[float] = deque()
        self._deaths: deque[ServerDeath] = deque(maxlen=_KEEP_DEATHS)
        self._closing = False
        self._stopping = False
        # Exits of sandboxed processes, by pid (and why, when they ended with a server).
        self._exits: dict[int, int] = {}
        self._lost: dict[int, ServerDeath] = {}
        self._exit_cond = threading.Condition()
        self._audit: dict[int, tuple[str, int, AuditReader]] = {}
        self._selector = selectors.DefaultSelector()
        self._selector_lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._selector.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        self._thread: threading.Thread | None = None
        self._runtime_read: list[str] | None = None
        self._support: cgroups.CgroupSupport | None = None
        self._processes: dict[int, SandboxedProcess] = {}
        self._exit_listeners: list[ExitListener] = []

    def add_exit_listener(self, listener: ExitListener) -> None:
        """Call ``listener(pid, returncode)`` whenever a process of this launcher ends.

        It runs on the launcher's I/O thread, after :attr:`SandboxedProcess.returncode`
        is set; it must not block (hand the news to your own thread or loop). Processes
        that ended with a dead fork server are reported as ``-SIGKILL``.
        """
        self._exit_listeners.append(listener)

    def remove_exit_listener(self, listener: ExitListener) -> None:
        """Stop calling ``listener`` (no error if it was not added)."""
        with contextlib.suppress(ValueError):
            self._exit_listeners.remove(listener)

    @property
    def caps(self) -> KernelCapabilities:
        """The kernel capabilities this launcher plans with (probed on first use)."""
        if self._caps is None:
            self._caps = probe_kernel()
        return self._caps

    @property
    def ready_info(self) -> Ready | None:
        """The current fork server's ready message (start-up time, preloaded targets)."""
        server = self._server
        return server.ready_info if server is not None else None

    @property
    def server_pid(self) -> int | None:
        """Pid of the current fork server, or ``None``.

        ``None`` before it starts, while it is being replaced after a death, and after
        :meth:`close`.
        """
        server = self._server
        return server.pid if server is not None and not server.gone else None

    @property
    def server_deaths(self) -> tuple[ServerDeath, ...]:
        """The latest unexpected deaths of the fork server, oldest first."""
        with self._state:
            return tuple(self._deaths)

    @property
    def pending_starts(self) -> int:
        """Start requests the current fork server has not answered yet."""
        server = self._server
        return len(server.pending) if server is not None else 0

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (nothing is started any more)."""
        return self._closing

    def forget_server_deaths(self) -> None:
        """Forget recent deaths of the fork server, ending a crash loop.

        The next :meth:`start` (or :meth:`start_server`) starts a new fork server; call it
        once the cause of the deaths has been dealt with. :attr:`server_deaths` is kept.
        """
        with self._state:
            self._death_times.clear()
            self._state.notify_all()

    def _prepare(self) -> None:
        # Probing and path discovery can take a while: done before any lock is taken.
        _ = self.caps
        if self._runtime_read is None:
            self._runtime_read = runtime_read_paths()

    def _check_open(self, where: str | None = None) -> None:
        if self._closing:
            raise LauncherError(
                "the sandbox launcher is closed", where=where, hint="create a new Launcher"
            )

    def _recent_deaths(self, now: float) -> int:
        window = self.server_policy.crash_window
        while self._death_times and now - self._death_times[0] > window:
            self._death_times.popleft()
        return len(self._death_times)

    def _crash_loop_error(self, recent: int, where: str | None) -> ForkServerCrashLoopError:
        policy = self.server_policy
        last = self._deaths[-1] if self._deaths else None
        latest = f", most recently: {last.describe()}" if last is not None else ""
        return ForkServerCrashLoopError(
            f"the sandbox fork server keeps dying: it died {recent} times within "
            f"{policy.crash_window:g} s{latest}; no new one is started for now",
            where=where,
            hint=f"{_DOCTOR_HINT}. A new fork server is tried once fewer than "
            f"{policy.crash_limit} deaths fall within {policy.crash_window:g} s, or after "
            "Launcher.forget_server_deaths()",
            details={
                "deaths": [msgspec.to_builtins(d) for d in list(self._deaths)[-recent:]],
                "crash_limit": policy.crash_limit,
                "crash_window": policy.crash_window,
            },
        )

    def start_server(self) -> None:
        """Start the fork server in the background; returns at once.

        Call it when the host starts so the server's first start (a Python interpreter
        start plus imports) is off the critical path of the first extension. Nothing
        happens if a server runs or a restart is already planned, or in a crash loop
        (:meth:`start` then says why).

        Raises:
            LauncherError: The launcher is closed, or the interpreter cannot be started.
        """
        self._check_open()
        if self._server is not None:
            return
        self._prepare()
        with self._state:
            self._check_open()
            if self._server is not None or self._restart_at is not None:
                return
            if self._recent_deaths(time.monotonic()) >= self.server_policy.crash_limit:
                return
            self._launch_locked()

    def _launch_locked(self) -> _Server:
        """Start a new fork server (``_state`` held); it announces itself with ``Ready``."""
        host_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        caps = self.caps
        config = ZygoteConfig(
            host_pid=os.getpid(),
            allowed_targets=tuple(sorted(self.allowed_targets)),
            sys_path=tuple(_zygote_sys_path()),
            # A non-root host reads its children's memory figures through a user
            # namespace it owns (see the zygote module); root needs none.
            leave_user_namespace=os.readlink("/proc/self/ns/user")
            if not caps.is_root and caps.user_namespaces
            else None,
        )
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        try:
            proc = subprocess.Popen(
                [
                    self.python,
                    "-I",
                    "-S",
                    "-c",
                    _BOOTSTRAP,
                    msgspec.json.encode(config).decode(),
                    str(zygote_end.fileno()),
                ],
                pass_fds=(zygote_end.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env=env,
                cwd="/",
                start_new_session=True,
            )
        except OSError as exc:
            host_end.close()
            raise LauncherError(
                f"cannot start the sandbox fork server: {exc}", hint=_DOCTOR_HINT
            ) from exc
        finally:
            zygote_end.close()
        try:
            # Our own unreaped child: its pid cannot have been reused yet.
            pidfd: int | None = os.pidfd_open(proc.pid)
        except OSError:
            pidfd = None
        server = _Server(proc, host_end, pidfd)
        with self._selector_lock:
            self._selector.register(host_end, selectors.EVENT_READ, ("zygote", server))
            if pidfd is not None:
                self._selector.register(pidfd, selectors.EVENT_READ, ("server-exit", server))
        self._server = server
        self._restart_at = None
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._io_loop, name="sandbox-launcher", daemon=True
            )
            self._thread.start()
        else:
            self._wake()
        self._state.notify_all()
        return server

    def wait_ready(self, timeout: float = 30.0) -> Ready:
        """Wait until a fork server is ready (starting one if needed); return its ready message.

        A server that dies meanwhile is replaced and waited for, within ``timeout``.

        Raises:
            LauncherError: It did not become ready in time, or the launcher is closed.
            ForkServerCrashLoopError: It keeps dying.
        """
        info = self._ready_server(timeout, None).ready_info
        assert info is not None
        return info

    def _ready_server(self, timeout: float, where: str | None) -> _Server:
        deadline = time.monotonic() + timeout
        self._check_open(where)
        self._prepare()
        while True:
            with self._state:
                while True:
                    self._check_open(where)
                    server = self._server
                    if server is not None:
                        break
                    now = time.monotonic()
                    if self._restart_at is None or now >= self._restart_at:
                        recent = self._recent_deaths(now)
                        if recent >= self.server_policy.crash_limit:
                            raise self._crash_loop_error(recent, where)
                        self._launch_locked()
                        continue
                    if now >= deadline:
                        last = self._deaths[-1].describe() if self._deaths else "it died"
                        raise LauncherError(
                            f"the sandbox fork server is being restarted ({last}) and was not "
                            f"ready within {timeout:g} s",
                            where=where,
                            hint=_DOCTOR_HINT,
                        )
                    # The I/O thread starts it when due; this thread does if it is late.
                    self._state.wait(min(deadline, self._restart_at) - now)
            ready = server.ready.wait(max(0.0, deadline - time.monotonic()))
            if ready and server.ready_info is not None and not server.gone:
                return server
            if time.monotonic() >= deadline:
                if not server.gone:
                    raise LauncherError(
                        f"the sandbox fork server did not become ready within {timeout:g} s",
                        where=where,
                        hint="run `symphony doctor`; check that the interpreter can import msgspec",
                    )
                death = server.death.describe() if server.death else "it died"
                raise LauncherError(
                    f"no sandbox fork server became ready within {timeout:g} s: {death}",
                    where=where,
                    hint=_DOCTOR_HINT,
                )
            # It died before (or right after) becoming ready: its successor is waited for.

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"x")

    # -- the I/O thread ---------------------------------------------------------------

    def _io_loop(self) -> None:
        while True:
            with self._state:
                if self._stopping:
                    return
                timeout = 1.0
                if self._restart_at is not None:
                    due = self._restart_at - time.monotonic()
                    if due <= 0:
                        self._restart_due_locked()
                        continue
                    timeout = min(timeout, due)
            try:
                events = self._selector.select(timeout)
            except (OSError, ValueError):
                if self._stop_requested():  # close() closed the selector under us
                    return
                raise
            for key, _ in events:
                kind, server = key.data
                if kind == "wake":
                    with contextlib.suppress(BlockingIOError, OSError):
                        os.read(self._wake_r, 4096)
                elif kind == "zygote":
                    if server.gone:
                        continue
                    outcome = self._receive(server, block=True)
                    if outcome == "eof":
                        self._server_died(server)
                    elif outcome == "bad":
                        self._server_died(server, reason="sent a malformed message and was killed")
                elif kind == "server-exit":
                    if not server.gone:
                        self._server_died(server)
                elif kind == "audit":
                    self._read_audit(key.fd)

    def _stop_requested(self) -> bool:
        return self._stopping

    def _restart_due_locked(self) -> None:
        self._restart_at = None
        if self._closing or self._server is not None:
            return
        try:
            self._launch_locked()
        except LauncherError as exc:
            _log.error("%s", exc)
            self._note_death(
                ServerDeath(
                    pid=None,
                    returncode=None,
                    cause=f"could not be started: {exc.message}",
                    at=time.time(),
                )
            )

    def _note_death(self, death: ServerDeath) -> ServerDeath:
        """Count an unexpected death and plan the next server (``_state`` held)."""
        now = time.monotonic()
        self._death_times.append(now)
        delay = self.server_policy.restart_delay(self._recent_deaths(now))
        self._restart_at = None if delay is None else now + delay
        death = msgspec.structs.replace(death, restart_delay=delay)
        self._deaths.append(death)
        self._state.notify_all()
        return death

    def _receive(self, server: _Server, *, block: bool) -> Literal["ok", "eof", "bad", "empty"]:
        """Read and handle one message of ``server``."""
        try:
            data, fds, _, _ = socket.recv_fds(
                server.sock, MAX_MESSAGE, 4, 0 if block else socket.MSG_DONTWAIT
            )
        except BlockingIOError:
            return "empty"
        except OSError:
            return "eof"
        if not data:
            for fd in fds:
                os.close(fd)
            return "eof"
        try:
            reply = self._decoder.decode(data)
        except msgspec.DecodeError as exc:
            _log.error("malformed message from the fork server: %s", exc)
            for fd in fds:
                os.close(fd)
            return "bad"
        if isinstance(reply, Ready):
            server.ready_info = reply
            server.ready.set()
            for target, error in reply.errors.items():
                _log.error("allowed target %s cannot be imported: %s", target, error)
            if reply.user_namespace_error is not None:
                _log.warning(
                    "the sandbox fork server could not enter a user namespace of its own "
                    "(%s): without cgroups, the watchdog counts memory that forked "
                    "processes share once per process",
                    reply.user_namespace_error,
                )
        elif isinstance(reply, Exited):
            server.children.discard(reply.pid)
            self._record_exits([reply.pid], reply.returncode, None)
        else:
            named: dict[str, int] = {}
            if isinstance(reply, Spawned):
                server.children.add(reply.pid)
                # The pid may be a recycled one: forget the exit of its previous owner
                # before anyone can ask the new process for its return code.
                with self._exit_cond:
                    self._exits.pop(reply.pid, None)
                    self._lost.pop(reply.pid, None)
                named = dict(zip(reply.attached, fds, strict=False))
            # Whatever is not named is not ours to keep.
            for fd in fds:
                if fd not in named.values():
                    os.close(fd)
            pending = server.pending.pop(reply.id, None)
            if pending is None:
                # A reply after start() gave up: nobody owns that child, end it (its
                # sweeper then sweeps, on its own).
                if "pidfd" in named:
                    with contextlib.suppress(OSError):
                        signal.pidfd_send_signal(named["pidfd"], signal.SIGKILL)
                for fd in named.values():
                    os.close(fd)
                return "ok"
            pending.reply = reply
            pending.pidfd = named.get("pidfd")
            pending.sweeper_pidfd = named.get("sweeper")
            pending.event.set()
        return "ok"

    def _record_exits(self, pids: Iterable[int], returncode: int, lost: ServerDeath | None) -> None:
        pids = list(pids)
        with self._exit_cond:
            for pid in pids:
                if lost is not None:
                    self._lost[pid] = lost
                self._exits[pid] = returncode
            self._exit_cond.notify_all()
        for pid in pids:
            self.watchdog.unregister(pid)
            for listener in list(self._exit_listeners):
                try:
                    listener(pid, returncode)
                except Exception:
                    _log.exception("an exit listener failed")

    def _server_died(self, server: _Server, *, reason: str | None = None) -> None:
        """Account for the end of ``server`` (I/O thread, or :meth:`close` after it)."""
        if server.gone:
            return
        proc = server.proc
        if reason is not None and proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.kill()
        returncode = self._reap(proc)
        # Everything it sent before dying is still queued (replies, exits): take it first.
        while self._receive(server, block=False) == "ok":
            pass
        with server.send_lock:
            server.gone = True
            pending = list(server.pending.values())
            server.pending.clear()
            with self._selector_lock:
                for fileobj in (server.sock, server.pidfd):
                    if fileobj is not None:
                        with contextlib.suppress(KeyError, ValueError):
                            self._selector.unregister(fileobj)
            server.sock.close()
            if server.pidfd is not None:
                with contextlib.suppress(OSError):
                    os.close(server.pidfd)
                server.pidfd = None
        children = tuple(sorted(server.children))
        server.children.clear()
        with self._state:
            expected = self._closing
            if self._server is server:
                self._server = None
            death = ServerDeath(
                pid=server.pid,
                returncode=returncode,
                cause=reason or _describe_exit(returncode),
                at=time.time(),
                processes=children,
                expected=expected,
            )
            if not expected:
                death = self._note_death(death)
            server.death = death
            self._state.notify_all()
        self._wake()
        server.ready.set()
        for waiting in pending:
            waiting.death = death
            waiting.event.set()
        # Its children got SIGKILL from the kernel when it died (PR_SET_PDEATHSIG).
        self._record_exits(children, -signal.SIGKILL, None if expected else death)
        with self._exit_cond:
            server.exits_final = True
            self._exit_cond.notify_all()
        if expected:
            _log.debug("the sandbox fork server (pid %d) stopped", server.pid)
            return
        if death.restart_delay is None:
            plan_text = (
                f"no new one is started: it died {len(self._death_times)} times within "
                f"{self.server_policy.crash_window:g} s ({_DOCTOR_HINT})"
            )
        elif death.restart_delay == 0:
            plan_text = "a new one is being started"
        else:
            plan_text = f"a new one is started in {death.restart_delay:g} s"
        _log.error(
            "%s; %d sandboxed process(es) ended with it; %s",
            death.describe(),
            len(children),
            plan_text,
            extra={"pid": server.pid, "returncode": returncode},
        )

    @staticmethod
    def _reap(proc: subprocess.Popen[bytes]) -> int | None:
        try:
            return proc.wait(_REAP_GRACE)
        except subprocess.TimeoutExpired:
            # Its socket ended but it lingers: it is of no use any more.
            with contextlib.suppress(OSError):
                proc.kill()
        try:
            return proc.wait(_REAP_GRACE)
        except subprocess.TimeoutExpired:
            return None

    def _read_audit(self, fd: int) -> None:
        entry = self._audit.get(fd)
        if entry is None:
            return
        extension_id, pid, reader = entry
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        if not data:
            self._drop_audit(fd)
            return
        for event in reader.feed(data):
            self._emit(AuditRecord(extension_id=extension_id, pid=pid, event=event))
        if reader.corrupt is not None:
            self._emit(
                AuditRecord(
                    extension_id=extension_id,
                    pid=pid,
                    event=AuditEvent(
                        action="audit-channel",
                        target="",
                        rule="witness.corrupt",
                        detail=reader.corrupt,
                    ),
                )
            )
            self._drop_audit(fd)

    def _drop_audit(self, fd: int) -> None:
        with self._selector_lock:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(fd)
            if self._audit.pop(fd, None) is not None:
                os.close(fd)

    def _emit(self, record: AuditRecord) -> None:
        try:
            self.audit_sink(record)
        except Exception:
            _log.exception("the audit sink failed")

    # -- starting a process -----------------------------------------------------------

    def _plan(self, profile: SandboxProfile) -> EnforcementPlan:
        return plan(profile, self.caps, self.accept_weaker, limits=self.limits)

    def _paths(self, profile: SandboxProfile) -> tuple[list[str], list[str], list[str]]:
        read = list(self._runtime_read or []) if profile.runtime_read else []
        read += existing(self.extra_read)
        read += existing(profile.fs_read)
        if profile.network == "any":
            read += existing(_NETWORK_READ)
        write = existing(["/dev/null"])
        if profile.scratch_dir is not None:
            write += existing([profile.scratch_dir])
        write += existing(profile.fs_write)
        execute = existing(profile.fs_exec)
        return read, write, execute

    def _died_error(self, death: ServerDeath, extension_id: str) -> LauncherError:
        if death.expected:
            return LauncherError(
                "the sandbox launcher was closed while the process was being started",
                where=extension_id,
            )
        return ForkServerDiedError(
            f"{death.describe()} while the process was being started",
            where=extension_id,
            hint="a new fork server is started by itself; start the process again. "
            f"If this keeps happening, {_DOCTOR_HINT}",
            details={"server_death": msgspec.to_builtins(death)},
        )

    def start(
        self,
        profile: SandboxProfile,
        *,
        target: str,
        args: Mapping[str, Any] | None = None,
        ipc_fd: int | None = None,
        stderr_fd: int | None = None,
        extension_id: str = "anonymous",
        timeout: float = 30.0,
    ) -> SandboxedProcess:
        """Start one sandboxed process running ``target(ipc_fd, args)``.

        Waits for the fork server to be ready, starting it (or, after it died, waiting
        for its replacement) if needed.

        Args:
            profile: What the process may do.
            target: ``module:function`` on the allow-list.
            args: Arguments for the target (msgpack-native values).
            ipc_fd: A descriptor the child gets as fd 3 (e.g. a socketpair end);
                the caller keeps and closes its own copy.
            stderr_fd: Where the child's stdout and stderr go (``None``: discarded).
            extension_id: Names the process in errors, audit records and the cgroup.
            timeout: Seconds to wait for the fork server and the child's boot.

        Returns:
            The running process, already confined.

        Raises:
            TargetNotAllowedError: ``target`` is not on the allow-list.
            SandboxUnavailableError: The kernel lacks a needed mechanism and its
                weakening was not accepted.
            SandboxSetupError: The child failed a boot step.
            ForkServerDiedError: The fork server died while starting the process.
            ForkServerCrashLoopError: The fork server keeps dying.
            LauncherError: The launcher is closed, or the fork server did not answer.
        """
        if target not in self.allowed_targets:
            raise TargetNotAllowedError(
                f"{target!r} is not on the sandbox launcher's allow-list",
                where=extension_id,
                hint="pass it in Launcher(allowed_targets=...)",
            )
        enforcement = self._plan(profile)
        server = self._ready_server(timeout, extension_id)
        if profile.run_as_uid is not None:
            if not self.caps.is_root:
                raise SandboxUnavailableError(
                    "run_as_uid needs a host running as root", where=extension_id
                )
            gid = profile.run_as_uid if profile.run_as_gid is None else profile.run_as_gid
            unreadable = privileges.readable_by(self._runtime_read or [], profile.run_as_uid, gid)
            if unreadable:
                raise SandboxUnavailableError(
                    f"uid {profile.run_as_uid} cannot read the Python runtime: {unreadable[:3]}",
                    where=extension_id,
                    hint="use an interpreter in a world-readable directory, or leave "
                    "run_as_uid unset (root without capabilities)",
                )
        if profile.scratch_dir is not None and not os.path.isdir(profile.scratch_dir):
            raise SandboxSetupError(
                f"scratch directory {profile.scratch_dir} does not exist",
                extension_id=extension_id,
                hint="create it before starting the extension",
            )
        read, write, execute = self._paths(profile)
        group: cgroups.Cgroup | None = None
        if enforcement.cgroup:
            if self._support is None:
                self._support = self.caps.cgroups
            try:
                group = cgroups.Cgroup.create(
                    extension_id,
                    memory_bytes=profile.memory_bytes,
                    cpu_share=profile.cpu_share,
                    pids=profile.pids,
                    support=self._support,
                )
            except MechanismUnavailableError as exc:
                raise SandboxSetupError(str(exc), extension_id=extension_id) from exc
        audit_r, audit_w = os.pipe2(os.O_CLOEXEC)
        registered = False
        try:
            spec = BootSpec(
                extension_id=extension_id,
                target=target,
                args=dict(args or {}),
                profile=profile,
                plan=enforcement,
                cgroup_procs=tuple(group.procs_files) if group is not None else (),
                rlimits=limits.plan_limits(
                    profile,
                    memory_cgroup=enforcement.cgroup,
                    dedicated_uid=profile.run_as_uid is not None,
                ),
                read_paths=tuple(read),
                write_paths=tuple(write),
                exec_paths=tuple(execute),
                env={k: os.environ[k] for k in profile.env if k in os.environ},
                cwd=profile.scratch_dir or "/",
                protected_pids=(os.getpid(), server.pid),
                seccomp_log=self.seccomp_log,
            )
            names: list[str] = []
            fds: list[int] = []
            for name, fd in (("ipc", ipc_fd), ("audit", audit_w), ("stderr", stderr_fd)):
                if fd is not None:
                    names.append(name)
                    fds.append(fd)
            request_id = next(self._ids)
            # Encoding fails here (TypeError) on arguments msgpack cannot carry.
            data = msgspec.msgpack.encode(SpawnRequest(id=request_id, boot=spec, fds=tuple(names)))
            pending = _Pending()
            try:
                with server.send_lock:
                    if server.gone:
                        assert server.death is not None
                        raise self._died_error(server.death, extension_id)
                    server.pending[request_id] = pending
                    try:
                        socket.send_fds(server.sock, [data], fds)
                    except OSError as exc:
                        server.pending.pop(request_id, None)
                        raise LauncherError(
                            f"cannot reach the sandbox fork server: {exc}",
                            where=extension_id,
                            hint="a fork server that died is replaced by itself; start the "
                            "process again",
                        ) from exc
            finally:
                os.close(audit_w)
                audit_w = -1
            if not pending.event.wait(timeout):
                server.pending.pop(request_id, None)
            if pending.reply is None:
                if pending.death is not None:
                    raise self._died_error(pending.death, extension_id)
                raise LauncherError(
                    f"the sandbox fork server did not answer within {timeout:g} s",
                    where=extension_id,
                )
            reply = pending.reply
            if isinstance(reply, SpawnFailed):
                raise SandboxSetupError(
                    f"sandbox boot failed at step '{reply.step}': {reply.error}",
                    extension_id=extension_id,
                    details={"step": reply.step, "returncode": reply.returncode},
                )
            process = SandboxedProcess(
                self,
                server,
                reply,
                pending.pidfd,
                extension_id,
                enforcement,
                group,
                sweeper_pidfd=pending.sweeper_pidfd,
            )
            self._processes[reply.pid] = process
            with self._selector_lock:
                if not self._closing:
                    self._audit[audit_r] = (extension_id, reply.pid, AuditReader())
                    self._selector.register(audit_r, selectors.EVENT_READ, ("audit", None))
                    registered = True
            if not registered:
                os.close(audit_r)
                registered = True
                process.close()
                self._check_open(extension_id)
            self._wake()
            if enforcement.watchdog:
                self.watchdog.register(
                    reply.pid, memory_bytes=profile.memory_bytes, cpu_share=profile.cpu_share
                )
            return process
        except BaseException:
            if audit_w >= 0:
                os.close(audit_w)
            if not registered:
                os.close(audit_r)
            if group is not None:
                group.close()
            raise

    # -- closing ----------------------------------------------------------------------

    def close(self, timeout: float = 5.0) -> None:
        """Close every process it started, stop the fork server and the I/O thread.

        Nothing is started again afterwards: :meth:`start` raises :class:`LauncherError`.
        """
        with self._state:
            if self._closing:
                return
            self._closing = True
            self._restart_at = None
            self._state.notify_all()
        processes = list(self._processes.values())
        # Every tree is killed first, then each is waited for: the sweeps run side by side.
        for process in processes:
            with contextlib.suppress(Exception):
                process._kill_now()
        for process in processes:
            with contextlib.suppress(Exception):
                process.close(timeout)
        self.watchdog.stop()
        server = self._server
        if server is not None:
            with server.send_lock:
                if not server.gone:
                    with contextlib.suppress(OSError):
                        server.sock.send(msgspec.msgpack.encode(Shutdown()))
            try:
                server.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                server.proc.kill()
                server.proc.wait()
        with self._state:
            self._stopping = True
        self._wake()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        if server is not None:
            # Whatever the I/O thread did not handle (its last exits, the socket) is done
            # here, now that it has stopped.
            self._server_died(server)
        with self._selector_lock:
            for key in list(self._selector.get_map().values()):
                with contextlib.suppress(KeyError, ValueError):
                    self._selector.unregister(key.fileobj)
                if key.data[0] == "audit":
                    with contextlib.suppress(OSError):
                        os.close(key.fd)
            self._audit.clear()
            self._selector.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        with self._state:
            self._server = None

    def __enter__(self) -> Launcher:
        self.start_server()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
