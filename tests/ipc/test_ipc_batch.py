"""Batch frames (protocol version 2): wire shape, serving, limits, cancellation, interop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any

import msgspec
import pytest
from ipc_harness import Child, FakeExtension, fake_pair, in_process, run

from symphony_core.ipc import (
    PROTOCOL_VERSIONS,
    BlockingClient,
    ConnectionClosedError,
    ErrorCode,
    Event,
    FrameTooLargeError,
    HandlerError,
    IpcLimits,
    ProtocolError,
    RemoteError,
    RequestTimeoutError,
    serve_async,
)
from symphony_core.ipc.framing import FrameDecoder, encode_frame
from symphony_core.ipc.protocol import (
    BATCH_VERSION,
    BatchItemsError,
    Cancel,
    Credit,
    ErrorResponse,
    Goodbye,
    Hello,
    Message,
    Request,
    RequestBatch,
    RequestRun,
    Response,
    ResponseBatch,
    ResultRun,
    StreamChunk,
    StreamEnd,
    Welcome,
    decode_message,
    encode_message,
)

Spawn = Callable[..., Child]


def echo(value: Any = None) -> Any:
    return value


def add(a: int, b: int) -> int:
    return a + b


# ---------------------------------------------------------------- wire format


def test_protocol_version_2_is_offered_and_existing_tags_are_unchanged() -> None:
    assert PROTOCOL_VERSIONS == (1, 2)
    assert BATCH_VERSION == 2
    assert msgspec.msgpack.decode(encode_message(Request(7, "echo", [1]))) == [3, 7, "echo", [1]]
    assert msgspec.msgpack.decode(encode_message(Response(7, 2))) == [4, 7, 2]
    assert msgspec.msgpack.decode(encode_message(Goodbye("x"))) == [16, "x"]


def test_batch_wire_shape_is_tagged_arrays_of_runs() -> None:
    batch = RequestBatch([RequestRun(10, "echo", [[1], None, {"value": 2}])])
    assert msgspec.msgpack.decode(encode_message(batch)) == [
        17,
        [[10, "echo", [[1], None, {"value": 2}]]],
    ]
    answers = ResponseBatch([ResultRun(10, [1, None])], [ErrorResponse(12, -32000, "boom", None)])
    assert msgspec.msgpack.decode(encode_message(answers)) == [
        18,
        [[10, [1, None]]],
        [[5, 12, -32000, "boom", None]],
    ]


def test_batches_round_trip_and_stand_for_single_messages() -> None:
    requests = [
        Request(1, "echo", [1]),
        Request(2, "echo", None),
        Request(3, "add", {"a": 1, "b": 2}),
        Request(9, "add", [1, 2]),
    ]
    batch = RequestBatch.of(requests)
    assert [(r.first_id, r.method, len(r.params)) for r in batch.runs] == [
        (1, "echo", 2),
        (3, "add", 1),
        (9, "add", 1),
    ]
    assert len(batch) == 4
    decoded = decode_message(encode_message(batch))
    assert decoded == batch
    assert isinstance(decoded, RequestBatch)
    assert decoded.requests() == requests

    answers: list[Response | ErrorResponse] = [
        Response(1, "a"),
        Response(2, b"b"),
        ErrorResponse(3, ErrorCode.HANDLER_FAILED, "no", {"k": 1}),
        Response(5, [1]),
        ErrorResponse(None, ErrorCode.INVALID_REQUEST, "unreadable"),
    ]
    response = ResponseBatch.of(answers)
    assert [(r.first_id, r.results) for r in response.results] == [(1, ["a", b"b"]), (5, [[1]])]
    assert len(response) == 5
    back = decode_message(encode_message(response))
    assert back == response
    assert isinstance(back, ResponseBatch)
    assert back.answers() == [answers[0], answers[1], answers[3], answers[2], answers[4]]
    with pytest.raises(ValueError, match="at least one request"):
        RequestBatch.of([])


def test_empty_or_impossible_batches_are_protocol_errors() -> None:
    for body in (
        msgspec.msgpack.encode([17, []]),  # JSON-RPC: an empty batch is invalid
        msgspec.msgpack.encode([18, [], []]),
        msgspec.msgpack.encode([18, [[1, []]], []]),  # a run without results
        msgspec.msgpack.encode([17, "not runs"]),
    ):
        with pytest.raises(ProtocolError) as info:
            decode_message(body)
        assert not isinstance(info.value, BatchItemsError)
        assert info.value.details["rpc_code"] == ErrorCode.INVALID_REQUEST


def test_invalid_items_of_a_batch_are_singled_out() -> None:
    body = msgspec.msgpack.encode(
        [
            17,
            [
                [1, "echo", [[1], 5, None, [2]]],  # item 2 has params that are no params
                [9, "", [[1], [2]]],  # invalid method: both requests rejected
                [20, "echo"],  # unreadable run
                [2**63 - 1, "echo", [[1], [2]]],  # the second id does not exist
                [30, "add", [{"a": 1, "b": 2}]],
            ],
        ]
    )
    with pytest.raises(BatchItemsError) as info:
        decode_message(body)
    error = info.value
    assert error.code == "ipc.invalid_batch_items"
    assert [r.requests() for r in error.runs] == [
        [Request(1, "echo", [1])],
        [Request(3, "echo", None), Request(4, "echo", [2])],
        [Request(2**63 - 1, "echo", [1])],
        [Request(30, "add", {"a": 1, "b": 2})],
    ]
    rejected = {(e.id, e.code) for e in error.rejected}
    assert rejected == {
        (2, ErrorCode.INVALID_REQUEST),
        (9, ErrorCode.INVALID_REQUEST),
        (10, ErrorCode.INVALID_REQUEST),
        (None, ErrorCode.INVALID_REQUEST),
    }
    assert len(error.rejected) == 5  # two without a readable id
    messages = " | ".join(e.message for e in error.rejected)
    assert "params must be an array, a map or nil" in messages
    assert "invalid method name" in messages
    assert "request ids go past" in messages


def test_pickles_and_extension_types_inside_a_batch_are_refused() -> None:
    ext = msgspec.msgpack.Ext(1, b"\x80\x04K\x01.")
    body = msgspec.msgpack.encode([17, [[1, "echo", [[1], [ext]]]]])
    with pytest.raises(BatchItemsError) as info:
        decode_message(body)
    assert [r.requests() for r in info.value.runs] == [[Request(1, "echo", [1])]]
    assert [e.id for e in info.value.rejected] == [2]
    assert "extension type 1 is not allowed" in info.value.rejected[0].message


# ---------------------------------------------------------------- a raw host


class RawHost:
    """The host end of a socketpair to ``serve_async``, driven frame by frame."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = FrameDecoder()
        self.welcome: Welcome | None = None

    async def read(self, timeout: float = 5.0) -> Message:
        async with asyncio.timeout(timeout):
            while (frame := self.decoder.next_frame()) is None:
                data = await self.reader.read(65536)
                if not data:
                    raise EOFError
                self.decoder.feed(data)
        return decode_message(frame)

    def send(self, *messages: Message) -> None:
        self.writer.write(b"".join(encode_frame(m) for m in messages))

    async def answers(self, ids: set[int | None]) -> tuple[dict[Any, Any], list[Message]]:
        """Read until every id in ``ids`` is answered; return answers and the frames."""
        got: dict[Any, Any] = {}
        frames: list[Message] = []
        while not ids <= got.keys():
            message = await self.read()
            frames.append(message)
            if isinstance(message, ResponseBatch):
                for answer in message.answers():
                    got[answer.id] = answer
            elif isinstance(message, Response | ErrorResponse):
                got[message.id] = message
        return got, frames


