"""The double of ``EventBus``: synchronous delivery in the publishing thread."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import msgspec

from symphony_core.log import get_logger
from symphony_core.ports.bus import (
    HANDLER_FAILED_TOPIC,
    BusClosedError,
    BusTimeoutError,
    EventEncodingError,
    Handler,
    HandlerFailed,
    Message,
    NoResponderError,
    Responder,
    ResponderError,
    ResponderExistsError,
)
from symphony_core.ports.topics import check_pattern, check_topic, topic_matches

__all__ = ["InMemoryEventBus"]

_log = get_logger("bus")
_encoder = msgspec.msgpack.Encoder()


def _check_encodable(value: Any, what: str, topic: str) -> None:
    try:
        _encoder.encode(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise EventEncodingError(
            f"the {what} cannot be carried by the bus: {exc}",
            where=topic,
            hint="use msgspec structs, dataclasses, dicts, lists, str, int, float, bool, "
            "None or bytes",
        ) from None


def _name(func: Any) -> str:
    return str(getattr(func, "__qualname__", None) or type(func).__qualname__)


class _Subscription:
    """A subscription or responder registration of :class:`InMemoryEventBus`."""

    __slots__ = ("_active", "_bus", "_pattern", "handler", "tick")

    def __init__(self, bus: InMemoryEventBus, pattern: str, handler: Any, tick: int) -> None:
        self._bus = bus
        self._pattern = pattern
        self.handler = handler
        self.tick = tick
        self._active = True

    @property
    def pattern(self) -> str:
        """The subscribed pattern (the exact topic for a responder)."""
        return self._pattern

    @property
    def active(self) -> bool:
        """Whether deliveries still happen."""
        return self._active

    def unsubscribe(self) -> None:
        """Stop deliveries. Idempotent."""
        self._bus._remove(self)


class _Queued:
    __slots__ = ("message", "tick")

    def __init__(self, message: Message, tick: int) -> None:
        self.message = message
        self.tick = tick


class InMemoryEventBus:
    """Delivers every event synchronously, in the thread that published it.

    Events queue in one FIFO; the thread that finds nobody delivering drains it, so an
    event published from inside a handler is delivered after the current one has reached
    every subscriber. Other threads publishing meanwhile only enqueue, and
    :meth:`flush` waits for the queue to drain. Delivery order is therefore the global
    publish order, which implies the per-topic order the port promises.

    Args:
        check_payloads: Refuse payloads msgspec cannot encode, as a real bus must.
    """

    def __init__(self, *, check_payloads: bool = True) -> None:
        self._check_payloads = check_payloads
        self._cond = threading.Condition(threading.RLock())
        self._subs: list[_Subscription] = []
        self._responders: dict[str, _Subscription] = {}
        self._queue: deque[_Queued] = deque()
        self._seq: dict[str, int] = {}
        self._tick = 0
        self._dispatcher: int | None = None
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise BusClosedError("the event bus is closed")

    def publish(self, topic: str, event: Any) -> None:
        """Publish ``event`` on ``topic`` and deliver it unless another thread is delivering.

        Args:
            topic: A topic name.
            event: A msgspec-encodable value.

        Raises:
            InvalidTopicError: The topic is malformed.
            EventEncodingError: The event cannot be encoded.
            BusClosedError: The bus is closed.
        """
        check_topic(topic)
        if self._check_payloads:
            _check_encodable(event, "event", topic)
        with self._cond:
            self._check_open()
            self._enqueue(topic, event)
        self._drain()

    def _enqueue(self, topic: str, event: Any) -> None:
        seq = self._seq.get(topic, 0) + 1
        self._seq[topic] = seq
        self._tick += 1
        self._queue.append(_Queued(Message(topic=topic, seq=seq, payload=event), self._tick))

    def _drain(self) -> None:
        with self._cond:
            if self._dispatcher is not None:
                return
            self._dispatcher = threading.get_ident()
        try:
            while True:
                with self._cond:
                    if not self._queue:
                        # Emptiness is checked and the dispatcher released under one lock,
                        # so an event enqueued by another thread is never left behind.
                        self._dispatcher = None
                        self._cond.notify_all()
                        return
                    item = self._queue.popleft()
                    targets = [
                        sub
                        for sub in self._subs
                        if sub.tick < item.tick and topic_matches(sub.pattern, item.message.topic)
                    ]
                for sub in targets:
                    if sub.active:
                        self._deliver(sub, item.message)
        finally:
            with self._cond:
                if self._dispatcher == threading.get_ident():
                    self._dispatcher = None
                    self._cond.notify_all()

    def _deliver(self, sub: _Subscription, message: Message) -> None:
        try:
            sub.handler(message)
        except Exception as exc:
            _log.warning(
                "event handler %s raised %s: %s",
                _name(sub.handler),
                type(exc).__name__,
                exc,
                extra={"topic": message.topic, "seq": message.seq, "pattern": sub.pattern},
            )
            if message.topic == HANDLER_FAILED_TOPIC:
                return
            report = HandlerFailed(
                pattern=sub.pattern,
                topic=message.topic,
                seq=message.seq,
                handler=_name(sub.handler),
                error_type=type(exc).__name__,
                error_message=str(exc),
            )
            with self._cond:
                if not self._closed:
                    self._enqueue(HANDLER_FAILED_TOPIC, report)

    def subscribe(self, pattern: str, handler: Handler) -> _Subscription:
        """Call ``handler`` for every later event on a topic matching ``pattern``.

        Args:
            pattern: A topic pattern.
            handler: Called with each message.

        Returns:
            The subscription.

        Raises:
            InvalidTopicError: The pattern is malformed.
            BusClosedError: The bus is closed.
        """
        check_pattern(pattern)
        with self._cond:
            self._check_open()
            sub = _Subscription(self, pattern, handler, self._tick)
            self._subs.append(sub)
            return sub

    def serve(self, topic: str, responder: Responder) -> _Subscription:
        """Answer requests on ``topic`` with ``responder``.

        Args:
            topic: A topic name.
            responder: Returns the reply payload.

        Returns:
            The registration.

        Raises:
            InvalidTopicError: The topic is malformed.
            ResponderExistsError: The topic has a responder.
            BusClosedError: The bus is closed.
        """
        check_topic(topic)
        with self._cond:
            self._check_open()
            if topic in self._responders:
                raise ResponderExistsError(
                    "this topic already has a responder",
                    where=topic,
                    hint="unsubscribe the existing responder first",
                )
            sub = _Subscription(self, topic, responder, self._tick)
            self._responders[topic] = sub
            return sub

    def _remove(self, sub: _Subscription) -> None:
        with self._cond:
            sub._active = False
            if self._responders.get(sub.pattern) is sub:
                del self._responders[sub.pattern]
            elif sub in self._subs:
                self._subs.remove(sub)

    def request(self, topic: str, payload: Any, *, timeout: float) -> Any:
        """Call the topic's responder inline and return its reply.

        A reply that took longer than ``timeout`` is discarded, as a real bus would have
        given up waiting for it.

        Args:
            topic: The responder's topic.
            payload: A msgspec-encodable value.
            timeout: Seconds, above 0.

        Returns:
            The reply.

        Raises:
            ValueError: ``timeout`` is not above 0.
            NoResponderError: No responder serves ``topic``.
            BusTimeoutError: The responder took longer than ``timeout``.
            ResponderError: The responder raised.
            EventEncodingError: The payload or the reply cannot be encoded.
            BusClosedError: The bus is closed.
        """
        if not timeout > 0:
            raise ValueError(f"timeout must be above 0 seconds, got {timeout!r}")
        check_topic(topic)
        if self._check_payloads:
            _check_encodable(payload, "request payload", topic)
        with self._cond:
            self._check_open()
            sub = self._responders.get(topic)
        if sub is None:
            raise NoResponderError(
                "no responder serves this topic",
                where=topic,
                hint="check the topic, or that the extension serving it is active",
            )
        started = time.monotonic()
        try:
            reply = sub.handler(Message(topic=topic, seq=0, payload=payload))
        except Exception as exc:
            raise ResponderError(
                f"the responder raised {type(exc).__name__}: {exc}",
                where=topic,
                error_type=type(exc).__name__,
                error_message=str(exc),
            ) from None
        if time.monotonic() - started > timeout:
            raise BusTimeoutError(f"no reply within {timeout} s", where=topic)
        if self._check_payloads:
            _check_encodable(reply, "reply", topic)
        return reply

    async def arequest(self, topic: str, payload: Any, *, timeout: float) -> Any:
        """Same as :meth:`request`, for async callers.

        Args:
            topic: The responder's topic.
            payload: A msgspec-encodable value.
            timeout: Seconds, above 0.

        Returns:
            The reply.
        """
        return self.request(topic, payload, timeout=timeout)

    def flush(self, timeout: float | None = None) -> None:
        """Wait until the queue is drained; from inside a handler, return at once.

        Args:
            timeout: Seconds to wait at most.

        Raises:
            BusTimeoutError: The queue did not drain in time.
        """
        with self._cond:
            if self._dispatcher == threading.get_ident():
                return
            drained = self._cond.wait_for(
                lambda: not self._queue and self._dispatcher is None, timeout
            )
        if not drained:
            raise BusTimeoutError(f"events still undelivered after {timeout} s")

    def close(self) -> None:
        """Deliver what is queued, cancel every subscription, refuse further use."""
        self._drain()
        with self._cond:
            self._closed = True
            for sub in [*self._subs, *self._responders.values()]:
                sub._active = False
            self._subs.clear()
            self._responders.clear()
