"""The event bus port: publish/subscribe topics and request/reply between parts of the host.

The real adapter routes messages between the host and extension processes; the
in-memory double (:class:`symphony_core.testing.InMemoryEventBus`) delivers them
synchronously in the publishing thread. Both keep the promises below, which the
contract suite :class:`symphony_core.testing.contracts.EventBusContract` checks.

Promises:

* **Patterns** follow :mod:`symphony_core.ports.topics` (``*`` one segment, ``**`` one
  or more trailing segments).
* **Ordering**: a subscriber receives the events of one topic in the order they were
  published, each exactly once, numbered by ``Message.seq`` (1, 2, 3, ... per topic on
  this bus). An event published from inside a handler is delivered after the event
  being handled has reached every subscriber.
* **No replay**: a subscription receives only events published after it was made, and
  none after :meth:`Subscription.unsubscribe` returned (even ones already queued).
* **Isolation**: a handler that raises does not stop delivery to the other handlers
  nor to itself for later events. The failure is logged and reported as a
  :class:`HandlerFailed` event on :data:`HANDLER_FAILED_TOPIC`; a failure of a handler
  of that topic is only logged, so reports never loop.
* **Portable payloads**: every event and request/reply payload must be encodable by
  msgspec (structs, dataclasses, dicts, lists, str, int, float, bool, None, bytes),
  because a real bus carries it to another process. Anything else is refused with
  :class:`EventEncodingError` before any delivery. In-process subscribers receive the
  published object itself; subscribers in another process receive its decoded copy.
* **Request/reply**: one responder per exact topic; a request without a responder fails
  at once with :class:`NoResponderError`, a late one with :class:`BusTimeoutError`, a
  responder that raises with :class:`ResponderError` (type name and message only; the
  exception object never crosses the bus).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import msgspec

from symphony_core.errors import SymphonyError, UserError

__all__ = [
    "BusClosedError",
    "BusError",
    "BusTimeoutError",
    "EventBus",
    "EventEncodingError",
    "HANDLER_FAILED_TOPIC",
    "Handler",
    "HandlerFailed",
    "Message",
    "NoResponderError",
    "Responder",
    "ResponderError",
    "ResponderExistsError",
    "Subscription",
]

HANDLER_FAILED_TOPIC = "bus.handler_failed"
"""Topic on which the bus reports handlers that raised (payload: :class:`HandlerFailed`)."""


class Message(msgspec.Struct, frozen=True, kw_only=True):
    """One delivered event or request.

    Attributes:
        topic: The topic it was published on.
        seq: Its number on that topic, from 1 (0 for a request).
        payload: The published value.
    """

    topic: str
    seq: int
    payload: Any


class HandlerFailed(msgspec.Struct, frozen=True, kw_only=True):
    """Report of a handler that raised while handling an event.

    Attributes:
        pattern: The failing subscription's pattern.
        topic: The topic of the event being handled.
        seq: The event's sequence number on that topic.
        handler: The handler's qualified name.
        error_type: The exception's type name.
        error_message: The exception's message.
    """

    pattern: str
    topic: str
    seq: int
    handler: str
    error_type: str
    error_message: str


Handler = Callable[[Message], None]
"""A subscriber: called once per matching event."""

Responder = Callable[[Message], Any]
"""A request handler: returns the reply payload."""


class BusError(SymphonyError):
    """Base of the event bus errors."""

    code = "bus.error"


class BusClosedError(BusError):
    """The bus was used after :meth:`EventBus.close`."""

    code = "bus.closed"


class BusTimeoutError(BusError):
    """A request got no reply, or a flush did not finish, within its timeout."""

    code = "bus.timeout"


class NoResponderError(BusError):
    """A request was sent to a topic no responder serves."""

    code = "bus.no_responder"


class ResponderExistsError(BusError):
    """A second responder was registered for a topic that already has one."""

    code = "bus.responder_exists"


class EventEncodingError(BusError, UserError):
    """A payload cannot be carried by the bus (msgspec cannot encode it)."""

    code = "bus.unencodable"


class ResponderError(BusError):
    """The responder of a request raised.

    Args:
        message: What happened.
        error_type: The responder's exception type name.
        error_message: The responder's exception message.
        **kwargs: Passed to :class:`~symphony_core.errors.SymphonyError`.
    """

    code = "bus.responder_failed"

    def __init__(self, message: str, *, error_type: str, error_message: str, **kwargs: Any) -> None:
        self.error_type = error_type
        self.error_message = error_message
        super().__init__(message, **kwargs)


@runtime_checkable
class Subscription(Protocol):
    """A live subscription (or responder registration); cancel it with :meth:`unsubscribe`."""

    @property
    def pattern(self) -> str:
        """The subscribed pattern (the exact topic for a responder)."""
        ...

    @property
    def active(self) -> bool:
        """Whether deliveries still happen."""
        ...

    def unsubscribe(self) -> None:
        """Stop deliveries. Idempotent."""
        ...


@runtime_checkable
class EventBus(Protocol):
    """Publish/subscribe topics and request/reply (see the module documentation)."""

    def publish(self, topic: str, event: Any) -> None:
        """Publish ``event`` on ``topic`` to every matching subscription.

        Args:
            topic: A topic name (no wildcards).
            event: A msgspec-encodable value.

        Raises:
            InvalidTopicError: The topic is malformed.
            EventEncodingError: The event cannot be encoded.
            BusClosedError: The bus is closed.
        """
        ...

    def subscribe(self, pattern: str, handler: Handler) -> Subscription:
        """Call ``handler`` for every later event whose topic matches ``pattern``.

        Args:
            pattern: A topic pattern (``run.*``, ``ext.**``, ``run.started``).
            handler: Called with each :class:`Message`.

        Returns:
            The subscription, to cancel it.

        Raises:
            InvalidTopicError: The pattern is malformed.
            BusClosedError: The bus is closed.
        """
        ...

    def serve(self, topic: str, responder: Responder) -> Subscription:
        """Answer requests sent to the exact ``topic`` with ``responder``.

        Args:
            topic: A topic name (no wildcards).
            responder: Returns the reply payload for each request.

        Returns:
            The registration; ``unsubscribe()`` frees the topic.

        Raises:
            InvalidTopicError: The topic is malformed.
            ResponderExistsError: The topic already has a responder.
            BusClosedError: The bus is closed.
        """
        ...

    def request(self, topic: str, payload: Any, *, timeout: float) -> Any:
        """Send a request and wait for its reply.

        Args:
            topic: The responder's topic.
            payload: A msgspec-encodable value.
            timeout: Seconds to wait for the reply.

        Returns:
            The reply payload.

        Raises:
            NoResponderError: No responder serves ``topic``.
            BusTimeoutError: No reply within ``timeout``.
            ResponderError: The responder raised.
            EventEncodingError: The payload or the reply cannot be encoded.
            BusClosedError: The bus is closed.
        """
        ...

    async def arequest(self, topic: str, payload: Any, *, timeout: float) -> Any:
        """Send a request from async code; same behaviour and errors as :meth:`request`.

        Args:
            topic: The responder's topic.
            payload: A msgspec-encodable value.
            timeout: Seconds to wait for the reply.

        Returns:
            The reply payload.
        """
        ...

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every event published before the call reached its local subscribers.

        Args:
            timeout: Seconds to wait at most; ``None`` waits as long as needed.

        Raises:
            BusTimeoutError: Delivery did not finish in time.
        """
        ...

    def close(self) -> None:
        """Deliver what is queued, cancel every subscription, refuse further use.

        Idempotent.
        """
        ...
