"""Property tests of the message codec, the topic router and the framing of messages."""

from __future__ import annotations

import contextlib
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from ipc_values import normalise, params_of, values_of

from symphony_core.ipc import FrameDecoder, ProtocolError, decode_message, encode_message
from symphony_core.ipc.framing import encode_frame
from symphony_core.ipc.protocol import (
    Cancel,
    Credit,
    ErrorResponse,
    Goodbye,
    Heartbeat,
    HeartbeatAck,
    Hello,
    Notification,
    Publish,
    Request,
    Response,
    StreamChunk,
    StreamEnd,
    Subscribe,
    Unsubscribe,
    Welcome,
)
from symphony_core.ipc.topics import TopicRouter
from symphony_core.ports.topics import topic_matches

values = values_of(text=30, binary=60, items=5, leaves=25)
params = params_of(values, items=5, key=10)
ids = st.integers(0, 2**63 - 1)
counts = st.integers(0, 2**63 - 1)
positive = st.integers(1, 2**31 - 1)
word = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
names = st.builds(".".join, st.lists(word, min_size=1, max_size=4))
short_text = st.text(max_size=200)

messages = st.one_of(
    st.builds(
        Hello,
        st.lists(st.integers(0, 1000), min_size=1, max_size=5),
        short_text,
        positive,
        positive,
    ),
    st.builds(
        Welcome,
        st.integers(0, 1000),
        short_text,
        short_text,
        st.integers(0, 2**22),
        st.lists(names, max_size=5),
        positive,
        positive,
    ),
    st.builds(Request, ids, names, params),
    st.builds(Response, ids, values),
    st.builds(ErrorResponse, st.none() | ids, st.integers(-(2**31), 2**31), short_text, values),
    st.builds(Notification, names, params),
    st.builds(Cancel, ids),
    st.builds(StreamChunk, ids, counts, values),
    st.builds(StreamEnd, ids, counts),
    st.builds(Credit, ids, positive),
    st.builds(Heartbeat, counts),
    st.builds(HeartbeatAck, counts),
    st.builds(Publish, names, values),
    st.builds(Subscribe, names),
    st.builds(Unsubscribe, names),
    st.builds(Goodbye, short_text),
)


@settings(max_examples=300, deadline=None)
@given(message=messages)
def test_every_message_type_round_trips(message: Any) -> None:
    decoded = decode_message(encode_message(message))
    assert type(decoded) is type(message)
    assert normalise(decoded) == normalise(message)


@settings(max_examples=100, deadline=None)
@given(batch=st.lists(messages, max_size=8), chunk=st.integers(1, 97))
def test_framed_messages_survive_any_chunking(batch: list[Any], chunk: int) -> None:
    stream = b"".join(encode_frame(m) for m in batch)
    decoder = FrameDecoder(buffer_size=16)
    got = []
    for start in range(0, len(stream), chunk):
        decoder.feed(stream[start : start + chunk])
        while (frame := decoder.next_frame()) is not None:
            got.append(decode_message(frame))
    assert [normalise(m) for m in got] == [normalise(m) for m in batch]


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=200) | st.builds(msgspec.msgpack.encode, values))
def test_any_body_decodes_to_a_message_or_a_protocol_error(body: bytes) -> None:
    try:
        message = decode_message(body)
    except ProtocolError as exc:
        error: ProtocolError | None = exc
    else:
        error = None
        assert isinstance(message, msgspec.Struct)
    assert error is None or error.message


@settings(max_examples=200, deadline=None)
@given(
    tag=st.integers(-5, 40),
    fields=st.lists(values, max_size=6),
)
def test_near_miss_messages_never_escape_as_other_errors(tag: int, fields: list[Any]) -> None:
    body = msgspec.msgpack.encode([tag, *fields])
    with contextlib.suppress(ProtocolError):
        decode_message(body)


def _pattern(parts: list[str], tail: bool) -> str:
    return ".".join(parts + (["**"] if tail else []))


# Patterns of literal words and '*' segments, optionally ending in '**'; few distinct
# words so that patterns and topics collide often.
pattern_words = st.sampled_from(["a", "b", "c", "*"])
patterns = st.one_of(
    st.just("**"),
    st.builds(_pattern, st.lists(pattern_words, min_size=1, max_size=4), st.booleans()),
)
topics = st.builds(".".join, st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=5))


def model_matches(pattern: str, topic: str) -> bool:
    # The single definition every bus uses.
    return topic_matches(pattern, topic)


class RouterMachine(RuleBasedStateMachine):
    """The router against a plain list of (pattern, who) routes."""

    def __init__(self) -> None:
        super().__init__()
        self.router: TopicRouter[int] = TopicRouter()
        self.routes: list[tuple[str, int]] = []

    @rule(pattern=patterns, who=st.integers(0, 4))
    def add(self, pattern: str, who: int) -> None:
        fresh = (pattern, who) not in self.routes
        assert self.router.add(pattern, who) == fresh
        self.routes.append((pattern, who))

    @rule(pattern=patterns, who=st.integers(0, 4))
    def remove(self, pattern: str, who: int) -> None:
        present = (pattern, who) in self.routes
        if present:
            self.routes.remove((pattern, who))
        gone = self.router.remove(pattern, who)
        assert gone == (present and (pattern, who) not in self.routes)

    @rule(who=st.integers(0, 4))
    def remove_target(self, who: int) -> None:
        expected = {p for p, t in self.routes if t == who}
        assert set(self.router.remove_target(who)) == expected
        self.routes = [(p, t) for p, t in self.routes if t != who]

    @rule(topic=topics)
    def match(self, topic: str) -> None:
        expected = {t for p, t in self.routes if model_matches(p, topic)}
        got = self.router.match(topic)
        assert len(got) == len(set(got))
        assert set(got) == expected

    @invariant()
    def targets_agree(self) -> None:
        assert set(self.router.all_targets()) == {t for _, t in self.routes}
        assert bool(self.router) == bool(self.routes)


RouterMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
test_topic_router_matches_the_model = RouterMachine.TestCase
