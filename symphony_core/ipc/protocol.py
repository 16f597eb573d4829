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
17      RequestBatch      several requests in one frame, in runs (protocol version 2)
18      ResponseBatch     several answers in one frame (protocol version 2)
======  ================  =========================================================

Protocol version 2 is version 1 plus the two batch frames (JSON-RPC 2.0 batches). A peer
sends them only on a connection that negotiated version 2 or later, so a version-1 peer
is still served one frame per request.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Annotated, Any, Final, NoReturn, TypeAlias

import msgspec

from symphony_core.ipc.errors import ProtocolError

__all__ = [
    "BATCH_VERSION",
    "PROTOCOL_VERSIONS",
    "BatchItemsError",
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
    "RequestBatch",
    "RequestRun",
    "Response",
    "ResponseBatch",
    "ResultRun",
    "StreamChunk",
    "StreamEnd",
    "Subscribe",
    "Unsubscribe",
    "Welcome",
    "decode_message",
    "encode_message",
]

PROTOCOL_VERSIONS: Final[tuple[int, ...]] = (1, 2)
"""Protocol versions this implementation speaks, oldest first."""

BATCH_VERSION: Final = 2
"""The first protocol version with :class:`RequestBatch` and :class:`ResponseBatch`."""

_REQUEST_TAG: Final = 3
_MAX_ID: Final = 2**63 - 1
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


class Request(_Base, tag=_REQUEST_TAG, frozen=True):
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


class RequestRun(_Base, frozen=True):
    """Requests to one method with consecutive ids, as one item of a :class:`RequestBatch`.

    Stands for ``Request(first_id + i, method, params[i])`` for each ``i``: a JSON-RPC
    batch of calls to one method costs one struct, not one per call.

    Attributes:
        first_id: The id of the first request; the others follow one by one.
        method: The handler's name, for every request of the run.
        params: Each request's params (at least one request).
    """

    first_id: _Id
    method: _Name
    params: Annotated[list[Params], msgspec.Meta(min_length=1)]

    def __post_init__(self) -> None:
        if self.first_id + len(self.params) - 1 > _MAX_ID:
            raise ValueError(f"the run's request ids go past {_MAX_ID}")

    def requests(self) -> list[Request]:
        """Return the run as single requests."""
        method, first = self.method, self.first_id
        return [Request(first + i, method, params) for i, params in enumerate(self.params)]


class RequestBatch(_Base, tag=17, frozen=True):
    """Several requests in one frame: a JSON-RPC 2.0 batch (protocol version 2).

    Each request is served exactly as if it had come alone and is answered by its id,
    in a :class:`ResponseBatch` or a frame of its own, in any order. Requests are
    grouped in runs (same method, consecutive ids); any list of requests can be sent
    (see :meth:`of`), and a caller's batch of one method is a single run.

    Attributes:
        runs: At least one run (JSON-RPC: an empty batch is invalid).
    """

    runs: Annotated[list[RequestRun], msgspec.Meta(min_length=1)]

    @classmethod
    def of(cls, requests: Iterable[Request]) -> RequestBatch:
        """Return the batch of ``requests`` (in order; neighbours merged into runs).

        Raises:
            ValueError: ``requests`` is empty.
        """
        runs: list[RequestRun] = []
        for request in requests:
            if runs:
                last = runs[-1]
                if last.method == request.method and (
                    last.first_id + len(last.params) == request.id
                ):
                    last.params.append(request.params)
                    continue
            runs.append(RequestRun(request.id, request.method, [request.params]))
        if not runs:
            raise ValueError("a batch holds at least one request")
        return cls(runs)

    def requests(self) -> list[Request]:
        """Return the batch as single requests, in order."""
        return [request for run in self.runs for request in run.requests()]

    def __len__(self) -> int:
        return sum(len(run.params) for run in self.runs)


class ResultRun(_Base, frozen=True):
    """Successful results of consecutive request ids, as one item of a ResponseBatch.

    Stands for ``Response(first_id + i, results[i])`` for each ``i``. (Ids past
    ``2**63 - 1`` answer no request the receiver can have sent, so they are not checked
    here: the receiver finds no open request for them.)

    Attributes:
        first_id: The id of the request the first result answers.
        results: The results (at least one).
    """

    first_id: _Id
    results: Annotated[list[Any], msgspec.Meta(min_length=1)]


