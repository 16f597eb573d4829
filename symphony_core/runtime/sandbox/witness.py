"""The audit witness: a Python audit hook in the child that reports refused attempts.

The kernel is the barrier — Landlock, seccomp and the namespaces refuse the access —
but the kernel does not tell the host *what* was tried. So the child installs a
:func:`sys.addaudithook` hook as the very last boot step; it compares each audited
operation (``open``, ``os.rename``, ``socket.__new__``, ``os.kill``,
``subprocess.Popen``...) with the same grants the kernel enforces and, for one that
will be refused, writes an :class:`AuditEvent` to the host's audit pipe *before* the
kernel refuses it. The hook never refuses anything itself.

The witness misses what bypasses Python's audit events (ctypes, C extensions), and a
hostile extension can write forged records into its own pipe. The host therefore
stamps every record with the extension id and pid it knows for that pipe, bounds the
size of each record, and treats the content as a claim by the extension, not as fact.

Wire format: each record is one ``write`` of a 4-byte little-endian length followed by
a msgpack-encoded :class:`AuditEvent`, at most :data:`MAX_RECORD` bytes in all, so
writes from several threads or processes never interleave (``PIPE_BUF``). The child's
end is non-blocking: when the host falls behind, records are dropped, the extension is
never blocked.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import sys
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

import msgspec

__all__ = [
    "MAX_RECORD",
    "AuditEvent",
    "AuditReader",
    "WitnessPolicy",
    "install",
]

#: Largest record, header included: one atomic pipe write.
MAX_RECORD = 4096
_TEXT = 1024
_HEADER = struct.Struct("<I")

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class AuditEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One refused attempt, as the child's witness saw it.

    Attributes:
        action: What was tried: ``open``, ``rename``, ``socket``, ``kill``, ``exec``...
        target: The path, address, pid or program it was aimed at.
        rule: The rule that refuses it, e.g. ``landlock.fs.read``, ``seccomp.socket``.
        detail: Extra facts (open mode, socket family, signal number).
        pid: The process that tried (as reported by the child).
        time: Unix time of the attempt.
    """

    action: str
    target: str
    rule: str
    detail: str = ""
    pid: int = 0
    time: float = 0.0


class WitnessPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """The grants the witness compares attempts with (the same the kernel enforces).

    Attributes:
        read: Readable path prefixes (resolved).
        write: Writable path prefixes (resolved).
        execute: Executable path prefixes (resolved).
        socket_families: Address families ``socket()`` may create.
        tcp_connect_ports: Ports TCP ``connect`` may reach; ``None``: any.
        subprocess: Fork and exec are granted.
        metadata: ``chmod``/``chown``/``utime``/xattr changes are granted.
        protected_pids: Pids that may not be signalled.
    """

    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()
    execute: tuple[str, ...] = ()
    socket_families: tuple[int, ...] = ()
    tcp_connect_ports: tuple[int, ...] | None = None
    subprocess: bool = False
    metadata: bool = False
    protected_pids: tuple[int, ...] = ()


def _beneath(path: str, prefixes: Sequence[str]) -> bool:
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in prefixes)


def _as_path(value: object, dir_fd: object = None) -> str | None:
    if isinstance(value, int) or value is None:
        return None
    if dir_fd not in (None, -1):
        return None
    try:
        text = os.fsdecode(value)  # type: ignore[arg-type]
    except TypeError:
        return None
    return os.path.realpath(text)


