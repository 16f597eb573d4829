"""Events on a connection: publishing to the peer, subscribing to the peer's events."""

from __future__ import annotations

from typing import Any

from symphony_core.ipc.endpoint import _OPEN, Endpoint
from symphony_core.ipc.errors import (
    IpcUsageError,
    ProtocolError,
)
from symphony_core.ipc.protocol import (
    Publish,
    Subscribe,
    Unsubscribe,
)
from symphony_core.ipc.topics import Event, Subscription, check_pattern, check_topic
from symphony_core.log import get_logger

__all__ = ["PubSub"]

_log = get_logger("ipc.connection")


class PubSub(Endpoint):
    """Send events to the peer and receive the events it publishes."""

    def publish(self, topic: str, data: Any = None) -> bool:
        """Send an event on ``topic`` to the peer; never waits.

        Returns:
            False if it was dropped because too much is queued for the peer already (or
            the connection is closed); True if it was queued.

        Raises:
            IpcUsageError: The topic is invalid or the data is not msgpack-native.
        """
        check_topic(topic)
        if self._state != _OPEN:
            return False
        if self._write_paused:
            self._dropped_events += 1
            if self._dropped_events == 1 or self._dropped_events % 1000 == 0:
                _log.warning(
                    "%s reads events too slowly: %d dropped so far",
                    self.name,
                    self._dropped_events,
                    extra={"peer": self.name},
                )
            return False
        try:
            self._send(Publish(topic, data))
        except TypeError as exc:
            raise IpcUsageError(
                f"event data for {topic!r} is not msgpack-native: {exc}", peer=self.name
            ) from None
        return True

    def subscribe(self, pattern: str, *, maxsize: int | None = None) -> Subscription:
        """Ask the peer for events matching ``pattern``; return where they arrive.

        Raises:
            IpcUsageError: The pattern is invalid.
            ConnectionClosedError: The connection is closed.
        """
        check_pattern(pattern)
        self._check_open()
        subscription = Subscription(
            pattern,
            maxsize=maxsize or self.limits.subscription_queue,
            on_close=self._unsubscribe_local,
        )
        self._local_topics.add(pattern, subscription)
        if len(self._local_topics.targets(pattern)) == 1:
            self._send(Subscribe(pattern))
        return subscription

    def _unsubscribe_local(self, subscription: Subscription) -> None:
        pattern = subscription.pattern
        self._local_topics.remove(pattern, subscription)
        if self._state == _OPEN and not self._local_topics.targets(pattern):
            self._send_quiet(Unsubscribe(pattern))

    def _on_publish(self, message: Publish) -> None:
        if not self._guard.admit():
            self._drop_unsolicited("event", counted=True)
            return
        topic = message.topic
        try:
            check_topic(topic)
        except IpcUsageError as exc:
            self._violation(ProtocolError(exc.message, peer=self.name), fatal=False)
            return
        hook = self._on_publish_hook
        if hook is not None:
            hook(self._as_connection(), topic, message.data)
            return
        targets = self._local_topics.match(topic)
        if targets:
            event = Event(topic, message.data, self.name)
            for subscription in targets:
                subscription.put(event)

    def _on_subscribe(self, message: Subscribe) -> None:
        if not self._guard.admit():
            self._drop_unsolicited("subscribe", counted=True)
            return
        pattern = message.pattern
        try:
            check_pattern(pattern)
        except IpcUsageError as exc:
            self._violation(ProtocolError(exc.message, peer=self.name), fatal=False)
            return
        if pattern in self._remote_patterns:
            return
        if len(self._remote_patterns) >= self.limits.max_remote_patterns:
            self._violation(
                ProtocolError(
                    f"more than {self.limits.max_remote_patterns} topic patterns subscribed",
                    peer=self.name,
                ),
                fatal=False,
            )
            return
        self._remote_patterns.add(pattern)
        if self._on_subscription_hook is not None:
            self._on_subscription_hook(self._as_connection(), pattern, True)

    def _on_unsubscribe(self, message: Unsubscribe) -> None:
        if not self._guard.admit():
            self._drop_unsolicited("unsubscribe", counted=True)
            return
        if message.pattern in self._remote_patterns:
            self._remote_patterns.discard(message.pattern)
            if self._on_subscription_hook is not None:
                self._on_subscription_hook(self._as_connection(), message.pattern, False)