class ResponseBatch(_Base, tag=18, frozen=True):
    """Answers to several requests in one frame (protocol version 2).

    Successful results are grouped in runs of consecutive ids; errors are listed one by
    one. Together they answer any set of requests, each exactly once.

    Attributes:
        results: Runs of successful results.
        errors: Error answers.
    """

    results: list[ResultRun]
    errors: list[ErrorResponse]

    def __post_init__(self) -> None:
        if not self.results and not self.errors:
            raise ValueError("a batch holds at least one answer")

    @classmethod
    def of(cls, answers: Iterable[Response | ErrorResponse]) -> ResponseBatch:
        """Return the batch of ``answers`` (consecutive results merged into runs).

        Raises:
            ValueError: ``answers`` is empty.
        """
        runs: list[ResultRun] = []
        errors: list[ErrorResponse] = []
        for answer in answers:
            if isinstance(answer, ErrorResponse):
                errors.append(answer)
            elif runs and runs[-1].first_id + len(runs[-1].results) == answer.id:
                runs[-1].results.append(answer.result)
            else:
                runs.append(ResultRun(answer.id, [answer.result]))
        return cls(runs, errors)

    def answers(self) -> list[Response | ErrorResponse]:
        """Return the batch as single answers: the results in order, then the errors."""
        out: list[Response | ErrorResponse] = [
            Response(run.first_id + i, result)
            for run in self.results
            for i, result in enumerate(run.results)
        ]
        out.extend(self.errors)
        return out

    def __len__(self) -> int:
        return sum(len(run.results) for run in self.results) + len(self.errors)


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
    | RequestBatch
    | ResponseBatch
)
"""Any message of the protocol."""


def _refuse_ext(code: int, data: memoryview) -> NoReturn:
    raise ProtocolError(
        f"msgpack extension type {code} is not allowed; only msgpack-native values may "
        "cross the boundary"
    )


class BatchItemsError(ProtocolError):
    """A :class:`RequestBatch` frame holds items that are not valid requests.

    The frame itself is sound, so this is not a protocol violation: JSON-RPC 2.0 answers
    each invalid item of a batch with its own Invalid Request error and serves the rest.

    Args:
        runs: The valid requests, in batch order.
        rejected: One INVALID_REQUEST :class:`ErrorResponse` per invalid request, with
            its id when that could be read (``None`` otherwise).
        **kwargs: Passed to :class:`~symphony_core.ipc.errors.IpcError`.
    """

    code = "ipc.invalid_batch_items"

    def __init__(
        self, runs: list[RequestRun], rejected: list[ErrorResponse], **kwargs: Any
    ) -> None:
        self.runs = runs
        self.rejected = rejected
        kwargs.setdefault("details", _code(ErrorCode.INVALID_REQUEST))
        super().__init__(
            f"{len(rejected)} invalid requests in a batch: {rejected[0].message}", **kwargs
        )


class _RawRequestBatch(_Base, tag=17, frozen=True):
    """A RequestBatch whose runs are kept undecoded, to validate them one by one."""

    runs: Annotated[list[msgspec.Raw], msgspec.Meta(min_length=1)]


class _LenientRun(_Base, frozen=True):
    """A run whose fields are read without validation, to find which requests are bad."""

    first_id: Any
    method: Any
    params: list[msgspec.Raw]