class _Witness:
    def __init__(self, policy: WitnessPolicy, fd: int) -> None:
        self.policy = policy
        self.fd = fd
        self.encoder = msgspec.msgpack.Encoder()
        self.busy = False
        self.readable = policy.read + policy.write + policy.execute

    def report(self, action: str, target: str, rule: str, detail: str = "") -> None:
        event = AuditEvent(
            action=action,
            target=target[:_TEXT],
            rule=rule,
            detail=detail[:_TEXT],
            pid=os.getpid(),
            time=time.time(),
        )
        body = self.encoder.encode(event)
        record = _HEADER.pack(len(body)) + body
        if len(record) <= MAX_RECORD:
            # A full or closed pipe must never block or break the extension.
            with contextlib.suppress(OSError):
                os.write(self.fd, record)

    def check_path(self, action: str, value: object, *, write: bool, dir_fd: object = None) -> None:
        path = _as_path(value, dir_fd)
        if path is None:
            return
        if write and not _beneath(path, self.policy.write):
            self.report(action, path, "landlock.fs.write")
        elif not write and not _beneath(path, self.readable):
            self.report(action, path, "landlock.fs.read")

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if self.busy:
            return
        handler = _HANDLERS.get(event)
        if handler is None:
            return
        self.busy = True
        try:
            with contextlib.suppress(Exception):  # the witness must never break the extension
                handler(self, args)
        finally:
            self.busy = False


def _open(w: _Witness, args: tuple[Any, ...]) -> None:
    path, mode, flags = args[0], args[1], args[2]
    write = bool(isinstance(flags, int) and flags & _WRITE_FLAGS) or (
        isinstance(mode, str) and any(c in mode for c in "wax+")
    )
    w.check_path("open", path, write=write)


def _one_write(
    action: str, dir_index: int | None = None
) -> Callable[[_Witness, tuple[Any, ...]], None]:
    def handler(w: _Witness, args: tuple[Any, ...]) -> None:
        dir_fd = args[dir_index] if dir_index is not None and len(args) > dir_index else None
        w.check_path(action, args[0], write=True, dir_fd=dir_fd)

    return handler


def _listdir(w: _Witness, args: tuple[Any, ...]) -> None:
    w.check_path("listdir", args[0] if args else ".", write=False)


def _two_paths(action: str) -> Callable[[_Witness, tuple[Any, ...]], None]:
    def handler(w: _Witness, args: tuple[Any, ...]) -> None:
        w.check_path(action, args[0], write=True, dir_fd=args[2] if len(args) > 2 else None)
        w.check_path(action, args[1], write=True, dir_fd=args[3] if len(args) > 3 else None)

    return handler


def _symlink(w: _Witness, args: tuple[Any, ...]) -> None:
    link = _as_path(args[1], args[2] if len(args) > 2 else None)
    if link is not None and not _beneath(os.path.dirname(link), w.policy.write):
        w.report("symlink", link, "landlock.fs.write")


def _metadata(action: str) -> Callable[[_Witness, tuple[Any, ...]], None]:
    def handler(w: _Witness, args: tuple[Any, ...]) -> None:
        if not w.policy.metadata:
            path = _as_path(args[0]) or repr(args[0])
            w.report(action, path, "seccomp.metadata")

    return handler


_SOCKET_INIT = socket.socket.__init__.__code__


def _wraps_descriptor() -> bool:
    """Whether the ``socket.__new__`` being audited wraps an existing descriptor.

    ``socket.socket(fileno=...)`` and ``socket.socketpair()`` (which wraps the pair it
    got from the kernel) raise the same event as a new socket, but make no ``socket()``
    call for seccomp to refuse: only the ``fileno`` argument of ``socket.__init__``
    tells them apart.
    """
    frame: FrameType | None = sys._getframe(2)
    for _ in range(4):
        if frame is None:
            return False
        if frame.f_code is _SOCKET_INIT:
            return frame.f_locals.get("fileno") is not None
        frame = frame.f_back
    return False


def _socket(w: _Witness, args: tuple[Any, ...]) -> None:
    family = args[1]
    if (
        isinstance(family, int)
        and family not in w.policy.socket_families
        and not _wraps_descriptor()
    ):
        try:
            name = socket.AddressFamily(family).name
        except ValueError:
            name = str(family)
        w.report("socket", name, "seccomp.socket", f"family={family}")


def _connect(w: _Witness, args: tuple[Any, ...]) -> None:
    address = args[1]
    ports = w.policy.tcp_connect_ports
    if ports is not None and isinstance(address, tuple) and len(address) >= 2:
        port = address[1]
        if isinstance(port, int) and port not in ports:
            w.report("connect", f"{address[0]}:{port}", "landlock.net.connect")


