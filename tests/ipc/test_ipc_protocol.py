"""Message structs: validation, error codes, refusal of extension types and pickles."""

from __future__ import annotations

import ast
import datetime
import os
import pickle
from pathlib import Path

import msgspec
import pytest

import symphony_core.ipc
from symphony_core.errors import ExtensionError, SymphonyError, error_codes
from symphony_core.ipc import (
    ErrorCode,
    HandshakeError,
    IpcError,
    ProtocolError,
    RemoteError,
    VersionMismatchError,
    decode_message,
    encode_message,
)
from symphony_core.ipc.protocol import (
    Cancel,
    ErrorResponse,
    Hello,
    Notification,
    Publish,
    Request,
    Response,
    StreamChunk,
)


class _MakesMarker:
    """Unpickling this calls os.makedirs(path): a stand-in for any code execution."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.makedirs, (self.path,))


def test_json_rpc_standard_codes() -> None:
    standard = {
        "PARSE_ERROR": -32700,
        "INVALID_REQUEST": -32600,
        "METHOD_NOT_FOUND": -32601,
        "INVALID_PARAMS": -32602,
        "INTERNAL_ERROR": -32603,
    }
    assert {name: int(ErrorCode[name]) for name in standard} == standard
    ours = [c for c in ErrorCode if c > -32700 and c not in range(-32603, -32599)]
    assert ours
    assert all(-32099 <= c <= -32000 for c in ours)
    assert len({int(c) for c in ErrorCode}) == len(ErrorCode)


def test_wire_shape_is_a_tagged_array() -> None:
    body = encode_message(Request(1, "m"))
    assert msgspec.msgpack.decode(body) == [3, 1, "m", None]
    assert decode_message(body) == Request(1, "m", None)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"\xc1", "malformed msgpack"),
        (b"", "malformed msgpack"),
        (msgspec.msgpack.encode([99, 1]), "invalid message"),
        (msgspec.msgpack.encode([3, "one", "m"]), "Expected `int`, got `str`"),
        (msgspec.msgpack.encode([3, -1, "m"]), "invalid message"),
        (msgspec.msgpack.encode([3, 1, ""]), "invalid message"),
        (msgspec.msgpack.encode([3, 1, "m", "params-not-a-list"]), "invalid message"),
        (msgspec.msgpack.encode([3, 1, "m", {1: 2}]), "invalid message"),
        (msgspec.msgpack.encode([7, 1, 2]), "invalid message"),
        (msgspec.msgpack.encode({"t": 3}), "invalid message"),
        (b"\x94\x03\x01\xa1m" + b"\x91" * 100_000 + b"\xc0", "nesting too deep"),
    ],
)
def test_bad_bodies_are_protocol_errors_naming_the_problem(body: bytes, fragment: str) -> None:
    with pytest.raises(ProtocolError) as info:
        decode_message(body)
    assert fragment in info.value.message
    assert info.value.code == "ipc.protocol_error"


def test_extension_types_are_refused_but_timestamps_are_plain_data() -> None:
    ext = encode_message(Response(1, msgspec.msgpack.Ext(1, b"\x80\x04")))
    with pytest.raises(ProtocolError, match="extension type 1 is not allowed"):
        decode_message(ext)
    moment = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    assert decode_message(encode_message(Response(1, moment))) == Response(1, moment)


def test_a_pickle_is_never_executed_only_carried_as_bytes(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_MakesMarker(str(marker)))
    # As a whole frame body: garbage, refused.
    with pytest.raises(ProtocolError):
        decode_message(payload)
    # Inside a valid message: opaque bytes, returned as they came.
    assert decode_message(encode_message(Response(1, payload))) == Response(1, payload)
    assert decode_message(encode_message(Publish("a.b", [payload]))) == Publish("a.b", [payload])
    assert not marker.exists()
    # Positive control: the payload really is code execution when unpickled.
    pickle.loads(payload)  # the point of the test
    assert marker.is_dir()


def test_ipc_modules_never_import_pickle_or_call_eval() -> None:
    forbidden_modules = {"pickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle"}
    forbidden_calls = {"eval", "exec", "__import__", "import_module", "loads"}
    package = Path(symphony_core.ipc.__file__).parent
    checked = 0
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = {a.name.split(".")[0] for a in node.names}
                assert not names & forbidden_modules, f"{path.name} imports {names}"
            elif isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] not in forbidden_modules, path.name
            elif isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                assert name not in forbidden_calls, f"{path.name}:{node.lineno} calls {name}"
        checked += 1
    assert checked >= 10


def test_structs_are_immutable_and_strict() -> None:
    request = Request(1, "m", [1])
    with pytest.raises(AttributeError):
        request.id = 2  # type: ignore[misc]
    with pytest.raises(ProtocolError):
        decode_message(msgspec.msgpack.encode([3, 1, "m", [1], "extra"]))


def test_omitted_defaults_decode_back() -> None:
    for message in (
        Notification("n"),
        Response(3),
        ErrorResponse(None, -32700, "bad"),
        StreamChunk(1, 0),
        Cancel(5),
        Hello([1, 2], "h", 1024, 8),
    ):
        assert decode_message(encode_message(message)) == message


def test_error_family_codes_are_registered_and_stable() -> None:
    codes = error_codes()
    for cls in (IpcError, ProtocolError, HandshakeError, VersionMismatchError, RemoteError):
        assert codes[cls.code] is cls
        assert issubclass(cls, SymphonyError)
    assert issubclass(RemoteError, ExtensionError)


def test_remote_error_carries_remote_facts_as_data() -> None:
    error = RemoteError(
        "no such thing",
        remote_code=ErrorCode.METHOD_NOT_FOUND,
        method="frob",
        data={"k": 1},
        peer="acme.x#2",
        extension_id="acme.x",
    )
    assert error.remote_code_name == "METHOD_NOT_FOUND"
    assert error.extension_id == "acme.x"
    assert "acme.x#2:frob" in str(error)
    facts = error.to_dict()
    assert facts["remote_code"] == -32601
    assert facts["data"] == {"k": 1}
    assert facts["code"] == "ipc.remote_error"
    assert RemoteError("x", remote_code=7).remote_code_name is None


def test_version_mismatch_names_both_sides() -> None:
    error = VersionMismatchError([1, 2], [3])
    assert "[1, 2]" in error.message
    assert "[3]" in error.message
