"""Channels: what a connection runs over, and how it is attached to asyncio.

A channel is either a connected stream socket (``socket.socketpair()``, the normal case)
or a pair of pipe file descriptors ``(read_fd, write_fd)``. Sockets are read straight
into the frame decoder's buffer (``asyncio.BufferedProtocol``); pipes go through
``data_received``. Either way the connection takes ownership and closes the channel.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import socket
from typing import TypeAlias

from symphony_core.ipc.connection import Connection
from symphony_core.ipc.endpoint import _CURRENT
from symphony_core.ipc.errors import IpcUsageError

__all__ = ["Channel", "PipePair", "attach", "channel_fds", "socket_from_fd"]

PipePair: TypeAlias = tuple[int, int]
"""``(read_fd, write_fd)``: two pipe ends (or any two stream fds)."""
Channel: TypeAlias = socket.socket | PipePair
"""A connected stream socket, or a :data:`PipePair`."""


class _SocketAdapter(asyncio.BufferedProtocol):
    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._conn._attach(transport, transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._conn._get_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        self._conn._buffer_updated(nbytes)

    def eof_received(self) -> bool:
        self._conn._eof_received()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._conn._connection_lost(exc)

    def pause_writing(self) -> None:
        self._conn._pause_writing()

    def resume_writing(self) -> None:
        self._conn._resume_writing()


class _PipeReader(asyncio.Protocol):
    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def data_received(self, data: bytes) -> None:
        self._conn._data_received(data)

    def eof_received(self) -> bool:
        self._conn._eof_received()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._conn._connection_lost(exc)


class _PipeWriter(asyncio.BaseProtocol):
    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def connection_lost(self, exc: Exception | None) -> None:
        self._conn._connection_lost(exc)

    def pause_writing(self) -> None:
        self._conn._pause_writing()

    def resume_writing(self) -> None:
        self._conn._resume_writing()


async def attach(conn: Connection, channel: Channel) -> None:
    """Run ``conn`` over ``channel``; handlers of ``conn`` see it as the current connection.

    Raises:
        IpcUsageError: The channel is not a stream socket or a pair of fds.
    """
    context = contextvars.copy_context()
    context.run(_CURRENT.set, conn)
    conn._context = context
    # The transport's callbacks keep the context they were created in.
    task = asyncio.get_running_loop().create_task(_attach(conn, channel), context=context)
    await task


async def _attach(conn: Connection, channel: Channel) -> None:
    loop = asyncio.get_running_loop()
    if isinstance(channel, socket.socket):
        if channel.type != socket.SOCK_STREAM:
            raise IpcUsageError(f"IPC needs a stream socket, got {channel.type!r}")
        channel.setblocking(False)
        await loop.create_connection(lambda: _SocketAdapter(conn), sock=channel)
        conn._read_fd = channel.fileno()
        conn._sock = channel
        return
    read_fd, write_fd = _check_pair(channel)
    writer = os.fdopen(write_fd, "wb", buffering=0)
    reader = os.fdopen(read_fd, "rb", buffering=0)
    # Writing must work before the first byte is read: an answer may be due at once.
    write_transport, _ = await loop.connect_write_pipe(lambda: _PipeWriter(conn), writer)
    conn._attach(write_transport, None)
    read_transport, _ = await loop.connect_read_pipe(lambda: _PipeReader(conn), reader)
    conn._read_transport = read_transport
    conn._read_fd = read_fd


def _check_pair(channel: object) -> PipePair:
    if (
        isinstance(channel, tuple)
        and len(channel) == 2
        and all(isinstance(fd, int) and fd >= 0 for fd in channel)
    ):
        return channel[0], channel[1]
    raise IpcUsageError(
        f"not an IPC channel: {channel!r}",
        hint="pass a connected stream socket or a (read_fd, write_fd) pair",
    )


def channel_fds(channel: Channel) -> PipePair:
    """Return ``(read_fd, write_fd)`` of a channel (the same fd twice for a socket)."""
    if isinstance(channel, socket.socket):
        fd = channel.fileno()
        return fd, fd
    return _check_pair(channel)


def socket_from_fd(fd: int) -> socket.socket:
    """Wrap an inherited socket fd (e.g. passed with ``pass_fds``) in a socket object.

    Raises:
        IpcUsageError: ``fd`` is not an open stream socket.
    """
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise IpcUsageError(f"fd {fd} is not an open socket: {exc}") from None
    if sock.type != socket.SOCK_STREAM:
        sock.detach()
        raise IpcUsageError(f"fd {fd} is not a stream socket")
    return sock
