"""The bus and connections over in-process socketpairs: calls, errors, streams, limits."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import msgspec
import pytest
from ipc_harness import fake_pair, in_process, run

from symphony_core.ipc import (
    PROTOCOL_VERSIONS,
    Bus,
    BusBusyError,
    ConnectionClosedError,
    ErrorCode,
    HandlerError,
    IpcLimits,
    IpcUsageError,
    RemoteError,
    RequestTimeoutError,
    UnknownPeerError,
    VersionMismatchError,
    current_connection,
    serve_async,
)
from symphony_core.ipc.framing import encode_frame
from symphony_core.ipc.protocol import (
    ErrorResponse,
    Publish,
    Request,
    Response,
)


def echo(value: Any = None) -> Any:
    return value


def add(a: int, b: int) -> int:
    return a + b


BASIC: dict[str, Callable[..., Any]] = {"echo": echo, "add": add}


def test_handshake_states_identity_and_limits() -> None:
    async def main() -> None:
        async with in_process(BASIC) as (bus, conn, _):
            info = bus.info("test.ext")
            assert info.extension_id == "test.ext"
            assert info.extension_version == "2.0"
            assert info.pid == os.getpid()
            assert info.capabilities == ("test",)
            assert info.protocol_version == max(PROTOCOL_VERSIONS) == 2
            assert info.max_concurrent == IpcLimits().max_concurrent
            assert conn.name == "test.ext"
            assert list(bus.peers) == ["test.ext"]

    run(main())


def test_version_mismatch_is_refused_naming_both_sides() -> None:
    async def main() -> None:
        host_sock, ext_sock = socket.socketpair()
        server = asyncio.create_task(
            serve_async(BASIC, ext_sock, extension_id="test.ext", versions=[7, 8])
        )
        bus = Bus(versions=[1, 2])
        with pytest.raises(VersionMismatchError) as info:
            await bus.connect(host_sock)
        assert info.value.host_versions == [1, 2]
        assert info.value.extension_versions == [7, 8]
        with pytest.raises(VersionMismatchError) as served:
            await server
        assert "[1, 2]" in served.value.message
        assert "[7, 8]" in served.value.message
        assert not bus.peers

    run(main())


def test_calls_positional_named_and_many() -> None:
    async def main() -> None:
        async with in_process(BASIC) as (bus, conn, _):
            assert await bus.call("test.ext", "echo", [b"\x00bytes"]) == b"\x00bytes"
            assert await bus.call("test.ext", "add", {"a": 2, "b": 3}) == 5
            assert await conn.call("echo") is None
            nested = {"a": [1, 2.5, None, True, {"b": b"x"}], "ü": "ñ"}
            assert await conn.call("echo", [nested]) == nested
            results = await asyncio.gather(*(conn.call("add", [i, i]) for i in range(300)))
            assert results == [2 * i for i in range(300)]
            assert conn.stats().in_flight == 0

    run(main())


def test_remote_errors_carry_standard_codes() -> None:
    def boom() -> None:
        raise KeyError("missing")

    def typed(x: int) -> int:
        raise TypeError("bug inside the handler")

    def custom() -> None:
        raise HandlerError("quota exceeded", code_value=4029, data={"limit": 3})

    def unserializable() -> object:
        return object()

    handlers: dict[str, Callable[..., Any]] = {
        **BASIC,
        "boom": boom,
        "typed": typed,
        "custom": custom,
        "bad": unserializable,
    }

    async def main() -> None:
        async with in_process(handlers) as (_, conn, _):
            cases: list[tuple[str, Any, int, str]] = [
                ("nope", None, ErrorCode.METHOD_NOT_FOUND, "no method 'nope'"),
                ("add", [1], ErrorCode.INVALID_PARAMS, "do not fit add()"),
                ("add", {"a": 1, "c": 2}, ErrorCode.INVALID_PARAMS, "do not fit add()"),
                ("boom", None, ErrorCode.HANDLER_FAILED, "KeyError"),
                ("typed", [1], ErrorCode.HANDLER_FAILED, "bug inside the handler"),
                ("custom", None, 4029, "quota exceeded"),
                ("bad", None, ErrorCode.RESULT_NOT_SERIALIZABLE, "not msgpack-native"),
            ]
            for method, params, code, text in cases:
                with pytest.raises(RemoteError) as info:
                    await conn.call(method, params)
                assert info.value.remote_code == code, method
                assert text in info.value.remote_message, method
                assert info.value.method == method
                assert info.value.extension_id == "test.ext"
            with pytest.raises(RemoteError) as info:
                await conn.call("boom")
            assert info.value.data == {"type": "KeyError"}
            with pytest.raises(RemoteError) as info:
                await conn.call("custom")
            assert info.value.data == {"limit": 3}
            # The connection survives every one of them.
            assert await conn.call("add", [1, 1]) == 2

    run(main())


def test_params_that_are_not_msgpack_native_fail_locally() -> None:
    async def main() -> None:
        async with in_process(BASIC) as (_, conn, _):
            with pytest.raises(IpcUsageError, match="not msgpack-native"):
                await conn.call("echo", [object()])
            assert conn.stats().in_flight == 0
            assert await conn.call("echo", [1]) == 1

    run(main())


def test_result_over_the_frame_cap_is_answered_with_a_clear_error() -> None:
    def big(n: int) -> bytes:
        return b"x" * n

    async def main() -> None:
        limits = IpcLimits(max_frame_size=4096, stream_chunk_size=1024)
        async with in_process({"big": big}, host_limits=limits) as (_, conn, _):
            assert len(await conn.call("big", [1000])) == 1000
            with pytest.raises(RemoteError) as info:
                await conn.call("big", [10_000])
            assert info.value.remote_code == ErrorCode.RESULT_TOO_LARGE
            assert "4096-byte frame cap" in info.value.remote_message
            assert "stream" in info.value.remote_message

    run(main())


def test_timeout_cancels_the_handler_in_the_extension() -> None:
    seen: list[str] = []

    async def slow(tag: str) -> str:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            seen.append(f"cancelled {tag}")
            raise
        return tag

    async def main() -> None:
        async with in_process({"slow": slow, **BASIC}) as (_, conn, _):
            with pytest.raises(RequestTimeoutError, match=r"'slow' got no answer within 0\.1 s"):
                await conn.call("slow", ["t1"], timeout=0.1)
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.01)
            assert seen == ["cancelled t1"]
            # The late "cancelled" answer is absorbed silently, not counted as a flood.
            assert await conn.call("echo", [1]) == 1
            assert conn.stats().dropped_unsolicited == 0
            assert conn.stats().in_flight == 0

    run(main())


def test_cancelling_the_caller_cancels_the_handler() -> None:
    seen: list[str] = []
    entered = asyncio.Event()

    async def slow() -> None:
        entered.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    async def main() -> None:
        entered.clear()
        async with in_process({"slow": slow}) as (_, conn, _):
            task = asyncio.create_task(conn.call("slow", timeout=None))
            await asyncio.wait_for(entered.wait(), 5)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.01)
            assert seen == ["cancelled"]

    run(main())


def test_call_batch_keeps_order_and_reports_failures() -> None:
    def maybe(i: int) -> int:
        if i == 3:
            raise ValueError("three")
        return i * 10

    async def main() -> None:
        async with in_process({"maybe": maybe, **BASIC}) as (_, conn, _):
            assert await conn.call_batch("echo", [[i] for i in range(2000)]) == list(range(2000))
            assert await conn.call_batch("echo", []) == []
            results = await conn.call_batch(
                "maybe", [[i] for i in range(5)], return_exceptions=True
            )
            assert results[:3] == [0, 10, 20]
            assert results[4] == 40
            assert isinstance(results[3], RemoteError)
            with pytest.raises(RemoteError, match="three"):
                await conn.call_batch("maybe", [[i] for i in range(5)])
            assert conn.stats().in_flight == 0

    run(main())


def test_stream_of_bytes_is_rechunked_and_complete() -> None:
    def produce(n: int) -> Iterator[bytes]:
        yield b"a" * n
        yield b"b" * 10

    async def main() -> None:
        limits = IpcLimits(stream_chunk_size=1000)
        async with in_process({"produce": produce}, ext_limits=limits) as (_, conn, _):
            pieces = await conn.stream("produce", [4500]).collect()
            assert [len(p) for p in pieces] == [1000, 1000, 1000, 1000, 500, 10]
            assert b"".join(pieces) == b"a" * 4500 + b"b" * 10

    run(main())


def test_stream_flow_control_bounds_what_the_producer_sends_ahead() -> None:
    produced: list[int] = []

    async def counter(n: int) -> AsyncIterator[int]:
        for i in range(n):
            produced.append(i)
            yield i

    async def main() -> None:
        limits = IpcLimits(stream_window=4)
        async with in_process({"counter": counter}, host_limits=limits) as (_, conn, _):
            async with conn.stream("counter", [1000]) as items:
                first = await items.__anext__()
                await asyncio.sleep(0.2)
                # One consumed: the producer is at most window (+1 in hand) ahead.
                assert first == 0
                assert len(produced) <= 4 + 2
                assert items.buffered <= 4
                rest = [x async for x in items]
            assert rest == list(range(1, 1000))

    run(main())


def test_leaving_a_stream_early_stops_the_producer() -> None:
    closed: list[str] = []

    def endless() -> Iterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.append("closed")

    async def main() -> None:
        async with in_process({"endless": endless, **BASIC}) as (_, conn, _):
            got = []
            async with conn.stream("endless") as items:
                async for item in items:
                    got.append(item)
                    if item == 20:
                        break
            assert got == list(range(21))
            for _ in range(100):
                if closed:
                    break
                await asyncio.sleep(0.01)
            assert closed == ["closed"]
            assert await conn.call("echo", [5]) == 5
            assert conn.stats().in_flight == 0

    run(main())


def test_stream_of_a_plain_value_and_call_of_a_stream() -> None:
    def items() -> Iterator[int]:
        yield from range(3)

    async def main() -> None:
        async with in_process({"items": items, **BASIC}) as (_, conn, _):
            assert await conn.stream("echo", ["one"]).collect() == ["one"]
            with pytest.raises(
                IpcUsageError, match=r"answers with a stream; use Connection\.stream"
            ):
                await conn.call("items")
            assert await conn.stream("items").collect() == [0, 1, 2]

    run(main())


def test_stream_error_midway_reaches_the_consumer() -> None:
    def failing() -> Iterator[int]:
        yield 1
        raise RuntimeError("disk on fire")

    async def main() -> None:
        async with in_process({"failing": failing}) as (_, conn, _):
            got = []

            async def consume() -> None:
                async for item in conn.stream("failing"):
                    got.append(item)

            with pytest.raises(RemoteError, match="disk on fire"):
                await consume()
            assert got == [1]

    run(main())


def test_in_flight_limit_raises_or_waits() -> None:
    release = asyncio.Event()

    async def hold() -> str:
        await release.wait()
        return "done"

    async def main() -> None:
        release.clear()
        raising = IpcLimits(max_in_flight=2, when_busy="raise")
        async with in_process({"hold": hold}, host_limits=raising) as (_, conn, _):
            first = [asyncio.create_task(conn.call("hold")) for _ in range(2)]
            await asyncio.sleep(0.05)
            with pytest.raises(
                BusBusyError, match=r"2 requests to test\.ext are already in flight"
            ):
                await conn.call("hold")
            release.set()
            assert await asyncio.gather(*first) == ["done", "done"]
        release.clear()
        waiting = IpcLimits(max_in_flight=2, when_busy="wait")
        async with in_process({"hold": hold}, host_limits=waiting) as (_, conn, _):
            tasks = [asyncio.create_task(conn.call("hold")) for _ in range(5)]
            await asyncio.sleep(0.05)
            assert conn.stats().in_flight == 2
            release.set()
            assert await asyncio.gather(*tasks) == ["done"] * 5

    run(main())


def test_in_flight_limit_follows_the_extensions_concurrency() -> None:
    async def main() -> None:
        ext = IpcLimits(max_concurrent=3)
        async with in_process(BASIC, ext_limits=ext) as (_, conn, _):
            assert conn._max_in_flight == 3
            assert await asyncio.gather(*(conn.call("add", [i, 1]) for i in range(50))) == [
                i + 1 for i in range(50)
            ]

    run(main())


# ---------------------------------------------------------------- fake peers


def test_garbage_from_a_peer_closes_its_connection_and_fails_its_calls() -> None:
    async def main() -> None:
        bus, conn, fake = await fake_pair()
        closed: list[tuple[str, str]] = []
        bus.add_close_listener(lambda name, reason: closed.append((name, reason)))
        call = asyncio.create_task(conn.call("anything"))
        assert isinstance(await fake.read(), Request)
        await fake.send_raw(b"\x00\x00\x00\x03\xc1\xc1\xc1")
        with pytest.raises(ConnectionClosedError, match="protocol violation"):
            await call
        assert closed
        assert closed[0][0] == "fake.ext"
        assert "malformed msgpack" in closed[0][1]
        assert "fake.ext" not in bus.peers
        with pytest.raises(UnknownPeerError):
            bus.peer("fake.ext")
        await bus.close()

    run(main())


def test_tolerated_bad_frames_are_answered_then_the_limit_closes() -> None:
    async def main() -> None:
        bus, conn, fake = await fake_pair(IpcLimits(max_bad_frames=2))
        bad = msgspec.msgpack.encode([99])
        for _ in range(2):
            await fake.send_raw(len(bad).to_bytes(4, "big") + bad)
            answer = await fake.read()
            assert isinstance(answer, ErrorResponse)
            assert answer.id is None
            assert answer.code == ErrorCode.INVALID_REQUEST
            assert "invalid message" in answer.message
        assert not conn.closed
        call = asyncio.create_task(conn.call("x"))
        request = await fake.read()
        assert isinstance(request, Request)
        await fake.send(Response(request.id, "still fine"))
        assert await call == "still fine"
        await fake.send_raw(len(bad).to_bytes(4, "big") + bad)
        reason = await asyncio.wait_for(conn.wait_closed(), 5)
        assert "protocol violation by fake.ext" in reason
        assert conn.stats().bad_frames == 3
        await bus.close()

    run(main())


def test_oversized_frame_header_closes_before_reading_the_body() -> None:
    async def main() -> None:
        bus, conn, fake = await fake_pair(IpcLimits(max_frame_size=1 << 16))
        await fake.send_raw((1 << 30).to_bytes(4, "big") + b"\x00" * 100)
        reason = await asyncio.wait_for(conn.wait_closed(), 5)
        assert "frame of 1073741824 bytes exceeds the 65536-byte cap" in reason
        assert conn._decoder.capacity <= 1 << 16
        await bus.close()

    run(main())


def test_a_flooding_peer_is_throttled_then_disconnected() -> None:
    async def main() -> None:
        limits = IpcLimits(flood_rate=100, flood_burst=20, flood_close_after=500)
        bus, conn, fake = await fake_pair(limits)
        events = bus.subscribe("flood.*", maxsize=10)
        batch = b"".join(encode_frame(Publish("flood.x", i)) for i in range(2000))
        await fake.send_raw(batch)
        reason = await asyncio.wait_for(conn.wait_closed(), 5)
        assert "flooding" in reason
        stats = conn.stats()
        assert stats.dropped_unsolicited >= 500
        # What got through was bounded by the burst, and the queue by its size.
        assert events.delivered <= 25
        assert len(events) <= 10
        await bus.close()

    run(main())


def test_a_peer_that_does_not_read_makes_callers_wait_or_fail_never_grow() -> None:
    async def main() -> None:
        limits = IpcLimits(
            write_high_water=64 * 1024,
            write_hard_limit=64 * 1024 + (1 << 20),
            max_frame_size=1 << 20,
            when_busy="raise",
        )
        bus, conn, _fake = await fake_pair(limits)
        payload = b"p" * 32 * 1024

        async def fill() -> None:
            for _ in range(10_000):
                await conn.notify("sink", [payload])

        with pytest.raises(BusBusyError, match=r"bytes are queued for fake\.ext"):
            await fill()
        queued = conn.stats().queued_bytes
        assert queued <= 2 * 64 * 1024 + 2 * len(payload) + 1024
        # Events for a full peer are dropped and counted, not queued.
        conn._remote_patterns.add("t.*")
        bus._remote.add("t.*", conn)
        assert bus.publish("t.x", payload) == 0
        assert conn.stats().dropped_events == 1
        await bus.close()

    run(main())


def test_waiting_sender_resumes_when_the_peer_reads() -> None:
    async def main() -> None:
        limits = IpcLimits(write_high_water=32 * 1024, when_busy="wait")
        bus, conn, fake = await fake_pair(limits)
        payload = b"p" * 16 * 1024
        sent = 0

        async def sender() -> None:
            nonlocal sent
            for _ in range(200):
                await conn.notify("sink", [payload])
                sent += 1

        task = asyncio.create_task(sender())
        await asyncio.sleep(0.1)
        assert not task.done()
        # High-water mark, plus at most one cork's worth (capped by it), plus a frame.
        assert conn.stats().queued_bytes <= 2 * 32 * 1024 + 2 * len(payload) + 1024
        received = 0
        while received < 200:
            message = await fake.read()
            if message.__class__.__name__ == "Notification":
                received += 1
        await asyncio.wait_for(task, 5)
        assert sent == 200
        await bus.close()

    run(main())


def test_peer_that_never_reads_answers_is_disconnected_at_the_hard_limit() -> None:
    async def main() -> None:
        limits = IpcLimits(
            write_high_water=16 * 1024,
            write_hard_limit=16 * 1024 + 2 * 65536 + 1,
            max_frame_size=65536,
        )
        bus, conn, fake = await fake_pair(limits, handlers={"big": lambda: b"r" * 60_000})
        fake_sock = fake.writer.get_extra_info("socket")
        fake_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        requests = b"".join(encode_frame(Request(i, "big")) for i in range(1, 60))
        # The fake sends requests and never reads the answers.
        fake.writer.transport.pause_reading()  # type: ignore[attr-defined]
        await fake.send_raw(requests)
        reason = await asyncio.wait_for(conn.wait_closed(), 5)
        assert "does not read" in reason
        await bus.close()

    run(main())


def test_stray_answers_are_dropped_and_counted() -> None:
    async def main() -> None:
        bus, conn, fake = await fake_pair()
        await fake.send(Response(12345, "who asked?"))
        await fake.send(Publish("x.y", 1))
        await asyncio.sleep(0.05)
        assert conn.stats().dropped_unsolicited == 1
        assert not conn.closed
        await bus.close()

    run(main())


# ---------------------------------------------------------------- pub/sub


def test_events_flow_both_ways_and_patterns_match() -> None:
    async def emit(topic: str, data: Any) -> bool:
        return current_connection().publish(topic, data)

    async def collect(pattern: str, n: int) -> list[Any]:
        out: list[Any] = []
        with current_connection().subscribe(pattern) as events:
            while len(out) < n:
                event = await events.get(5)
                out.append([event.topic, event.data, event.source])
        return out

    async def main() -> None:
        async with in_process({"emit": emit, "collect": collect}) as (bus, conn, _):
            everything = bus.subscribe("**")
            nodes = bus.subscribe("wf.node.*")
            exact = bus.subscribe("wf.done")
            one_level = bus.subscribe("*")
            assert await conn.call("emit", ["wf.node.a", {"ok": True}])
            assert await conn.call("emit", ["wf.done", 1])
            assert await conn.call("emit", ["other", 2])
            await asyncio.sleep(0.01)
            assert [(e.topic, e.data, e.source) for e in everything.drain()] == [
                ("wf.node.a", {"ok": True}, "test.ext"),
                ("wf.done", 1, "test.ext"),
                ("other", 2, "test.ext"),
            ]
            assert [e.topic for e in nodes.drain()] == ["wf.node.a"]
            assert [e.topic for e in exact.drain()] == ["wf.done"]
            assert [e.topic for e in one_level.drain()] == ["other"]  # '*' is one segment
            # Host -> extension: only after the extension subscribed.
            assert bus.publish("cfg.changed", 0) == 1  # the host's own "**" subscriber
            waiting = asyncio.create_task(conn.call("collect", ["cfg.**", 2]))
            for _ in range(100):
                if bus.subscribers("cfg.x")[1]:
                    break
                await asyncio.sleep(0.01)
            assert bus.subscribers("cfg.x") == (1, ["test.ext"])
            assert bus.publish("cfg.x", "one") == 2
            bus.publish("unrelated", "no")
            bus.publish("cfg.y.z", "two")
            assert await waiting == [["cfg.x", "one", "host"], ["cfg.y.z", "two", "host"]]
            await asyncio.sleep(0.02)
            # The extension's subscription ended with the handler: the bus forgot it.
            assert bus.subscribers("cfg.x") == (1, [])

    run(main())


def test_slow_subscriber_loses_oldest_events_only() -> None:
    async def main() -> None:
        bus = Bus()
        slow = bus.subscribe("t", maxsize=3)
        for i in range(10):
            bus.publish("t", i)
        assert [e.data for e in slow.drain()] == [7, 8, 9]
        assert slow.dropped == 7
        slow.close()
        assert bus.publish("t", 1) == 0
        await bus.close()

    run(main())


def test_invalid_topics_and_patterns_are_refused() -> None:
    bus_errors = []
    for topic in ("", "a..b", "a b", ".a", "a.*", "x" * 300):
        with pytest.raises(IpcUsageError):
            Bus().publish(topic)
        bus_errors.append(topic)
    for pattern in ("", "a.**.b", "***", "a*", "a.", "a b.*", "x" * 300):
        with pytest.raises(IpcUsageError):
            Bus().subscribe(pattern)
    assert len(bus_errors) == 6
    # The wildcards of symphony_core.ports.topics: '*' one segment anywhere, '**' last.
    for pattern in ("*", "**", "a.*.b", "a.**", "*.b.**"):
        Bus().subscribe(pattern).close()


def test_extension_calls_the_hosts_handlers() -> None:
    async def call_host(method: str, params: Any) -> Any:
        return await current_connection().call(method, params)

    def host_version() -> str:
        return "host-1.0"

    async def main() -> None:
        async with in_process(
            {"call_host": call_host}, host_handlers={"host.version": host_version}
        ) as (_, conn, _):
            assert await conn.call("call_host", ["host.version", None]) == "host-1.0"
            with pytest.raises(RemoteError) as info:
                await conn.call("call_host", ["host.missing", None])
            assert "METHOD_NOT_FOUND" in info.value.remote_message

    run(main())


# ---------------------------------------------------------------- lifecycle


def test_heartbeat_is_answered_by_the_peer() -> None:
    async def main() -> None:
        async with in_process(BASIC) as (bus, conn, _):
            rtts = [await bus.heartbeat("test.ext") for _ in range(3)]
            assert all(0 < rtt < 5 for rtt in rtts)
            assert conn.stats().dropped_unsolicited == 0

    run(main())


def test_close_fails_pending_calls_and_ends_the_server() -> None:
    async def forever() -> None:
        await asyncio.sleep(60)

    async def main() -> None:
        async with in_process({"forever": forever}) as (bus, conn, server):
            pending = asyncio.create_task(conn.call("forever", timeout=None))
            await asyncio.sleep(0.02)
            await bus.disconnect("test.ext", "maintenance")
            with pytest.raises(ConnectionClosedError) as info:
                await pending
            assert info.value.reason == "maintenance"
            assert info.value.peer == "test.ext"
            assert await asyncio.wait_for(server, 5) == "peer said goodbye: maintenance"
            with pytest.raises(ConnectionClosedError):
                await conn.call("forever")
            assert not conn.publish("a", 1)

    run(main())


def test_peer_names_are_unique_and_instances_can_be_named() -> None:
    async def main() -> None:
        bus = Bus()
        async with (
            in_process(BASIC, bus=bus, name="ext#1"),
            in_process(BASIC, bus=bus, name="ext#2"),
        ):
            assert sorted(bus.peers) == ["ext#1", "ext#2"]
            assert await bus.call("ext#1", "echo", [1]) == 1
            assert await bus.call("ext#2", "echo", [2]) == 2
            with pytest.raises(IpcUsageError, match="already connected"):
                async with in_process(BASIC, bus=bus, name="ext#1"):
                    pass
            with pytest.raises(UnknownPeerError, match="open: ext#1, ext#2"):
                await bus.call("ext#3", "echo")
        await bus.close()
        with pytest.raises(IpcUsageError, match="closed"):
            await bus.connect(socket.socketpair()[0])

    run(main())


def test_pipes_carry_the_same_protocol() -> None:
    async def main() -> None:
        to_ext_r, to_ext_w = os.pipe()
        to_host_r, to_host_w = os.pipe()
        server = asyncio.create_task(
            serve_async(BASIC, (to_ext_r, to_host_w), extension_id="pipe.ext")
        )
        bus = Bus()
        conn = await bus.connect((to_host_r, to_ext_w))
        assert await conn.call("add", [20, 22]) == 42
        assert await conn.call_batch("echo", [[b"x" * 70_000]] * 5) == [b"x" * 70_000] * 5
        await bus.close()
        assert "goodbye" in await asyncio.wait_for(server, 5)

    run(main())


def test_channel_must_be_a_stream_socket_or_fd_pair() -> None:
    async def main() -> None:
        bus = Bus()
        with pytest.raises(IpcUsageError, match="not an IPC channel"):
            await bus.connect((1, "x"))  # type: ignore[arg-type]
        dgram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        with pytest.raises(IpcUsageError, match="stream socket"):
            await bus.connect(dgram)
        dgram.close()

    run(main())


def test_invalid_limits_are_refused_with_every_problem() -> None:
    with pytest.raises(IpcUsageError) as info:
        IpcLimits(max_frame_size=1, max_in_flight=0, when_busy="panic")  # type: ignore[arg-type]
    assert "max_frame_size" in info.value.message
    assert "max_in_flight" in info.value.message
    assert "when_busy" in info.value.message


def test_spin_wait_misses_fall_back_to_the_loop() -> None:
    # In-process the server shares our loop, so every spin misses: answers must still come.
    async def main() -> None:
        limits = IpcLimits(spin_wait=200e-6)
        async with in_process(BASIC, host_limits=limits) as (_, conn, _):
            assert [await conn.call("add", [i, i]) for i in range(50)] == [2 * i for i in range(50)]
            assert conn._spin_misses > 0

    run(main())


def test_a_dropped_stream_is_cancelled_and_frees_its_slot() -> None:
    closed: list[str] = []

    def endless() -> Iterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.append("closed")

    async def main() -> None:
        async with in_process({"endless": endless}) as (_, conn, _):
            async for item in conn.stream("endless"):
                if item == 3:
                    break  # no ``async with``: the stream object is simply dropped
            for _ in range(100):
                if closed:
                    break
                await asyncio.sleep(0.01)
            assert closed == ["closed"]
            assert conn.stats().in_flight == 0

    run(main())


def test_an_internal_error_answers_internal_error_and_closes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from symphony_core.ipc.serving import Serving

    def broken(self: Serving, rid: int, result: Any) -> None:
        raise RuntimeError("bug in the serving side")

    async def main() -> None:
        async with in_process(BASIC) as (_, conn, server):
            monkeypatch.setattr(Serving, "_send_result", broken)
            with pytest.raises(RemoteError) as info:
                await conn.call("echo", [1])
            assert info.value.remote_code == ErrorCode.INTERNAL_ERROR
            reason = await asyncio.wait_for(conn.wait_closed(), 5)
            assert "internal error" in reason
            assert "internal error handling a Request frame" in await server

    run(main())


def test_subscription_iteration_ends_when_closed() -> None:
    async def main() -> None:
        bus = Bus()
        events = bus.subscribe("a.*", maxsize=5)
        bus.publish("a.one", 1)
        bus.publish("a.two", 2)

        async def closer() -> None:
            await asyncio.sleep(0.01)
            bus.publish("a.three", 3)
            events.close()

        task = asyncio.create_task(closer())
        assert [e.data async for e in events] == [1, 2, 3]
        await task
        with pytest.raises(ConnectionClosedError, match=r"subscription to 'a\.\*' is closed"):
            await events.get()
        with pytest.raises(TimeoutError):
            await bus.subscribe("b").get(timeout=0.01)
        await bus.close()

    run(main())
