"""Workflow codecs: size and speed of our JSON and binary forms against stdlib json and orjson.

The workflow: 10 000 nodes and 30 000 data edges (random DAG, each node fed by three
earlier ones), every node with two parameters and editor metadata (position, label) on
every node. The peers encode and decode the same document as plain dicts and lists
(what ``json.loads`` of our canonical JSON gives); we encode from and decode to
:class:`~symphony_core.workflow.Workflow` objects, checking every value on the way in.

Run: ``uv run python bench/bench_workflow_codec.py``.
"""

from __future__ import annotations

import gc
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _table import Row, print_table

from symphony_core.workflow import (
    Edge,
    Node,
    NodeMeta,
    Workflow,
    decode_binary,
    decode_json,
    encode_binary,
    encode_json,
)


def sample_workflow(n: int = 10_000, seed: int = 5) -> Workflow:
    rnd = random.Random(seed)
    width = len(str(n))
    names = [f"node{i:0{width}d}" for i in range(n)]
    nodes = [
        Node(
            names[i],
            "examples.textops/word_count" if i % 3 else "examples.model/classify",
            {"threshold": round(rnd.random(), 3), "lowercase": bool(i % 2)},  # type: ignore[arg-type]
            NodeMeta(position=(float(i % 100) * 160.0, float(i // 100) * 90.0), label=f"Step {i}"),
        )
        for i in range(n)
    ]
    edges: list[Edge] = []
    for i in range(3, n):
        for port, j in zip(("text", "hint", "extra"), rnd.sample(range(i), 3), strict=True):
            edges.append(Edge(f"e{len(edges)}", names[j], names[i], "data", "out", port))
    return Workflow("codec-bench", nodes, edges)


def timed(fn: Callable[[], object], repeat: int = 9) -> float:
    samples = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    workflow = sample_workflow()
    ours_json = encode_json(workflow)
    ours_bin = encode_binary(workflow)
    document = json.loads(ours_json)
    std_json = json.dumps(document, separators=(",", ":")).encode()
    or_json = orjson.dumps(document)
    assert decode_binary(ours_bin) == workflow
    assert encode_json(decode_binary(ours_bin)) == ours_json
    assert len(workflow.edges) == 29_991

    # A copy whose graph has not been numbered yet (new tuples: a copy sharing the very
    # same ones would inherit the numbered graph).
    def fresh_copy() -> Workflow:
        return Workflow(workflow.name, list(workflow.nodes), list(workflow.edges))

    rows = [
        Row(
            "size: binary vs compact JSON",
            len(ours_bin) / 1e6,
            len(std_json) / 1e6,
            "MB",
            ">= 88 % smaller (ratio <= 0.12)",
            "json compact",
        ),
        Row("size: binary vs orjson", len(ours_bin) / 1e6, len(or_json) / 1e6, "MB", "-", "orjson"),
        Row(
            "size: our canonical JSON vs compact JSON",
            len(ours_json) / 1e6,
            len(std_json) / 1e6,
            "MB",
            "-",
            "json compact",
        ),
    ]
    enc_bin = timed(lambda: encode_binary(workflow))
    enc_bin_fresh = timed(lambda: encode_binary(fresh_copy()))
    dec_bin = timed(lambda: decode_binary(ours_bin))
    enc_json = timed(lambda: encode_json(workflow))
    dec_json = timed(lambda: decode_json(ours_json))
    std_enc = timed(lambda: json.dumps(document, separators=(",", ":")))
    std_dec = timed(lambda: json.loads(std_json))
    or_enc = timed(lambda: orjson.dumps(document))
    or_dec = timed(lambda: orjson.loads(or_json))
    rows += [
        Row("binary encode", enc_bin, std_enc, "ms", "faster than json", "json.dumps"),
        Row(
            "binary encode (graph not yet numbered)",
            enc_bin_fresh,
            std_enc,
            "ms",
            "faster than json",
            "json.dumps",
        ),
        Row("binary encode", enc_bin, or_enc, "ms", "-", "orjson.dumps"),
        Row(
            "binary decode (to Workflow)", dec_bin, std_dec, "ms", "faster than json", "json.loads"
        ),
        Row("binary decode (to Workflow)", dec_bin, or_dec, "ms", "-", "orjson.loads"),
        Row("JSON encode (canonical)", enc_json, std_enc, "ms", "-", "json.dumps"),
        Row("JSON encode (canonical)", enc_json, or_enc, "ms", "-", "orjson.dumps"),
        Row("JSON decode (to Workflow)", dec_json, std_dec, "ms", "-", "json.loads"),
        Row("JSON decode (to Workflow)", dec_json, or_dec, "ms", "-", "orjson.loads"),
    ]
    print_table("Workflow codecs, 10k nodes / 30k edges (median ms)", rows)
    saved = 1 - len(ours_bin) / len(std_json)
    print(
        f"\nbinary is {saved:.1%} smaller than compact JSON "
        f"({len(ours_bin):,} vs {len(std_json):,} bytes)"
    )


if __name__ == "__main__":
    main()