def _kill(w: _Witness, args: tuple[Any, ...]) -> None:
    pid = args[0]
    if not isinstance(pid, int):
        return
    if pid == -1 or abs(pid) in w.policy.protected_pids:
        w.report("kill", str(pid), "seccomp.kill", f"signal={args[1]}")


def _subprocess(action: str) -> Callable[[_Witness, tuple[Any, ...]], None]:
    def handler(w: _Witness, args: tuple[Any, ...]) -> None:
        if not w.policy.subprocess:
            target = os.fsdecode(args[0]) if args and isinstance(args[0], (str, bytes)) else ""
            w.report(action, target, "seccomp.subprocess")

    return handler


_HANDLERS: dict[str, Callable[[_Witness, tuple[Any, ...]], None]] = {
    "open": _open,
    "os.listdir": _listdir,
    "os.scandir": _listdir,
    "os.mkdir": _one_write("mkdir", 2),
    "os.remove": _one_write("remove", 1),
    "os.rmdir": _one_write("rmdir", 1),
    "os.truncate": _one_write("truncate"),
    "os.rename": _two_paths("rename"),
    "os.link": _two_paths("link"),
    "os.symlink": _symlink,
    "os.chmod": _metadata("chmod"),
    "os.chown": _metadata("chown"),
    "os.utime": _metadata("utime"),
    "os.setxattr": _metadata("setxattr"),
    "os.removexattr": _metadata("removexattr"),
    "socket.__new__": _socket,
    "socket.connect": _connect,
    "os.kill": _kill,
    "os.killpg": _kill,
    "os.fork": _subprocess("fork"),
    "os.forkpty": _subprocess("fork"),
    "os.exec": _subprocess("exec"),
    "os.posix_spawn": _subprocess("exec"),
    "os.spawn": _subprocess("exec"),
    "os.system": _subprocess("exec"),
    "subprocess.Popen": _subprocess("exec"),
}


def install(policy: WitnessPolicy, fd: int) -> None:
    """Install the witness in this process, reporting to pipe ``fd`` (made non-blocking).

    Args:
        policy: The grants, as the kernel enforces them.
        fd: The write end of the host's audit pipe.
    """
    os.set_blocking(fd, False)
    sys.addaudithook(_Witness(policy, fd))


class AuditReader:
    """Host side of one child's audit pipe: bytes in, validated events out.

    Args:
        max_pending: Bytes buffered for an incomplete record before the stream is
            declared corrupt.
    """

    def __init__(self, max_pending: int = 4 * MAX_RECORD) -> None:
        self._buffer = bytearray()
        self._decoder = msgspec.msgpack.Decoder(AuditEvent)
        self._max_pending = max_pending
        self.corrupt: str | None = None

    def feed(self, data: bytes) -> list[AuditEvent]:
        """Add bytes read from the pipe; return the complete, valid events.

        A malformed record (bad length, bad msgpack, wrong shape) marks the stream
        :attr:`corrupt` and stops decoding; the host keeps its own record of that.
        """
        if self.corrupt is not None:
            return []
        self._buffer += data
        events: list[AuditEvent] = []
        while len(self._buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer)
            if size == 0 or size > MAX_RECORD - _HEADER.size:
                self.corrupt = f"record length {size} out of bounds"
                self._buffer.clear()
                break
            if len(self._buffer) < _HEADER.size + size:
                break
            body = bytes(self._buffer[_HEADER.size : _HEADER.size + size])
            del self._buffer[: _HEADER.size + size]
            try:
                events.append(self._decoder.decode(body))
            except msgspec.DecodeError as exc:
                self.corrupt = f"malformed record: {exc}"
                self._buffer.clear()
                break
        if len(self._buffer) > self._max_pending:
            self.corrupt = "incomplete record larger than the limit"
            self._buffer.clear()
        return events
