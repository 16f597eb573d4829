"""The wire protocol: JSON-RPC 2.0 semantics in msgpack, as tagged msgspec structs.

Every frame body is one message: a msgpack array whose first element is an integer tag
naming the message type, followed by the type's fields in order. Decoding validates the
whole body into one of the structs below before anything looks at it; a body that is not
exactly one valid message is a :class:`~symphony_core.ipc.errors.ProtocolError`.

Parameters, results and event data are limited to msgpack-native values: nil, bool,
int, float, str, bytes, array, map, and the standard timestamp extension (decoded to a
``datetime``). Every other msgpack extension type is refused, and nothing is unpickled,
evaluated or imported.

======  ================  =========================================================
tag     message           meaning
======  ================  =========================================================
1       Hello             host -> extension: versions offered, host id, limits
2       Welcome           extension -> host: chosen version, identity, limits
3       Request           call ``method`` with ``params``; answered by id
4       Response          successful result of request ``id``
5       ErrorResponse     error result of request ``id`` (``None`` when unknown)
6       Notification      call ``method`` with no answer
7       Cancel            the caller gave up on request ``id``
8       StreamChunk       one piece of a streamed result of request ``id``
9       StreamEnd         the stream of request ``id`` finished after ``count`` chunks
10      Credit            the consumer of stream ``id`` accepts ``n`` more chunks
11      Heartbeat         liveness probe; answered by HeartbeatAck with the same seq
12      HeartbeatAck      answer to Heartbeat
13      Publish           an event on ``topic``
14      Subscribe         deliver events matching ``pattern`` to the sender
15      Unsubscribe       stop delivering events matching ``pattern``
16      Goodbye           the sender is closing the connection, and why
======  ================  =========================================================
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, Final, NoReturn, TypeAlias

import msgspec

from symphony_core.ipc.errors import ProtocolError

__all__ = [
    "PROTOCOL_VERSIONS",
    "Cancel",
    "Credit",
    "ErrorCode",
    "ErrorResponse",
    "Goodbye",
    "Heartbeat",
    "HeartbeatAck",
    "Hello",
    "Message",
    "MessageDecoder",
    "Notification",
    "Params",
    "Publish",
    "Request",
    "Response",
    "StreamChunk",
    "StreamEnd",
    "Subscribe",
    "Unsubscribe",
    "Welcome",
    "decode_message",
    "encode_message",
]

PROTOCOL_VERSIONS: Final[tuple[int, ...]] = (1,)
"""Protocol versions this implementation speaks, oldest first."""

MAX_NAME_LENGTH: Final = 256
"""Longest method name, topic or pattern accepted on the wire."""


class ErrorCode(enum.IntEnum):
    """Error codes carried by :class:`ErrorResponse`.

    The first five are JSON-RPC 2.0's own; the rest are Symphony's, in the range
    JSON-RPC reserves for implementations (-32000 to -32099).
    """

    PARSE_ERROR = -32700
    """The frame body is not valid msgpack."""
    INVALID_REQUEST = -32600
    """The body is msgpack but not a valid message."""
    METHOD_NOT_FOUND = -32601
    """No handler is registered under the method's name."""
    INVALID_PARAMS = -32602
    """The params do not fit the handler's signature."""
    INTERNAL_ERROR = -32603
    """The serving side failed outside the handler."""
    HANDLER_FAILED = -32000
    """The handler raised an exception it did not map to a code."""
    REQUEST_CANCELLED = -32001
    """The request was cancelled by the caller (or a timeout) before it finished."""
    VERSION_MISMATCH = -32002
    """Handshake: no common protocol version."""
    BUSY = -32003
    """Back-pressure: the serving side has too many requests in flight."""
    RESULT_TOO_LARGE = -32004
    """The result does not fit in one frame; return an iterator to stream it."""
    RESULT_NOT_SERIALIZABLE = -32005
    """The result holds values msgpack cannot carry."""
    HANDSHAKE_REQUIRED = -32006
    """A message other than Hello arrived before the handshake."""


_Id = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
_Count = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
_Positive = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
_Name = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME_LENGTH)]
_ShortText = Annotated[str, msgspec.Meta(max_length=4096)]
_Version = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]

Params: TypeAlias = list[Any] | dict[str, Any] | None
"""JSON-RPC params: positional (array), named (map with string keys) or absent."""


class _Base(
    msgspec.Struct,
    array_like=True,
    frozen=True,
    gc=False,
    forbid_unknown_fields=True,
):
    """Common configuration: compact array encoding, strict decoding, no GC tracking."""


class Hello(_Base, tag=1, frozen=True):
    """Host -> extension, first message on a connection.

    Attributes:
        versions: Protocol versions the host speaks.
        host_id: Who is calling (for the extension's logs).
        max_frame_size: The largest frame body the host accepts.
        stream_window: How many stream chunks the extension may send ahead of credit.
    """

    versions: Annotated[list[_Version], msgspec.Meta(min_length=1, max_length=64)]
    host_id: _ShortText
    max_frame_size: _Positive
    stream_window: _Positive


