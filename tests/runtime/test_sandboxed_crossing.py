"""What crosses the sandbox boundary: start arguments and error records (properties)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sandboxed_harness import write_extension

from symphony_core.config import Config
from symphony_core.errors import (
    ExtensionError,
    ExtensionLoadError,
    HookCallError,
    HostApiError,
    SymphonyError,
)
from symphony_core.ports.runtime import HookNotImplementedError, UnknownExtensionError
from symphony_core.runtime.crossing import (
    ErrorRecord,
    ExtHostArgs,
    RemoteFailure,
    decode_args,
    encode_args,
    error_from_record,
    error_record,
)
from symphony_core.runtime.inprocess import NodeOutputError

EXT = "probe.alpha"
words = st.text(max_size=60)
odd_values = st.one_of(
    st.integers(),
    st.text(max_size=20),
    st.builds(object),
    st.sets(st.integers(), max_size=3),
    st.complex_numbers(allow_nan=False),
    st.lists(st.integers(), max_size=3),
)


def _wire(record: ErrorRecord) -> ErrorRecord:
    """Send a record the way the IPC layer does, and validate it back."""
    data = msgspec.msgpack.decode(msgspec.msgpack.encode(msgspec.to_builtins(record)))
    return msgspec.convert(data, ErrorRecord)


@st.composite
def exceptions(draw: st.DrawFn) -> BaseException:
    message = draw(words)
    kind = draw(st.sampled_from(["plain", "hook", "load", "host_api", "not_impl", "node", "other"]))
    details = draw(st.dictionaries(st.text(max_size=8), odd_values, max_size=3))
    if kind == "plain":
        return draw(st.sampled_from([ValueError, RuntimeError, KeyError, SystemExit]))(message)
    if kind == "hook":
        failures = draw(
            st.lists(
                st.tuples(
                    st.just(EXT),
                    st.builds(lambda m: RuntimeError(m), words)
                    | st.builds(lambda m: ExtensionError(m), words),
                ),
                max_size=3,
            )
        )
        return HookCallError(
            message, hook="probe_fail", failures=failures, extension_id=EXT, details=details
        )
    if kind == "load":
        return ExtensionLoadError(message, extension_id=EXT, hint="do x", details=details)
    if kind == "host_api":
        return HostApiError(message, extension_id=EXT, details=details)
    if kind == "not_impl":
        return HookNotImplementedError(message, hook="probe_nope", extension_id=EXT)
    if kind == "node":
        return NodeOutputError(message, extension_id=EXT)
    return UnknownExtensionError(message, extension_id=EXT)


@settings(max_examples=250, deadline=None)
@given(exc=exceptions())
def test_every_error_crosses_as_plain_data_and_comes_back_as_the_hosts_error(
    exc: BaseException,
) -> None:
    record = _wire(error_record(exc))
    error = error_from_record(record, EXT)
    assert isinstance(error, ExtensionError)
    assert error.extension_id == EXT  # the host's fact, whatever the child claims
    msgspec.msgpack.encode(record.details)  # only portable values in details
    if not isinstance(exc, SymphonyError):
        assert record.code == "internal.error"
        assert record.type == type(exc).__name__
        assert str(exc) in error.message
        return
    assert error.code == exc.code
    assert type(error) is type(exc)
    assert error.message == exc.message
    if isinstance(exc, HookCallError):
        assert isinstance(error, HookCallError)
        assert error.hook == exc.hook
        assert [(ext, str(f)) for ext, f in error.failures] == [
            (ext, str(f)) for ext, f in exc.failures
        ]
        for (_, original), (_, copy) in zip(exc.failures, error.failures, strict=True):
            assert isinstance(copy, RemoteFailure)
            assert copy.type_name == type(original).__name__
            assert copy.error_code == getattr(original, "code", None)
    if isinstance(exc, HookNotImplementedError):
        assert isinstance(error, HookNotImplementedError)
        assert error.hook == exc.hook


def test_an_unknown_code_keeps_its_facts_in_the_details() -> None:
    record = ErrorRecord(code="sdk.node_input", type="NodeInputError", message="bad input")
    error = error_from_record(record, EXT)
    assert type(error) is ExtensionError
    assert error.details == {"remote_code": "sdk.node_input", "remote_type": "NodeInputError"}
    assert str(error) == f"{EXT}: bad input"


def test_a_record_cannot_name_a_class_to_build() -> None:
    hostile = {"code": "os.system", "type": "os.system", "message": "rm -rf /"}
    error = error_from_record(msgspec.convert(hostile, ErrorRecord), EXT)
    assert type(error) is ExtensionError
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"code": 1, "type": [], "message": None}, ErrorRecord)


def test_start_arguments_round_trip_through_msgpack(tmp_path: Path) -> None:
    record = write_extension(tmp_path, "probe.args", "X = 1\n")
    args = ExtHostArgs(
        record=record,
        config=Config(home=tmp_path / "home", hook_order={"*": ("a.b",)}),
        sys_path=(str(tmp_path),),
        hookspecs=("m:Specs",),
    )
    wire: dict[str, Any] = msgspec.msgpack.decode(msgspec.msgpack.encode(encode_args(args)))
    assert decode_args(wire) == args
    wire["record"]["trust"] = "root"
    with pytest.raises(msgspec.ValidationError):
        decode_args(wire)
