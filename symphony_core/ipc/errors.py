"""Errors of the IPC layer: framing, protocol, handshake, calls and back-pressure.

Every class has a stable dotted ``code``. Errors about one connection carry ``peer``
(the name the host gave the connection, usually the extension id). An error the remote
side answered with becomes a :class:`RemoteError`, which keeps the remote JSON-RPC code,
message and data as plain values: nothing the peer sent is ever turned into code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from symphony_core.errors import ExtensionError, SymphonyError, UserError

__all__ = [
    "BusBusyError",
    "ConnectionClosedError",
    "FrameTooLargeError",
    "HandlerError",
    "HandshakeError",
    "IpcError",
    "IpcUsageError",
    "ProtocolError",
    "RemoteError",
    "RequestTimeoutError",
    "UnknownPeerError",
    "VersionMismatchError",
]


class IpcError(SymphonyError):
    """Base of every IPC error.

    Args:
        message: What is wrong.
        peer: The connection at fault (its name on the bus, usually an extension id).
        **kwargs: Passed to :class:`SymphonyError`.
    """

    code = "ipc.error"

    def __init__(self, message: str, *, peer: str | None = None, **kwargs: Any) -> None:
        self.peer = peer
        kwargs.setdefault("where", peer)
        super().__init__(message, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable description including the peer."""
        out = super().to_dict()
        out["peer"] = self.peer
        return out


class ProtocolError(IpcError):
    """Bytes from a peer are not a valid frame or message of the protocol."""

    code = "ipc.protocol_error"


class FrameTooLargeError(ProtocolError):
    """A frame is larger than the receiver's frame-size cap.

    Args:
        size: The frame's body size in bytes, as declared or encoded.
        limit: The cap in bytes.
        **kwargs: Passed to :class:`IpcError`.
    """

    code = "ipc.frame_too_large"

    def __init__(self, size: int, limit: int, **kwargs: Any) -> None:
        self.size = size
        self.limit = limit
        kwargs.setdefault(
            "hint",
            "raise the frame-size cap on both sides, or send large data as a stream",
        )
        super().__init__(f"frame of {size} bytes exceeds the {limit}-byte cap", **kwargs)


class HandshakeError(IpcError):
    """The opening exchange (Hello / Welcome) failed."""

    code = "ipc.handshake_failed"


class VersionMismatchError(HandshakeError):
    """The two sides share no protocol version.

    Args:
        host_versions: Versions the host offered.
        extension_versions: Versions the extension supports.
        **kwargs: Passed to :class:`IpcError`.
    """

    code = "ipc.version_mismatch"

    def __init__(
        self, host_versions: Sequence[int], extension_versions: Sequence[int], **kwargs: Any
    ) -> None:
        self.host_versions = list(host_versions)
        self.extension_versions = list(extension_versions)
        kwargs.setdefault(
            "hint", "upgrade the older side so both speak one common protocol version"
        )
        super().__init__(
            f"no common protocol version: host supports {self.host_versions}, "
            f"extension supports {self.extension_versions}",
            **kwargs,
        )


class ConnectionClosedError(IpcError):
    """The connection closed before the operation finished (or was already closed).

    Args:
        message: What happened.
        reason: Why the connection closed, as recorded when it did.
        **kwargs: Passed to :class:`IpcError`.
    """

    code = "ipc.connection_closed"

    def __init__(self, message: str, *, reason: str | None = None, **kwargs: Any) -> None:
        self.reason = reason
        super().__init__(message, **kwargs)


class RequestTimeoutError(IpcError):
    """A request got no answer in time; a Cancel was sent to the peer."""

    code = "ipc.timeout"


class BusBusyError(IpcError):
    """Back-pressure: too many requests in flight or too many bytes queued for a peer."""

    code = "ipc.busy"


class UnknownPeerError(IpcError, UserError):
    """No connection by that name is open on the bus."""

    code = "ipc.unknown_peer"


class IpcUsageError(IpcError, UserError):
    """The IPC API was called with arguments it cannot accept (bad name, bad limits...)."""

    code = "ipc.usage"


class RemoteError(IpcError, ExtensionError):
    """The peer answered a request with an error.

    The remote fields are plain data from the peer; they are shown, never executed.

    Args:
        message: The peer's message.
        remote_code: The JSON-RPC error code the peer sent.
        method: The method that was called.
        data: The error's ``data`` member (msgpack-native values only).
        peer: The connection's name.
        extension_id: The extension id the peer stated in its handshake.
        **kwargs: Passed to :class:`IpcError`.
    """

    code = "ipc.remote_error"

    def __init__(
        self,
        message: str,
        *,
        remote_code: int,
        method: str | None = None,
        data: Any = None,
        peer: str | None = None,
        extension_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.remote_code = remote_code
        self.remote_message = message
        self.method = method
        self.data = data
        where = peer if method is None else f"{peer}:{method}" if peer else method
        kwargs.setdefault("where", where)
        text = f"remote error {remote_code}"
        name = _code_name(remote_code)
        if name:
            text = f"{text} ({name})"
        super().__init__(f"{text}: {message}", peer=peer, extension_id=extension_id, **kwargs)

    @property
    def remote_code_name(self) -> str | None:
        """The symbolic name of :attr:`remote_code`, if it is one of the protocol's codes."""
        return _code_name(self.remote_code)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable description with the remote code, message and data."""
        out = super().to_dict()
        out.update(
            {
                "remote_code": self.remote_code,
                "remote_code_name": self.remote_code_name,
                "remote_message": self.remote_message,
                "method": self.method,
                "data": self.data,
            }
        )
        return out


class HandlerError(IpcError):
    """Raise from a handler to answer the request with a chosen error code and data.

    Args:
        message: The message sent to the caller.
        code_value: The JSON-RPC error code (an application code outside the reserved
            range -32768..-32000 by convention).
        data: Extra msgpack-native data for the caller.
    """

    code = "ipc.handler_error"

    def __init__(self, message: str, *, code_value: int = 1, data: Any = None) -> None:
        self.code_value = code_value
        self.data = data
        super().__init__(message)


def _code_name(value: int) -> str | None:
    from symphony_core.ipc.protocol import ErrorCode

    try:
        return ErrorCode(value).name
    except ValueError:
        return None
