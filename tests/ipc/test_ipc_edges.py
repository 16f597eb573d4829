"""Less travelled paths: notifications, odd handlers, handshake failures, the echo server."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest
from ipc_harness import fake_pair, in_process, run

from symphony_core.ipc import (
    BlockingClient,
    Bus,
    ConnectionClosedError,
    ErrorCode,
    Event,
    HandlerTable,
    HandshakeError,
    IpcLimits,
    IpcUsageError,
    ProtocolError,
    RemoteError,
    RequestTimeoutError,
    echo_server,
    serve_async,
    socket_from_fd,
)
from symphony_core.ipc.framing import FrameDecoder, encode_frame
from symphony_core.ipc.protocol import (
    ErrorResponse,
    Hello,
    Notification,
    Publish,
    Request,
    Response,
    Subscribe,
    Unsubscribe,
    Welcome,
    decode_message,
)


def test_notifications_reach_sync_and_async_handlers_and_failures_are_contained() -> None:
    seen: list[Any] = []

    def note(x: int) -> None:
        seen.append(("sync", x))

    async def anote(x: int) -> None:
        seen.append(("async", x))

    def coro_returning(x: int) -> Any:
        async def later() -> None:
            seen.append(("awaited", x))

        return later()

    def broken(x: int) -> None:
        raise ValueError("handler bug")

    async def abroken(x: int) -> None:
        raise ValueError("async handler bug")

    handlers: dict[str, Callable[..., Any]] = {
        "note": note,
        "anote": anote,
        "coro": coro_returning,
        "broken": broken,
        "abroken": abroken,
        "echo": lambda value: value,
    }

    async def main() -> None:
        async with in_process(handlers) as (_, conn, _):
            for method in ("note", "anote", "coro", "broken", "abroken", "missing"):
                await conn.notify(method, [1])
            # A call after the notifications: answered after they were all dispatched.
            assert await conn.call("echo", [0]) == 0
            await asyncio.sleep(0.02)
            assert sorted(seen) == [("async", 1), ("awaited", 1), ("sync", 1)]
            assert not conn.closed

    run(main())


def test_awaitable_and_generator_results_of_plain_functions() -> None:
    async def later(x: int) -> int:
        await asyncio.sleep(0)
        return x * 2

    def returns_awaitable(x: int) -> Any:
        return later(x)

    def returns_generator(n: int) -> Any:
        return (i * i for i in range(n))

    async def main() -> None:
        handlers: dict[str, Callable[..., Any]] = {
            "aw": returns_awaitable,
            "gen": returns_generator,
        }
        async with in_process(handlers) as (_, conn, _):
            assert await conn.call("aw", [21]) == 42
            assert await conn.stream("gen", [5]).collect() == [0, 1, 4, 9, 16]
            with pytest.raises(ProtocolError, match="more than 2 chunks"):
                await conn.stream("gen", [5]).collect(limit=2)

    run(main())


def test_stream_idle_timeout_cancels_it() -> None:
    async def slow_items() -> Any:
        yield 1
        await asyncio.sleep(30)
        yield 2

    async def main() -> None:
        async with in_process({"slow": slow_items}) as (_, conn, _):
            got = []

            async def consume() -> None:
                async for item in conn.stream("slow", timeout=0.2):
                    got.append(item)

            with pytest.raises(RequestTimeoutError, match=r"sent nothing for 0\.2 s"):
                await consume()
            assert got == [1]
            await asyncio.sleep(0.05)
            assert conn.stats().in_flight == 0

    run(main())


def test_stream_item_too_large_and_not_serializable() -> None:
    def huge() -> Any:
        yield [b"x" * 3000]

    def odd() -> Any:
        yield object()

    async def main() -> None:
        limits = IpcLimits(max_frame_size=2048)
        async with in_process({"huge": huge, "odd": odd}, host_limits=limits) as (_, conn, _):
            with pytest.raises(RemoteError) as info:
                await conn.stream("huge").collect()
            assert info.value.remote_code == ErrorCode.RESULT_TOO_LARGE
            with pytest.raises(RemoteError) as info:
                await conn.stream("odd").collect()
            assert info.value.remote_code == ErrorCode.RESULT_NOT_SERIALIZABLE

    run(main())


def test_server_side_checks_duplicate_ids_busy_and_stray_frames() -> None:
    async def hold() -> str:
        await asyncio.sleep(0.3)
        return "held"

    async def main() -> None:
        host_sock, ext_sock = socket.socketpair()
        server = asyncio.create_task(
            serve_async(
                {"hold": hold},
                ext_sock,
                extension_id="x",
                limits=IpcLimits(max_concurrent=2),
            )
        )
        reader, writer = await asyncio.open_unix_connection(sock=host_sock)
        decoder = FrameDecoder()

        async def read() -> Any:
            while (frame := decoder.next_frame()) is None:
                decoder.feed(await reader.read(65536))
            return decode_message(frame)

        writer.write(encode_frame(Hello([1], "raw-host", 1 << 20, 8)))
        assert isinstance(await read(), Welcome)
        writer.write(
            b"".join(
                encode_frame(m)
                for m in (
                    Request(1, "hold"),
                    Request(1, "hold"),  # duplicate id while 1 is open
                    Request(2, "hold"),
                    Request(3, "hold"),  # over max_concurrent=2
                    Response(99, "stray"),  # an answer to nothing: dropped
                    Subscribe("a.*"),
                    Unsubscribe("a.*"),
                    Notification("missing"),
                )
            )
        )
        answers = [await read() for _ in range(4)]
        errors = {(a.id, a.code) for a in answers if isinstance(a, ErrorResponse)}
        assert errors == {(1, ErrorCode.INVALID_REQUEST), (3, ErrorCode.BUSY)}
        assert sorted(a.id for a in answers if isinstance(a, Response)) == [1, 2]
        writer.close()
        assert "peer closed the connection" in await asyncio.wait_for(server, 5)

    run(main())


def test_peer_subscription_limits_and_bad_patterns() -> None:
    async def main() -> None:
        bus, conn, fake = await fake_pair(IpcLimits(max_remote_patterns=2, max_bad_frames=5))
        await fake.send(Subscribe("a.*"))
        await fake.send(Subscribe("a.*"))  # again: no change
        await fake.send(Subscribe("b"))
        await fake.send(Subscribe("c"))  # over the limit: refused
        await fake.send(Subscribe("bad..pattern"))
        await fake.send(Publish("bad topic!", 1))
        await fake.send(Unsubscribe("b"))
        await fake.send(Unsubscribe("never"))
        refusals = [await fake.read() for _ in range(3)]
        assert all(isinstance(r, ErrorResponse) and r.id is None for r in refusals)
        assert conn.remote_patterns == frozenset({"a.*"})
        assert bus.subscribers("a.x") == (0, ["fake.ext"])
        assert conn.stats().bad_frames == 3
        await bus.close()

    run(main())


def test_handshake_failures_are_clear() -> None:
    async def welcome_with(answer: Any, limits: IpcLimits | None = None) -> Exception:
        host_sock, ext_sock = socket.socketpair()
        reader, writer = await asyncio.open_unix_connection(sock=ext_sock)
        bus = Bus(limits=limits)
        connecting = asyncio.create_task(bus.connect(host_sock))
        await reader.read(65536)  # the Hello
        if answer is not None:
            writer.write(encode_frame(answer))
        try:
            await connecting
        except Exception as exc:
            return exc
        finally:
            writer.close()
        raise AssertionError("the handshake succeeded")

    async def main() -> None:
        error = await welcome_with(Welcome(9, "x", "1", 1, [], 1024, 4))
        assert isinstance(error, HandshakeError)
        assert "version 9, which the host did not offer" in error.message
        error = await welcome_with(ErrorResponse(None, 4000, "not today"))
        assert isinstance(error, HandshakeError)
        assert "not today" in error.message
        error = await welcome_with(Publish("too.early", 1))
        assert isinstance(error, HandshakeError)
        error = await welcome_with(None, IpcLimits(handshake_timeout=0.1))
        assert isinstance(error, HandshakeError)
        assert "no handshake answer within 0.1 s" in error.message

    run(main())


def test_extension_refuses_anything_but_hello_first() -> None:
    async def main() -> None:
        host_sock, ext_sock = socket.socketpair()
        server = asyncio.create_task(serve_async({"echo": print}, ext_sock, extension_id="x"))
        reader, writer = await asyncio.open_unix_connection(sock=host_sock)
        writer.write(encode_frame(Request(1, "echo", [1])))
        data = await reader.read(65536)
        decoder = FrameDecoder()
        decoder.feed(data)
        frame = decoder.next_frame()
        assert frame is not None
        answer = decode_message(frame)
        assert isinstance(answer, ErrorResponse)
        assert answer.code == ErrorCode.HANDSHAKE_REQUIRED
        with pytest.raises(HandshakeError):
            await server
        writer.close()

    run(main())


def test_handler_tables_refuse_bad_names() -> None:
    for name in ("", "rpc.internal", "has space", "1leading", "x" * 300):
        with pytest.raises(IpcUsageError):
            HandlerTable({name: print})
    with pytest.raises(IpcUsageError, match="not callable"):
        HandlerTable({"x": 42})  # type: ignore[dict-item]
    table = HandlerTable({"a.b/c:d": print, "x-y_z": print})
    assert sorted(table) == ["a.b/c:d", "x-y_z"]
    assert len(table) == 2


def test_socket_from_fd_checks_the_fd() -> None:
    with pytest.raises(IpcUsageError, match="not an open socket"):
        socket_from_fd(987_654)
    dgram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    with pytest.raises(IpcUsageError, match="not a stream socket"):
        socket_from_fd(dgram.fileno())
    dgram.close()


def test_limits_validation_names_each_problem() -> None:
    with pytest.raises(IpcUsageError) as info:
        IpcLimits(
            write_high_water=0,
            call_timeout=0,
            handshake_timeout=0,
            flood_rate=0,
            flood_close_after=0,
            max_bad_frames=-1,
            subscription_queue=0,
            spin_wait=1.0,
            stream_chunk_size=10**9,
        )
    for name in (
        "write_high_water",
        "call_timeout",
        "handshake_timeout",
        "flood_rate",
        "flood_close_after",
        "max_bad_frames",
        "subscription_queue",
        "spin_wait",
        "stream_chunk_size",
    ):
        assert name in info.value.message
    assert IpcLimits(max_frame_size=1000).stream_chunk_size == 500


def test_echo_server_main_serves_a_blocking_client() -> None:
    host, child = socket.socketpair()
    status: list[int] = []
    thread = threading.Thread(
        target=lambda: status.append(
            echo_server.main(["--fd", str(child.fileno()), "--extension-id", "t.echo"])
        )
    )
    thread.start()
    events: list[Event] = []
    with BlockingClient(host, on_event=events.append) as client:
        assert client.handshake().extension_id == "t.echo"
        assert client.call("echo", [[1, "a"]]) == [1, "a"]
        assert client.call("add", [2, 3]) == 5
        assert client.call("big", [10]) == b"x" * 10
        assert client.call("publish", ["t.x", 1]) is True
        assert client.call("flood", [3]) == 3
        assert client.call("subscribe", ["h.*"]) is True
        with pytest.raises(RemoteError, match="boom"):
            client.call("raise_error")
        client.notify("echo", [1])
        client.publish("h.one", 1)
        client.subscribe("e.*")
        client.unsubscribe("e.*")
        assert client.poll_events(0.05) >= 0
        assert [e.topic for e in events][:4] == ["t.x", "echo.flood", "echo.flood", "echo.flood"]
    thread.join(10)
    assert status == [0]


def test_blocking_client_refuses_unencodable_params_and_closed_use() -> None:
    host, other = socket.socketpair()
    client = BlockingClient(host)
    with pytest.raises(IpcUsageError, match="not msgpack-native"):
        client.notify("x", [object()])
    client.close()
    with pytest.raises(ConnectionClosedError):
        client.notify("x")
    other.close()
