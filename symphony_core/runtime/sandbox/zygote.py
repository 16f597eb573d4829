"""The fork server ("zygote"): a small warm process that forks one sandboxed child per request.

It is started once by the host with ``python -I -S`` (isolated: no user site, no
``PYTHON*`` variables, no ``site`` imports), imports only the sandbox modules, msgspec
and the allow-listed target modules, and then waits on a ``SOCK_SEQPACKET`` socket
shared with the host. It holds nothing of the host's memory, descriptors or locks —
unlike a fork of the host itself — and forking it is cheap because it is small.

Protocol (each message one packet, msgpack, tagged unions below):

* host → zygote: :class:`SpawnRequest` with the IPC socket, audit pipe and stderr
  descriptors attached (``SCM_RIGHTS``), or :class:`Shutdown`;
* zygote → host: :class:`Ready` once after start, :class:`Spawned` (with pidfds of the
  child and of its sweeper attached) or :class:`SpawnFailed` per request,
  :class:`Exited` whenever a spawned child ends (the zygote is its parent and reaps it).

The sweeper's pidfd is opened here, race-free: the child names its sweeper in its boot
report, written before any untrusted code runs; by then the sweeper is the zygote's own
child (the zygote is a child subreaper, and the intermediate process between them has
exited), and the zygote reaps children only between requests, so the pid cannot have
been reused when ``pidfd_open`` runs. The host waits on that pidfd when it closes the
process: once it is readable, the sweep is done (see :mod:`.sweeper`).

On a non-root host the zygote runs in a user namespace of its own (uid and gid mapped
to themselves, every project id too), entered before it runs itself anew: the memory
of a process belongs to the user namespace it was executed in, its children's too,
and the host owns this one. So the host may read the ``smaps_rollup`` of sandboxed
processes even though they are not dumpable — their proportional set size, which the
watchdog needs to count memory shared copy-on-write once (see :mod:`.watchdog`). Other
processes gain nothing: the children hold no capability in that namespace (the zygote
itself holds none after running itself anew as a non-root user), and the extension's
own user namespace is nested below it.

The zygote dies with the host (``PR_SET_PDEATHSIG`` and end-of-file on its socket) and
then kills every child it made, their cgroups' members included. It is a child
subreaper, so processes orphaned by a sandboxed child stay below it and are reaped.
Stopped by ``SIGTERM``, it kills its children the same way and then dies of that signal,
so that the host's record of its end says what ended it. If it dies in any way the host
did not ask for, its children die with it (``PR_SET_PDEATHSIG``) and the host starts a
new fork server (see :mod:`.launcher`).
"""

from __future__ import annotations

import contextlib
import os
import select
import selectors
import signal
import socket
import sys
import time
from typing import Any

import msgspec

from symphony_core.runtime.sandbox import netns, syscalls
from symphony_core.runtime.sandbox.boot import (
    BOOT_FAILED,
    BootReport,
    BootSpec,
    boot,
    resolve_target,
)
from symphony_core.runtime.sandbox.sweeper import SweepTarget

__all__ = [
    "MAX_MESSAGE",
    "Exited",
    "Ready",
    "Reply",
    "Request",
    "Shutdown",
    "SpawnFailed",
    "SpawnRequest",
    "Spawned",
    "ZygoteConfig",
    "main",
]

#: Largest message either side accepts.
MAX_MESSAGE = 1 << 20
_BOOT_TIMEOUT = 10.0
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
#: Every project id mapped to itself (``(u32)-1`` is not an id).
_IDENTITY_PROJID_MAP = "0 0 4294967295\n"


class ZygoteConfig(msgspec.Struct, frozen=True, kw_only=True):
    """How the host configures its zygote (passed on the command line as JSON).

    Attributes:
        host_pid: The host's pid; the zygote exits if its parent is anyone else.
        allowed_targets: The only ``module:function`` callables a child may run.
        sys_path: Import path of the zygote (the host's, minus its script directory).
        leave_user_namespace: The host's user namespace (``user:[inode]``), set by a
            non-root host: a zygote that finds itself in it moves into a user namespace
            of its own and runs itself anew there (see the module docstring).
    """

    host_pid: int
    allowed_targets: tuple[str, ...]
    sys_path: tuple[str, ...] = ()
    leave_user_namespace: str | None = None