class MessageDecoder:
    """Validate frame bodies into :data:`Message` structs.

    Reuse one instance per connection: it holds prepared msgspec decoders.
    """

    __slots__ = ("_decoder", "_lenient_run", "_params", "_raw_batch", "_run")

    def __init__(self) -> None:
        self._decoder: msgspec.msgpack.Decoder[Message] = msgspec.msgpack.Decoder(
            Message, ext_hook=_refuse_ext
        )
        # Only used when a batch fails validation as a whole: find the bad requests.
        self._raw_batch = msgspec.msgpack.Decoder(_RawRequestBatch)
        self._run = msgspec.msgpack.Decoder(RequestRun, ext_hook=_refuse_ext)
        self._lenient_run = msgspec.msgpack.Decoder(_LenientRun, ext_hook=_refuse_ext)
        self._params: msgspec.msgpack.Decoder[Params] = msgspec.msgpack.Decoder(
            Params, ext_hook=_refuse_ext
        )

    def decode(self, body: bytes | bytearray | memoryview) -> Message:
        """Return the message in ``body``.

        Args:
            body: One frame body.

        Raises:
            BatchItemsError: The body is a :class:`RequestBatch` with invalid requests;
                the error holds the valid ones and an answer for each invalid one.
            ProtocolError: The body is not valid msgpack, not a known message, has a field
                of the wrong type, or nests deeper than the decoder allows.
        """
        try:
            return self._decoder.decode(body)
        except msgspec.ValidationError as exc:
            self._check_batch_items(body)
            raise ProtocolError(f"invalid message: {exc}", details=_code(-32600)) from None
        except ProtocolError:
            self._check_batch_items(body)  # a refused extension type in one request
            raise
        except msgspec.DecodeError as exc:
            raise ProtocolError(f"malformed msgpack: {exc}", details=_code(-32700)) from None
        except RecursionError:
            raise ProtocolError(
                "malformed msgpack: nesting too deep", details=_code(-32700)
            ) from None

    def _check_batch_items(self, body: bytes | bytearray | memoryview) -> None:
        """Raise BatchItemsError if ``body`` is a sound batch with some invalid requests."""
        try:
            batch = self._raw_batch.decode(body)
        except (msgspec.DecodeError, RecursionError):
            return  # not a batch frame, or not one that can be read run by run
        runs: list[RequestRun] = []
        rejected: list[ErrorResponse] = []
        for index, raw in enumerate(batch.runs):
            try:
                runs.append(self._run.decode(raw))
            except _UNREADABLE:
                self._split_run(index, raw, runs, rejected)
        if rejected:
            raise BatchItemsError(runs, rejected)

    def _split_run(
        self,
        index: int,
        raw: msgspec.Raw,
        runs: list[RequestRun],
        rejected: list[ErrorResponse],
    ) -> None:
        """Sort the requests of an invalid run into valid runs and rejections."""
        try:
            run = self._lenient_run.decode(raw)
        except _UNREADABLE as exc:
            rejected.append(_invalid(None, f"run {index} of the batch is unreadable: {exc}"))
            return
        first = run.first_id
        if type(first) is not int or not 0 <= first <= _MAX_ID:
            first = None
        problem: str | None = None
        try:
            method = msgspec.convert(run.method, _Name)
        except msgspec.ValidationError as exc:
            method, problem = "", f"invalid method name: {exc}"
        if first is None:
            problem = problem or "invalid first_id"
        current: RequestRun | None = None
        for offset, raw_params in enumerate(run.params):
            rid = None if first is None or first + offset > _MAX_ID else first + offset
            item_problem = problem
            if item_problem is None and rid is None:
                item_problem = f"request ids go past {_MAX_ID}"
            params: Params = None
            if item_problem is None:
                try:
                    params = self._params.decode(raw_params)
                except _UNREADABLE as exc:
                    item_problem = f"params must be an array, a map or nil: {exc}"
            if item_problem is not None or rid is None:
                label = f"request {rid}" if rid is not None else f"request {offset} of run {index}"
                rejected.append(_invalid(rid, f"{label} of the batch: {item_problem}"))
                current = None
                continue
            if current is None:
                current = RequestRun(rid, method, [params])
                runs.append(current)
            else:
                current.params.append(params)
        if not run.params:
            rejected.append(_invalid(first, f"run {index} of the batch holds no requests"))


_UNREADABLE: Final = (msgspec.DecodeError, RecursionError, ProtocolError)


def _invalid(rid: int | None, message: str) -> ErrorResponse:
    return ErrorResponse(rid, ErrorCode.INVALID_REQUEST, message[:4000])


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
