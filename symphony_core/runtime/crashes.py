"""Why a sandboxed extension process ended, in plain words, and the errors that say so.

When an extension process dies or is stopped for misbehaving, the supervisor gathers
what it knows — the exit status the fork server reported, the verdict it reached itself
(no heartbeat, a call past its time limit, a protocol violation), the cgroup's or the
watchdog's counters — and :func:`classify` turns that into one :class:`CrashCause`:

=============== ==================================================================
kind            meaning
=============== ==================================================================
``signal``      killed by a signal (``SIGSEGV``, ``SIGABRT``, an outside ``SIGKILL``)
``exit``        exited by itself (``os._exit``, ``sys.exit``, a fatal error)
``oom``         killed at its memory limit (cgroup OOM kill, or the watchdog)
``cpu_time``    killed at its CPU-time limit (``SIGXCPU`` from ``RLIMIT_CPU``)
``pids``        ended after its process limit refused a fork
``hung``        stopped answering heartbeats; the supervisor killed it
``call_timeout`` a call ran past its time limit; the supervisor killed it
``protocol``    broke the IPC protocol (malformed, oversized or pickled frames)
``flood``       flooded the host with messages
``not_reading`` stopped reading what the host sent it
``lost``        ended, but its exit status is unknown (the fork server is gone)
``stopped``     stopped by the host while a call was running (not a crash)
=============== ==================================================================
"""

from __future__ import annotations

import re
import signal
import time
from typing import Any, Literal

import msgspec

from symphony_core.errors import ExtensionError, UserError
from symphony_core.runtime.sandbox.cgroups import CgroupStats
from symphony_core.runtime.sandbox.policy import SandboxProfile
from symphony_core.runtime.sandbox.watchdog import WatchdogStats

__all__ = [
    "CrashCause",
    "CrashKind",
    "ExtensionCrashedError",
    "ExtensionQuarantinedError",
    "ExtensionStoppedError",
    "classify",
    "describe_returncode",
    "signal_name",
    "verdict_from_close",
]

CrashKind = Literal[
    "signal",
    "exit",
    "oom",
    "cpu_time",
    "pids",
    "hung",
    "call_timeout",
    "protocol",
    "flood",
    "not_reading",
    "lost",
    "stopped",
]

_MIB = 1 << 20
_SIGNAL_WORDS: dict[int, str] = {
    signal.SIGSEGV: "segmentation fault",
    signal.SIGBUS: "bus error",
    signal.SIGILL: "illegal instruction",
    signal.SIGFPE: "arithmetic fault",
    signal.SIGABRT: "aborted",
}


class CrashCause(msgspec.Struct, frozen=True, kw_only=True):
    """Why one extension process ended.

    Attributes:
        kind: The kind of cause (see the module documentation).
        message: The cause in plain words, e.g. ``killed by signal 11 (SIGSEGV,
            segmentation fault)``.
        returncode: Exit code, or minus the signal number; ``None`` when unknown.
        signal: The signal that ended it, if one did.
        limit: The limit involved, in words (``memory 64 MiB``), if one was.
        notes: Further facts (``the process limit of 16 was reached``).
        pid: The process id.
        at: Unix time of the verdict.
        stderr_tail: The last lines the process wrote to stderr (its own words: a
            crash stack from ``faulthandler``, a Python traceback).
    """

    kind: CrashKind
    message: str
    returncode: int | None = None
    signal: int | None = None
    limit: str | None = None
    notes: tuple[str, ...] = ()
    pid: int | None = None
    at: float = 0.0
    stderr_tail: str = ""

    def describe(self) -> str:
        """Return the message with its notes, as one line."""
        if not self.notes:
            return self.message
        return f"{self.message} ({'; '.join(self.notes)})"


class ExtensionCrashedError(ExtensionError):
    """A sandboxed extension's process crashed or was stopped for misbehaving.

    Calls in flight when it happened fail with this error, naming the extension and the
    cause; the extension is restarted (or quarantined) by its supervisor.

    Args:
        cause: Why the process ended.
        extension_id: The extension.
        during: What was running, e.g. ``node 'tokenize'``.
        outcome: What happens next, e.g. ``restarting in 0.1 s``.
    """

    code = "extension.crashed"

    def __init__(
        self,
        cause: CrashCause,
        *,
        extension_id: str,
        during: str | None = None,
        outcome: str | None = None,
    ) -> None:
        self.cause = cause
        text = "crashed" if during is None else f"crashed during {during}"
        message = f"{text}: {cause.describe()}"
        if outcome:
            message = f"{message}; {outcome}"
        super().__init__(
            message,
            extension_id=extension_id,
            details={"cause": msgspec.to_builtins(cause)},
        )


class ExtensionStoppedError(ExtensionError):
    """A call was cut short because the host stopped the extension (not a crash)."""

    code = "extension.stopped"


class ExtensionQuarantinedError(ExtensionError, UserError):
    """A sandboxed extension crashed too often and is not started again until released.

    Args:
        message: What happened.
        extension_id: The extension.
        last_cause: Its last crash.
        **kwargs: Passed to :class:`~symphony_core.errors.ExtensionError`.
    """

    code = "extension.quarantined"

    def __init__(
        self,
        message: str,
        *,
        extension_id: str,
        last_cause: CrashCause | None = None,
        **kwargs: Any,
    ) -> None:
        self.last_cause = last_cause
        details = dict(kwargs.pop("details", {}) or {})
        if last_cause is not None:
            details["last_cause"] = msgspec.to_builtins(last_cause)
        super().__init__(message, extension_id=extension_id, details=details, **kwargs)


