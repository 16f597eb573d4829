"""Both codecs round-trip every workflow, agree byte for byte, and refuse junk cleanly."""

from __future__ import annotations

import contextlib
import struct

import pytest
import zstandard
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from test_workflow_strategies import workflows

from symphony_core.workflow import (
    CodecError,
    Workflow,
    decode_binary,
    decode_json,
    decode_workflow,
    encode_binary,
    encode_json,
)
from symphony_core.workflow.codec_binary import HEADER_SIZE, MAGIC

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(workflows())
def test_both_codecs_round_trip_losslessly(workflow: Workflow) -> None:
    # One generated workflow serves every round trip: generation is the slow part.
    text = encode_json(workflow)
    from_json = decode_json(text)
    assert from_json == workflow
    assert encode_json(from_json) == text

    blob = encode_binary(workflow)
    from_binary = decode_binary(blob)
    assert from_binary == workflow
    assert encode_binary(from_binary) == blob
    # The topology the binary decoder seeds must agree with one built from the names.
    fresh = from_binary.replace()
    assert from_binary.topology.src == fresh.topology.src
    assert from_binary.topology.dst == fresh.topology.dst

    # JSON -> binary -> JSON gives back the very same bytes.
    assert encode_json(decode_binary(encode_binary(from_json))) == text
    assert decode_binary(encode_binary(workflow, compress_payload=False)) == workflow


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
@example(b"")
@example(MAGIC)
@example(MAGIC + b"\x01\x01\x00\x00\x10\x00\x00\x00")
@example(b'{"schema_version": 2, "name": "x", "nodes": [{"id": "a", "type": 1}]}')
@example(b'{"schema_version": 1, "name": "x", "edges": [{"id": "e", "from": 3}]}')
@example(b"[1, 2, 3]")
def test_arbitrary_bytes_give_a_workflow_or_a_codec_error(data: bytes) -> None:
    for decoder in (decode_json, decode_binary, decode_workflow):
        error: CodecError | None = None
        try:
            result = decoder(data)
        except CodecError as exc:
            error = exc
        if error is not None:
            assert error.code.startswith("workflow.")
            assert str(error)
        else:
            assert isinstance(result, Workflow)


@settings(max_examples=150, deadline=None)
@given(workflows(max_nodes=5, max_edges=6), st.data())
def test_mutated_binary_gives_a_workflow_or_a_codec_error(
    workflow: Workflow, data: st.DataObject
) -> None:
    compress = data.draw(st.booleans())
    blob = bytearray(encode_binary(workflow, compress_payload=compress))
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        if action == "truncate":
            del blob[data.draw(st.integers(0, len(blob))) :]
        elif not blob:
            continue
        elif action == "flip":
            at = data.draw(st.integers(0, len(blob) - 1))
            blob[at] ^= data.draw(st.integers(1, 255))
        elif action == "insert":
            at = data.draw(st.integers(0, len(blob)))
            blob[at:at] = data.draw(st.binary(min_size=1, max_size=4))
        else:
            at = data.draw(st.integers(0, len(blob) - 1))
            del blob[at]
    try:
        result = decode_binary(bytes(blob))
    except CodecError:
        return
    assert isinstance(result, Workflow)
    # Whatever decoded is a workflow the encoder can write again.
    assert decode_binary(encode_binary(result)) == result


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 2**32 - 1))
def test_random_payload_behind_a_valid_header(payload: bytes, size: int) -> None:
    raw = struct.pack("<4sBBHI", MAGIC, 1, 0, 0, len(payload)) + payload
    compressed = struct.pack("<4sBBHI", MAGIC, 1, 1, 0, size) + zstandard.ZstdCompressor().compress(
        payload
    )
    for blob in (raw, compressed):
        with contextlib.suppress(CodecError):
            assert isinstance(decode_binary(blob), Workflow)


@settings(max_examples=40, deadline=None)
@given(workflows(max_nodes=6, max_edges=6))
def test_every_truncation_is_a_clear_error(workflow: Workflow) -> None:
    blob = encode_binary(workflow)
    for cut in sorted({0, 3, HEADER_SIZE - 1, HEADER_SIZE, len(blob) // 2, len(blob) - 1}):
        assume(cut < len(blob))
        with pytest.raises(CodecError, match=r"truncated|not a binary|corrupt"):
            decode_binary(blob[:cut])