class SpawnRequest(msgspec.Struct, frozen=True, kw_only=True, tag="spawn"):
    """Fork a child and boot it with ``boot``.

    Attributes:
        id: Request id, echoed in the reply.
        boot: The child's boot specification.
        fds: Names of the attached descriptors, in order (``ipc``, ``audit``, ``stderr``).
    """

    id: int
    boot: BootSpec
    fds: tuple[str, ...] = ()


class Shutdown(msgspec.Struct, frozen=True, tag="shutdown"):
    """Kill every child and exit."""


class Ready(msgspec.Struct, frozen=True, kw_only=True, tag="ready"):
    """The zygote is up.

    Attributes:
        pid: Its pid.
        startup_ms: Time from interpreter start to ready.
        preloaded: Target modules imported ahead of time.
        errors: Allowed targets that failed to import, with the reason.
        user_namespace: The zygote's user namespace (``user:[inode]``).
        user_namespace_error: Why it could not leave the host's user namespace when
            asked to (``None``: it did, or was not asked).
    """

    pid: int
    startup_ms: float
    preloaded: tuple[str, ...] = ()
    errors: dict[str, str] = msgspec.field(default_factory=dict)
    user_namespace: str = ""
    user_namespace_error: str | None = None


class Spawned(msgspec.Struct, frozen=True, kw_only=True, tag="spawned"):
    """A child booted successfully (pidfds attached as named by ``attached``).

    Attributes:
        id: The request id.
        pid: The child's pid.
        boot_ms: Fork to ready, in the zygote's view.
        step_ms: Time of each boot step.
        sweeper_pid: The child's sweeper, if it has one.
        sweep_target: What marks the child's processes, if it has a sweeper.
        attached: What the attached descriptors are, in order: ``pidfd`` (the child's),
            ``sweeper`` (its sweeper's).
    """

    id: int
    pid: int
    boot_ms: float
    step_ms: dict[str, float] = msgspec.field(default_factory=dict)
    sweeper_pid: int | None = None
    sweep_target: SweepTarget | None = None
    attached: tuple[str, ...] = ()


class SpawnFailed(msgspec.Struct, frozen=True, kw_only=True, tag="failed"):
    """A child could not be started or did not finish booting.

    Attributes:
        id: The request id.
        step: The boot step that failed (``target``, ``fork``, ``timeout``...).
        error: What went wrong.
        pid: The child's pid, if one was forked.
        returncode: How the child ended, if it did.
    """

    id: int
    step: str
    error: str
    pid: int | None = None
    returncode: int | None = None


class Exited(msgspec.Struct, frozen=True, kw_only=True, tag="exited"):
    """A spawned child ended.

    Attributes:
        pid: The child's pid.
        returncode: Exit code, or minus the signal number that killed it.
    """

    pid: int
    returncode: int


Request = SpawnRequest | Shutdown
Reply = Ready | Spawned | SpawnFailed | Exited


class _Stop(Exception):
    def __init__(self, signum: int | None = None) -> None:
        super().__init__(signum)
        self.signum = signum


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return int(fields[1])
    except (OSError, IndexError, ValueError):
        return None


def _read_report(fd: int, deadline: float) -> BootReport | None:
    data = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
        if len(data) >= 4 and len(data) >= 4 + int.from_bytes(data[:4], "little"):
            break
    if len(data) < 4:
        return None
    size = int.from_bytes(data[:4], "little")
    try:
        return msgspec.msgpack.decode(data[4 : 4 + size], type=BootReport)
    except msgspec.DecodeError:
        return None


