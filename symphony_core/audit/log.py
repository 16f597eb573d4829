"""The audit log: every refused access, one JSON line each, under ``<home>/audit/``.

Writing is safe from many threads and processes at once: each line is one ``write``
to a file opened with ``O_APPEND``, under a thread lock and an exclusive ``flock`` on
``.audit.lock`` (which also makes rotation safe: a writer that finds the file renamed
under it reopens it). The time is stamped under the lock, so the order of the lines
is the order of the times. A write that fails is logged as a warning and counted in
:attr:`AuditLog.dropped`; it never raises into the host.

The log rotates by size: ``audit.jsonl`` becomes ``audit.jsonl.1``, ``.1`` becomes
``.2`` and so on up to ``backups`` files; the oldest is dropped. Reading
(:meth:`AuditLog.query`, :meth:`AuditLog.follow`) goes across the rotated files,
oldest first.
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

import msgspec

from symphony_core.audit.entry import AuditEntry, Source
from symphony_core.audit.timespec import format_time
from symphony_core.fs import ensure_dir
from symphony_core.log import get_logger

if TYPE_CHECKING:
    from symphony_core.audit.sink import WitnessSink
    from symphony_core.config import Config

__all__ = ["AUDIT_FILE", "AuditLog", "audit_dir"]

AUDIT_FILE = "audit.jsonl"
"""Name of the live log file; rotated ones add ``.1``, ``.2``..."""

_TEXT = 1024
_log = get_logger("audit")


def audit_dir(config: Config) -> Path:
    """Return the audit log's directory of ``config``'s host: ``<home>/audit``."""
    return config.home / "audit"


def _clip(text: str, limit: int = _TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _matcher(extension: str | None) -> Callable[[str], bool]:
    if extension is None:
        return lambda _: True
    if any(c in extension for c in "*?["):
        return lambda ext: fnmatch.fnmatchcase(ext, extension)
    return lambda ext: ext == extension


class AuditLog:
    """The audit log of one host.

    Args:
        directory: Where the files live (``<home>/audit``); created on first write.
        max_bytes: Size at which the live file is rotated.
        backups: Rotated files kept (at least 1).
        clock: Returns the current Unix time (for tests).
        fsync: Flush each line to disk before returning (slower; survives power loss).

    Attributes:
        dropped: Records that could not be written since this object was made.
        skipped: Malformed lines met by the last :meth:`query` or :meth:`follow`.
    """

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = 8 << 20,
        backups: int = 4,
        clock: Callable[[], float] = time.time,
        fsync: bool = False,
    ) -> None:
        if max_bytes < 1024:
            raise ValueError(f"max_bytes must be at least 1024, got {max_bytes}")
        if backups < 1:
            raise ValueError(f"backups must be at least 1, got {backups}")
        self.directory = directory
        self.max_bytes = max_bytes
        self.backups = backups
        self.fsync = fsync
        self.dropped = 0
        self.skipped = 0
        self._clock = clock
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder(AuditEntry)

    @classmethod
    def for_config(
        cls, config: Config, *, max_bytes: int = 8 << 20, backups: int = 4, fsync: bool = False
    ) -> AuditLog:
        """Return the audit log of ``config``'s host (``<home>/audit``); options as above."""
        return cls(audit_dir(config), max_bytes=max_bytes, backups=backups, fsync=fsync)

    @property
    def path(self) -> Path:
        """The live log file."""
        return self.directory / AUDIT_FILE

    @property
    def lock_path(self) -> Path:
        """The lock file shared by every writer (and briefly by readers)."""
        return self.directory / ".audit.lock"

    def backup(self, index: int) -> Path:
        """The rotated file ``index`` (1 is the most recent)."""
        return self.directory / f"{AUDIT_FILE}.{index}"

    def files(self) -> list[Path]:
        """The existing log files, oldest first (the live one last)."""
        candidates = [self.backup(i) for i in range(self.backups, 0, -1)] + [self.path]
        return [p for p in candidates if p.is_file()]

    # -- writing ---------------------------------------------------------------------

    def sink(self) -> WitnessSink:
        """Return a callable for ``Launcher(audit_sink=...)`` that writes into this log."""
        from symphony_core.audit.sink import WitnessSink

        return WitnessSink(self)

    def record(
        self,
        *,
        extension: str,
        action: str,
        rule: str,
        code: str,
        mechanism: str,
        target: str = "",
        pid: int = 0,
        detail: str = "",
        source: Source = "host",
    ) -> AuditEntry | None:
        """Append one refused access (fields as in :class:`AuditEntry`).

        Returns:
            The entry written, or ``None`` if it could not be written (counted in
            :attr:`dropped` and logged as a warning; never raised).
        """

        def make(stamp: str) -> AuditEntry:
            return AuditEntry(
                time=stamp,
                extension=_clip(extension, 256),
                pid=pid,
                action=_clip(action, 64),
                target=_clip(target),
                rule=_clip(rule, 2 * _TEXT),
                code=_clip(code, 128),
                mechanism=_clip(mechanism, 64),
                detail=_clip(detail),
                source=source,
            )

        return self._append(make)

    def record_limit(
        self,
        *,
        extension: str,
        limit: str,
        value: str,
        mechanism: str,
        outcome: str,
        pid: int = 0,
        action: str | None = None,
    ) -> AuditEntry | None:
        """Append a limit the extension ran into, e.g. memory under a cgroup.

        The rule reads ``limit: memory 256MiB (cgroup OOM kill)``.

        Args:
            extension: The extension id.
            limit: ``memory``, ``cpu-share``, ``cpu-time``, ``processes``, ``open-files``...
            value: The limit as granted, e.g. ``256MiB``.
            mechanism: ``cgroup``, ``rlimit`` or ``watchdog``.
            outcome: What happened: ``OOM kill``, ``fork refused``, ``SIGKILL``...
            pid: The process, when known.
            action: What was tried; ``exceed <limit>`` by default.
        """
        return self.record(
            extension=extension,
            action=action or f"exceed {limit}",
            target=value,
            rule=f"limit: {limit} {value} ({mechanism} {outcome})",
            code=f"limit.{limit}",
            mechanism=mechanism,
            pid=pid,
        )

    def _append(self, make: Callable[[str], AuditEntry]) -> AuditEntry | None:
        with self._lock:
            try:
                lock_fd = self._open_lock()
                fcntl.flock(lock_fd, fcntl.LOCK_EX)
                try:
                    fd = self._current_fd()
                    entry = make(format_time(datetime.fromtimestamp(self._clock(), UTC)))
                    line = self._encoder.encode(entry) + b"\n"
                    view = memoryview(line)
                    while view:  # one write unless the disk is full: we hold the lock anyway
                        view = view[os.write(fd, view) :]
                    if self.fsync:
                        os.fsync(fd)
                    if os.fstat(fd).st_size >= self.max_bytes:
                        self._rotate()
                finally:
                    fcntl.flock(lock_fd, fcntl.LOCK_UN)
            except OSError as exc:
                self._failed(exc)
                return None
        return entry

    def _open_lock(self) -> int:
        if self._lock_fd is None:
            ensure_dir(self.directory, mode=0o700)
            self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._lock_fd

    def _current_fd(self) -> int:
        if self._fd is not None:
            try:
                on_disk = os.stat(self.path)
                held = os.fstat(self._fd)
                if (on_disk.st_ino, on_disk.st_dev) == (held.st_ino, held.st_dev):
                    return self._fd
            except FileNotFoundError:
                pass
            os.close(self._fd)
            self._fd = None
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._fd

    def _rotate(self) -> None:
        for index in range(self.backups - 1, 0, -1):
            with contextlib.suppress(FileNotFoundError):
                os.replace(self.backup(index), self.backup(index + 1))
        os.replace(self.path, self.backup(1))
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _failed(self, exc: OSError) -> None:
        self.dropped += 1
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        if self.dropped == 1 or self.dropped % 1000 == 0:
            _log.warning(
                "cannot write the audit log %s: %s (%d record(s) lost so far)",
                self.path,
                exc.strerror or exc,
                self.dropped,
            )

    def close(self) -> None:
        """Close the files this object holds open (writing reopens them)."""
        with self._lock:
            for fd in (self._fd, self._lock_fd):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._fd = self._lock_fd = None

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------

    def _open_all(self, since: str | None) -> list[tuple[Path, IO[bytes]]]:
        """Open every log file, oldest first, in one consistent view of the rotation."""
        opened: list[tuple[Path, IO[bytes]]] = []
        with self._no_rotation():
            for path in self.files():
                if since is not None and path != self.path:
                    with contextlib.suppress(OSError):
                        last = format_time(datetime.fromtimestamp(path.stat().st_mtime + 1.0, UTC))
                        if last < since:
                            continue  # written in full before `since`
                with contextlib.suppress(FileNotFoundError):
                    opened.append((path, path.open("rb")))
        return opened

    @contextlib.contextmanager
    def _no_rotation(self) -> Iterator[None]:
        """Hold the lock shared, so no writer rotates while files are being opened."""
        lock_fd: int | None = None
        with contextlib.suppress(OSError):
            lock_fd = os.open(self.lock_path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if lock_fd is not None:
                fcntl.flock(lock_fd, fcntl.LOCK_SH)
            yield
        finally:
            if lock_fd is not None:
                os.close(lock_fd)

    def _decode(self, line: bytes) -> AuditEntry | None:
        try:
            return self._decoder.decode(line)
        except msgspec.DecodeError:
            self.skipped += 1
            return None

    def _entries(self, handle: IO[bytes]) -> Iterator[AuditEntry]:
        for line in handle:
            if not line.endswith(b"\n"):
                return  # a line still being written
            if line.strip():
                entry = self._decode(line)
                if entry is not None:
                    yield entry

    def query(
        self,
        *,
        extension: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> Iterator[AuditEntry]:
        """Yield the logged entries that match, oldest first.

        Args:
            extension: An extension id, or a glob of ids (``acme.*``).
            since: Only entries at or after this time.
            until: Only entries at or before this time.
            limit: Only the most recent ``limit`` of the matching entries.

        Yields:
            Matching entries in time order. Malformed lines are skipped and counted in
            :attr:`skipped`.
        """
        self.skipped = 0
        matches = _matcher(extension)
        low = format_time(since) if since is not None else None
        high = format_time(until) if until is not None else None

        def select() -> Iterator[AuditEntry]:
            opened = self._open_all(low)
            try:
                for _, handle in opened:
                    for entry in self._entries(handle):
                        if low is not None and entry.time < low:
                            continue
                        if high is not None and entry.time > high:
                            continue
                        if matches(entry.extension):
                            yield entry
            finally:
                for _, handle in opened:
                    handle.close()

        if limit is None:
            return select()
        if limit <= 0:
            raise ValueError(f"limit must be positive, got {limit}")
        return iter(deque(select(), maxlen=limit))

    def follow(
        self,
        *,
        extension: str | None = None,
        since: datetime | None = None,
        backlog: int | None = None,
        interval: float = 0.25,
        stop: threading.Event | None = None,
    ) -> Iterator[AuditEntry]:
        """Yield the matching entries already logged, then new ones as they are written.

        Rotation while following is handled: the rest of the renamed file is read, then
        the new live file from its start.

        Args:
            extension: An extension id or glob of ids.
            since: Only entries at or after this time.
            backlog: How many of the existing matching entries to yield first (the most
                recent); ``None``: all of them.
            interval: Seconds between looks for new lines.
            stop: Ends the iteration once set.

        Yields:
            Matching entries in time order.
        """
        self.skipped = 0
        matches = _matcher(extension)
        low = format_time(since) if since is not None else None
        opened = self._open_all(low)
        live: IO[bytes] | None = None
        if opened and opened[-1][0] == self.path:
            live = opened.pop()[1]

        def wanted(entry: AuditEntry) -> bool:
            return (low is None or entry.time >= low) and matches(entry.extension)

        pending = bytearray()

        def fresh(handle: IO[bytes]) -> Iterable[AuditEntry]:
            pending.extend(handle.read())
            *lines, rest = bytes(pending).split(b"\n")
            pending[:] = rest
            decoded = (self._decode(line) for line in lines if line.strip())
            return [e for e in decoded if e is not None and wanted(e)]

        try:
            earlier: Iterable[AuditEntry] = [
                e for _, handle in opened for e in self._entries(handle) if wanted(e)
            ]
            if live is not None:
                earlier = [*earlier, *fresh(live)]
            yield from deque(earlier, maxlen=backlog) if backlog is not None else earlier
            while stop is None or not stop.is_set():
                if live is None:
                    with contextlib.suppress(FileNotFoundError):
                        live = self.path.open("rb")
                        pending.clear()
                if live is not None:
                    batch = fresh(live)
                    if batch:
                        yield from batch
                        continue
                    if self._rotated(live):
                        yield from fresh(live)  # what was written before the rename
                        held = os.fstat(live.fileno())
                        live.close()
                        newer, live = self._open_newer((held.st_ino, held.st_dev))
                        for handle in newer:  # rotated since: complete files
                            with handle:
                                pending.clear()
                                yield from fresh(handle)
                        pending.clear()
                        continue
                if stop is not None:
                    stop.wait(interval)
                else:
                    time.sleep(interval)
        finally:
            for _, handle in opened:
                handle.close()
            if live is not None:
                live.close()

    def _open_newer(self, identity: tuple[int, int]) -> tuple[list[IO[bytes]], IO[bytes] | None]:
        """Open the rotated files newer than the one ``identity`` names, and the live file.

        ``identity`` is the (inode, device) of a file that was rotated; when it was
        dropped altogether, every rotated file is newer.
        """
        newer: list[IO[bytes]] = []
        live: IO[bytes] | None = None
        with self._no_rotation():
            backups = [self.backup(i) for i in range(self.backups, 0, -1)]
            start = 0
            for index, path in enumerate(backups):
                with contextlib.suppress(OSError):
                    st = path.stat()
                    if (st.st_ino, st.st_dev) == identity:
                        start = index + 1
            for path in backups[start:]:
                with contextlib.suppress(FileNotFoundError):
                    newer.append(path.open("rb"))
            with contextlib.suppress(FileNotFoundError):
                live = self.path.open("rb")
        return newer, live

    def _rotated(self, handle: IO[bytes]) -> bool:
        try:
            on_disk = os.stat(self.path)
        except FileNotFoundError:
            return True
        held = os.fstat(handle.fileno())
        return (on_disk.st_ino, on_disk.st_dev) != (held.st_ino, held.st_dev)