@contextlib.asynccontextmanager
async def raw_host(
    handlers: Mapping[str, Callable[..., Any]],
    *,
    limits: IpcLimits | None = None,
    versions: Sequence[int] = (1, 2),
) -> AsyncIterator[tuple[RawHost, asyncio.Task[str]]]:
    host_sock, ext_sock = socket.socketpair()
    server = asyncio.create_task(
        serve_async(handlers, ext_sock, extension_id="raw.ext", limits=limits)
    )
    reader, writer = await asyncio.open_unix_connection(sock=host_sock)
    host = RawHost(reader, writer)
    host.send(Hello(list(versions), "raw-host", 1 << 20, 8))
    welcome = await host.read()
    assert isinstance(welcome, Welcome)
    host.welcome = welcome
    try:
        yield host, server
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server, 5)


# ---------------------------------------------------------------- serving


def test_a_batch_is_served_item_by_item_and_sync_answers_share_one_frame() -> None:
    cancelled: list[int] = []

    async def slow(x: int) -> int:
        await asyncio.sleep(0.05)
        return x * 100

    def count(n: int) -> Iterator[int]:
        yield from range(n)

    def fails(x: int) -> None:
        raise ValueError(f"bad {x}")

    def refuses() -> None:
        raise HandlerError("no quota", code_value=4001, data={"left": 0})

    handlers: dict[str, Callable[..., Any]] = {
        "echo": echo,
        "add": add,
        "slow": slow,
        "count": count,
        "fails": fails,
        "refuses": refuses,
    }

    async def main() -> None:
        async with raw_host(handlers) as (host, _):
            assert host.welcome is not None
            assert host.welcome.version == 2
            host.send(
                RequestBatch(
                    [
                        RequestRun(1, "echo", [[1], [b"two"], None]),
                        RequestRun(4, "slow", [[4]]),
                        RequestRun(5, "add", [[2, 3], {"a": 1, "b": 1}, [1]]),  # 7: bad params
                        RequestRun(8, "missing", [None]),
                        RequestRun(9, "fails", [[9]]),
                        RequestRun(10, "count", [[3]]),
                        RequestRun(11, "refuses", [None]),
                        RequestRun(12, "echo", [["last"]]),
                    ]
                )
            )
            first = await host.read()
            # Everything that finished at once came back in one frame.
            assert isinstance(first, ResponseBatch)
            done = {a.id: a for a in first.answers()}
            assert set(done) == {1, 2, 3, 5, 6, 7, 8, 9, 11, 12}
            assert [done[i].result for i in (1, 2, 3, 5, 6, 12)] == [  # type: ignore[union-attr]
                1,
                b"two",
                None,
                5,
                2,
                "last",
            ]
            codes = {i: done[i].code for i in (7, 8, 9, 11)}  # type: ignore[union-attr]
            assert codes == {
                7: ErrorCode.INVALID_PARAMS,
                8: ErrorCode.METHOD_NOT_FOUND,
                9: ErrorCode.HANDLER_FAILED,
                11: 4001,
            }
            assert done[11].data == {"left": 0}  # type: ignore[union-attr]
            # The stream and the coroutine answer on their own, by id.
            chunks: list[int] = []
            slow_answer: Message | None = None
            while slow_answer is None or len(chunks) < 3:
                message = await host.read()
                if isinstance(message, StreamChunk):
                    assert message.id == 10
                    chunks.append(message.data)
                elif isinstance(message, Response):
                    slow_answer = message
                else:
                    assert isinstance(message, StreamEnd)
                    assert message.count == len(chunks)
            assert chunks == [0, 1, 2]
            assert slow_answer == Response(4, 400)
            assert cancelled == []

    run(main())


