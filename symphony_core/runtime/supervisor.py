"""The supervisor of one sandboxed extension: its process, health, crashes and restarts.

A :class:`Supervisor` owns the process (one at a time) that runs one extension:

* **start** — a confined process from the sandbox launcher's warm fork server, an IPC
  connection on the host's bus (handshake), then ``setup`` in the extension host;
* **health** — heartbeats every :attr:`SupervisorPolicy.heartbeat_interval` while calls
  are in flight (every :attr:`SupervisorPolicy.idle_heartbeat_interval` when idle); a
  process that leaves one unanswered for :attr:`SupervisorPolicy.hang_deadline` is
  *hung* and is killed;
* **death** — the process's pidfd becoming readable, or the end of its connection, is
  noticed at once (well under a millisecond); the fork server reports its exit status,
  the cgroup (or watchdog) its out-of-memory kills and process-limit hits, and
  :func:`~symphony_core.runtime.crashes.classify` names the cause. Calls in flight fail
  with :class:`~symphony_core.runtime.crashes.ExtensionCrashedError` naming the
  extension and the cause;
* **misbehaviour** — a call past its time limit, a protocol violation (malformed,
  oversized or pickled frames), a flood of messages, or not reading: the process is
  killed with that verdict as the cause;
* **restart** — an extension that was active is started again after an exponential
  back-off (:attr:`SupervisorPolicy.restart_backoff`, doubling per recent crash, at most
  :attr:`SupervisorPolicy.restart_backoff_max`) and activated again; the host keeps the
  rest of its state (event subscriptions) itself, so nothing else needs resending;
* **quarantine** — :attr:`SupervisorPolicy.crash_limit` crashes within
  :attr:`SupervisorPolicy.crash_window` seconds quarantine it: calls fail with
  :class:`~symphony_core.runtime.crashes.ExtensionQuarantinedError` until
  :meth:`Supervisor.release`;
* **fork server death** — when the sandbox's fork server dies, the process dies with it:
  calls in flight fail with a ``lost`` cause naming the fork server and how it ended, and
  the extension is restarted (on the new fork server the launcher starts). Such a death
  is not the extension's fault: it counts in ``total_crashes`` but not towards its
  quarantine (the launcher has its own crash-loop rule for a fork server that keeps
  dying, and then the restart fails with an error saying so). A start cut short by the
  fork server's death is tried again on the new one;
* **stop** — deactivate, close the connection, wait for the exit, then kill whatever is
  left of the process tree (grandchildren that called ``setsid`` included) and remove
  its cgroup.

Everything here runs on the event loop of the
:class:`~symphony_core.runtime.sandboxed.SandboxedRuntime`'s supervisor thread;
blocking work (launching, killing a cgroup) goes to the loop's executor.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import msgspec

from symphony_core.errors import (
    ExtensionError,
    ExtensionLoadError,
    HookCallError,
    SymphonyError,
)
from symphony_core.extension import ExtensionRecord
from symphony_core.fs import ensure_dir
from symphony_core.ipc.bus import Bus
from symphony_core.ipc.errors import (
    ConnectionClosedError,
    FrameTooLargeError,
    IpcError,
    IpcUsageError,
    RemoteError,
    RequestTimeoutError,
)
from symphony_core.ipc.limits import IpcLimits
from symphony_core.ipc.protocol import ErrorCode
from symphony_core.runtime.crashes import (
    CrashCause,
    ExtensionCrashedError,
    ExtensionQuarantinedError,
    ExtensionStoppedError,
    classify,
    verdict_from_close,
)
from symphony_core.runtime.crossing import (
    EXTENSION_ERROR,
    EXTHOST_TARGET,
    ErrorRecord,
    ExtHostArgs,
    ResultNotPortableError,
    ValueNotPortableError,
    encode_args,
    error_from_record,
)
from symphony_core.runtime.extprocess import ExtensionProcess, ProcessIndex
from symphony_core.runtime.sandbox.cgroups import CgroupStats
from symphony_core.runtime.sandbox.errors import ForkServerDiedError
from symphony_core.runtime.sandbox.launcher import (
    AuditRecord,
    Launcher,
    SandboxedProcess,
)
from symphony_core.runtime.sandbox.policy import SandboxProfile
from symphony_core.runtime.sandbox.witness import AuditEvent

__all__ = [
    "ExtensionState",
    "ExtensionStatus",
    "Supervisor",
    "SupervisorPolicy",
]

ExtensionState = Literal["stopped", "starting", "running", "restarting", "quarantined", "closed"]

_AUDIT_RULES: dict[str, str] = {
    "oom": "limit.memory",
    "cpu_time": "limit.cpu_time",
    "pids": "limit.processes",
    "hung": "supervisor.heartbeat",
    "call_timeout": "supervisor.call_timeout",
    "protocol": "ipc.protocol",
    "flood": "ipc.flood",
    "not_reading": "ipc.backpressure",
}
_VERDICT_WAIT = 10.0
_EOF_GRACE = 0.5
#: Fresh attempts when the fork server dies while the process is being started.
_SERVER_RETRIES = 2


class SupervisorPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """How a sandboxed extension is watched, restarted and stopped.

    Attributes:
        heartbeat_interval: Seconds between heartbeats while calls are in flight.
        idle_heartbeat_interval: Seconds between heartbeats while the extension is idle.
        hang_deadline: Seconds without a heartbeat answer after which the process is
            judged hung and killed (must exceed ``heartbeat_interval``). Extension code
            runs on its own thread, so only a stuck *process* misses heartbeats (a C
            call holding the GIL, a stopped process); slow Python code does not.
        call_timeout: Seconds a call may run before the process is killed as stuck
            (``None``: no limit).
        restart_backoff: Delay before the first restart after a crash; doubles with each
            recent crash.
        restart_backoff_max: The longest delay before a restart.
        crash_limit: Crashes within ``crash_window`` that quarantine the extension.
        crash_window: Seconds over which crashes are counted.
        start_timeout: Seconds allowed to launch the process and set it up.
        stop_timeout: Seconds the deactivate hook may take when stopping.
        exit_timeout: Seconds to wait for the process to exit once told to, before its
            tree is killed.
        stall_tolerance: A heartbeat that timed out this much later than planned means
            the host's own loop was held up: it does not count against the extension.
        stderr_tail: Bytes of the process's stderr kept for crash reports.
        ipc_limits: Limits of the connection to the process (a tighter flood guard than
            the IPC defaults, no spin-waiting).
    """

    heartbeat_interval: float = 0.05
    idle_heartbeat_interval: float = 1.0
    hang_deadline: float = 0.2
    call_timeout: float | None = 300.0
    restart_backoff: float = 0.1
    restart_backoff_max: float = 10.0
    crash_limit: int = 3
    crash_window: float = 300.0
    start_timeout: float = 30.0
    stop_timeout: float = 5.0
    exit_timeout: float = 2.0
    stall_tolerance: float = 0.05
    stderr_tail: int = 4096
    ipc_limits: IpcLimits = msgspec.field(
        default_factory=lambda: IpcLimits(
            flood_rate=20_000.0, flood_burst=2_000, flood_close_after=20_000, spin_wait=0.0
        )
    )

    def __post_init__(self) -> None:
        problems = []
        if not 0 < self.heartbeat_interval < self.hang_deadline:
            problems.append("0 < heartbeat_interval < hang_deadline")
        if self.idle_heartbeat_interval < self.heartbeat_interval:
            problems.append("idle_heartbeat_interval >= heartbeat_interval")
        if self.call_timeout is not None and self.call_timeout <= 0:
            problems.append("call_timeout > 0 or None")
        if not 0 < self.restart_backoff <= self.restart_backoff_max:
            problems.append("0 < restart_backoff <= restart_backoff_max")
        if self.crash_limit < 1 or self.crash_window <= 0:
            problems.append("crash_limit >= 1 and crash_window > 0")
        if min(self.start_timeout, self.stop_timeout, self.exit_timeout) <= 0:
            problems.append("start_timeout, stop_timeout and exit_timeout > 0")
        if self.stall_tolerance < 0 or self.stderr_tail < 0:
            problems.append("stall_tolerance >= 0 and stderr_tail >= 0")
        if problems:
            raise ValueError("invalid supervisor policy: need " + "; ".join(problems))


class ExtensionStatus(msgspec.Struct, frozen=True, kw_only=True):
    """What the supervisor knows about one sandboxed extension now.

    Attributes:
        extension_id: The extension.
        state: ``stopped`` (no process), ``starting``, ``running``, ``restarting``
            (crashed, waiting out its back-off), ``quarantined`` or ``closed``.
        active: Whether the host counts it as active (restarting included).
        pid: Its process, when one runs.
        restarts: Restarts after crashes so far.
        recent_crashes: Crashes within the crash window.
        total_crashes: Crashes so far.
        last_crash: The cause of the last crash.
        next_restart_in: Seconds until the next restart, while restarting.
        restart_delay: The back-off chosen after the last crash (``None`` before any).
        message: A one-line summary.
    """

    extension_id: str
    state: ExtensionState
    active: bool
    pid: int | None = None
    restarts: int = 0
    recent_crashes: int = 0
    total_crashes: int = 0
    last_crash: CrashCause | None = None
    next_restart_in: float | None = None
    restart_delay: float | None = None
    message: str = ""


ProfileFor = Callable[[ExtensionRecord], SandboxProfile]
ArgsFor = Callable[[ExtensionRecord], ExtHostArgs]
AuditSink = Callable[[AuditRecord], None]


class Supervisor:
    """Runs one sandboxed extension in its own process and keeps it healthy.

    Used by :class:`~symphony_core.runtime.sandboxed.SandboxedRuntime`; every coroutine
    runs on that runtime's supervisor loop.

    Args:
        record: The extension.
        bus: The host's IPC bus.
        launcher: The sandbox launcher (its fork server must allow the extension host).
        index: Where the runtime finds the supervisor of a pid or peer name.
        profile_for: The sandbox profile for the extension.
        args_for: What the extension host must load.
        policy: Health, restart and stop settings.
        audit: Receives an audit record for every limit hit and misbehaviour.
        logger: Where crashes and restarts are logged.
    """

    def __init__(
        self,
        record: ExtensionRecord,
        *,
        bus: Bus,
        launcher: Launcher,
        index: ProcessIndex,
        profile_for: ProfileFor,
        args_for: ArgsFor,
        policy: SupervisorPolicy,
        audit: AuditSink,
        logger: logging.Logger,
    ) -> None:
        self.record = record
        self.extension_id = record.id
        self._bus = bus
        self._launcher = launcher
        self._index = index
        self._profile_for = profile_for
        self._args_for = args_for
        self._policy = policy
        self._audit = audit
        self._logger = logger
        self._state: ExtensionState = "stopped"
        self._active = False
        self._deactivating = False
        self._instance: ExtensionProcess | None = None
        self._lock = asyncio.Lock()
        self._changed = asyncio.Event()
        self._generation = 0
        self._crashes: deque[float] = deque()
        self._quarantine_count = 0
        self._total_crashes = 0
        self._restarts = 0
        self._last_cause: CrashCause | None = None
        self._restart_task: asyncio.Task[None] | None = None
        self._restart_at: float | None = None
        self._restart_delay: float | None = None
        self._incidents: set[asyncio.Task[None]] = set()

    # -- state ------------------------------------------------------------------------

    @property
    def state(self) -> ExtensionState:
        """The current state."""
        return self._state

    @property
    def is_active(self) -> bool:
        """Whether the extension counts as active (running, or restarting after a crash)."""
        return self._active and self._state in ("starting", "running", "restarting")

    def _set_state(self, state: ExtensionState) -> None:
        if self._state == "closed":
            return
        self._state = state
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _wait_change(self) -> None:
        await self._changed.wait()

    def _recent(self) -> int:
        now = time.monotonic()
        while self._crashes and now - self._crashes[0] > self._policy.crash_window:
            self._crashes.popleft()
        return len(self._crashes)

    def status(self) -> ExtensionStatus:
        """Return a snapshot of the extension's state (safe from any thread)."""
        state = self._state
        instance = self._instance
        next_in = None
        if state == "restarting" and self._restart_at is not None:
            next_in = max(0.0, self._restart_at - time.monotonic())
        now = time.monotonic()
        recent = sum(1 for t in tuple(self._crashes) if now - t <= self._policy.crash_window)
        last = self._last_cause
        if state == "quarantined":
            message = self._quarantine_text()
        elif state == "restarting":
            message = f"restarting after a crash: {last.describe() if last else 'unknown cause'}"
        elif state == "running":
            message = f"running as process {instance.pid}" if instance else "running"
        else:
            message = state
        return ExtensionStatus(
            extension_id=self.extension_id,
            state=state,
            active=self.is_active,
            pid=instance.pid if instance is not None and state == "running" else None,
            restarts=self._restarts,
            recent_crashes=recent,
            total_crashes=self._total_crashes,
            last_crash=last,
            next_restart_in=next_in,
            restart_delay=self._restart_delay,
            message=message,
        )

    def _quarantine_text(self) -> str:
        last = self._last_cause.describe() if self._last_cause else "unknown cause"
        return (
            f"is quarantined: it crashed {self._quarantine_count} times within "
            f"{self._policy.crash_window:g} s, most recently: {last}"
        )

    def _check_usable(self) -> None:
        if self._state == "closed":
            from symphony_core.ports.runtime import RuntimeClosedError

            raise RuntimeClosedError("the sandboxed runtime is closed")
        if self._state == "quarantined":
            raise ExtensionQuarantinedError(
                self._quarantine_text(),
                extension_id=self.extension_id,
                last_cause=self._last_cause,
                hint="fix or update the extension, then release it from quarantine to try again",
            )

    # -- lifecycle --------------------------------------------------------------------

    async def activate(self) -> None:
        """Start the process if needed and activate the extension in it.

        Waits out a restart in progress. Idempotent.

        Raises:
            ExtensionLoadError: The sandbox could not be started, or the extension's
                import or activate hook failed (the process is stopped again).
            ExtensionCrashedError: The process crashed while starting or activating.
            ExtensionQuarantinedError: The extension is quarantined.
            RuntimeClosedError: The runtime is closed.
        """
        while True:
            self._check_usable()
            if self._state in ("restarting", "starting"):
                await self._wait_change()
                continue
            if self._active and self._state == "running":
                return
            async with self._lock:
                if self._state in ("restarting", "starting") or (
                    self._active and self._state == "running"
                ):
                    continue
                self._check_usable()
                await self._activate_locked()
                return

    async def _activate_locked(self) -> None:
        instance = self._instance or await self._start()
        try:
            await self._call_on(
                instance, "activate", None, timeout=self._policy.call_timeout, during="activation"
            )
        except ExtensionCrashedError:
            raise
        except SymphonyError:
            await self._stop(instance, "its activation failed")
            self._set_state("stopped")
            raise
        self._active = True
        self._set_state("running")

    async def deactivate(self) -> None:
        """Run the deactivate hook, then stop the process; nothing if not active.

        The extension is inactive afterwards even when the hook raised or crashed.

        Raises:
            HookCallError: The deactivate hook raised.
            ExtensionCrashedError: The process crashed during deactivation.
        """
        error: SymphonyError | None = None
        async with self._lock:
            self._cancel_restart()
            if not self._active:
                if self._state == "restarting":
                    self._set_state("stopped")
                return
            instance = self._instance
            self._deactivating = True
            try:
                if instance is not None:
                    try:
                        await self._call_on(
                            instance,
                            "deactivate",
                            None,
                            timeout=self._policy.stop_timeout,
                            during="deactivation",
                        )
                    except SymphonyError as exc:
                        error = exc
                    await self._stop(instance, "deactivated by the host")
            finally:
                self._deactivating = False
                self._active = False
                if self._state not in ("quarantined", "closed"):
                    self._set_state("stopped")
        if error is not None:
            raise error

    async def close(self) -> None:
        """Deactivate, stop every process, wait for crash handling; then refuse all use.

        Raises:
            SymphonyError: The deactivate hook raised or crashed (after everything
                was stopped).
        """
        error: SymphonyError | None = None
        try:
            await self.deactivate()
        except SymphonyError as exc:
            error = exc
        async with self._lock:
            self._cancel_restart()
            if self._instance is not None:
                await self._stop(self._instance, "the host is shutting down")
            for task in list(self._incidents):
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await task
            self._set_state("closed")
        if error is not None:
            raise error

    def release(self) -> bool:
        """Forget past crashes and lift a quarantine; return whether one was lifted."""
        self._crashes.clear()
        if self._state == "quarantined":
            self._set_state("stopped")
            self._logger.info(
                "extension %s released from quarantine",
                self.extension_id,
                extra={"extension_id": self.extension_id},
            )
            return True
        return False

    # -- calls ------------------------------------------------------------------------

    async def call(
        self, method: str, params: dict[str, Any] | None, *, timeout: float | None, during: str
    ) -> Any:
        """Call ``method`` of the extension host, activating the extension first if needed.

        Args:
            method: ``call`` or ``node`` (see :mod:`symphony_core.runtime.exthost`).
            params: Its named parameters.
            timeout: Seconds before the process is judged stuck (``None``: no limit).
            during: What the call does, for messages (``hook probe_echo``).

        Raises:
            ExtensionCrashedError: The process crashed or was killed during the call.
            ExtensionQuarantinedError: The extension is quarantined.
            ValueNotPortableError: ``params`` are not msgpack-native or too large.
            SymphonyError: What the extension's code raised, mapped to the host's class.
        """
        for _ in range(3):
            await self.activate()
            instance = self._instance
            if instance is not None and instance.conn is not None and not instance.conn.closed:
                return await self._call_on(instance, method, params, timeout=timeout, during=during)
        raise ExtensionError(
            "could not be made ready for a call: its process keeps going away",
            extension_id=self.extension_id,
        )

    def publish(self, topic: str, data: Any) -> bool:
        """Send an event to the running, active extension; False if it was not sent."""
        instance = self._instance
        if not self._active or self._state != "running" or instance is None:
            return False
        conn = instance.conn
        return conn is not None and conn.publish(topic, data)

    async def _call_on(
        self,
        instance: ExtensionProcess,
        method: str,
        params: dict[str, Any] | None,
        *,
        timeout: float | None,
        during: str,
    ) -> Any:
        conn = instance.conn
        if conn is None:
            raise await self._crashed(instance, during)
        instance.inflight += 1
        instance.busy.set()
        try:
            return await conn.call(method, params, timeout=timeout)
        except RemoteError as exc:
            raise self._from_remote(exc, instance, during) from None
        except ConnectionClosedError:
            raise await self._crashed(instance, during) from None
        except RequestTimeoutError:
            seconds = f"{timeout:g}" if timeout is not None else "?"
            self._trouble(
                instance,
                CrashCause(
                    kind="call_timeout",
                    message=f"{during} did not finish within {seconds} s; the process was stopped",
                    limit=f"call time {seconds} s",
                ),
            )
            raise await self._crashed(instance, during) from None
        except FrameTooLargeError as exc:
            raise ValueNotPortableError(
                f"the arguments of {during} are too large to send to the sandbox: {exc.message}",
                where=self.extension_id,
                hint="pass large data by reference (an artifact or a file in the scratch "
                "directory) instead",
            ) from None
        except IpcUsageError as exc:
            raise ValueNotPortableError(
                f"the arguments of {during} cannot be sent to the sandbox: {exc.message}",
                where=self.extension_id,
                hint="pass only None, bool, int, float, str, bytes, lists and dicts",
            ) from None
        finally:
            instance.inflight -= 1

    async def _crashed(self, instance: ExtensionProcess, during: str) -> SymphonyError:
        try:
            cause = await asyncio.wait_for(asyncio.shield(instance.cause), _VERDICT_WAIT)
        except TimeoutError:
            cause = CrashCause(
                kind="lost", message="its connection closed and no cause could be established"
            )
        if cause.kind == "stopped":
            return ExtensionStoppedError(
                f"was stopped during {during}: {cause.message}", extension_id=self.extension_id
            )
        return ExtensionCrashedError(
            cause, extension_id=self.extension_id, during=during, outcome=instance.outcome
        )

    def _from_remote(
        self, exc: RemoteError, instance: ExtensionProcess, during: str
    ) -> SymphonyError:
        ext = self.extension_id
        if exc.remote_code == EXTENSION_ERROR:
            try:
                record = msgspec.convert(exc.data, ErrorRecord)
            except msgspec.ValidationError:
                return ExtensionError(
                    f"answered {during} with an unreadable error: {exc.remote_message}",
                    extension_id=ext,
                )
            return self._with_limit_notes(error_from_record(record, ext), instance)
        if exc.remote_code in (ErrorCode.RESULT_NOT_SERIALIZABLE, ErrorCode.RESULT_TOO_LARGE):
            return ResultNotPortableError(
                f"{during} returned a value that cannot leave its sandbox: {exc.remote_message}",
                extension_id=ext,
                hint="return msgpack-native values (None, bool, int, float, str, bytes, lists, "
                "dicts) and pass large data by reference",
            )
        name = exc.remote_code_name or str(exc.remote_code)
        return ExtensionError(
            f"answered {during} with an error ({name}): {exc.remote_message}", extension_id=ext
        )

    def _with_limit_notes(self, error: SymphonyError, instance: ExtensionProcess) -> SymphonyError:
        """Say so when a failing call ran into the process's limits (and audit it)."""
        try:
            stats = instance.proc.stats()
        except Exception:
            return error
        if not isinstance(stats, CgroupStats):
            return error
        notes: list[str] = []
        pids_hits = stats.pids_limit_hits or 0
        if pids_hits > instance.pids_hits:
            notes.append(f"its process limit of {instance.profile.pids} refused a fork")
            self._audit_limit(instance, "fork", "limit.processes", notes[-1])
            instance.pids_hits = pids_hits
        memory_hits = stats.memory_limit_hits or 0
        if memory_hits > instance.memory_hits:
            limit = instance.profile.memory_bytes >> 20
            notes.append(f"it reached its memory limit of {limit} MiB")
            self._audit_limit(instance, "allocate", "limit.memory", notes[-1])
            instance.memory_hits = memory_hits
        if not notes or not isinstance(error, HookCallError):
            return error
        return HookCallError(
            f"{error.message} ({'; '.join(notes)})",
            hook=error.hook,
            failures=error.failures,
            extension_id=error.extension_id,
            hint=error.hint,
            details={**error.details, "limits": notes},
        )

    # -- starting ---------------------------------------------------------------------

    async def _start(self) -> ExtensionProcess:
        self._set_state("starting")
        try:
            return await self._spawn()
        except BaseException:
            if self._state == "starting":
                self._set_state("stopped")
            raise

    def _profile(self) -> SandboxProfile:
        try:
            profile = self._profile_for(self.record)
        except ExtensionLoadError:
            raise
        except SymphonyError as exc:
            raise ExtensionLoadError(
                f"no sandbox can be granted: {exc.message}",
                extension_id=self.extension_id,
                hint=exc.hint,
                details={"cause_code": exc.code},
            ) from exc
        if profile.scratch_dir is not None:
            ensure_dir(Path(profile.scratch_dir), mode=0o700)
        return profile

    async def _launch_fresh(
        self, profile: SandboxProfile, args: dict[str, Any]
    ) -> tuple[SandboxedProcess, socket.socket, int]:
        """Launch the process with a new connection and stderr pipe; return them.

        If the fork server dies during the launch, the launch is made again (on the new
        fork server) with new descriptors: the dead attempt's child may have written to
        the old ones before it died.
        """
        attempt = 0
        while True:
            host_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            err_r, err_w = os.pipe2(os.O_CLOEXEC)
            os.set_blocking(err_r, False)
            try:
                proc = await self._launch(profile, args, child_end.fileno(), err_w)
            except ForkServerDiedError as exc:
                host_end.close()
                os.close(err_r)
                if attempt == _SERVER_RETRIES:
                    raise ExtensionLoadError(
                        f"its sandbox could not be started: {exc.message}",
                        extension_id=self.extension_id,
                        hint=exc.hint,
                        details={"cause_code": exc.code, **exc.details},
                    ) from exc
                self._logger.warning(
                    "extension %s: %s; starting it again",
                    self.extension_id,
                    exc.message,
                    extra={"extension_id": self.extension_id},
                )
                attempt += 1
                continue
            except BaseException:
                host_end.close()
                os.close(err_r)
                raise
            finally:
                child_end.close()
                os.close(err_w)
            return proc, host_end, err_r

    async def _launch(
        self, profile: SandboxProfile, args: dict[str, Any], ipc_fd: int, stderr_fd: int
    ) -> SandboxedProcess:
        loop = asyncio.get_running_loop()
        start = functools.partial(
            self._launcher.start,
            profile,
            target=EXTHOST_TARGET,
            args=args,
            ipc_fd=ipc_fd,
            stderr_fd=stderr_fd,
            extension_id=self.extension_id,
            timeout=self._policy.start_timeout,
        )
        future = loop.run_in_executor(None, start)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # Nobody will own the process the launcher is still starting: end it.
            def reap(done: asyncio.Future[SandboxedProcess]) -> None:
                if not done.cancelled() and done.exception() is None:
                    loop.run_in_executor(None, done.result().close)

            future.add_done_callback(reap)
            raise
        except SymphonyError as exc:
            if isinstance(exc, (ExtensionLoadError, ForkServerDiedError)):
                raise
            raise ExtensionLoadError(
                f"its sandbox could not be started: {exc.message}",
                extension_id=self.extension_id,
                hint=exc.hint,
                details={"cause_code": exc.code, **exc.details},
            ) from exc

    async def _spawn(self) -> ExtensionProcess:
        loop = asyncio.get_running_loop()
        profile = self._profile()
        args = encode_args(self._args_for(self.record))
        self._generation += 1
        name = f"{self.extension_id}#{self._generation}"
        proc, host_end, err_r = await self._launch_fresh(profile, args)
        instance = ExtensionProcess(
            generation=self._generation,
            name=name,
            proc=proc,
            profile=profile,
            stderr_fd=err_r,
            stderr_limit=self._policy.stderr_tail,
        )
        self._index.add(self, instance)
        loop.add_reader(err_r, instance.read_stderr)
        if proc.pidfd is not None:
            loop.add_reader(proc.pidfd, self._pidfd_ready, instance)
            instance.pidfd_watched = True
        if proc.returncode is not None:
            self.process_exited(instance)
        try:
            conn = await self._bus.connect(host_end, name=name, limits=self._policy.ipc_limits)
        except IpcError as exc:
            verdict = None
            if proc.returncode is None and not instance.exited.done():
                verdict = CrashCause(
                    kind="protocol", message=f"failed the IPC handshake: {exc.message}"
                )
            self._trouble(instance, verdict)
            raise await self._crashed(instance, "start-up") from None
        instance.conn = conn
        self._instance = instance
        instance.heartbeat = loop.create_task(self._heartbeat(instance))
        try:
            await self._call_on(
                instance, "setup", None, timeout=self._policy.start_timeout, during="start-up"
            )
        except ExtensionCrashedError:
            raise
        except SymphonyError:
            await self._stop(instance, "its set-up failed")
            raise
        return instance

    # -- health -----------------------------------------------------------------------

    async def _heartbeat(self, instance: ExtensionProcess) -> None:
        policy = self._policy
        loop = asyncio.get_running_loop()
        conn = instance.conn
        assert conn is not None
        # A hang that starts right after an answer is found at most hang_deadline later:
        # the next beat leaves heartbeat_interval after the answer and waits the rest.
        budget = policy.hang_deadline - policy.heartbeat_interval
        try:
            while not conn.closed:
                if instance.inflight:
                    await asyncio.sleep(policy.heartbeat_interval)
                else:
                    instance.busy.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(policy.idle_heartbeat_interval):
                            await instance.busy.wait()
                sent = loop.time()
                try:
                    await conn.heartbeat(budget)
                except RequestTimeoutError:
                    if loop.time() - (sent + budget) > policy.stall_tolerance:
                        continue  # our own loop was held up, not the extension
                    if not conn.is_open:
                        return
                    self._trouble(
                        instance,
                        CrashCause(
                            kind="hung",
                            message="stopped responding: no heartbeat answer within "
                            f"{policy.hang_deadline * 1000:.0f} ms; the process was killed",
                        ),
                    )
                    return
        except (IpcError, asyncio.CancelledError):
            return

    def _stop_heartbeat(self, instance: ExtensionProcess) -> None:
        task = instance.heartbeat
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()

    # -- trouble ----------------------------------------------------------------------

    def _pidfd_ready(self, instance: ExtensionProcess) -> None:
        self._unwatch_pidfd(instance)
        self._trouble(instance, None)

    def _unwatch_pidfd(self, instance: ExtensionProcess) -> None:
        if instance.pidfd_watched and instance.proc.pidfd is not None:
            with contextlib.suppress(ValueError, RuntimeError):
                asyncio.get_running_loop().remove_reader(instance.proc.pidfd)
        instance.pidfd_watched = False

    def process_exited(self, instance: ExtensionProcess) -> None:
        """Note that the process ended (the fork server said so); loop thread."""
        if not instance.exited.done():
            instance.exited.set_result(None)
        if not instance.pidfd_watched:
            self._trouble(instance, None)

    def connection_closed(self, instance: ExtensionProcess, reason: str) -> None:
        """Note that the process's connection closed for ``reason``; loop thread."""
        if instance.stopping or instance.incident is not None:
            return
        self._trouble(instance, verdict_from_close(reason, self.extension_id))

    def _trouble(self, instance: ExtensionProcess, verdict: CrashCause | None) -> None:
        """Start handling the end of ``instance`` unless that is already in hand."""
        if instance.stopping or instance.incident is not None:
            return
        instance.verdict = verdict
        task = asyncio.get_running_loop().create_task(self._incident(instance))
        instance.incident = task
        self._incidents.add(task)
        task.add_done_callback(self._incidents.discard)

    async def _exit_code(self, instance: ExtensionProcess, timeout: float) -> int | None:
        code = instance.proc.returncode
        if code is not None:
            return code
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(instance.exited), timeout)
        return instance.proc.returncode

    async def _kill(self, instance: ExtensionProcess) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(Exception):
            await loop.run_in_executor(None, instance.proc.kill)

    async def _incident(self, instance: ExtensionProcess) -> None:
        if self._instance is instance:
            self._instance = None
        self._stop_heartbeat(instance)
        if self._state == "running":
            self._set_state("restarting")  # not ready for calls until decided below
        if instance.proc.returncode is None and not instance.exited.done():
            if instance.verdict is None:
                # Its connection ended first: a dying process, or one that closed it.
                code = await self._exit_code(instance, _EOF_GRACE)
                if code is None:
                    instance.verdict = CrashCause(
                        kind="protocol",
                        message="closed its connection to the host without exiting; the "
                        "process was killed",
                    )
            if instance.verdict is not None:
                await self._kill(instance)
        code = await self._exit_code(instance, self._policy.exit_timeout)
        death = instance.proc.server_death
        if death is not None and instance.verdict is None:
            instance.verdict = CrashCause(kind="lost", message=f"ended because {death.describe()}")
        try:
            stats = instance.proc.stats()
        except Exception:
            stats = None
        instance.read_stderr()
        cause = classify(
            returncode=code,
            verdict=instance.verdict,
            stats=stats,
            profile=instance.profile,
            pid=instance.pid,
            stderr_tail=instance.stderr_tail(),
        )
        instance.outcome = self._after_crash(cause, instance)
        if not instance.cause.done():
            instance.cause.set_result(cause)
        if instance.conn is not None:
            instance.conn.abort(f"extension process ended: {cause.message}")
        self._report(instance, cause)
        await self._dispose(instance)

    def _after_crash(self, cause: CrashCause, instance: ExtensionProcess) -> str:
        """Count the crash and decide what happens next; return it in words."""
        # A process that died with the fork server is not the extension's doing: it
        # does not bring the extension nearer to quarantine.
        server_fault = instance.proc.server_death is not None
        if not server_fault:
            self._crashes.append(time.monotonic())
        recent = self._recent()
        self._total_crashes += 1
        self._last_cause = cause
        if self._deactivating or self._state == "closed":
            return "it was being stopped"
        if not server_fault and recent >= self._policy.crash_limit:
            self._quarantine_count = recent
            self._active = False
            self._cancel_restart()
            self._set_state("quarantined")
            return (
                f"quarantined after {recent} crashes within {self._policy.crash_window:g} s; "
                "release it to try again"
            )
        if not self._active:
            self._set_state("stopped")
            return "it will be started again on its next use"
        delay = min(
            self._policy.restart_backoff_max,
            self._policy.restart_backoff * 2 ** (max(recent, 1) - 1),
        )
        self._cancel_restart()
        self._restart_at = time.monotonic() + delay
        self._restart_delay = delay
        self._set_state("restarting")
        self._restart_task = asyncio.get_running_loop().create_task(
            self._restart_after(delay, instance.incident)
        )
        return f"restarting in {delay:g} s"

    def _cancel_restart(self) -> None:
        task = self._restart_task
        self._restart_task = None
        self._restart_at = None
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()

    async def _restart_after(self, delay: float, previous: asyncio.Task[None] | None) -> None:
        await asyncio.sleep(delay)
        if previous is not None and previous is not asyncio.current_task():
            with contextlib.suppress(Exception):
                await asyncio.shield(previous)  # the old process is cleaned up first
        async with self._lock:
            if self._state != "restarting" or not self._active:
                return
            if self._restart_task is asyncio.current_task():
                self._restart_task = None
            self._restart_at = None
            try:
                instance = await self._start()
                await self._call_on(
                    instance,
                    "activate",
                    None,
                    timeout=self._policy.call_timeout,
                    during="activation after a restart",
                )
            except ExtensionCrashedError:
                return  # the crash's handling decided what comes next
            except SymphonyError as exc:
                self._active = False
                if self._instance is not None:
                    await self._stop(self._instance, "its re-activation failed")
                self._set_state("stopped")
                self._logger.error(
                    "extension %s could not be restarted: %s",
                    self.extension_id,
                    exc,
                    extra={"extension_id": self.extension_id},
                )
                return
            self._restarts += 1
            self._set_state("running")
            self._logger.info(
                "extension %s restarted (process %d)",
                self.extension_id,
                instance.pid,
                extra={"extension_id": self.extension_id},
            )

    def _report(self, instance: ExtensionProcess, cause: CrashCause) -> None:
        ext = self.extension_id
        level = logging.ERROR if self._state == "quarantined" else logging.WARNING
        self._logger.log(
            level,
            "extension %s (process %d) crashed: %s; %s",
            ext,
            instance.pid,
            cause.describe(),
            instance.outcome,
            extra={"extension_id": ext, "pid": instance.pid, "cause": cause.kind},
        )
        rule = _AUDIT_RULES.get(cause.kind)
        if rule is not None:
            self._audit_limit(instance, cause.kind, rule, cause.describe())

    def _audit_limit(self, instance: ExtensionProcess, action: str, rule: str, detail: str) -> None:
        record = AuditRecord(
            extension_id=self.extension_id,
            pid=instance.pid,
            event=AuditEvent(
                action=action,
                target=f"process {instance.pid}",
                rule=rule,
                detail=detail[:1000],
                pid=instance.pid,
                time=time.time(),
            ),
        )
        try:
            self._audit(record)
        except Exception:
            self._logger.exception("the audit sink failed")

    # -- stopping ---------------------------------------------------------------------

    async def _stop(self, instance: ExtensionProcess, reason: str) -> None:
        """Stop ``instance`` on purpose: hang up, wait for its exit, kill what is left."""
        if instance.incident is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(instance.incident)
            return
        instance.stopping = True
        if self._instance is instance:
            self._instance = None
        self._stop_heartbeat(instance)
        if not instance.cause.done():
            instance.cause.set_result(CrashCause(kind="stopped", message=reason))
        conn = instance.conn
        if conn is not None and not conn.closed:
            conn.close(reason)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(conn.wait_closed(), self._policy.exit_timeout)
        await self._exit_code(instance, self._policy.exit_timeout)
        await self._dispose(instance)

    async def _dispose(self, instance: ExtensionProcess) -> None:
        if instance.disposed:
            return
        instance.disposed = True
        self._unwatch_pidfd(instance)
        loop = asyncio.get_running_loop()
        with contextlib.suppress(Exception):
            # Kills whatever is left of the tree (grandchildren included), removes the
            # cgroup and releases the pidfd.
            await loop.run_in_executor(None, instance.proc.close)
        instance.read_stderr()
        instance.close_stderr()
        self._index.remove(instance)
