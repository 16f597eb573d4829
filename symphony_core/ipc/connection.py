"""One end of an IPC connection, on asyncio: calls, serving, streams, events, limits.

A :class:`Connection` is symmetric: both sides can call the other, serve calls from a
handler table, stream results, publish events and answer heartbeats. The host side is
made by :class:`~symphony_core.ipc.bus.Bus`, the extension side by
:func:`~symphony_core.ipc.server.serve`. Its parts: :mod:`~symphony_core.ipc.endpoint`
(state, reading, writing, closing), :mod:`~symphony_core.ipc.calls`,
:mod:`~symphony_core.ipc.serving`, :mod:`~symphony_core.ipc.pubsub` and
:mod:`~symphony_core.ipc.handshake`.

Bounds: requests waiting for answers (``max_in_flight``), requests served at once
(``max_concurrent``, excess answered BUSY), bytes queued for the peer (callers wait past
``write_high_water``; past ``write_hard_limit`` the peer is judged not to read and is
disconnected), stream chunks (credit window), unsolicited frames (token bucket; a
flooding peer is dropped, then disconnected), receive buffer (one frame, capped).
"""

from __future__ import annotations

from symphony_core.ipc.calls import Calls
from symphony_core.ipc.endpoint import (
    DEFAULT,
    CloseHook,
    ConnectionStats,
    PeerInfo,
    PublishHook,
    Role,
    SubscriptionHook,
    Timeout,
    current_connection,
)
from symphony_core.ipc.handlers import HandlerTable
from symphony_core.ipc.handshake import Handshake
from symphony_core.ipc.limits import IpcLimits
from symphony_core.ipc.protocol import (
    BatchItemsError,
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
    RequestBatch,
    Response,
    ResponseBatch,
    StreamChunk,
    StreamEnd,
    Subscribe,
    Unsubscribe,
    Welcome,
)
from symphony_core.ipc.pubsub import PubSub
from symphony_core.ipc.serving import Serving

__all__ = [
    "DEFAULT",
    "Connection",
    "ConnectionStats",
    "PeerInfo",
    "Role",
    "Timeout",
    "current_connection",
]


class Connection(Calls, Serving, PubSub, Handshake):
    """One end of an IPC connection.

    Not created directly: use :meth:`~symphony_core.ipc.bus.Bus.connect` on the host
    and :func:`~symphony_core.ipc.server.serve` in an extension process.

    Args:
        name: Name used in logs and errors (the bus renames it to the peer's id).
        role: ``"host"`` (sends Hello) or ``"extension"`` (answers it).
        limits: The bounds this side works within.
        handlers: Methods this side serves to the peer.
        on_publish: Called for each admitted event from the peer; by default events go
            to this connection's own subscriptions (:meth:`subscribe`).
        on_subscription: Called when the peer subscribes (True) or unsubscribes (False).
        on_close: Called once with the reason when the connection closes.
    """

    def __init__(
        self,
        *,
        name: str,
        role: Role,
        limits: IpcLimits | None = None,
        handlers: HandlerTable | None = None,
        on_publish: PublishHook | None = None,
        on_subscription: SubscriptionHook | None = None,
        on_close: CloseHook | None = None,
    ) -> None:
        super().__init__(
            name=name,
            role=role,
            limits=limits,
            handlers=handlers,
            on_publish=on_publish,
            on_subscription=on_subscription,
            on_close=on_close,
        )
        self._dispatch = {
            Request: self._on_request,
            Response: self._on_response,
            ErrorResponse: self._on_error_response,
            Notification: self._on_notification,
            Cancel: self._on_cancel,
            StreamChunk: self._on_stream_chunk,
            StreamEnd: self._on_stream_end,
            Credit: self._on_credit,
            Heartbeat: self._on_heartbeat,
            HeartbeatAck: self._on_heartbeat_ack,
            Publish: self._on_publish,
            Subscribe: self._on_subscribe,
            Unsubscribe: self._on_unsubscribe,
            Goodbye: self._on_goodbye,
            Hello: self._on_late_handshake,
            Welcome: self._on_late_handshake,
            RequestBatch: self._on_request_batch,
            ResponseBatch: self._on_response_batch,
            BatchItemsError: self._on_batch_items,
        }
