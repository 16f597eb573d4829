"""The host's message bus: one connection per extension process, requests, events.

The bus routes a request to the named peer and its answer back (by request id, with a
timeout; a timeout or a cancelled caller sends the peer a Cancel), and carries events:
the host publishes to its own subscribers and to every peer that subscribed to a
matching pattern; an event a peer publishes reaches the host's subscribers. (Events are
not forwarded from one extension to another: a host that wants that re-publishes.)

Every buffer the bus keeps for a peer is bounded (see
:class:`~symphony_core.ipc.limits.IpcLimits`): callers wait or get
:class:`~symphony_core.ipc.errors.BusBusyError`, slow subscribers lose their oldest
events, and a flooding peer has its excess dropped and is then disconnected.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from symphony_core.ipc.connection import DEFAULT, Connection, PeerInfo, Timeout
from symphony_core.ipc.errors import IpcError, IpcUsageError, UnknownPeerError
from symphony_core.ipc.handlers import HandlerTable
from symphony_core.ipc.limits import IpcLimits
from symphony_core.ipc.protocol import PROTOCOL_VERSIONS, Params
from symphony_core.ipc.streams import RemoteStream
from symphony_core.ipc.topics import Event, Subscription, TopicRouter, check_topic
from symphony_core.ipc.transport import Channel, attach
from symphony_core.log import get_logger

__all__ = ["Bus", "CloseListener"]

_log = get_logger("ipc.bus")

CloseListener = Callable[[str, str], None]
"""Called with ``(peer name, reason)`` when a peer's connection closes."""


