"""Integration over real OS processes: the echo server as an extension-host child."""

from __future__ import annotations

import asyncio
import pickle
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ipc_harness import Child, run

from symphony_core.ipc import (
    BlockingClient,
    Bus,
    ConnectionClosedError,
    ErrorCode,
    Event,
    HandshakeError,
    IpcLimits,
    RemoteError,
    RequestTimeoutError,
    VersionMismatchError,
    current_connection,
)

Spawn = Callable[..., Child]


class _MakesMarker:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.makedirs, (self.path,))


def test_bus_routes_to_several_processes_by_name(echo_child: Spawn) -> None:
    children = [echo_child() for _ in range(3)]

    async def main() -> None:
        async with Bus() as bus:
            for i, child in enumerate(children):
                conn = await bus.connect(child.channel, name=f"echo#{i}")
                assert conn.info is not None
                assert conn.info.pid == child.process.pid
                assert conn.info.extension_id == "symphony.echo"
            pids = await asyncio.gather(*(bus.call(f"echo#{i}", "pid") for i in range(3)))
            assert pids == [c.process.pid for c in children]
            results = await asyncio.gather(
                *(bus.call(f"echo#{i % 3}", "add", [i, 1000]) for i in range(300))
            )
            assert results == [i + 1000 for i in range(300)]
        assert [c.wait() for c in children] == [0, 0, 0]

    run(main())


def test_a_crashing_extension_is_reported_and_the_host_carries_on(echo_child: Spawn) -> None:
    crashing, healthy = echo_child(), echo_child()

    async def main() -> None:
        async with Bus() as bus:
            closed: list[tuple[str, str]] = []
            bus.add_close_listener(lambda name, reason: closed.append((name, reason)))
            await bus.connect(crashing.channel, name="crashy")
            await bus.connect(healthy.channel, name="healthy")
            slow = asyncio.create_task(bus.call("crashy", "sleep", [30], timeout=None))
            await asyncio.sleep(0.05)
            with pytest.raises(ConnectionClosedError) as info:
                await bus.call("crashy", "crash", [3])
            assert info.value.peer == "crashy"
            assert "peer closed the connection" in str(info.value)
            with pytest.raises(ConnectionClosedError):
                await slow
            assert closed == [("crashy", "peer closed the connection")]
            assert list(bus.peers) == ["healthy"]
            assert await bus.call("healthy", "echo", ["still here"]) == "still here"
        assert crashing.wait() == 3

    run(main())


def test_timeout_carries_cancellation_into_the_extension(echo_child: Spawn) -> None:
    child = echo_child()

    async def main() -> None:
        async with Bus() as bus:
            await bus.connect(child.channel)
            cancelled = bus.subscribe("echo.cancelled")
            with pytest.raises(RequestTimeoutError):
                await bus.call("symphony.echo", "sleep", [30, "t-1"], timeout=0.2)
            event = await cancelled.get(5)
            assert (event.data, event.source) == ({"tag": "t-1"}, "symphony.echo")
            # Leaving a stream early cancels the producer in the child as well.
            async with bus.stream("symphony.echo", "stream_items", [10**9, 0, "s-1"]) as items:
                async for item in items:
                    if item == 100:
                        break
            event = await cancelled.get(5)
            assert event.data == {"tag": "s-1"}
            assert await bus.call("symphony.echo", "echo", [1]) == 1

    run(main())


def test_a_50_mb_stream_keeps_host_memory_bounded(echo_child: Spawn) -> None:
    child = echo_child()
    total = 50 * 1024 * 1024

    async def main() -> tuple[int, int]:
        async with Bus() as bus:
            await bus.connect(child.channel)
            received = 0
            tracemalloc.start()
            try:
                tracemalloc.reset_peak()
                async for piece in bus.stream("symphony.echo", "stream_bytes", [total, 1 << 20]):
                    assert piece[:1] == b"\xab"
                    if not received:
                        # A slow consumer: without flow control the producer would now
                        # push the whole 50 MB into the host.
                        await asyncio.sleep(0.3)
                    received += len(piece)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            return received, peak

    received, peak = run(main())
    assert received == total
    # Window (8) x chunk (256 KiB) plus the receive buffer: a few MiB, not 50.
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes"


def test_pickle_from_an_extension_is_never_executed(echo_child: Spawn, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_MakesMarker(str(marker)))
    child = echo_child()

    async def main() -> str:
        async with Bus() as bus:
            conn = await bus.connect(child.channel)
            # Carried as data, it comes back as the same bytes.
            assert await conn.call("echo", [payload]) == payload
            # As a frame body, it is garbage: the connection is dropped.
            with pytest.raises(ConnectionClosedError):
                await conn.call("garbage", [payload])
            return await conn.wait_closed()

    reason = run(main())
    assert "protocol violation" in reason
    assert not marker.exists()
    pickle.loads(payload)  # positive control: this is code execution
    assert marker.is_dir()