def test_one_bad_item_does_not_sink_the_batch_or_the_connection() -> None:
    async def main() -> None:
        async with raw_host({"echo": echo}) as (host, _):
            body = msgspec.msgpack.encode(
                [17, [[1, "echo", [[1], 5, [3]]], [4, "echo", [["ok"]]], "junk"]]
            )
            host.writer.write(len(body).to_bytes(4, "big") + body)
            answers, _ = await host.answers({1, 2, 3, 4, None})
            assert answers[1] == Response(1, 1)
            assert answers[3] == Response(3, 3)
            assert answers[4] == Response(4, "ok")
            assert answers[2].code == ErrorCode.INVALID_REQUEST
            assert answers[None].code == ErrorCode.INVALID_REQUEST
            # Still open: a plain request after it is served.
            host.send(Request(5, "echo", ["after"]))
            assert await host.read() == Response(5, "after")

    run(main())


def test_a_batch_over_the_limit_is_refused_naming_the_limit() -> None:
    async def main() -> None:
        async with raw_host({"echo": echo}, limits=IpcLimits(max_batch=4)) as (host, server):
            host.send(RequestBatch([RequestRun(1, "echo", [[i] for i in range(5)])]))
            answers, frames = await host.answers({1, 2, 3, 4, 5})
            assert len(frames) == 1
            for rid in range(1, 6):
                answer = answers[rid]
                assert isinstance(answer, ErrorResponse)
                assert answer.code == ErrorCode.INVALID_REQUEST
                assert "limit of 4 per batch (max_batch)" in answer.message
                assert answer.data == {"limit": "max_batch", "max": 4, "got": 5}
            # Nothing was served, and the connection stays usable within the limit.
            host.send(RequestBatch([RequestRun(6, "echo", [[i] for i in range(4)])]))
            answers, _ = await host.answers({6, 7, 8, 9})
            assert [answers[i].result for i in range(6, 10)] == [0, 1, 2, 3]
            assert not server.done()

        # An extension also holds the host to the max_concurrent it stated.
        limits = IpcLimits(max_concurrent=3)
        async with raw_host({"echo": echo}, limits=limits) as (host, _):
            assert host.welcome is not None
            assert host.welcome.max_concurrent == 3
            host.send(RequestBatch([RequestRun(1, "echo", [[i] for i in range(4)])]))
            answers, _ = await host.answers({1, 2, 3, 4})
            assert all("(max_concurrent)" in a.message for a in answers.values())

    run(main())


