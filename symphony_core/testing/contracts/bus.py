"""Contract suite of the ``EventBus`` port."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from symphony_core.ports.bus import (
    HANDLER_FAILED_TOPIC,
    BusClosedError,
    BusTimeoutError,
    EventBus,
    EventEncodingError,
    HandlerFailed,
    Message,
    NoResponderError,
    ResponderError,
    ResponderExistsError,
)
from symphony_core.ports.topics import InvalidTopicError

__all__ = ["EventBusContract"]

_SETTLE = 10.0


class _Point(msgspec.Struct, frozen=True):
    x: int
    y: float
    label: str


class _Recorder:
    """A handler that records what it receives, thread-safely."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[Message] = []

    def __call__(self, message: Message) -> None:
        with self.lock:
            self.messages.append(message)

    @property
    def topics(self) -> list[str]:
        with self.lock:
            return [m.topic for m in self.messages]

    @property
    def payloads(self) -> list[Any]:
        with self.lock:
            return [m.payload for m in self.messages]


class EventBusContract:
    """Behaviour every event bus shows.

    Subclass it and supply ``bus``: a fresh bus per test. Tests call
    :meth:`~symphony_core.ports.bus.EventBus.flush` before looking at deliveries, so an
    asynchronous bus passes as well as a synchronous one. The bus is closed afterwards.
    """

    @pytest.fixture
    def bus(self) -> EventBus:
        """Return a fresh bus; adapters' test classes override this."""
        raise NotImplementedError("supply a bus fixture")

    @pytest.fixture
    def open_bus(self, bus: EventBus) -> Iterator[EventBus]:
        """The bus under test, closed after the test."""
        yield bus
        bus.close()

    def test_satisfies_the_protocol(self, open_bus: EventBus) -> None:
        """The adapter is an EventBus and its subscriptions are Subscriptions."""
        from symphony_core.ports.bus import Subscription

        assert isinstance(open_bus, EventBus)
        sub = open_bus.subscribe("x.y", _Recorder())
        assert isinstance(sub, Subscription)
        assert sub.pattern == "x.y"
        assert sub.active is True

    def test_a_subscriber_receives_topic_seq_and_payload(self, open_bus: EventBus) -> None:
        """An exact subscription gets each event with its topic and sequence number."""
        got = _Recorder()
        open_bus.subscribe("run.started", got)
        open_bus.publish("run.started", {"run": "r1"})
        open_bus.publish("run.started", {"run": "r2"})
        open_bus.flush(_SETTLE)
        assert [(m.topic, m.seq, m.payload) for m in got.messages] == [
            ("run.started", 1, {"run": "r1"}),
            ("run.started", 2, {"run": "r2"}),
        ]

    def test_star_matches_exactly_one_segment(self, open_bus: EventBus) -> None:
        """``run.*`` takes run.started but not run, run.node.done or job.started."""
        got = _Recorder()
        open_bus.subscribe("run.*", got)
        for topic in ("run.started", "run", "run.node.done", "job.started", "run.done"):
            open_bus.publish(topic, 0)
        open_bus.flush(_SETTLE)
        assert got.topics == ["run.started", "run.done"]

    def test_star_in_the_middle(self, open_bus: EventBus) -> None:
        """``ext.*.ready`` matches any one segment in the middle."""
        got = _Recorder()
        open_bus.subscribe("ext.*.ready", got)
        for topic in ("ext.a.ready", "ext.a.b.ready", "ext.ready", "ext.b.ready"):
            open_bus.publish(topic, 0)
        open_bus.flush(_SETTLE)
        assert got.topics == ["ext.a.ready", "ext.b.ready"]

    def test_double_star_matches_one_or_more_trailing_segments(self, open_bus: EventBus) -> None:
        """``run.**`` takes run.a and run.a.b but not run; ``**`` takes everything."""
        under, everything = _Recorder(), _Recorder()
        open_bus.subscribe("run.**", under)
        open_bus.subscribe("**", everything)
        topics = ["run", "run.a", "run.a.b", "runner.a"]
        for topic in topics:
            open_bus.publish(topic, 0)
        open_bus.flush(_SETTLE)
        assert under.topics == ["run.a", "run.a.b"]
        assert everything.topics == topics

    def test_order_and_numbering_per_topic(self, open_bus: EventBus) -> None:
        """Each topic's events arrive in publish order, numbered 1, 2, 3... without gaps."""
        got = _Recorder()
        open_bus.subscribe("t.*", got)
        for i in range(60):
            open_bus.publish("t.even" if i % 2 == 0 else "t.odd", i)
        open_bus.flush(_SETTLE)
        for topic, expected in (("t.even", range(0, 60, 2)), ("t.odd", range(1, 60, 2))):
            mine = [m for m in got.messages if m.topic == topic]
            assert [m.payload for m in mine] == list(expected)
            assert [m.seq for m in mine] == list(range(1, 31))

    def test_an_event_published_by_a_handler_comes_after_the_current_one(
        self, open_bus: EventBus
    ) -> None:
        """Every subscriber sees a topic's events in the same order, even re-entrantly."""
        first, second = _Recorder(), _Recorder()

        def republish(message: Message) -> None:
            first(message)
            if message.payload < 3:
                open_bus.publish("loop.tick", message.payload + 1)

        open_bus.subscribe("loop.tick", republish)
        open_bus.subscribe("loop.tick", second)
        open_bus.publish("loop.tick", 0)
        open_bus.flush(_SETTLE)
        assert first.payloads == [0, 1, 2, 3]
        assert second.payloads == [0, 1, 2, 3]
        assert [m.seq for m in second.messages] == [1, 2, 3, 4]

    def test_no_replay_of_earlier_events(self, open_bus: EventBus) -> None:
        """A subscription gets only events published after it was made."""
        open_bus.publish("a.b", "before")
        open_bus.flush(_SETTLE)
        got = _Recorder()
        open_bus.subscribe("a.b", got)
        open_bus.publish("a.b", "after")
        open_bus.flush(_SETTLE)
        assert got.payloads == ["after"]

    def test_no_replay_of_events_queued_before_subscribing(self, open_bus: EventBus) -> None:
        """An event published before subscribe() returned is not delivered to it."""
        late = _Recorder()

        def on_start(message: Message) -> None:
            open_bus.publish("a.before", 1)
            open_bus.subscribe("a.*", late)
            open_bus.publish("a.after", 2)

        open_bus.subscribe("go.now", on_start)
        open_bus.publish("go.now", 0)
        open_bus.flush(_SETTLE)
        assert late.topics == ["a.after"]

    def test_unsubscribe_stops_delivery_and_is_idempotent(self, open_bus: EventBus) -> None:
        """After unsubscribe() nothing more arrives; a second call is harmless."""
        got, stays = _Recorder(), _Recorder()
        sub = open_bus.subscribe("a.b", got)
        open_bus.subscribe("a.b", stays)
        open_bus.publish("a.b", 1)
        open_bus.flush(_SETTLE)
        sub.unsubscribe()
        sub.unsubscribe()
        assert sub.active is False
        open_bus.publish("a.b", 2)
        open_bus.flush(_SETTLE)
        assert got.payloads == [1]
        assert stays.payloads == [1, 2]

    def test_unsubscribing_inside_a_handler_stops_queued_events(self, open_bus: EventBus) -> None:
        """A handler that unsubscribes itself receives nothing more, even if queued."""
        seen: list[int] = []
        holder: dict[str, Any] = {}

        def once(message: Message) -> None:
            seen.append(message.payload)
            holder["sub"].unsubscribe()
            open_bus.publish("a.b", message.payload + 100)

        holder["sub"] = open_bus.subscribe("a.b", once)
        open_bus.publish("a.b", 1)
        open_bus.publish("a.b", 2)
        open_bus.flush(_SETTLE)
        assert seen == [1]

    def test_nothing_arrives_after_unsubscribe_returned(self, open_bus: EventBus) -> None:
        """A subscription cancelled by another handler mid-event gets nothing more."""
        state = {"cancelled": False, "late": 0}
        victim_sub: dict[str, Any] = {}

        def victim(message: Message) -> None:
            if state["cancelled"]:
                state["late"] += 1

        def killer(message: Message) -> None:
            victim_sub["sub"].unsubscribe()
            state["cancelled"] = True

        open_bus.subscribe("a.b", killer)
        victim_sub["sub"] = open_bus.subscribe("a.b", victim)
        open_bus.subscribe("a.*", killer)
        for i in range(3):
            open_bus.publish("a.b", i)
        open_bus.flush(_SETTLE)
        assert state["late"] == 0

    def test_a_raising_handler_is_isolated_and_reported(self, open_bus: EventBus) -> None:
        """A raising handler stops nobody, stays subscribed, and is reported.

        Each failure is reported on the handler-failed topic.
        """
        calls: list[int] = []
        good, reports = _Recorder(), _Recorder()

        def bad(message: Message) -> None:
            calls.append(message.payload)
            raise ValueError(f"cannot handle {message.payload}")

        open_bus.subscribe(HANDLER_FAILED_TOPIC, reports)
        open_bus.subscribe("work.*", bad)
        open_bus.subscribe("work.*", good)
        open_bus.publish("work.item", 1)
        open_bus.publish("work.item", 2)
        open_bus.flush(_SETTLE)
        assert calls == [1, 2]
        assert good.payloads == [1, 2]
        failures = [
            msgspec.convert(p, HandlerFailed, from_attributes=True) for p in reports.payloads
        ]
        assert [(f.topic, f.seq, f.pattern, f.error_type) for f in failures] == [
            ("work.item", 1, "work.*", "ValueError"),
            ("work.item", 2, "work.*", "ValueError"),
        ]
        assert failures[0].error_message == "cannot handle 1"

    def test_a_failing_failure_handler_does_not_loop(self, open_bus: EventBus) -> None:
        """A handler of the failure topic that raises is not reported again."""
        reported: list[Any] = []
        holder: dict[str, Any] = {}

        def broken_reporter(message: Message) -> None:
            reported.append(message.payload)
            if len(reported) >= 5:
                holder["sub"].unsubscribe()  # end a loop so the test fails instead of hanging
            raise RuntimeError("reporter is broken too")

        def bad(message: Message) -> None:
            raise ValueError("bad")

        holder["sub"] = open_bus.subscribe(HANDLER_FAILED_TOPIC, broken_reporter)
        open_bus.subscribe("x.y", bad)
        open_bus.publish("x.y", 1)
        open_bus.flush(_SETTLE)
        assert len(reported) == 1
        later = _Recorder()
        open_bus.subscribe("x.z", later)
        open_bus.publish("x.z", "alive")
        open_bus.flush(_SETTLE)
        assert later.payloads == ["alive"]

    @pytest.mark.parametrize("topic", ["a..b", "run.*", "run.**", "", ".a", "a b", "a/b", "é.x"])
    def test_malformed_topics_are_refused(self, open_bus: EventBus, topic: str) -> None:
        """Publishing on a malformed topic (or a pattern) is bus.invalid_topic."""
        with pytest.raises(InvalidTopicError) as info:
            open_bus.publish(topic, 1)
        assert info.value.code == "bus.invalid_topic"

    @pytest.mark.parametrize("pattern", ["a.**.b", "**.a", "", "a b", "a.*x", "a..*"])
    def test_malformed_patterns_are_refused(self, open_bus: EventBus, pattern: str) -> None:
        """A pattern with a misplaced ``**`` or a bad segment is bus.invalid_topic."""
        with pytest.raises(InvalidTopicError):
            open_bus.subscribe(pattern, _Recorder())

    def test_unencodable_payloads_are_refused_before_delivery(self, open_bus: EventBus) -> None:
        """A payload msgspec cannot encode is bus.unencodable and reaches nobody."""
        got = _Recorder()
        open_bus.subscribe("a.b", got)
        for payload in (object(), {"f": lambda: 1}, 2**70):
            with pytest.raises(EventEncodingError) as info:
                open_bus.publish("a.b", payload)
            assert info.value.code == "bus.unencodable"
        open_bus.flush(_SETTLE)
        assert got.messages == []

    def test_struct_payloads_arrive_intact(self, open_bus: EventBus) -> None:
        """A msgspec struct arrives with the same content."""
        got = _Recorder()
        open_bus.subscribe("geo.point", got)
        point = _Point(x=3, y=-1.5, label="é")
        open_bus.publish("geo.point", point)
        open_bus.flush(_SETTLE)
        [received] = got.payloads
        assert msgspec.to_builtins(received) == msgspec.to_builtins(point)

    def test_every_subscriber_gets_every_event_once(self, open_bus: EventBus) -> None:
        """Ten subscriptions, overlapping patterns: each gets each matching event once."""
        recorders = [_Recorder() for _ in range(10)]
        for index, recorder in enumerate(recorders):
            open_bus.subscribe("fan.out" if index % 2 else "fan.*", recorder)
        for i in range(20):
            open_bus.publish("fan.out", i)
        open_bus.flush(_SETTLE)
        for recorder in recorders:
            assert recorder.payloads == list(range(20))

    def test_concurrent_publishers_keep_their_order(self, open_bus: EventBus) -> None:
        """Events of one topic from one thread arrive in that thread's order."""
        got = _Recorder()
        open_bus.subscribe("load.*", got)

        def publisher(name: str) -> None:
            for i in range(100):
                open_bus.publish(f"load.{name}", i)

        threads = [threading.Thread(target=publisher, args=(f"p{n}",)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        open_bus.flush(_SETTLE)
        for n in range(4):
            mine = [m for m in got.messages if m.topic == f"load.p{n}"]
            assert [m.payload for m in mine] == list(range(100))
            assert [m.seq for m in mine] == list(range(1, 101))

    # -- request / reply --------------------------------------------------------------

    def test_request_gets_the_responders_reply(self, open_bus: EventBus) -> None:
        """A request reaches the topic's responder and returns its reply."""
        open_bus.serve("svc.echo", lambda m: {"got": m.payload, "topic": m.topic})
        assert open_bus.request("svc.echo", [1, 2], timeout=_SETTLE) == {
            "got": [1, 2],
            "topic": "svc.echo",
        }

    def test_requests_do_not_reach_subscribers(self, open_bus: EventBus) -> None:
        """Request/reply is separate from publish/subscribe."""
        got = _Recorder()
        open_bus.subscribe("svc.*", got)
        open_bus.serve("svc.echo", lambda m: m.payload)
        open_bus.request("svc.echo", 1, timeout=_SETTLE)
        open_bus.flush(_SETTLE)
        assert got.messages == []

    def test_a_request_without_responder_fails_at_once(self, open_bus: EventBus) -> None:
        """No responder is bus.no_responder, not a timeout."""
        with pytest.raises(NoResponderError) as info:
            open_bus.request("svc.nobody", 1, timeout=_SETTLE)
        assert info.value.code == "bus.no_responder"

    def test_one_responder_per_topic(self, open_bus: EventBus) -> None:
        """A second responder is refused until the first unsubscribes."""
        first = open_bus.serve("svc.one", lambda m: "first")
        with pytest.raises(ResponderExistsError) as info:
            open_bus.serve("svc.one", lambda m: "second")
        assert info.value.code == "bus.responder_exists"
        first.unsubscribe()
        with pytest.raises(NoResponderError):
            open_bus.request("svc.one", None, timeout=_SETTLE)
        open_bus.serve("svc.one", lambda m: "second")
        assert open_bus.request("svc.one", None, timeout=_SETTLE) == "second"

    def test_a_raising_responder_is_reported_by_type_and_message(self, open_bus: EventBus) -> None:
        """The requester gets bus.responder_failed with the exception's name and text."""

        def broken(message: Message) -> Any:
            raise KeyError("no such key: k")

        open_bus.serve("svc.broken", broken)
        with pytest.raises(ResponderError) as info:
            open_bus.request("svc.broken", {"k": 1}, timeout=_SETTLE)
        assert info.value.code == "bus.responder_failed"
        assert info.value.error_type == "KeyError"
        assert "no such key: k" in info.value.error_message

    def test_a_slow_responder_times_out(self, open_bus: EventBus) -> None:
        """A reply later than the timeout is bus.timeout."""

        def slow(message: Message) -> str:
            time.sleep(0.25)
            return "late"

        open_bus.serve("svc.slow", slow)
        with pytest.raises(BusTimeoutError) as info:
            open_bus.request("svc.slow", None, timeout=0.05)
        assert info.value.code == "bus.timeout"

    def test_requests_refuse_wildcards_and_unencodable_payloads(self, open_bus: EventBus) -> None:
        """The request topic is exact; the payload must be encodable."""
        open_bus.serve("svc.echo", lambda m: m.payload)
        with pytest.raises(InvalidTopicError):
            open_bus.request("svc.*", 1, timeout=_SETTLE)
        with pytest.raises(InvalidTopicError):
            open_bus.serve("svc.*", lambda m: None)
        with pytest.raises(EventEncodingError):
            open_bus.request("svc.echo", object(), timeout=_SETTLE)

    def test_arequest_from_async_code(self, open_bus: EventBus) -> None:
        """arequest() behaves like request()."""
        open_bus.serve("svc.double", lambda m: m.payload * 2)

        async def ask() -> Any:
            return await open_bus.arequest("svc.double", 21, timeout=_SETTLE)

        assert asyncio.run(ask()) == 42
        with pytest.raises(NoResponderError):
            asyncio.run(open_bus.arequest("svc.none", 1, timeout=_SETTLE))

    def test_close_refuses_further_use(self, bus: EventBus) -> None:
        """After close(), everything raises bus.closed; close() is idempotent."""
        got = _Recorder()
        sub = bus.subscribe("a.b", got)
        bus.publish("a.b", 1)
        bus.close()
        bus.close()
        assert got.payloads == [1]
        assert sub.active is False
        with pytest.raises(BusClosedError) as info:
            bus.publish("a.b", 2)
        assert info.value.code == "bus.closed"
        with pytest.raises(BusClosedError):
            bus.subscribe("a.b", got)
        with pytest.raises(BusClosedError):
            bus.serve("svc.x", lambda m: None)
        with pytest.raises(BusClosedError):
            bus.request("svc.x", None, timeout=_SETTLE)
