"""IPC between the host and sandboxed extension processes.

JSON-RPC 2.0 semantics (requests, responses, notifications, error codes) in frames of a
4-byte length and a msgpack body, validated into typed structs before use; a handshake
that negotiates the protocol version; streamed results under credit-based flow control;
a host-side bus with request routing, timeouts, cancellation, pub/sub and back-pressure.
Nothing received is unpickled, evaluated or imported. See ``docs/ipc.md``.
"""

from symphony_core.ipc.blocking import BlockingClient
from symphony_core.ipc.bus import Bus, CloseListener
from symphony_core.ipc.connection import (
    DEFAULT,
    Connection,
    ConnectionStats,
    PeerInfo,
    current_connection,
)
from symphony_core.ipc.errors import (
    BusBusyError,
    ConnectionClosedError,
    FrameTooLargeError,
    HandlerError,
    HandshakeError,
    IpcError,
    IpcUsageError,
    ProtocolError,
    RemoteError,
    RequestTimeoutError,
    UnknownPeerError,
    VersionMismatchError,
)
from symphony_core.ipc.framing import DEFAULT_MAX_FRAME_SIZE, FrameDecoder, encode_frame
from symphony_core.ipc.handlers import HandlerTable
from symphony_core.ipc.limits import IpcLimits
from symphony_core.ipc.protocol import PROTOCOL_VERSIONS, ErrorCode, decode_message, encode_message
from symphony_core.ipc.server import serve, serve_async
from symphony_core.ipc.streams import RemoteStream
from symphony_core.ipc.topics import Event, Subscription
from symphony_core.ipc.transport import Channel, PipePair, socket_from_fd

__all__ = [
    "DEFAULT",
    "DEFAULT_MAX_FRAME_SIZE",
    "PROTOCOL_VERSIONS",
    "BlockingClient",
    "Bus",
    "BusBusyError",
    "Channel",
    "CloseListener",
    "Connection",
    "ConnectionClosedError",
    "ConnectionStats",
    "ErrorCode",
    "Event",
    "FrameDecoder",
    "FrameTooLargeError",
    "HandlerError",
    "HandlerTable",
    "HandshakeError",
    "IpcError",
    "IpcLimits",
    "IpcUsageError",
    "PeerInfo",
    "PipePair",
    "ProtocolError",
    "RemoteError",
    "RemoteStream",
    "RequestTimeoutError",
    "Subscription",
    "UnknownPeerError",
    "VersionMismatchError",
    "current_connection",
    "decode_message",
    "encode_frame",
    "encode_message",
    "serve",
    "serve_async",
    "socket_from_fd",
]