def test_the_frame_cap_applies_to_batches_before_their_body_is_read() -> None:
    async def main() -> None:
        limits = IpcLimits(max_frame_size=4096)
        async with raw_host({"echo": echo}, limits=limits) as (host, server):
            big = encode_frame(RequestBatch([RequestRun(1, "echo", [[b"x" * 100]] * 64)]))
            assert len(big) > 4096
            host.writer.write(big[:64])  # only the header and a little of the body
            refusal = await host.read()
            assert isinstance(refusal, ErrorResponse)
            assert refusal.id is None
            assert "exceeds the 4096-byte cap" in refusal.message
            reason = await asyncio.wait_for(server, 5)
            assert "protocol violation" in reason

    run(main())


def test_cancel_reaches_an_item_inside_a_batch() -> None:
    cancelled: list[int] = []

    async def nap(x: int) -> int:
        try:
            await asyncio.sleep(0.2)
        except asyncio.CancelledError:
            cancelled.append(x)
            raise
        return x

    async def main() -> None:
        async with raw_host({"nap": nap}) as (host, _):
            host.send(RequestBatch([RequestRun(1, "nap", [[1], [2], [3]])]))
            await asyncio.sleep(0.02)
            host.send(Cancel(2))
            answers, _ = await host.answers({1, 2, 3})
            assert answers[1] == Response(1, 1)
            assert answers[3] == Response(3, 3)
            assert answers[2].code == ErrorCode.REQUEST_CANCELLED
            assert cancelled == [2]

    run(main())


def test_batch_frames_are_refused_on_a_version_1_connection() -> None:
    async def main() -> None:
        async with raw_host({"echo": echo}, versions=[1]) as (host, server):
            assert host.welcome is not None
            assert host.welcome.version == 1
            host.send(RequestBatch([RequestRun(1, "echo", [[1]])]))
            refusal = await host.read()
            assert isinstance(refusal, ErrorResponse)
            assert refusal.id is None
            assert "need protocol version 2" in refusal.message
            assert "protocol violation" in await asyncio.wait_for(server, 5)

    run(main())


# ---------------------------------------------------------------- calling