def test_oversized_frame_from_an_extension_is_refused(echo_child: Spawn) -> None:
    child = echo_child()

    async def main() -> str:
        async with Bus(limits=IpcLimits(max_frame_size=1 << 20)) as bus:
            conn = await bus.connect(child.channel)
            with pytest.raises(ConnectionClosedError):
                await conn.call("oversize", [1 << 30])
            return await conn.wait_closed()

    assert "exceeds the 1048576-byte cap" in run(main())


def test_a_flooding_extension_is_disconnected_and_memory_stays_bounded(
    echo_child: Spawn,
) -> None:
    child = echo_child()

    async def main() -> tuple[str, int, int]:
        limits = IpcLimits(flood_rate=1000, flood_burst=100, flood_close_after=2000)
        async with Bus(limits=limits) as bus:
            conn = await bus.connect(child.channel)
            events = bus.subscribe("echo.flood", maxsize=50)
            tracemalloc.start()

            async def flood() -> None:
                for _ in range(50):
                    await conn.call("flood", [20_000])

            try:
                with pytest.raises((ConnectionClosedError, RemoteError)):
                    await flood()
                reason = await conn.wait_closed()
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            return reason, peak, len(events)

    reason, peak, kept = run(main())
    assert "flooding" in reason
    assert kept <= 50
    assert peak < 16 * 1024 * 1024


def test_a_hung_extension_misses_its_heartbeat(echo_child: Spawn) -> None:
    child = echo_child()

    async def main() -> None:
        async with Bus() as bus:
            conn = await bus.connect(child.channel)
            assert await conn.heartbeat(5) < 5
            blocked = asyncio.create_task(conn.call("block", [1.0]))
            await asyncio.sleep(0.05)
            with pytest.raises(RequestTimeoutError, match="did not answer a heartbeat"):
                await conn.heartbeat(0.3)
            assert await blocked == 1.0
            assert await conn.heartbeat(5) < 5

    run(main())


def test_version_mismatch_with_a_real_process(echo_child: Spawn) -> None:
    # Versions 1 and 2 exist (2 adds batch frames); 7 and 8 do not.
    child = echo_child("--versions", "7,8")

    async def main() -> None:
        bus = Bus()
        with pytest.raises(VersionMismatchError) as info:
            await bus.connect(child.channel)
        assert info.value.host_versions == [1, 2]
        assert info.value.extension_versions == [7, 8]

    run(main())
    assert child.wait() == 2


def test_pipes_to_a_real_process(echo_child: Spawn) -> None:
    child = echo_child(pipes=True)

    async def main() -> None:
        async with Bus() as bus:
            conn = await bus.connect(child.channel)
            assert await conn.call("add", [1, 2]) == 3
            data = b"".join(await conn.stream("stream_bytes", [3_000_000]).collect())
            assert len(data) == 3_000_000

    run(main())
    assert child.wait() == 0


def test_extension_subscribes_to_host_events(echo_child: Spawn) -> None:
    child = echo_child()

    async def main() -> None:
        async with Bus() as bus:
            conn = await bus.connect(child.channel)
            collecting = asyncio.create_task(conn.call("collect", ["job.*", 2]))
            for _ in range(200):
                if "job.*" in conn.remote_patterns:
                    break
                await asyncio.sleep(0.01)
            bus.publish("other", 0)
            assert bus.publish("job.start", {"id": 1}) == 1
            bus.publish("job.end", [b"done"])
            assert await collecting == [["job.start", {"id": 1}], ["job.end", [b"done"]]]

    run(main())


# ---------------------------------------------------------------- blocking client


