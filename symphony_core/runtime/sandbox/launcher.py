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
    proc.close()                       # kill the tree, remove its cgroup

:meth:`Launcher.start` returns only once the child has applied every restriction
(:mod:`.boot`), or raises :class:`SandboxSetupError` naming the step that failed.
The target is called as ``target(ipc_fd, args)`` and must be on the allow-list given
to the launcher; the parameters cross to the fork server as msgpack structs.

Resource limits use a per-extension cgroup when the machine allows it, otherwise (only
when the user accepted the ``no-cgroups`` weakening) rlimits plus the psutil
:class:`~symphony_core.runtime.sandbox.watchdog.Watchdog`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import os
import selectors
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import msgspec

import symphony_core
from symphony_core.log import get_logger
from symphony_core.runtime.sandbox import cgroups, limits, privileges
from symphony_core.runtime.sandbox.boot import BootSpec
from symphony_core.runtime.sandbox.errors import (
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
    "Launcher",
    "SandboxedProcess",
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


ExitListener = Callable[[int, int], None]
"""Called as ``listener(pid, returncode)`` when a sandboxed process ends (I/O thread)."""


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
    """

    def __init__(
        self,
        launcher: Launcher,
        reply: Spawned,
        pidfd: int | None,
        extension_id: str,
        plan: EnforcementPlan,
        cgroup: cgroups.Cgroup | None,
    ) -> None:
        self._launcher = launcher
        self.pid = reply.pid
        self.pidfd = pidfd
        self.extension_id = extension_id
        self.plan = plan
        self.cgroup = cgroup
        self.boot_ms = reply.boot_ms
        self.step_ms = dict(reply.step_ms)
        self._closed = False

    @property
    def returncode(self) -> int | None:
        """Exit code (minus the signal number if killed), or ``None`` while running."""
        return self._launcher._exits.get(self.pid)

    def poll(self) -> int | None:
        """Return :attr:`returncode` without waiting."""
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the child to exit and return its exit code.

        Raises:
            TimeoutError: It was still running after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._launcher._exit_cond:
            while self.pid not in self._launcher._exits:
                if self._launcher._closed_server and self.pid not in self._launcher._exits:
                    raise LauncherError("the fork server is gone; the child's exit is unknown")
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"sandboxed process {self.pid} still running")
                self._launcher._exit_cond.wait(remaining if remaining is not None else 0.5)
            return self._launcher._exits[self.pid]

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the child itself (not its tree); no-op once it has exited."""
        if self.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, OSError):
            if self.pidfd is not None:
                signal.pidfd_send_signal(self.pidfd, sig)
            else:
                os.kill(self.pid, sig)

    def kill(self) -> None:
        """Kill the child and every process it started (cgroup, or watchdog tracking)."""
        self.send_signal(signal.SIGKILL)
        if self.cgroup is not None:
            self.cgroup.kill()
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
            self._launcher.watchdog.kill_tree(self.pid)

    def stats(self) -> cgroups.CgroupStats | WatchdogStats | None:
        """Resource figures: from the cgroup, else from the watchdog, else ``None``."""
        if self.cgroup is not None:
            return self.cgroup.stats()
        return self._launcher.watchdog.stats(self.pid)

    def close(self, timeout: float = 5.0) -> int | None:
        """Kill the tree if still running, wait, remove the cgroup, release the pidfd.

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
                self.kill()
            code = self.wait(timeout)
        except (TimeoutError, LauncherError):
            code = self.returncode
        finally:
            if self.cgroup is not None:
                self.cgroup.kill()
                self.cgroup.remove()
            else:
                self._launcher.watchdog.kill_tree(self.pid)
            self._launcher.watchdog.unregister(self.pid)
            if self.pidfd is not None:
                with contextlib.suppress(OSError):
                    os.close(self.pidfd)
                self.pidfd = None
        return code

    def __enter__(self) -> SandboxedProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SandboxedProcess(pid={self.pid}, extension_id={self.extension_id!r})"


class Launcher:
    """Starts sandboxed processes from a warm fork server.

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
        self.watchdog = Watchdog()
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._ready = threading.Event()
        self._ready_info: Ready | None = None
        self._send_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._exits: dict[int, int] = {}
        self._exit_cond = threading.Condition()
        self._audit: dict[int, tuple[str, int, AuditReader]] = {}
        self._selector = selectors.DefaultSelector()
        self._selector_lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._thread: threading.Thread | None = None
        self._closed_server = False
        self._runtime_read: list[str] | None = None
        self._support: cgroups.CgroupSupport | None = None
        self._processes: dict[int, SandboxedProcess] = {}
        self._exit_listeners: list[ExitListener] = []

    def add_exit_listener(self, listener: ExitListener) -> None:
        """Call ``listener(pid, returncode)`` whenever a process of this launcher ends.

        It runs on the launcher's I/O thread, after :attr:`SandboxedProcess.returncode`
        is set; it must not block (hand the news to your own thread or loop).
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
        """The fork server's ready message (start-up time, preloaded targets)."""
        return self._ready_info

    @property
    def server_pid(self) -> int | None:
        """Pid of the fork server, once started."""
        return self._proc.pid if self._proc is not None else None

    def start_server(self) -> None:
        """Start the fork server in the background; returns at once.

        Call it when the host starts so the server's first start (a Python interpreter
        start plus imports) is off the critical path of the first extension.
        """
        if self._proc is not None:
            return
        _ = self.caps
        if self._runtime_read is None:
            self._runtime_read = runtime_read_paths()
        host_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        config = ZygoteConfig(
            host_pid=os.getpid(),
            allowed_targets=tuple(sorted(self.allowed_targets)),
            sys_path=tuple(_zygote_sys_path()),
        )
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        try:
            self._proc = subprocess.Popen(
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
            raise LauncherError(f"cannot start the sandbox fork server: {exc}") from exc
        finally:
            zygote_end.close()
        self._sock = host_end
        self._closed_server = False
        self._selector.register(host_end, selectors.EVENT_READ, ("zygote", None))
        self._selector.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        self._thread = threading.Thread(target=self._io_loop, name="sandbox-launcher", daemon=True)
        self._thread.start()

    def wait_ready(self, timeout: float = 30.0) -> Ready:
        """Wait until the fork server is ready and return its ready message.

        Raises:
            LauncherError: It did not start, or exited.
        """
        if self._proc is None:
            self.start_server()
        if not self._ready.wait(timeout) or self._ready_info is None:
            raise LauncherError(
                "the sandbox fork server did not become ready",
                hint="run `symphony doctor`; check that the interpreter can import msgspec",
            )
        return self._ready_info

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"x")

    def _io_loop(self) -> None:
        decoder: msgspec.msgpack.Decoder[Reply] = msgspec.msgpack.Decoder(Reply)
        while self._sock is not None:
            for key, _ in self._selector.select(timeout=1.0):
                kind, _extra = key.data
                if kind == "wake":
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_r, 4096)
                elif kind == "zygote":
                    if not self._read_zygote(decoder):
                        self._server_gone()
                        return
                elif kind == "audit":
                    self._read_audit(key.fd)

    def _read_zygote(self, decoder: msgspec.msgpack.Decoder[Reply]) -> bool:
        assert self._sock is not None
        try:
            data, fds, _, _ = socket.recv_fds(self._sock, MAX_MESSAGE, 4)
        except OSError:
            return False
        if not data:
            return False
        try:
            reply = decoder.decode(data)
        except msgspec.DecodeError as exc:
            _log.error("malformed message from the fork server: %s", exc)
            for fd in fds:
                os.close(fd)
            return False
        if isinstance(reply, Ready):
            self._ready_info = reply
            self._ready.set()
            for target, error in reply.errors.items():
                _log.error("allowed target %s cannot be imported: %s", target, error)
        elif isinstance(reply, Exited):
            with self._exit_cond:
                self._exits[reply.pid] = reply.returncode
                self._exit_cond.notify_all()
            self.watchdog.unregister(reply.pid)
            for listener in list(self._exit_listeners):
                try:
                    listener(reply.pid, reply.returncode)
                except Exception:
                    _log.exception("an exit listener failed")
        else:
            if isinstance(reply, Spawned):
                # The pid may be a recycled one: forget the exit of its previous owner
                # before anyone can ask the new process for its return code.
                with self._exit_cond:
                    self._exits.pop(reply.pid, None)
            pending = self._pending.pop(reply.id, None)
            if pending is None:
                # A reply after start() gave up: nobody owns that child, end it.
                if isinstance(reply, Spawned) and fds:
                    with contextlib.suppress(OSError):
                        signal.pidfd_send_signal(fds[0], signal.SIGKILL)
                for fd in fds:
                    os.close(fd)
                return True
            pending.reply = reply
            pending.pidfd = fds[0] if fds else None
            for fd in fds[1:]:
                os.close(fd)
            pending.event.set()
        return True

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
            with self._selector_lock:
                with contextlib.suppress(KeyError, ValueError):
                    self._selector.unregister(fd)
                self._audit.pop(fd, None)
            os.close(fd)
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
            with self._selector_lock:
                with contextlib.suppress(KeyError, ValueError):
                    self._selector.unregister(fd)
                self._audit.pop(fd, None)
            os.close(fd)

    def _emit(self, record: AuditRecord) -> None:
        try:
            self.audit_sink(record)
        except Exception:
            _log.exception("the audit sink failed")

    def _server_gone(self) -> None:
        self._closed_server = True
        for pending in list(self._pending.values()):
            pending.event.set()
        with self._exit_cond:
            self._exit_cond.notify_all()
        self._ready.set()

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
            LauncherError: The fork server is not running.
        """
        if target not in self.allowed_targets:
            raise TargetNotAllowedError(
                f"{target!r} is not on the sandbox launcher's allow-list",
                where=extension_id,
                hint="pass it in Launcher(allowed_targets=...)",
            )
        enforcement = self._plan(profile)
        self.wait_ready(timeout)
        if self._closed_server or self._sock is None:
            raise LauncherError("the sandbox fork server is not running", where=extension_id)
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
                protected_pids=(os.getpid(), self._proc.pid if self._proc else 0),
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
            self._pending[request_id] = pending
            try:
                with self._send_lock:
                    socket.send_fds(self._sock, [data], fds)
            except OSError as exc:
                self._pending.pop(request_id, None)
                raise LauncherError(
                    f"cannot reach the sandbox fork server: {exc}", where=extension_id
                ) from exc
            finally:
                os.close(audit_w)
                audit_w = -1
            if not pending.event.wait(timeout) or pending.reply is None:
                self._pending.pop(request_id, None)
                raise LauncherError(
                    "the sandbox fork server exited"
                    if self._closed_server
                    else f"the sandbox fork server did not answer within {timeout} s",
                    where=extension_id,
                )
            reply = pending.reply
            if isinstance(reply, SpawnFailed):
                raise SandboxSetupError(
                    f"sandbox boot failed at step '{reply.step}': {reply.error}",
                    extension_id=extension_id,
                    details={"step": reply.step, "returncode": reply.returncode},
                )
            process = SandboxedProcess(self, reply, pending.pidfd, extension_id, enforcement, group)
            self._processes[reply.pid] = process
            with self._selector_lock:
                self._audit[audit_r] = (extension_id, reply.pid, AuditReader())
                self._selector.register(audit_r, selectors.EVENT_READ, ("audit", None))
            registered = True
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

    def close(self, timeout: float = 5.0) -> None:
        """Close every process it started, stop the fork server and the I/O thread."""
        for process in list(self._processes.values()):
            with contextlib.suppress(Exception):
                process.close(timeout)
        self.watchdog.stop()
        sock, proc = self._sock, self._proc
        if sock is not None:
            with contextlib.suppress(OSError), self._send_lock:
                sock.send(msgspec.msgpack.encode(Shutdown()))
        if proc is not None:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._closed_server = True
        self._sock = None
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._selector_lock:
            for key in list(self._selector.get_map().values()):
                with contextlib.suppress(KeyError, ValueError):
                    self._selector.unregister(key.fileobj)
                if key.data[0] == "audit":
                    with contextlib.suppress(OSError):
                        os.close(key.fd)
            self._audit.clear()
        if sock is not None:
            sock.close()
        self._proc = None
        self._ready.clear()

    def __enter__(self) -> Launcher:
        self.start_server()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