def test_call_batch_results_errors_and_positions() -> None:
    def maybe(i: int) -> int:
        if i % 3 == 0:
            raise ValueError(f"no {i}")
        return i * 10

    async def twice(i: int) -> int:
        await asyncio.sleep(0)
        return i * 2

    handlers: dict[str, Callable[..., Any]] = {"maybe": maybe, "twice": twice, "echo": echo}

    async def main() -> None:
        async with in_process(handlers) as (bus, conn, _):
            assert bus.info("test.ext").protocol_version == 2
            results = await conn.call_batch(
                "maybe", [[i] for i in range(10)], return_exceptions=True
            )
            for i, result in enumerate(results):
                if i % 3 == 0:
                    assert isinstance(result, RemoteError)
                    assert result.remote_code == ErrorCode.HANDLER_FAILED
                    assert f"no {i}" in result.message
                else:
                    assert result == i * 10
            with pytest.raises(RemoteError, match="no 0"):
                await conn.call_batch("maybe", [[i] for i in range(10)])
            params: list[Any] = [[i] for i in range(300)]
            assert await conn.call_batch("twice", params) == [i * 2 for i in range(300)]
            named = await conn.call_batch("echo", [{"value": i} for i in range(5)])
            assert named == list(range(5))
            bad = await conn.call_batch("echo", [[1], [1, 2]], return_exceptions=True)
            assert bad[0] == 1
            assert bad[1].remote_code == ErrorCode.INVALID_PARAMS
            assert conn.stats().in_flight == 0

    run(main())


def test_call_batch_splits_to_fit_limits_and_the_frame_cap() -> None:
    async def main() -> None:
        ext = IpcLimits(max_frame_size=64 * 1024)
        host = IpcLimits(max_batch=50, max_in_flight=120)
        async with in_process({"echo": echo}, ext_limits=ext, host_limits=host) as (_, conn, _):
            blobs: list[Any] = [[bytes([i % 256]) * 10_000] for i in range(30)]
            assert await conn.call_batch("echo", blobs) == [b[0] for b in blobs]
            many: list[Any] = [[i] for i in range(1000)]
            assert await conn.call_batch("echo", many) == list(range(1000))
            with pytest.raises(FrameTooLargeError):
                await conn.call_batch("echo", [[1], [b"x" * 70_000]])
            assert conn.stats().in_flight == 0
            assert await conn.call("echo", ["still fine"]) == "still fine"

    run(main())


def test_call_batch_frames_respect_max_batch_and_in_flight() -> None:
    async def main() -> None:
        limits = IpcLimits(max_batch=8, max_in_flight=20)
        bus, conn, fake = await fake_pair(limits, welcome_version=2)
        task = asyncio.create_task(conn.call_batch("echo", [[i] for i in range(50)]))
        open_ids: set[int] = set()
        sizes: list[int] = []
        answered = 0
        while answered < 50:
            message = await fake.read()
            assert isinstance(message, RequestBatch)
            size = len(message)
            sizes.append(size)
            assert size <= 8
            requests = message.requests()
            open_ids.update(r.id for r in requests)
            assert len(open_ids) <= 20
            if len(open_ids) >= 16 or answered + len(open_ids) == 50:
                # Answer everything open, in reverse order and as single frames.
                for rid in sorted(open_ids, reverse=True):
                    await fake.send(Response(rid, rid))
                answered += len(open_ids)
                open_ids.clear()
        results = await task
        assert results == sorted(results)
        assert len(results) == 50
        assert sum(sizes) == 50
        assert conn.stats().in_flight == 0
        await bus.close()

    run(main())


def test_a_peer_without_batches_is_served_one_frame_per_request() -> None:
    async def main() -> None:
        bus, conn, fake = await fake_pair(IpcLimits(), welcome_version=1)
        assert conn.info is not None
        assert conn.info.protocol_version == 1
        task = asyncio.create_task(conn.call_batch("echo", [[i] for i in range(5)]))
        for i in range(5):
            message = await fake.read()
            assert isinstance(message, Request)
            assert message.params == [i]
            await fake.send(Response(message.id, i * 7))
        assert await task == [0, 7, 14, 21, 28]
        # A batch answer on a version-1 connection is a protocol violation.
        await fake.send(ResponseBatch([ResultRun(1, [1])], []))
        refusal = await fake.read()
        assert isinstance(refusal, ErrorResponse)
        assert "need protocol version 2" in refusal.message
        await conn.wait_closed()
        await bus.close()

    run(main())


