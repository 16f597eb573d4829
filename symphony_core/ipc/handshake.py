"""The opening exchange: the host's Hello, the extension's Welcome or refusal."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from symphony_core.ipc.endpoint import Endpoint, PeerInfo
from symphony_core.ipc.errors import (
    HandshakeError,
    VersionMismatchError,
)
from symphony_core.ipc.protocol import (
    PROTOCOL_VERSIONS,
    ErrorCode,
    ErrorResponse,
    Hello,
    Welcome,
)

__all__ = ["Handshake"]


class Handshake(Endpoint):
    """Run the handshake from either side."""

    async def handshake_as_host(
        self, *, host_id: str, versions: Sequence[int] = PROTOCOL_VERSIONS
    ) -> PeerInfo:
        """Send Hello and wait for Welcome; return what the extension stated.

        Raises:
            VersionMismatchError: The extension shares no protocol version with us.
            HandshakeError: It refused otherwise, answered something else, or not in time.
        """
        self._send(
            Hello(list(versions), host_id, self.limits.max_frame_size, self.limits.stream_window)
        )
        answer = await self._await_handshake()
        if isinstance(answer, ErrorResponse):
            self.close(f"handshake refused: {answer.message}")
            if answer.code == ErrorCode.VERSION_MISMATCH:
                theirs = answer.data.get("extension") if isinstance(answer.data, dict) else None
                raise VersionMismatchError(
                    versions,
                    [v for v in theirs if isinstance(v, int)] if isinstance(theirs, list) else [],
                    peer=self.name,
                )
            raise HandshakeError(
                f"extension refused the handshake: {answer.message}", peer=self.name
            )
        if not isinstance(answer, Welcome):
            self.close("handshake: expected Welcome")
            raise HandshakeError(f"expected Welcome, got {type(answer).__name__}", peer=self.name)
        if answer.version not in versions:
            self.close("handshake: version not offered")
            raise HandshakeError(
                f"extension chose protocol version {answer.version}, which the host did not "
                f"offer ({list(versions)})",
                peer=self.name,
            )
        info = PeerInfo(
            protocol_version=answer.version,
            max_frame_size=answer.max_frame_size,
            extension_id=answer.extension_id,
            extension_version=answer.extension_version,
            pid=answer.pid,
            capabilities=tuple(answer.capabilities),
            max_concurrent=answer.max_concurrent,
        )
        self._open(info, max_concurrent=answer.max_concurrent)
        return info

    async def handshake_as_extension(
        self,
        *,
        extension_id: str,
        extension_version: str = "0",
        capabilities: Iterable[str] = (),
        versions: Sequence[int] = PROTOCOL_VERSIONS,
    ) -> PeerInfo:
        """Wait for Hello, answer Welcome (or refuse); return what the host stated.

        Raises:
            VersionMismatchError: The host offered no version we speak (it was told so).
            HandshakeError: The host sent something else, or nothing in time.
        """
        hello = await self._await_handshake()
        if not isinstance(hello, Hello):
            self.close("handshake: expected Hello")
            raise HandshakeError(f"expected Hello, got {type(hello).__name__}", peer=self.name)
        common = set(hello.versions) & set(versions)
        if not common:
            error = VersionMismatchError(hello.versions, versions, peer=self.name)
            self._send(
                ErrorResponse(
                    None,
                    ErrorCode.VERSION_MISMATCH,
                    error.message,
                    {"host": list(hello.versions), "extension": list(versions)},
                )
            )
            self.close(error.message)
            raise error
        chosen = max(common)
        self._peer_window = hello.stream_window
        self._send(
            Welcome(
                chosen,
                extension_id,
                extension_version,
                os.getpid(),
                list(capabilities),
                self.limits.max_frame_size,
                self.limits.max_concurrent,
            )
        )
        info = PeerInfo(
            protocol_version=chosen,
            max_frame_size=hello.max_frame_size,
            host_id=hello.host_id,
            stream_window=hello.stream_window,
        )
        self._open(info, max_concurrent=None)
        return info
