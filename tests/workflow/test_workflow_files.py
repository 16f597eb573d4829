"""The JSON and binary forms: exact bytes, migrations, headers, errors, files."""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

import pytest
import zstandard

from symphony_core.workflow import (
    CURRENT_VERSION,
    CodecError,
    Edge,
    Node,
    NodeMeta,
    Workflow,
    decode_binary,
    decode_json,
    decode_workflow,
    encode_binary,
    encode_json,
    load_workflow,
    save_workflow,
)
from symphony_core.workflow.codec_binary import FORMAT_VERSION, HEADER_SIZE, MAGIC
from symphony_core.workflow.migrations import MIGRATIONS, migrate


def test_canonical_json_is_sorted_compact_and_omits_defaults() -> None:
    wf = Workflow(
        "w",
        [
            Node("b", "x.y/t", {"z": 1, "a": [True, None, 1.5]}, NodeMeta(label="B")),
            Node("a", "x.y/t"),
        ],
        [Edge("e1", "b", "a", "control")],
    )
    assert encode_json(wf) == (
        b'{"edges":[{"id":"e1","kind":"control","source":"b","target":"a"}],"name":"w",'
        b'"nodes":[{"id":"b","meta":{"label":"B"},"params":{"a":[true,null,1.5],"z":1},'
        b'"type":"x.y/t"},{"id":"a","type":"x.y/t"}],"schema_version":2}'
    )
    pretty = encode_json(wf, indent=2)
    assert json.loads(pretty) == json.loads(encode_json(wf))
    assert b'\n  "edges": [' in pretty


def test_ints_and_floats_stay_apart() -> None:
    wf = Workflow("w", [Node("n", "x.y/t", {"i": 1, "f": 1.0, "neg": -0.0, "big": 2**63 - 1})])
    for back in (decode_json(encode_json(wf)), decode_binary(encode_binary(wf))):
        params = back.nodes[0].params
        assert type(params["i"]) is int
        assert type(params["f"]) is float
        assert str(params["neg"]) == "-0.0"
        assert params["big"] == 2**63 - 1


def test_version_1_documents_are_migrated() -> None:
    v1 = {
        "schema_version": 1,
        "name": "old",
        "nodes": [
            {
                "id": "a",
                "type": "ex.text:read",
                "params": {"path": "x"},
                "position": [1, 2],
                "label": "A",
            },
            {"id": "b.c", "type": "ex.text:count"},
        ],
        "edges": [
            {"id": "e1", "from": "a.text", "to": "b.c.text"},
            {"id": "e2", "from": "a", "to": "b.c", "kind": "control"},
        ],
        "outputs": {"total": "b.c.total"},
    }
    wf = decode_json(json.dumps(v1))
    assert wf.nodes[0] == Node(
        "a", "ex.text/read", {"path": "x"}, NodeMeta(position=(1.0, 2.0), label="A")
    )
    assert wf.edges[0] == Edge("e1", "a", "b.c", "data", "text", "text")
    assert wf.edges[1] == Edge("e2", "a", "b.c", "control")
    assert wf.outputs[0].node == "b.c"
    assert wf.outputs[0].port == "total"
    assert json.loads(encode_json(wf))["schema_version"] == CURRENT_VERSION
    assert set(MIGRATIONS) == set(range(1, CURRENT_VERSION))
    assert migrate({"schema_version": CURRENT_VERSION, "name": "x"}) == {
        "schema_version": CURRENT_VERSION,
        "name": "x",
    }


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"", "not a JSON workflow"),
        (b"\xff\xfe", "not a JSON workflow"),
        (b"[]", "a JSON object"),
        (b'{"name": "x"}', "no integer 'schema_version'"),
        (b'{"schema_version": 99, "name": "x"}', "newer than this Symphony"),
        (b'{"schema_version": 0, "name": "x"}', "does not exist"),
        (b'{"schema_version": 2, "name": "x", "nodes": [{"id": 1, "type": "t"}]}', "$.nodes[0].id"),
        (b'{"schema_version": 2, "name": "x", "colour": 1}', "colour"),
        (
            b'{"schema_version": 2, "name": "x",'
            b'"edges": [{"id": "e", "source": "a", "target": "b", "kind": "weird"}]}',
            "$.edges[0].kind",
        ),
        (
            b'{"schema_version": 2, "name": "x",'
            b'"nodes": [{"id": "a", "type": "t", "params": {"p": [1e400]}}]}',
            "Number out of range",
        ),
        (
            b'{"schema_version": 2, "name": "x",'
            b'"nodes": [{"id": "a", "type": "t", "params": {"p": 99999999999999999999}}]}',
            "$.nodes[0].params",
        ),
        (
            b'{"schema_version": 1, "name": "x", "edges": [{"id": "e", "from": "a.p", "to": "b"}]}',
            "data edge must connect",
        ),
    ],
)
def test_bad_json_documents_are_clear_errors(document: bytes, message: str) -> None:
    with pytest.raises(CodecError) as info:
        decode_json(document, where="wf.json")
    assert message in str(info.value)
    assert info.value.where == "wf.json"