class Welcome(_Base, tag=2, frozen=True):
    """Extension -> host, the answer to :class:`Hello` when a version is shared.

    Attributes:
        version: The protocol version chosen for this connection.
        extension_id: The extension's id.
        extension_version: The extension's version.
        pid: The serving process id.
        capabilities: Names of optional features the extension offers.
        max_frame_size: The largest frame body the extension accepts.
        max_concurrent: How many requests the extension serves at once.
    """

    version: _Version
    extension_id: _ShortText
    extension_version: _ShortText
    pid: Annotated[int, msgspec.Meta(ge=0)]
    capabilities: Annotated[list[_Name], msgspec.Meta(max_length=256)]
    max_frame_size: _Positive
    max_concurrent: _Positive


class Request(_Base, tag=3, frozen=True):
    """Call ``method`` and answer with a Response, ErrorResponse or a stream.

    Attributes:
        id: Unique among the sender's open requests on this connection.
        method: The handler's name.
        params: Positional or named arguments.
    """

    id: _Id
    method: _Name
    params: Params = None


class Response(_Base, tag=4, frozen=True):
    """The successful result of request ``id``."""

    id: _Id
    result: Any = None


class ErrorResponse(_Base, tag=5, frozen=True):
    """The error result of request ``id``.

    Attributes:
        id: The request answered, or ``None`` when the request could not be read.
        code: An :class:`ErrorCode` or an application code.
        message: What went wrong.
        data: Extra facts (msgpack-native values).
    """

    id: _Id | None
    code: int
    message: _ShortText
    data: Any = None


class Notification(_Base, tag=6, frozen=True):
    """Call ``method`` without an answer."""

    method: _Name
    params: Params = None


class Cancel(_Base, tag=7, frozen=True):
    """The caller no longer wants request ``id``: stop working on it."""

    id: _Id


class StreamChunk(_Base, tag=8, frozen=True):
    """One piece of the streamed result of request ``id``; ``seq`` counts from 0."""

    id: _Id
    seq: _Count
    data: Any = None


class StreamEnd(_Base, tag=9, frozen=True):
    """The stream of request ``id`` ended normally after ``count`` chunks."""

    id: _Id
    count: _Count


class Credit(_Base, tag=10, frozen=True):
    """The consumer of stream ``id`` has room for ``n`` more chunks."""

    id: _Id
    n: _Positive


class Heartbeat(_Base, tag=11, frozen=True):
    """Liveness probe; the peer answers :class:`HeartbeatAck` with the same ``seq``."""

    seq: _Count


class HeartbeatAck(_Base, tag=12, frozen=True):
    """Answer to :class:`Heartbeat`."""

    seq: _Count


class Publish(_Base, tag=13, frozen=True):
    """An event on ``topic``."""

    topic: _Name
    data: Any = None


class Subscribe(_Base, tag=14, frozen=True):
    """Ask the receiver to forward events whose topic matches ``pattern``."""

    pattern: _Name


class Unsubscribe(_Base, tag=15, frozen=True):
    """Withdraw an earlier :class:`Subscribe`."""

    pattern: _Name


class Goodbye(_Base, tag=16, frozen=True):
    """The sender is closing the connection; ``reason`` says why."""

    reason: _ShortText


Message: TypeAlias = (
    Hello
    | Welcome
    | Request
    | Response
    | ErrorResponse
    | Notification
    | Cancel
    | StreamChunk
    | StreamEnd
    | Credit
    | Heartbeat
    | HeartbeatAck
    | Publish
    | Subscribe
    | Unsubscribe
    | Goodbye
)
"""Any message of the protocol."""


def _refuse_ext(code: int, data: memoryview) -> NoReturn:
    raise ProtocolError(
        f"msgpack extension type {code} is not allowed; only msgpack-native values may "
        "cross the boundary"
    )


class MessageDecoder:
    """Validate frame bodies into :data:`Message` structs.

    Reuse one instance per connection: it holds a prepared msgspec decoder.
    """

    __slots__ = ("_decoder",)

    def __init__(self) -> None:
        self._decoder: msgspec.msgpack.Decoder[Message] = msgspec.msgpack.Decoder(
            Message, ext_hook=_refuse_ext
        )

    def decode(self, body: bytes | bytearray | memoryview) -> Message:
        """Return the message in ``body``.

        Args:
            body: One frame body.

        Raises:
            ProtocolError: The body is not valid msgpack, not a known message, has a field
                of the wrong type, or nests deeper than the decoder allows.
        """
        try:
            return self._decoder.decode(body)
        except msgspec.ValidationError as exc:
            raise ProtocolError(f"invalid message: {exc}", details=_code(-32600)) from None
        except msgspec.DecodeError as exc:
            raise ProtocolError(f"malformed msgpack: {exc}", details=_code(-32700)) from None
        except RecursionError:
            raise ProtocolError(
                "malformed msgpack: nesting too deep", details=_code(-32700)
            ) from None


def _code(value: int) -> dict[str, int]:
    return {"rpc_code": value}


_ENCODER: Final = msgspec.msgpack.Encoder()
_DECODER: Final = MessageDecoder()


def encode_message(message: Message) -> bytes:
    """Return the msgpack body of ``message`` (without the frame header).

    Raises:
        TypeError: A params, result or data value is not msgpack-native.
    """
    return _ENCODER.encode(message)


def decode_message(body: bytes | bytearray | memoryview) -> Message:
    """Validate one frame body into a message (see :meth:`MessageDecoder.decode`).

    Raises:
        ProtocolError: The body is not exactly one valid message.
    """
    return _DECODER.decode(body)