def test_version_1_extension_and_version_2_host_interoperate() -> None:
    async def main() -> None:
        async with in_process({"echo": echo}, ext_versions=[1]) as (bus, conn, _):
            assert bus.info("test.ext").protocol_version == 1
            assert await conn.call_batch("echo", [[i] for i in range(300)]) == list(range(300))
            results = await conn.call_batch("echo", [[1], [1, 2]], return_exceptions=True)
            assert results[0] == 1
            assert results[1].remote_code == ErrorCode.INVALID_PARAMS

    run(main())


def test_timeout_inside_a_batch_cancels_the_open_items() -> None:
    cancelled: list[int] = []

    async def nap(x: float) -> float:
        try:
            await asyncio.sleep(x)
        except asyncio.CancelledError:
            cancelled.append(int(x))
            raise
        return x

    async def main() -> None:
        async with in_process({"nap": nap, "echo": echo}) as (_, conn, _):
            with pytest.raises(RequestTimeoutError, match=r"2 of 4 'nap' calls got no answer"):
                await conn.call_batch("nap", [[0], [30], [0], [31]], timeout=0.2)
            assert conn.stats().in_flight == 0
            for _ in range(100):
                if len(cancelled) == 2:
                    break
                await asyncio.sleep(0.01)
            assert sorted(cancelled) == [30, 31]
            # The late cancellation answers are absorbed, not counted against the peer.
            assert await conn.call_batch("echo", [[1], [2]]) == [1, 2]
            assert conn.stats().dropped_unsolicited == 0

    run(main())


def test_cancelling_call_batch_cancels_the_items_in_the_peer() -> None:
    cancelled: list[int] = []
    started = asyncio.Event()

    async def nap(x: int) -> int:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(x)
            raise
        return x

    async def main() -> None:
        async with in_process({"nap": nap, "echo": echo}) as (_, conn, _):
            task = asyncio.create_task(conn.call_batch("nap", [[1], [2], [3]]))
            await started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            for _ in range(100):
                if len(cancelled) == 3:
                    break
                await asyncio.sleep(0.01)
            assert sorted(cancelled) == [1, 2, 3]
            assert conn.stats().in_flight == 0
            assert await conn.call("echo", [4]) == 4

    run(main())


def test_a_closing_connection_fails_the_batch() -> None:
    async def nap() -> None:
        await asyncio.sleep(30)

    async def main() -> None:
        async with in_process({"nap": nap}) as (_, conn, _):
            task = asyncio.create_task(conn.call_batch("nap", [None] * 3, return_exceptions=True))
            await asyncio.sleep(0.05)
            conn.close("test closes")
            results = await task
            assert [type(r) for r in results] == [ConnectionClosedError] * 3
            with pytest.raises(ConnectionClosedError):
                await conn.call_batch("nap", [None])

    run(main())


def test_an_extension_calls_the_host_in_batches() -> None:
    from symphony_core.ipc import current_connection

    async def relay(n: int) -> list[Any]:
        return await current_connection().call_batch("host.double", [[i] for i in range(n)])

    def double(x: int) -> int:
        return 2 * x

    async def main() -> None:
        async with in_process({"relay": relay}, host_handlers={"host.double": double}) as (
            _,
            conn,
            _,
        ):
            assert await conn.call("relay", [1500]) == [2 * i for i in range(1500)]

    run(main())


def test_a_smaller_max_batch_in_the_peer_is_reported_clearly() -> None:
    async def main() -> None:
        ext = IpcLimits(max_batch=8)
        async with in_process({"echo": echo}, ext_limits=ext) as (_, conn, _):
            with pytest.raises(RemoteError, match=r"limit of 8 per batch \(max_batch\)") as info:
                await conn.call_batch("echo", [[i] for i in range(20)])
            assert info.value.remote_code == ErrorCode.INVALID_REQUEST
            assert info.value.data == {"limit": "max_batch", "max": 8, "got": 20}
            # Learnt: the next batches are split to fit.
            assert await conn.call_batch("echo", [[i] for i in range(20)]) == list(range(20))

    run(main())


# ---------------------------------------------------------------- real processes