class _Zygote:
    def __init__(self, sock: socket.socket, config: ZygoteConfig) -> None:
        self.sock = sock
        self.config = config
        self.allowed = frozenset(config.allowed_targets)
        self.children: dict[int, BootSpec] = {}
        self.encoder = msgspec.msgpack.Encoder()
        self.decoder: msgspec.msgpack.Decoder[Request] = msgspec.msgpack.Decoder(Request)
        self.pid = os.getpid()
        self.stopped_by: int | None = None

    def send(self, message: Reply, fds: list[int] | None = None) -> None:
        data = self.encoder.encode(message)
        if fds:
            socket.send_fds(self.sock, [data], fds)
        else:
            self.sock.send(data)

    def spawn(self, request: SpawnRequest, fds: list[int]) -> None:
        named = dict(zip(request.fds, fds, strict=False))
        try:
            self._spawn(request, named)
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _spawn(self, request: SpawnRequest, fds: dict[str, int]) -> None:
        if request.boot.target not in self.allowed:
            self.send(
                SpawnFailed(
                    id=request.id,
                    step="target",
                    error=f"target {request.boot.target!r} is not on the allow-list",
                )
            )
            return
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        start = time.perf_counter()
        try:
            pid = os.fork()
        except OSError as exc:
            os.close(read_end)
            os.close(write_end)
            self.send(SpawnFailed(id=request.id, step="fork", error=str(exc)))
            return
        if pid == 0:  # pragma: no cover - runs in the child, which never returns
            try:
                signal.set_wakeup_fd(-1)
                # As in any Python process: SIGPIPE stays ignored (BrokenPipeError),
                # SIGINT raises KeyboardInterrupt.
                for sig in (signal.SIGCHLD, signal.SIGTERM):
                    signal.signal(sig, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.default_int_handler)
                os.close(read_end)
                self.sock.close()
                boot(
                    request.boot,
                    parent=self.pid,
                    ipc_fd=fds.get("ipc"),
                    audit_fd=fds.get("audit"),
                    stderr_fd=fds.get("stderr"),
                    status_fd=write_end,
                )
            finally:
                os._exit(BOOT_FAILED)
        os.close(write_end)
        try:
            report = _read_report(read_end, time.monotonic() + _BOOT_TIMEOUT)
        finally:
            os.close(read_end)
        boot_ms = (time.perf_counter() - start) * 1000
        if report is not None and report.ok:
            attached: dict[str, int] = {}
            try:
                for name, target in (("pidfd", pid), ("sweeper", report.sweeper_pid)):
                    fd = self.child_pidfd(target) if target is not None else None
                    if fd is not None:
                        attached[name] = fd
                self.children[pid] = request.boot
                reply = Spawned(
                    id=request.id,
                    pid=pid,
                    boot_ms=boot_ms,
                    step_ms=report.step_ms,
                    sweeper_pid=report.sweeper_pid,
                    sweep_target=report.sweep_target,
                    attached=tuple(attached),
                )
                self.send(reply, list(attached.values()))
            finally:
                for fd in attached.values():
                    os.close(fd)
            return
        if report is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        self.send(
            SpawnFailed(
                id=request.id,
                step=report.step if report is not None else "timeout",
                error=report.error
                if report is not None
                else f"the child did not finish booting within {_BOOT_TIMEOUT:.0f} s",
                pid=pid,
                returncode=os.waitstatus_to_exitcode(status),
            )
        )

    def child_pidfd(self, pid: int) -> int | None:
        """Return a pidfd of ``pid``, our own child not reaped yet; ``None`` if it is not one.

        Only :meth:`reap` and :meth:`kill_all` reap, never while a request is handled:
        a child of ours named during a request cannot have been replaced by a process
        that reuses its pid. The parent is checked once the pidfd pins the process.
        """
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            return None
        if _parent_of(pid) != self.pid:
            os.close(pidfd)
            return None
        return pidfd

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.children.pop(pid, None) is not None:
                self.send(Exited(pid=pid, returncode=os.waitstatus_to_exitcode(status)))

    def kill_all(self) -> None:
        for pid, spec in list(self.children.items()):
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            for procs in spec.cgroup_procs:
                with contextlib.suppress(OSError, ValueError), open(procs, encoding="ascii") as f:
                    for member in f.read().split():
                        with contextlib.suppress(OSError):
                            os.kill(int(member), signal.SIGKILL)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                time.sleep(0.005)
        self.children.clear()

    def handle(self) -> None:
        try:
            data, fds, _, _ = socket.recv_fds(self.sock, MAX_MESSAGE, 8)
        except ConnectionResetError:
            raise _Stop from None
        if not data:
            raise _Stop
        try:
            request = self.decoder.decode(data)
        except msgspec.DecodeError:
            for fd in fds:
                os.close(fd)
            raise _Stop from None
        if isinstance(request, Shutdown):
            raise _Stop
        self.spawn(request, fds)

    def serve(self) -> None:
        wake_read, wake_write = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        signal.set_wakeup_fd(wake_write)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        selector = selectors.DefaultSelector()
        selector.register(self.sock, selectors.EVENT_READ, "control")
        selector.register(wake_read, selectors.EVENT_READ, "wake")
        try:
            while True:
                for key, _ in selector.select():
                    if key.data == "wake":
                        with contextlib.suppress(BlockingIOError):
                            os.read(wake_read, 4096)
                    else:
                        self.handle()
                self.reap()
        except _Stop as stop:
            self.stopped_by = stop.signum
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            self.kill_all()


