"""One process of a supervised extension, and the index that finds it by pid or name.

An :class:`ExtensionProcess` holds what the supervisor knows about one sandboxed
process of an extension: the launcher's handle, its IPC connection, the futures that
resolve when it exits and when the cause of its end is known, the tail of its stderr.
:class:`ProcessIndex` maps the launcher's exit reports (by pid) and the bus's close
reports (by peer name) back to the process and its owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from symphony_core.ipc.connection import Connection
    from symphony_core.runtime.crashes import CrashCause
    from symphony_core.runtime.sandbox.launcher import SandboxedProcess
    from symphony_core.runtime.sandbox.policy import SandboxProfile

__all__ = ["ExtensionProcess", "ProcessIndex", "ProcessOwner"]

#: Bytes of stderr read per second at most; past that the process waits on its writes.
STDERR_RATE = 1 << 20


class ProcessOwner(Protocol):
    """What owns extension processes (the supervisor): told when one ends."""

    def process_exited(self, instance: ExtensionProcess) -> None:
        """The fork server reported the process's exit."""
        ...

    def connection_closed(self, instance: ExtensionProcess, reason: str) -> None:
        """The process's IPC connection closed for ``reason``."""
        ...


class ExtensionProcess:
    """One process of a supervised extension and everything known about it."""

    def __init__(
        self,
        *,
        generation: int,
        name: str,
        proc: SandboxedProcess,
        profile: SandboxProfile,
        stderr_fd: int,
        stderr_limit: int,
    ) -> None:
        loop = asyncio.get_running_loop()
        self.generation = generation
        self.name = name
        self.proc = proc
        self.pid = proc.pid
        self.profile = profile
        self.conn: Connection | None = None
        self.exited: asyncio.Future[None] = loop.create_future()
        self.cause: asyncio.Future[CrashCause] = loop.create_future()
        self.verdict: CrashCause | None = None
        self.incident: asyncio.Task[None] | None = None
        self.outcome = ""
        self.stopping = False
        self.disposed = False
        self.heartbeat: asyncio.Task[None] | None = None
        self.inflight = 0
        self.busy = asyncio.Event()
        self.pidfd_watched = False
        self.stderr_fd = stderr_fd
        self._stderr = bytearray()
        self._stderr_limit = stderr_limit
        self._window_start = time.monotonic()
        self._window_bytes = 0
        self.pids_hits = 0
        self.memory_hits = 0

    def read_stderr(self) -> None:
        """Keep the tail of what the process writes to stderr (reader callback).

        At most :data:`STDERR_RATE` bytes are read per second: past that the reader
        pauses until the second is over, and the process waits on its own writes, so a
        chatty (or hostile) extension cannot keep the host's loop busy.
        """
        if self.stderr_fd < 0:
            return
        try:
            data = os.read(self.stderr_fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.close_stderr()
            return
        self._stderr += data
        if len(self._stderr) > self._stderr_limit:
            del self._stderr[: len(self._stderr) - self._stderr_limit]
        now = time.monotonic()
        if now - self._window_start >= 1.0:
            self._window_start, self._window_bytes = now, 0
        self._window_bytes += len(data)
        if self._window_bytes > STDERR_RATE:
            loop = asyncio.get_running_loop()
            loop.remove_reader(self.stderr_fd)
            loop.call_later(self._window_start + 1.0 - now, self._resume_stderr)

    def _resume_stderr(self) -> None:
        if self.stderr_fd >= 0:
            asyncio.get_running_loop().add_reader(self.stderr_fd, self.read_stderr)

    def close_stderr(self) -> None:
        """Stop reading stderr and close our end."""
        if self.stderr_fd < 0:
            return
        with contextlib.suppress(ValueError, RuntimeError):
            asyncio.get_running_loop().remove_reader(self.stderr_fd)
        with contextlib.suppress(OSError):
            os.close(self.stderr_fd)
        self.stderr_fd = -1

    def stderr_tail(self) -> str:
        """Return the kept stderr as text (the last lines)."""
        return bytes(self._stderr).decode("utf-8", "replace")


class ProcessIndex:
    """Finds the process (and its supervisor) behind a pid or a bus peer name."""

    def __init__(self) -> None:
        self._by_pid: dict[int, tuple[ProcessOwner, ExtensionProcess]] = {}
        self._by_name: dict[str, tuple[ProcessOwner, ExtensionProcess]] = {}

    def add(self, owner: ProcessOwner, instance: ExtensionProcess) -> None:
        """Register ``instance`` of ``owner``."""
        self._by_pid[instance.pid] = (owner, instance)
        self._by_name[instance.name] = (owner, instance)

    def remove(self, instance: ExtensionProcess) -> None:
        """Forget ``instance``."""
        if self._by_pid.get(instance.pid, (None, None))[1] is instance:
            del self._by_pid[instance.pid]
        if self._by_name.get(instance.name, (None, None))[1] is instance:
            del self._by_name[instance.name]

    def exited(self, pid: int) -> None:
        """Tell the supervisor of ``pid`` that its process ended (loop thread)."""
        found = self._by_pid.get(pid)
        if found is not None:
            found[0].process_exited(found[1])

    def closed(self, name: str, reason: str) -> None:
        """Tell the supervisor of peer ``name`` that its connection closed (loop thread)."""
        found = self._by_name.get(name)
        if found is not None:
            found[0].connection_closed(found[1], reason)
