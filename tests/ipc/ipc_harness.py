"""Helpers for IPC tests: run a coroutine with a deadline, in-process pairs, child processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from symphony_core.ipc import PROTOCOL_VERSIONS, Bus, Connection, IpcLimits, serve_async
from symphony_core.ipc.framing import FrameDecoder, encode_frame
from symphony_core.ipc.protocol import Hello, Message, Welcome, decode_message

T = TypeVar("T")

TEST_DEADLINE = 30.0


def run(coro: Coroutine[Any, Any, T], deadline: float = TEST_DEADLINE) -> T:
    """Run ``coro`` in a fresh event loop; fail instead of hanging past ``deadline``."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, deadline)

    return asyncio.run(bounded())


@contextlib.asynccontextmanager
async def in_process(
    handlers: Mapping[str, Callable[..., Any]],
    *,
    host_limits: IpcLimits | None = None,
    ext_limits: IpcLimits | None = None,
    host_handlers: Mapping[str, Callable[..., Any]] | None = None,
    ext_versions: Sequence[int] = PROTOCOL_VERSIONS,
    extension_id: str = "test.ext",
    name: str | None = None,
    bus: Bus | None = None,
) -> AsyncIterator[tuple[Bus, Connection, asyncio.Task[str]]]:
    """A bus connected over a socketpair to ``serve_async`` running in the same loop."""
    host_sock, ext_sock = socket.socketpair()
    server = asyncio.create_task(
        serve_async(
            handlers,
            ext_sock,
            extension_id=extension_id,
            extension_version="2.0",
            capabilities=["test"],
            limits=ext_limits,
            versions=ext_versions,
        )
    )
    own_bus = bus is None
    bus = bus or Bus(limits=host_limits, handlers=host_handlers, host_id="test-host")
    conn: Connection | None = None
    try:
        conn = await bus.connect(host_sock, name=name)
        yield bus, conn, server
    finally:
        if conn is not None:
            conn.close("test over")
        if own_bus:
            await bus.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server, 5)


@dataclass
class Child:
    """A real extension process running the echo server."""

    process: subprocess.Popen[bytes]
    channel: socket.socket | tuple[int, int]

    def wait(self, timeout: float = 10.0) -> int:
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def spawn_echo(*extra: str, pipes: bool = False) -> Child:
    """Start ``python -m symphony_core.ipc.echo_server`` on a socketpair (or two pipes)."""
    command = [sys.executable, "-m", "symphony_core.ipc.echo_server", *extra]
    if pipes:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        command += ["--read-fd", str(to_child_r), "--write-fd", str(from_child_w)]
        process = subprocess.Popen(command, pass_fds=[to_child_r, from_child_w])
        os.close(to_child_r)
        os.close(from_child_w)
        return Child(process, (from_child_r, to_child_w))
    host_sock, child_sock = socket.socketpair()
    command += ["--fd", str(child_sock.fileno())]
    process = subprocess.Popen(command, pass_fds=[child_sock.fileno()])
    child_sock.close()
    return Child(process, host_sock)


class FakeExtension:
    """The extension end of a socketpair, driven frame by frame by the test."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = FrameDecoder()

    async def read(self) -> Message:
        while True:
            frame = self.decoder.next_frame()
            if frame is not None:
                return decode_message(frame)
            data = await self.reader.read(65536)
            if not data:
                raise EOFError
            self.decoder.feed(data)

    async def send(self, message: Message) -> None:
        self.writer.write(encode_frame(message))
        await self.writer.drain()

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()


async def fake_pair(
    limits: IpcLimits | None = None,
    handlers: dict[str, Any] | None = None,
    *,
    welcome_version: int = 1,
) -> tuple[Bus, Any, FakeExtension]:
    """A bus connected to a fake extension that answers Hello with ``welcome_version``."""
    host_sock, ext_sock = socket.socketpair()
    reader, writer = await asyncio.open_unix_connection(sock=ext_sock)
    fake = FakeExtension(reader, writer)
    bus = Bus(limits=limits, handlers=handlers)
    connecting = asyncio.create_task(bus.connect(host_sock))
    hello = await fake.read()
    assert isinstance(hello, Hello)
    await fake.send(Welcome(welcome_version, "fake.ext", "0.1", 1, [], 1 << 20, 64))
    conn = await connecting
    return bus, conn, fake
