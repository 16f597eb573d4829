"""A diagnostic extension process: ``python -m symphony_core.ipc.echo_server --fd N``.

It serves a fixed set of methods over an inherited channel, for integration tests,
benchmarks and checking an installation: ``echo``, ``add``, ``pid``, ``sleep``
(cancellable; publishes ``echo.cancelled`` when cancelled), ``block`` (blocks the event
loop), ``stream_bytes``, ``stream_items``, ``big``, ``raise_error``, ``fail``,
``publish``, ``flood``, ``collect`` (subscribes to host events), ``call_host``,
``garbage`` and ``oversize`` (write invalid bytes), ``crash`` (``os._exit``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from symphony_core.ipc.connection import current_connection
from symphony_core.ipc.errors import HandlerError, IpcError
from symphony_core.ipc.framing import HEADER
from symphony_core.ipc.limits import IpcLimits
from symphony_core.ipc.protocol import PROTOCOL_VERSIONS
from symphony_core.ipc.server import serve
from symphony_core.ipc.transport import Channel, socket_from_fd

__all__ = ["handlers", "main"]

_raw_fd: int = -1


def echo(value: Any = None) -> Any:
    """Return ``value`` unchanged."""
    return value


def add(a: int, b: int) -> int:
    """Return ``a + b``."""
    return a + b


def pid() -> int:
    """Return the serving process id."""
    return os.getpid()


async def sleep(seconds: float, tag: str = "") -> float:
    """Sleep, then return ``seconds``; on cancellation publish ``echo.cancelled``."""
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        current_connection().publish("echo.cancelled", {"tag": tag})
        raise
    return seconds


def block(seconds: float) -> float:
    """Block the whole event loop for ``seconds`` (a hung or busy extension)."""
    time.sleep(seconds)
    return seconds


def stream_bytes(total: int, piece: int = 1024 * 1024) -> Iterator[bytes]:
    """Yield ``total`` bytes in pieces of ``piece`` bytes, produced lazily."""
    block_ = b"\xab" * piece
    sent = 0
    while sent < total:
        n = min(piece, total - sent)
        yield block_ if n == piece else block_[:n]
        sent += n


async def stream_items(n: int, delay: float = 0.0, tag: str = "") -> AsyncIterator[int]:
    """Yield 0..n-1, optionally pausing; publish ``echo.cancelled`` if cancelled."""
    try:
        for i in range(n):
            if delay:
                await asyncio.sleep(delay)
            yield i
    except (asyncio.CancelledError, GeneratorExit):
        current_connection().publish("echo.cancelled", {"tag": tag})
        raise


def big(n: int) -> bytes:
    """Return ``n`` bytes as one result (to exceed a frame cap)."""
    return b"x" * n


def raise_error(message: str = "boom") -> None:
    """Raise ValueError(message)."""
    raise ValueError(message)


def fail(code: int, message: str, data: Any = None) -> None:
    """Answer with an application error ``code``."""
    raise HandlerError(message, code_value=code, data=data)


def publish(topic: str, data: Any = None) -> bool:
    """Publish one event to the host."""
    return current_connection().publish(topic, data)


def flood(n: int, topic: str = "echo.flood") -> int:
    """Publish ``n`` events as fast as possible; return how many were queued."""
    conn = current_connection()
    return sum(conn.publish(topic, i) for i in range(n))


async def collect(pattern: str, n: int, timeout: float = 10.0) -> list[Any]:
    """Subscribe to host events matching ``pattern``; return the data of the first ``n``."""
    out: list[Any] = []
    with current_connection().subscribe(pattern) as events:
        while len(out) < n:
            event = await events.get(timeout)
            out.append([event.topic, event.data])
    return out


async def subscribe(pattern: str) -> bool:
    """Subscribe to host events and keep the subscription (events are then dropped)."""
    current_connection().subscribe(pattern)
    return True


async def call_host(method: str, params: Any = None) -> Any:
    """Call ``method`` on the host and return its result."""
    return await current_connection().call(method, params)


def garbage(data: bytes) -> None:
    """Write ``data`` raw onto the channel (framing it as one frame)."""
    os.write(_raw_fd, HEADER.pack(len(data)) + data)


def oversize(size: int) -> None:
    """Write a frame header declaring ``size`` bytes, then a few bytes of body."""
    os.write(_raw_fd, HEADER.pack(size) + b"\x00" * 16)


def crash(code: int = 3) -> None:
    """Exit the process at once, without cleanup."""
    os._exit(code)


def handlers() -> dict[str, Any]:
    """Return the method table this server serves."""
    return {
        "echo": echo,
        "add": add,
        "pid": pid,
        "sleep": sleep,
        "block": block,
        "stream_bytes": stream_bytes,
        "stream_items": stream_items,
        "big": big,
        "raise_error": raise_error,
        "fail": fail,
        "publish": publish,
        "flood": flood,
        "collect": collect,
        "subscribe": subscribe,
        "call_host": call_host,
        "garbage": garbage,
        "oversize": oversize,
        "crash": crash,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the echo methods over an inherited channel; return the exit status."""
    global _raw_fd
    parser = argparse.ArgumentParser(prog="python -m symphony_core.ipc.echo_server")
    parser.add_argument("--fd", type=int, help="inherited socket fd")
    parser.add_argument("--read-fd", type=int, help="inherited pipe fd to read")
    parser.add_argument("--write-fd", type=int, help="inherited pipe fd to write")
    parser.add_argument("--extension-id", default="symphony.echo")
    parser.add_argument("--extension-version", default="1.0.0")
    parser.add_argument(
        "--versions",
        default=",".join(map(str, PROTOCOL_VERSIONS)),
        help="comma-separated protocol versions",
    )
    parser.add_argument("--max-frame-size", type=int, default=None)
    parser.add_argument("--stream-chunk-size", type=int, default=None)
    parser.add_argument("--max-concurrent", type=int, default=None)
    parser.add_argument("--max-batch", type=int, default=None)
    parser.add_argument("--verbose", action="store_true", help="say why the connection closed")
    args = parser.parse_args(argv)
    channel: Channel
    if args.fd is not None:
        channel = socket_from_fd(args.fd)
        _raw_fd = args.fd
    elif args.read_fd is not None and args.write_fd is not None:
        channel = (args.read_fd, args.write_fd)
        _raw_fd = args.write_fd
    else:
        parser.error("give --fd, or --read-fd and --write-fd")
    overrides: dict[str, Any] = {}
    if args.max_frame_size is not None:
        overrides["max_frame_size"] = args.max_frame_size
    if args.stream_chunk_size is not None:
        overrides["stream_chunk_size"] = args.stream_chunk_size
    if args.max_concurrent is not None:
        overrides["max_concurrent"] = args.max_concurrent
    if args.max_batch is not None:
        overrides["max_batch"] = args.max_batch
    try:
        reason = serve(
            handlers(),
            channel,
            extension_id=args.extension_id,
            extension_version=args.extension_version,
            capabilities=["echo", "stream"],
            limits=IpcLimits(**overrides),
            versions=[int(v) for v in args.versions.split(",")],
        )
    except IpcError as exc:
        print(f"echo_server: {exc}", file=sys.stderr)
        return 2
    if args.verbose:
        print(f"echo_server: {reason}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
