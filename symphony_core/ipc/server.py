"""The extension side: serve a handler table over a channel until the host says goodbye.

An extension-host process calls :func:`serve` with its handlers and the channel it
inherited. The loop answers the handshake, dispatches requests (plain functions inline,
coroutine functions as cancellable tasks), carries a host's Cancel into the handler's
task, streams iterator results in chunks under the host's credit, and answers
heartbeats. Handlers reach their connection with
:func:`~symphony_core.ipc.connection.current_connection` to publish events, subscribe
to the host's events, or call methods the host serves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from symphony_core.ipc.connection import Connection
from symphony_core.ipc.handlers import HandlerTable
from symphony_core.ipc.limits import IpcLimits
from symphony_core.ipc.protocol import PROTOCOL_VERSIONS
from symphony_core.ipc.transport import Channel, attach

__all__ = ["serve", "serve_async"]

ReadyHook = Callable[[Connection], Awaitable[None] | None]
EventHook = Callable[[str, Any], None]


async def serve_async(
    handlers: Mapping[str, Callable[..., Any]] | HandlerTable,
    channel: Channel,
    *,
    extension_id: str,
    extension_version: str = "0",
    capabilities: Iterable[str] = (),
    limits: IpcLimits | None = None,
    versions: Sequence[int] = PROTOCOL_VERSIONS,
    on_ready: ReadyHook | None = None,
    on_event: EventHook | None = None,
) -> str:
    """Serve ``handlers`` over ``channel`` until the connection closes; return why.

    Args:
        handlers: Method name -> callable (see :mod:`symphony_core.ipc.handlers`).
        channel: The inherited socket or ``(read_fd, write_fd)`` pair.
        extension_id: The id stated in the handshake.
        extension_version: The version stated in the handshake.
        capabilities: Optional features stated in the handshake.
        limits: This side's limits.
        versions: Protocol versions this side speaks.
        on_ready: Called (and awaited if it returns an awaitable) once the handshake is
            done, e.g. to subscribe to host topics.
        on_event: Called as ``on_event(topic, data)`` for every event the host sends on
            this connection (``Connection.publish`` on the host side), instead of
            delivering it to subscriptions made here. Must not block.

    Raises:
        HandshakeError: The handshake failed.
        VersionMismatchError: The host offered no version we speak (it was told so).
    """
    table = handlers if isinstance(handlers, HandlerTable) else HandlerTable(handlers)
    publish_hook = None
    if on_event is not None:
        event_hook = on_event

        def publish_hook(_conn: Connection, topic: str, data: Any) -> None:
            event_hook(topic, data)

    conn = Connection(
        name="host", role="extension", limits=limits, handlers=table, on_publish=publish_hook
    )
    await attach(conn, channel)
    await conn.handshake_as_extension(
        extension_id=extension_id,
        extension_version=extension_version,
        capabilities=capabilities,
        versions=versions,
    )
    if on_ready is not None:
        outcome = on_ready(conn)
        if outcome is not None:
            await outcome
    reason = await conn.wait_closed()
    # Let cancelled handler tasks deliver their last words before the loop stops.
    await asyncio.sleep(0)
    return reason


def serve(
    handlers: Mapping[str, Callable[..., Any]] | HandlerTable,
    channel: Channel,
    *,
    extension_id: str,
    extension_version: str = "0",
    capabilities: Iterable[str] = (),
    limits: IpcLimits | None = None,
    versions: Sequence[int] = PROTOCOL_VERSIONS,
    on_ready: ReadyHook | None = None,
    on_event: EventHook | None = None,
) -> str:
    """Run :func:`serve_async` in a new event loop; return why the connection closed.

    Raises:
        HandshakeError: The handshake failed.
        VersionMismatchError: The host offered no version we speak (it was told so).
    """
    return asyncio.run(
        serve_async(
            handlers,
            channel,
            extension_id=extension_id,
            extension_version=extension_version,
            capabilities=capabilities,
            limits=limits,
            versions=versions,
            on_ready=on_ready,
            on_event=on_event,
        )
    )