def sample(n: int = 400, seed: int = 3) -> Workflow:
    rnd = random.Random(seed)
    nodes = [Node(f"node{i}", "ex.ops/step", {"k": i % 7}) for i in range(n)]
    edges = [
        Edge(f"e{k}", f"node{rnd.randrange(i)}", f"node{i}", "data", "out", f"in{k % 3}")
        for i in range(1, n)
        for k in range(3)
    ]
    return Workflow("sample", nodes, edges)


def test_binary_is_much_smaller_than_compact_json() -> None:
    wf = sample()
    assert len(encode_binary(wf)) <= 0.12 * len(encode_json(wf))


def test_binary_header() -> None:
    blob = encode_binary(sample(20))
    magic, version, flags, reserved, size = struct.unpack_from("<4sBBHI", blob)
    assert (magic, version, flags, reserved) == (MAGIC, FORMAT_VERSION, 1, 0)
    assert len(zstandard.ZstdDecompressor().decompress(blob[HEADER_SIZE:])) == size
    raw = encode_binary(sample(20), compress_payload=False)
    assert struct.unpack_from("<4sBBHI", raw)[2] == 0
    assert len(raw) == HEADER_SIZE + struct.unpack_from("<4sBBHI", raw)[4]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b"JUNK" + b[4:], "not a binary workflow"),
        (lambda b: b[:4] + bytes([9]) + b[5:], "newer than"),
        (lambda b: b[:5] + bytes([0x81]) + b[6:], "unknown flags"),
        (lambda b: b[:10], "truncated"),
        (lambda b: b[:-3], "truncated or corrupt"),
        (lambda b: b[:-5] + bytes([b[-5] ^ 1]) + b[-4:], "corrupt"),
        (lambda b: b[:8] + struct.pack("<I", 3) + b[12:], "header says 3"),
    ],
)
def test_damaged_binaries_are_clear_errors(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    blob = encode_binary(sample(30))
    with pytest.raises(CodecError) as info:
        decode_binary(mutate(blob), where="wf.swf")
    assert message in str(info.value)
    assert info.value.code == "workflow.decode_failed"


def test_binary_keeps_dangling_and_duplicate_references() -> None:
    wf = Workflow(
        "odd",
        [Node("a", "t/x"), Node("a", "t/y"), Node("b", "t/x")],
        [Edge("e", "a", "ghost", "control"), Edge("e", "b", "a", "data", "o", "i")],
    )
    back = decode_binary(encode_binary(wf))
    assert back == wf
    assert back.topology.src == [0, 2]
    assert back.topology.dst == [None, 0]
    assert back.topology.duplicate_nodes == (1,)


def test_files_are_sniffed_and_written_atomically(tmp_path: Path) -> None:
    wf = sample(10)
    for fmt in ("json", "bin"):
        path = tmp_path / f"wf.{fmt}"
        save_workflow(wf, path, fmt)  # type: ignore[arg-type]
        assert load_workflow(path) == wf
        assert decode_workflow(path.read_bytes()) == wf
    assert (tmp_path / "wf.bin").read_bytes()[:4] == MAGIC
    with pytest.raises(CodecError, match="cannot read"):
        load_workflow(tmp_path / "missing.json")
