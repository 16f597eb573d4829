"""Property tests of batch frames: round trips, item-by-item validation, answer bookkeeping."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from ipc_values import normalise, params_of, values_of

from symphony_core.ipc import ProtocolError, decode_message, encode_message
from symphony_core.ipc.batches import BatchWaiter, Chunk, ChunkTable
from symphony_core.ipc.protocol import (
    BatchItemsError,
    ErrorResponse,
    Request,
    RequestBatch,
    Response,
    ResponseBatch,
)

MAX_ID = 2**63 - 1

values = values_of(text=20, binary=40, items=4, leaves=12)
params = params_of(values, items=4, key=8)
word = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
methods = st.sampled_from(["echo", "add", "a.b"]) | word
ids = st.integers(0, MAX_ID)


@st.composite
def request_lists(draw: st.DrawFn) -> list[Request]:
    """Requests as a caller might batch them: mostly consecutive ids, some jumps."""
    rid = draw(st.integers(0, MAX_ID - 100))
    out = []
    for _ in range(draw(st.integers(1, 12))):
        rid += draw(st.sampled_from([1, 1, 1, 2, 7]))
        out.append(Request(rid, draw(st.sampled_from(["echo", "echo", "add"])), draw(params)))
    return out


@settings(max_examples=250, deadline=None)
@given(requests=request_lists())
def test_request_batches_round_trip_to_the_same_requests(requests: list[Request]) -> None:
    batch = RequestBatch.of(requests)
    assert len(batch) == len(requests)
    decoded = decode_message(encode_message(batch))
    assert isinstance(decoded, RequestBatch)
    assert normalise(decoded.requests()) == normalise(requests)
    # Neighbours with the same method and the next id share a run.
    assert len(batch.runs) == 1 + sum(
        1
        for a, b in itertools.pairwise(requests)
        if not (a.method == b.method and a.id + 1 == b.id)
    )


answers = st.lists(
    st.builds(Response, ids, values)
    | st.builds(
        ErrorResponse, st.none() | ids, st.integers(-(2**31), 2**31), st.text(max_size=50), values
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=250, deadline=None)
@given(items=answers)
def test_response_batches_round_trip_to_the_same_answers(
    items: list[Response | ErrorResponse],
) -> None:
    batch = ResponseBatch.of(items)
    assert len(batch) == len(items)
    decoded = decode_message(encode_message(batch))
    assert isinstance(decoded, ResponseBatch)
    results = [a for a in items if isinstance(a, Response)]
    errors = [a for a in items if isinstance(a, ErrorResponse)]
    assert normalise(decoded.answers()) == normalise(results + errors)


# ---------------------------------------------------------------- any batch-shaped bytes

junk = st.one_of(
    values,
    st.integers(-5, 2**64 - 1),
    st.text(min_size=0, max_size=300),
    st.dictionaries(st.integers(0, 3), values, max_size=2),
)


@st.composite
def run_shapes(draw: st.DrawFn) -> Any:
    """A run as plain msgpack values: mostly well formed, often with damage somewhere."""
    first = draw(st.integers(0, 50) | st.just(MAX_ID - 1) | junk)
    method = draw(methods | junk)
    items = draw(st.lists(params | junk, max_size=5))
    shape = draw(st.sampled_from(["run", "run", "run", "short", "long", "map", "junk"]))
    if shape == "run":
        return [first, method, items]
    if shape == "short":
        return [first, method]
    if shape == "long":
        return [first, method, items, 1]
    if shape == "map":
        return {"first_id": first, "method": method, "params": items}
    return draw(junk)


def _valid_params(value: Any) -> bool:
    if value is None or isinstance(value, list):
        return True
    return isinstance(value, dict) and all(isinstance(k, str) for k in value)


def _valid_method(value: Any) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= 256


def expected_outcome(runs: Any) -> tuple[list[tuple[int, str, Any]], int] | None:
    """Reference validation: the valid requests and how many rejections, or None when
    the frame as a whole is not a batch."""
    if not isinstance(runs, list) or not runs:
        return None
    valid: list[tuple[int, str, Any]] = []
    rejected = 0
    for run in runs:
        if not (isinstance(run, list) and len(run) == 3 and isinstance(run[2], list)):
            rejected += 1
            continue
        first, method, items = run
        header_ok = type(first) is int and 0 <= first <= MAX_ID and _valid_method(method)
        if not items:
            rejected += 1
            continue
        for offset, item in enumerate(items):
            if header_ok and first + offset <= MAX_ID and _valid_params(item):
                valid.append((first + offset, method, item))
            else:
                rejected += 1
    return valid, rejected


def outcome(body: bytes) -> tuple[Any, ProtocolError | None]:
    """Decode ``body``: the message, or the protocol error it was refused with."""
    try:
        return decode_message(body), None
    except ProtocolError as exc:
        return None, exc


@settings(max_examples=300, deadline=None)
@given(runs=st.lists(run_shapes(), max_size=5) | junk)
def test_batch_frames_are_validated_request_by_request(runs: Any) -> None:
    expected = expected_outcome(runs)
    message, error = outcome(msgspec.msgpack.encode([17, runs]))
    if expected is None:
        # Not a batch at all: one protocol error for the frame.
        assert isinstance(error, ProtocolError)
        assert not isinstance(error, BatchItemsError)
        assert error.message
        return
    valid, rejections = expected
    if rejections:
        assert isinstance(error, BatchItemsError)
        got = [(r.id, r.method, r.params) for run in error.runs for r in run.requests()]
        assert len(error.rejected) == rejections
        assert all(e.code == -32600 and e.message for e in error.rejected)
    else:
        assert isinstance(message, RequestBatch)
        got = [(r.id, r.method, r.params) for r in message.requests()]
    assert normalise(got) == normalise(valid)


@settings(max_examples=300, deadline=None)
@given(
    tag=st.sampled_from([17, 18]),
    fields=st.lists(st.lists(st.lists(junk, max_size=4) | junk, max_size=3) | junk, max_size=3),
)
def test_near_miss_batches_are_a_message_or_a_protocol_error(tag: int, fields: list[Any]) -> None:
    message, error = outcome(msgspec.msgpack.encode([tag, *fields]))
    if error is not None:
        assert error.message
    else:
        assert isinstance(message, RequestBatch | ResponseBatch)
        assert len(message) >= 1


# ---------------------------------------------------------------- the answer bookkeeping


class ChunkMachine(RuleBasedStateMachine):
    """The calling side's chunk table against a dict of open ids and their slots."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.table = ChunkTable()
        self.next_id = 1
        self.batches: list[BatchWaiter] = []
        self.open: dict[int, tuple[BatchWaiter, int]] = {}  # id -> (batch, result index)
        self.expected: dict[int, dict[int, Any]] = {}  # batch index -> {slot: result}

    def teardown(self) -> None:
        self.loop.close()

    @rule(size=st.integers(1, 9), chunks=st.integers(1, 3), gap=st.integers(0, 3))
    def start_batch(self, size: int, chunks: int, gap: int) -> None:
        n = size * chunks
        batch = BatchWaiter(self.loop.create_future(), "m", n, return_exceptions=True)
        self.batches.append(batch)
        self.expected[len(self.batches) - 1] = {}
        for c in range(chunks):
            self.next_id += gap  # other calls take ids in between
            chunk = Chunk(batch, self.next_id, c * size, size)
            self.table.add(chunk)
            for k in range(size):
                self.open[self.next_id + k] = (batch, c * size + k)
            self.next_id += size

    @precondition(lambda self: self.open)
    @rule(data=st.data(), length=st.integers(1, 6))
    def answer_a_run(self, data: st.DataObject, length: int) -> None:
        first = data.draw(st.sampled_from(sorted(self.open)))
        first += data.draw(st.integers(-2, 1))
        ids = range(first, first + length)
        results = [("r", rid) for rid in ids]
        all_open = all(rid in self.open for rid in ids)
        one_chunk = all_open and len({self._chunk_of(rid) for rid in ids}) == 1
        taken = self.table.take_run(first, results)
        assert taken == one_chunk
        if taken:
            for rid in ids:
                self._settled(rid, ("r", rid))

    @rule(rid=st.integers(0, 200))
    def answer_one(self, rid: int) -> None:
        settled = self.table.settle(rid, ("one", rid))
        assert settled == (rid in self.open)
        if settled:
            self._settled(rid, ("one", rid))

    @rule(rid=st.integers(0, 200))
    def fail_one(self, rid: int) -> None:
        error = ValueError(rid)
        failed = self.table.fail(rid, error)
        assert failed == (rid in self.open)
        if failed:
            self._settled(rid, error)

    def _chunk_of(self, rid: int) -> Chunk | None:
        return self.table.find(rid)

    def _settled(self, rid: int, result: Any) -> None:
        batch, slot = self.open.pop(rid)
        self.expected[self.batches.index(batch)][slot] = result

    @invariant()
    def in_flight_counts_open_requests(self) -> None:
        assert self.table.in_flight == len(self.open)
        for rid in self.open:
            assert self.table.find(rid) is not None

    @invariant()
    def results_sit_in_their_slots(self) -> None:
        for index, batch in enumerate(self.batches):
            done = self.expected[index]
            for slot, result in done.items():
                assert batch.results[slot] is result or batch.results[slot] == result
            assert batch.remaining == len(batch.results) - len(done)
            assert batch.future.done() == (not batch.remaining)
            if batch.future.done():
                assert batch.future.result() is batch.results


ChunkMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
TestChunkTable = ChunkMachine.TestCase