def _run_in_own_user_namespace(host_namespace: str) -> str:
    """Enter a new user namespace (ids mapped to themselves), then run this program anew.

    Only a program executed in the namespace has its memory belong to it. The new
    program finds itself outside ``host_namespace`` and goes on.

    Returns:
        Why the namespace could not be made, when the kernel refused it (nothing
        changed: the zygote serves from the host's namespace; the sandbox does not
        depend on it, the watchdog then counts shared memory once per process).

    Raises:
        OSError: The namespace was made but not completed, or the program could not be
            run anew: the zygote must not serve from a half-made state, it exits.
    """
    if not sys.executable:
        return "the interpreter's path is unknown: it cannot be run anew"
    try:
        netns.enter_new_userns(projid_map=_IDENTITY_PROJID_MAP)
    except OSError as exc:
        if os.readlink("/proc/self/ns/user") != host_namespace:
            raise
        return f"{type(exc).__name__}: {exc}"
    os.execv(sys.executable, sys.orig_argv)  # noqa: S606 - this very program, its own argv


def _terminate(signum: int, _frame: Any) -> None:
    raise _Stop(signum)


def main(control_fd: int, config_json: str, started: float) -> None:
    """Run the fork server on the socket ``control_fd``; returns when the host is gone.

    Args:
        control_fd: The zygote's end of the host's ``SOCK_SEQPACKET`` socket pair.
        config_json: A :class:`ZygoteConfig` as JSON.
        started: ``time.perf_counter()`` at interpreter start, for the start-up figure.
    """
    config = msgspec.json.decode(config_json, type=ZygoteConfig)
    namespace_error: str | None = None
    if config.leave_user_namespace is not None and (
        os.readlink("/proc/self/ns/user") == config.leave_user_namespace
    ):
        namespace_error = _run_in_own_user_namespace(config.leave_user_namespace)
    syscalls.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != config.host_pid:
        return
    syscalls.prctl(_PR_SET_CHILD_SUBREAPER, 1)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=control_fd)
    zygote = _Zygote(sock, config)
    preloaded: list[str] = []
    errors: dict[str, str] = {}
    for target in config.allowed_targets:
        try:
            resolve_target(target)
            preloaded.append(target)
        except Exception as exc:
            errors[target] = f"{type(exc).__name__}: {exc}"
    zygote.send(
        Ready(
            pid=zygote.pid,
            startup_ms=(time.perf_counter() - started) * 1000,
            preloaded=tuple(preloaded),
            errors=errors,
            user_namespace=os.readlink("/proc/self/ns/user"),
            user_namespace_error=namespace_error,
        )
    )
    try:
        zygote.serve()
    except _Stop as stop:
        zygote.stopped_by = stop.signum
        zygote.kill_all()
    sys.stdout.flush()
    if zygote.stopped_by is not None:
        # Die of the signal once every child is gone, so that the host learns what
        # ended its fork server (a plain exit would read as a clean stop).
        signal.signal(zygote.stopped_by, signal.SIG_DFL)
        os.kill(os.getpid(), zygote.stopped_by)