def signal_name(number: int) -> str:
    """Return the name of signal ``number`` (``SIGSEGV``), or ``signal N``."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def describe_returncode(returncode: int) -> str:
    """Return how a process with ``returncode`` ended, in words."""
    if returncode < 0:
        number = -returncode
        words = _SIGNAL_WORDS.get(number)
        name = signal_name(number)
        return f"killed by signal {number} ({name}{', ' + words if words else ''})"
    if returncode == 0:
        return "exited with code 0 although it was not asked to stop"
    return f"exited with code {returncode}"


def _mib(value: int) -> str:
    return f"{value / _MIB:.0f} MiB" if value % _MIB == 0 else f"{value / _MIB:.1f} MiB"


def verdict_from_close(reason: str, extension_id: str) -> CrashCause | None:
    """Return the verdict a connection's close reason implies, if it implies one.

    The IPC layer closes a connection with a reason naming a protocol violation, a
    flood, or a peer that stopped reading; a plain end of file implies nothing (the
    process's exit tells more).
    """
    if reason.startswith("protocol violation") or reason.startswith("handshake violated"):
        kind: CrashKind = "protocol"
        text = f"broke the IPC protocol ({reason}); the host closed its connection"
    elif " is flooding" in reason:
        kind = "flood"
        text = f"flooded the host with messages ({reason})"
    elif " does not read" in reason:
        kind = "not_reading"
        text = f"stopped reading what the host sends ({reason})"
    elif reason.startswith("internal error"):
        kind = "protocol"
        text = f"sent a frame the host could not handle ({reason})"
    else:
        return None
    # The bus names the connection "<id>#<n>"; the error already names the extension.
    return CrashCause(kind=kind, message=re.sub(rf"{re.escape(extension_id)}#\d+", "it", text))


def classify(
    *,
    returncode: int | None,
    verdict: CrashCause | None,
    stats: CgroupStats | WatchdogStats | None,
    profile: SandboxProfile,
    pid: int | None,
    stderr_tail: str = "",
) -> CrashCause:
    """Decide why a process ended from everything known about it.

    Args:
        returncode: Its exit code (minus the signal number), ``None`` if unknown.
        verdict: The supervisor's own finding when it stopped the process (hung, a call
            past its limit, a protocol violation), which then is the cause; the
            process's counters add notes.
        stats: The cgroup's or watchdog's figures, read after the process ended.
        profile: The limits it ran under.
        pid: Its pid.
        stderr_tail: The last of what it wrote to stderr.

    Returns:
        The cause.
    """
    notes: list[str] = []
    oom = False
    cpu_used: float | None = None
    pids_hit = False
    if isinstance(stats, CgroupStats):
        oom = bool(stats.oom_kills)
        if stats.pids_limit_hits:
            pids_hit = True
            notes.append(
                f"its process limit of {profile.pids} refused {stats.pids_limit_hits} fork(s)"
            )
        if stats.cpu_usage_ns is not None:
            cpu_used = stats.cpu_usage_ns / 1e9
        if oom and stats.memory_peak is not None:
            notes.append(f"memory peak {_mib(stats.memory_peak)}")
    elif isinstance(stats, WatchdogStats):
        oom = stats.killed_for == "memory"
        cpu_used = stats.cpu_seconds
        if oom:
            notes.append(
                f"tree peak {_mib(stats.peak_memory_bytes)} (PSS), measured by the watchdog"
            )
    memory_limit = f"memory {_mib(profile.memory_bytes)}"
    common: dict[str, Any] = {
        "returncode": returncode,
        "signal": -returncode if returncode is not None and returncode < 0 else None,
        "pid": pid,
        "at": time.time(),
        "stderr_tail": stderr_tail,
    }
    if verdict is not None:
        if oom:
            notes.insert(0, f"it had also reached its memory limit of {_mib(profile.memory_bytes)}")
        return msgspec.structs.replace(verdict, notes=(*verdict.notes, *notes), **common)
    if oom:
        return CrashCause(
            kind="oom",
            message=f"ran out of memory: killed at its memory limit of "
            f"{_mib(profile.memory_bytes)}",
            limit=memory_limit,
            notes=tuple(notes),
            **common,
        )
    cpu_limit = profile.cpu_seconds
    if cpu_limit is not None and (
        returncode == -signal.SIGXCPU
        or (returncode == -signal.SIGKILL and cpu_used is not None and cpu_used >= cpu_limit)
    ):
        return CrashCause(
            kind="cpu_time",
            message=f"used up its CPU time limit of {cpu_limit} s"
            + (f" ({describe_returncode(returncode)})" if returncode is not None else ""),
            limit=f"CPU time {cpu_limit} s",
            notes=tuple(notes),
            **common,
        )
    if returncode is None:
        return CrashCause(
            kind="lost",
            message="its process ended but its exit status is unknown (the sandbox's fork "
            "server is gone)",
            notes=tuple(notes),
            **common,
        )
    described = describe_returncode(returncode)
    if pids_hit:
        return CrashCause(
            kind="pids",
            message=f"{described} after reaching its process limit of {profile.pids}",
            limit=f"processes {profile.pids}",
            notes=tuple(notes[1:]),
            **common,
        )
    return CrashCause(
        kind="signal" if returncode < 0 else "exit",
        message=described,
        notes=tuple(notes),
        **common,
    )