class Bus:
    """Connections to any number of extension processes, with routing and pub/sub.

    Args:
        host_id: How the host introduces itself in the handshake.
        limits: Default limits for every connection.
        handlers: Methods the host serves to extensions (they call them with
            ``current_connection().call(...)`` in the extension process).
        versions: Protocol versions the host offers.
    """

    def __init__(
        self,
        *,
        host_id: str = "symphony-host",
        limits: IpcLimits | None = None,
        handlers: Mapping[str, Callable[..., Any]] | HandlerTable | None = None,
        versions: Sequence[int] = PROTOCOL_VERSIONS,
    ) -> None:
        self.host_id = host_id
        self.limits = limits or IpcLimits()
        self.versions = tuple(versions)
        self._handlers = handlers if isinstance(handlers, HandlerTable) else HandlerTable(handlers)
        self._peers: dict[str, Connection] = {}
        self._local: TopicRouter[Subscription] = TopicRouter()
        self._remote: TopicRouter[Connection] = TopicRouter()
        self._listeners: list[CloseListener] = []
        self._closed = False

    # ------------------------------------------------------------------ peers

    async def connect(
        self, channel: Channel, *, name: str | None = None, limits: IpcLimits | None = None
    ) -> Connection:
        """Take over ``channel``, run the handshake and register the peer.

        Args:
            channel: A connected stream socket or a ``(read_fd, write_fd)`` pair whose
                other end is served by :func:`~symphony_core.ipc.server.serve`.
            name: The peer's name on the bus; by default the extension id it states.
                Give one when several processes serve the same extension.
            limits: Limits for this connection (default: the bus's).

        Raises:
            HandshakeError: The handshake failed (the channel is closed).
            VersionMismatchError: No common protocol version (the channel is closed).
            IpcUsageError: The bus is closed, or a peer of that name is connected.
        """
        if self._closed:
            raise IpcUsageError("the bus is closed")
        conn = Connection(
            name=name or "extension (handshake)",
            role="host",
            limits=limits or self.limits,
            handlers=self._handlers,
            on_publish=self._from_peer,
            on_subscription=self._peer_subscription,
            on_close=self._peer_closed,
        )
        await attach(conn, channel)
        try:
            info = await conn.handshake_as_host(host_id=self.host_id, versions=self.versions)
        except IpcError:
            conn.close("handshake failed")
            raise
        final = name or info.extension_id or f"pid-{info.pid}"
        if final in self._peers:
            conn.close("a peer of the same name is already connected")
            raise IpcUsageError(
                f"a peer named {final!r} is already connected",
                hint="pass name= to connect() to tell instances of one extension apart",
            )
        if self.closed:
            conn.close("the bus closed during the handshake")
            raise IpcUsageError("the bus is closed")
        conn.name = final
        self._peers[final] = conn
        _log.info(
            "connected %s (extension %s %s, pid %s, protocol %d)",
            final,
            info.extension_id,
            info.extension_version,
            info.pid,
            info.protocol_version,
            extra={"peer": final},
        )
        return conn

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    @property
    def peers(self) -> Mapping[str, Connection]:
        """Open connections by name (a read-only live view)."""
        return MappingProxyType(self._peers)

    def peer(self, name: str) -> Connection:
        """Return the open connection named ``name``.

        Raises:
            UnknownPeerError: None is open under that name.
        """
        conn = self._peers.get(name)
        if conn is None:
            known = ", ".join(sorted(self._peers)) or "none"
            raise UnknownPeerError(f"no open connection named {name!r} (open: {known})", peer=name)
        return conn

    def info(self, name: str) -> PeerInfo:
        """Return what peer ``name`` stated in its handshake.

        Raises:
            UnknownPeerError: None is open under that name.
        """
        info = self.peer(name).info
        assert info is not None  # registered only after the handshake
        return info

    def add_close_listener(self, listener: CloseListener) -> None:
        """Call ``listener(name, reason)`` whenever a registered peer's connection closes."""
        self._listeners.append(listener)

    def remove_close_listener(self, listener: CloseListener) -> None:
        """Stop calling ``listener``."""
        self._listeners.remove(listener)

    async def disconnect(self, name: str, reason: str = "disconnected by the host") -> None:
        """Close peer ``name``'s connection and wait until it is closed.

        Raises:
            UnknownPeerError: None is open under that name.
        """
        conn = self.peer(name)
        conn.close(reason)
        await conn.wait_closed()

    async def close(self, reason: str = "host shutting down") -> None:
        """Close every connection and refuse new ones. Idempotent."""
        self._closed = True
        conns = list(self._peers.values())
        for conn in conns:
            conn.close(reason)
        for conn in conns:
            await conn.wait_closed()
        for subscription in self._local.all_targets():
            subscription.close()

    async def __aenter__(self) -> Bus:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _peer_closed(self, conn: Connection, reason: str) -> None:
        if self._peers.get(conn.name) is not conn:
            return
        del self._peers[conn.name]
        self._remote.remove_target(conn)
        for listener in list(self._listeners):
            try:
                listener(conn.name, reason)
            except Exception:
                _log.exception("close listener failed for %s", conn.name)

    # ------------------------------------------------------------------ requests

    async def call(
        self, peer: str, method: str, params: Params = None, *, timeout: Timeout = DEFAULT
    ) -> Any:
        """Call ``method`` on ``peer``; see :meth:`Connection.call`.

        Raises:
            UnknownPeerError: No such peer.
        """
        return await self.peer(peer).call(method, params, timeout=timeout)

    async def call_batch(
        self,
        peer: str,
        method: str,
        params_list: Sequence[Params],
        *,
        timeout: Timeout = DEFAULT,
        return_exceptions: bool = False,
    ) -> list[Any]:
        """Call ``method`` on ``peer`` once per params; see :meth:`Connection.call_batch`.

        Raises:
            UnknownPeerError: No such peer.
        """
        return await self.peer(peer).call_batch(
            method, params_list, timeout=timeout, return_exceptions=return_exceptions
        )

    def stream(
        self, peer: str, method: str, params: Params = None, *, timeout: Timeout = DEFAULT
    ) -> RemoteStream:
        """Stream the result of ``method`` on ``peer``; see :meth:`Connection.stream`.

        Raises:
            UnknownPeerError: No such peer.
        """
        return self.peer(peer).stream(method, params, timeout=timeout)

    async def notify(self, peer: str, method: str, params: Params = None) -> None:
        """Send ``peer`` a notification; see :meth:`Connection.notify`.

        Raises:
            UnknownPeerError: No such peer.
        """
        await self.peer(peer).notify(method, params)

    async def heartbeat(self, peer: str, timeout: float = 5.0) -> float:
        """Probe ``peer``; return the round trip in seconds (see :meth:`Connection.heartbeat`).

        Raises:
            UnknownPeerError: No such peer.
        """
        return await self.peer(peer).heartbeat(timeout)

    # ------------------------------------------------------------------ events

    def publish(self, topic: str, data: Any = None) -> int:
        """Publish an event from the host; never waits.

        It goes to every host subscription matching ``topic`` and every peer that
        subscribed to a matching pattern (dropped for a peer whose queue is full).

        Returns:
            How many subscriptions and peers it was delivered to.

        Raises:
            IpcUsageError: The topic is invalid or the data is not msgpack-native.
        """
        check_topic(topic)
        delivered = 0
        local = self._local.match(topic)
        if local:
            event = Event(topic, data, "host")
            for subscription in local:
                subscription.put(event)
                delivered += 1
        for conn in self._remote.match(topic):
            if conn.publish(topic, data):
                delivered += 1
        return delivered

    def subscribe(self, pattern: str, *, maxsize: int | None = None) -> Subscription:
        """Receive events matching ``pattern`` from the host and from every peer.

        Args:
            pattern: A topic, ``prefix.*`` or ``*``.
            maxsize: Events kept before the oldest are dropped (default:
                ``limits.subscription_queue``).

        Raises:
            IpcUsageError: The pattern is invalid.
        """
        subscription = Subscription(
            pattern,
            maxsize=maxsize or self.limits.subscription_queue,
            on_close=self._unsubscribe,
        )
        self._local.add(pattern, subscription)
        return subscription

    def subscribers(self, topic: str) -> tuple[int, list[str]]:
        """Return how many host subscriptions and which peers an event on ``topic`` reaches."""
        check_topic(topic)
        return len(self._local.match(topic)), sorted(c.name for c in self._remote.match(topic))

    def _unsubscribe(self, subscription: Subscription) -> None:
        self._local.remove(subscription.pattern, subscription)

    def _from_peer(self, conn: Connection, topic: str, data: Any) -> None:
        local = self._local.match(topic)
        if local:
            event = Event(topic, data, conn.name)
            for subscription in local:
                subscription.put(event)

    def _peer_subscription(self, conn: Connection, pattern: str, added: bool) -> None:
        if added:
            self._remote.add(pattern, conn)
        else:
            self._remote.remove(pattern, conn)

    def __repr__(self) -> str:
        return f"<Bus {self.host_id} peers={sorted(self._peers)}>"