def test_blocking_client_batches_with_a_real_process(echo_child: Spawn) -> None:
    child = echo_child("--max-batch", "100")
    events: list[Event] = []
    with BlockingClient(child.channel, on_event=events.append) as client:
        assert client.handshake().protocol_version == 2
        # The child takes fewer per batch than the client sends by default: refused whole,
        # naming the limit; the client then sends smaller batches.
        with pytest.raises(RemoteError, match=r"limit of 100 per batch \(max_batch\)"):
            client.call_batch("echo", [[i] for i in range(250)])
        assert client.call_batch("echo", [[i] for i in range(250)]) == list(range(250))
        results = client.call_batch(
            "fail", [[4000 + i, f"no {i}"] for i in range(3)], return_exceptions=True
        )
        assert [r.remote_code for r in results] == [4000, 4001, 4002]
        with pytest.raises(RemoteError, match="no 0"):
            client.call_batch("fail", [[4000, "no 0"], [4001, "no 1"]])
        with pytest.raises(RequestTimeoutError, match=r"2 of 3 'sleep' calls"):
            client.call_batch("sleep", [[0, "b-0"], [30, "b-1"], [30, "b-2"]], timeout=0.5)
        client.poll_events(0.3)
        assert sorted(e.data["tag"] for e in events) == ["b-1", "b-2"]
        assert client.call_batch("echo", [[1], [2]]) == [1, 2]
        mixed = client.call_batch("stream_items", [[2]], return_exceptions=True)
        assert "answered with a stream" in str(mixed[0])
        assert client.call("echo", ["after"]) == "after"
    assert child.wait() == 0


def test_blocking_client_with_a_version_1_process(echo_child: Spawn) -> None:
    child = echo_child("--versions", "1")
    with BlockingClient(child.channel) as client:
        assert client.handshake().protocol_version == 1
        assert client.call_batch("echo", [[i] for i in range(300)]) == list(range(300))
        results = client.call_batch("add", [[1, 2], [1]], return_exceptions=True)
        assert results[0] == 3
        assert results[1].remote_code == ErrorCode.INVALID_PARAMS
    assert child.wait() == 0


def test_bus_batches_with_a_real_process(echo_child: Spawn) -> None:
    from symphony_core.ipc import Bus

    child = echo_child()

    async def main() -> None:
        bus = Bus()
        conn = await bus.connect(child.channel)
        try:
            assert conn.info is not None
            assert conn.info.protocol_version == 2
            payload: list[Any] = [[b"x" * 200]] * 64
            for _ in range(20):
                assert await conn.call_batch("echo", payload) == [b"x" * 200] * 64
            assert await conn.call_batch("add", [[i, i] for i in range(2000)]) == [
                2 * i for i in range(2000)
            ]
        finally:
            await bus.close()

    run(main())
    assert child.wait() == 0


def test_stream_credit_frames_pass_through_batches() -> None:
    # A streamed item of a batch is flow-controlled like any stream: credit by id.
    def count(n: int) -> Iterator[int]:
        yield from range(n)

    async def main() -> None:
        async with raw_host({"count": count}) as (host, _):
            host.send(RequestBatch([RequestRun(1, "count", [[20]])]))
            got: list[int] = []
            while len(got) < 8:  # the window stated in our Hello
                message = await host.read()
                assert isinstance(message, StreamChunk)
                got.append(message.data)
            with pytest.raises(TimeoutError):
                await host.read(timeout=0.1)  # no credit, no more chunks
            host.send(Credit(1, 100))
            while True:
                message = await host.read()
                if isinstance(message, StreamEnd):
                    break
                assert isinstance(message, StreamChunk)
                got.append(message.data)
            assert got == list(range(20))

    run(main())


def test_one_batch_answer_completes_the_call() -> None:
    async def main() -> None:
        bus, conn, fake = await fake_pair(IpcLimits(), welcome_version=2)
        assert isinstance(fake, FakeExtension)
        task = asyncio.create_task(conn.call_batch("echo", [[1], [2]]))
        message = await fake.read()
        assert isinstance(message, RequestBatch)
        run_ = message.runs[0]
        await fake.send(ResponseBatch([ResultRun(run_.first_id, [10, 20])], []))
        assert await task == [10, 20]
        await bus.close()

    run(main())