def test_blocking_client_calls_streams_and_errors(echo_child: Spawn) -> None:
    child = echo_child()
    events: list[Event] = []
    with BlockingClient(child.channel, on_event=events.append) as client:
        info = client.handshake()
        assert info.pid == child.process.pid
        assert client.name == "symphony.echo"
        assert client.call("echo", [b"x" * 100_000]) == b"x" * 100_000
        assert client.call("add", {"a": 1, "b": 2}) == 3
        with pytest.raises(RemoteError) as error:
            client.call("fail", [4001, "no quota", {"left": 0}])
        assert (error.value.remote_code, error.value.data) == (4001, {"left": 0})
        with pytest.raises(RemoteError) as error:
            client.call("missing")
        assert error.value.remote_code == ErrorCode.METHOD_NOT_FOUND
        assert client.call_batch("echo", [[i] for i in range(1000)]) == list(range(1000))
        chunks = list(client.stream("stream_bytes", [5_000_000, 1 << 20]))
        assert sum(len(c) for c in chunks) == 5_000_000
        assert list(client.stream("stream_items", [5])) == [0, 1, 2, 3, 4]
        assert client.call("publish", ["note.x", {"n": 1}]) is True
        assert [(e.topic, e.data) for e in events] == [("note.x", {"n": 1})]
        assert 0 < client.heartbeat() < 5
    assert child.wait() == 0


def test_blocking_client_timeout_cancels_and_discards_the_late_answer(
    echo_child: Spawn,
) -> None:
    child = echo_child()
    events: list[Event] = []
    with BlockingClient(child.channel, on_event=events.append) as client:
        client.handshake()
        with pytest.raises(RequestTimeoutError, match="'sleep' got no answer"):
            client.call("sleep", [30, "b-1"], timeout=0.2)
        assert client.call("echo", ["fresh"]) == "fresh"
        client.poll_events(0.2)
        assert [e.data for e in events] == [{"tag": "b-1"}]
        # Closing a stream early cancels it in the child too.
        items = client.stream("stream_items", [10**9, 0, "b-2"])
        assert [next(items) for _ in range(10)] == list(range(10))
        items.close()  # type: ignore[attr-defined]
        assert client.call("echo", [2]) == 2
        client.poll_events(0.2)
        assert [e.data for e in events][-1] == {"tag": "b-2"}


def test_blocking_client_sees_busy_answers(echo_child: Spawn) -> None:
    child = echo_child("--max-concurrent", "2")
    with BlockingClient(child.channel) as client:
        assert client.handshake().max_concurrent == 2
        results: list[Any] = client.call_batch("sleep", [[0.2]] * 5, return_exceptions=True)
        busy = [r for r in results if isinstance(r, RemoteError)]
        assert results.count(0.2) == 2
        assert len(busy) == 3
        assert all(r.remote_code == ErrorCode.BUSY for r in busy)


def test_blocking_client_version_mismatch_and_crash(echo_child: Spawn) -> None:
    with BlockingClient(echo_child("--versions", "5").channel) as client:
        with pytest.raises(VersionMismatchError, match=r"host supports \[1, 2\].*\[5\]"):
            client.handshake()
        assert client.closed
    child = echo_child()
    with BlockingClient(child.channel) as client:
        client.handshake()
        with pytest.raises(ConnectionClosedError, match="peer closed the connection"):
            client.call("crash", [4])
        with pytest.raises(ConnectionClosedError):
            client.call("echo", [1])
    assert child.wait() == 4


def test_blocking_client_handshake_timeout(echo_child: Spawn) -> None:
    import socket

    host, _other = socket.socketpair()
    client = BlockingClient(host, limits=IpcLimits(handshake_timeout=0.2))
    with pytest.raises(HandshakeError, match="no handshake answer"):
        client.handshake()
    assert client.closed
    _other.close()


def test_spin_wait_fast_path_answers_like_the_loop(echo_child: Spawn) -> None:
    child = echo_child()

    async def main() -> None:
        def whoami() -> str:
            return current_connection().name

        async with Bus(limits=IpcLimits(spin_wait=500e-6), handlers={"whoami": whoami}) as bus:
            conn = await bus.connect(child.channel)
            # The child calls back into the host while the host's call may be spinning.
            assert await conn.call("call_host", ["whoami", None]) == "symphony.echo"
            results = [await conn.call("add", [i, 1]) for i in range(2000)]
            assert results == [i + 1 for i in range(2000)]
            with pytest.raises(RemoteError) as info:
                await conn.call("raise_error", ["spun"])
            assert "spun" in info.value.remote_message
            # A slow answer misses the spin and arrives through the loop.
            assert await conn.call("sleep", [0.05]) == 0.05
            assert await conn.call("echo", [b"z" * 300_000]) == b"z" * 300_000
            assert conn.stats().in_flight == 0

    run(main())


def test_blocking_client_gives_up_on_a_peer_that_does_not_read() -> None:
    import socket

    host, other = socket.socketpair()
    host.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    client = BlockingClient(host, limits=IpcLimits(call_timeout=0.3))
    with pytest.raises(RequestTimeoutError, match="did not read in time"):
        client.call("sink", [b"x" * 1_000_000])
    assert client.closed
    other.close()
