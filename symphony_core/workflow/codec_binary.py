"""The binary form of a workflow: small, fast, and checked on read.

Layout::

    offset  size  field
    0       4     magic b"SYWF"
    4       1     format version (1)
    5       1     flags (bit 0: payload is zstd-compressed; other bits 0)
    6       2     reserved, zero
    8       4     payload size before compression (little-endian uint32)
    12      ...   payload: a zstd frame with a content checksum (or the raw payload)

The payload is one msgpack array in a dense, column-oriented schema:

* every identifier-like string (node ids and types, edge ids, port names, conditions,
  names of missing nodes) is stored once in a string table and referenced by index;
* nodes and edges are columns rather than records: a column of node-id indexes, one of
  type indexes, one of source positions... Integer columns are packed little-endian
  int32 arrays of *differences* between neighbours, so the typical runs (0, 1, 2, ...)
  become runs of equal bytes that zstd squeezes to almost nothing;
* an edge's endpoints are node *positions*, not names (a position ``>= n`` stands for the
  string ``n + i`` of the table: a dangling endpoint keeps its name);
* parameters and editor metadata stay msgpack maps (zstd removes their repeated keys).

Decoding rebuilds the nodes and edges with C-level ``map`` calls and hands the decoded
endpoint positions to the workflow's :class:`~symphony_core.workflow.topology.Topology`,
so a decoded workflow is ready to validate and order without looking a single id up.

Every value is checked as it is read, the zstd frame carries a checksum, and every index
is bounds-checked, so any byte string given to :func:`decode_binary` yields a workflow
or a :class:`~symphony_core.workflow.errors.CodecError` that says what is wrong; JSON ->
binary -> JSON reproduces the canonical JSON byte for byte.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Iterable, Sequence
from itertools import accumulate, chain, compress, repeat
from operator import attrgetter, is_not, sub
from typing import Any, cast

import msgspec
import zstandard

from symphony_core.workflow.codec_json import dec_hook
from symphony_core.workflow.errors import CodecError, ValueRuleError
from symphony_core.workflow.migrations import CURRENT_VERSION
from symphony_core.workflow.model import EDGE_KINDS, Binding, Edge, Node, NodeMeta, Workflow
from symphony_core.workflow.topology import Topology, paused_gc
from symphony_core.workflow.values import EMPTY, FrozenDict, freeze_mapping

__all__ = [
    "FORMAT_VERSION",
    "HEADER_SIZE",
    "MAGIC",
    "MAX_PAYLOAD_BYTES",
    "decode_binary",
    "encode_binary",
    "is_binary",
]

MAGIC = b"SYWF"
"""First four bytes of every binary workflow."""
FORMAT_VERSION = 1
"""Version of the binary layout this module writes and reads."""
HEADER_SIZE = 12
"""Size of the fixed header."""
MAX_PAYLOAD_BYTES = (1 << 32) - 1
"""Largest payload (before compression) the header can announce."""

_HEADER = struct.Struct("<4sBBHI")
_FLAG_ZSTD = 1
_KINDS = ("data", "control", "conditional")
_KIND_CODE = {kind: code for code, kind in enumerate(_KINDS)}
_LITTLE = sys.byteorder == "little"


class _Payload(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    schema_version: int
    name: str
    description: str
    meta: FrozenDict
    strings: list[str]
    node_ids: list[str]
    node_types: bytes
    node_params: list[dict[str, Any]]
    node_meta: list[NodeMeta | None]
    edge_ids: list[str]
    edge_sources: bytes
    edge_targets: bytes
    edge_kinds: bytes
    edge_source_ports: bytes
    edge_target_ports: bytes
    edge_conditions: bytes
    inputs: list[Binding]
    outputs: list[Binding]


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(_Payload, dec_hook=dec_hook)


def _pack(values: Iterable[int], *, delta: bool = False) -> bytes:
    # Plain columns are unsigned (nothing negative to check on read); a delta column
    # holds signed differences between neighbours.
    column = array("i" if delta else "I", values)
    if delta and len(column) > 1:
        column = array("i", chain(column[:1], map(sub, column[1:], column[:-1])))
    if not _LITTLE:
        column.byteswap()
    return column.tobytes()


def _unpack(data: bytes, count: int, what: str, *, delta: bool = False) -> list[int]:
    if len(data) != 4 * count:
        raise CodecError(
            f"column {what} has {len(data)} bytes; {count} entries need {4 * count}",
            hint="the file is corrupt",
        )
    column = array("i" if delta else "I")
    column.frombytes(data)
    if not _LITTLE:
        column.byteswap()
    return list(accumulate(column)) if delta else column.tolist()


def _check_range(values: Sequence[int], high: int, what: str) -> int:
    # Returns the largest value (-1 for none), which tells whether any endpoint dangles.
    if not values:
        return -1
    largest = max(values)
    if min(values) < 0 or largest >= high:
        raise CodecError(f"column {what} refers past its table", hint="the file is corrupt")
    return largest


def _strings_at(strings: list[str], column: bytes, count: int, what: str) -> list[str]:
    positions = _unpack(column, count, what)
    try:
        return list(map(strings.__getitem__, positions))
    except IndexError:
        raise CodecError(
            f"column {what} refers past its table", hint="the file is corrupt"
        ) from None


def encode_binary(workflow: Workflow, *, level: int = 3, compress_payload: bool = True) -> bytes:
    """Encode a workflow in the binary form.

    Args:
        workflow: The workflow.
        level: zstd compression level (1-22; 3 is fast and already small).
        compress_payload: Set to ``False`` to store the payload uncompressed.

    Returns:
        The bytes, starting with :data:`MAGIC`.

    Raises:
        CodecError: An edge has a kind other than data, control or conditional, or the
            payload is larger than the header can describe.
    """
    topo = workflow.topology
    nodes = workflow.nodes
    edges = workflow.edges
    n = len(nodes)
    with paused_gc(n + len(edges)):
        node_ids = topo.ids
        node_types: list[str] = [node.type for node in nodes]
        edge_ids = topo.edge_ids
        kinds: list[str] = [edge.kind for edge in edges]
        source_ports: list[str | None] = [edge.source_port for edge in edges]
        target_ports: list[str | None] = [edge.target_port for edge in edges]
        conditions: list[str | None] = [edge.condition for edge in edges]
        bad_kinds = set(kinds) - EDGE_KINDS
        if bad_kinds:
            raise CodecError(
                f"edge kind(s) {', '.join(map(repr, sorted(bad_kinds)))} cannot be encoded",
                hint="an edge kind is data, control or conditional",
            )
        dangling_names: list[str] = []
        if topo.dangling:
            for e in topo.dangling:
                if topo.src[e] is None:
                    dangling_names.append(edges[e].source)
                if topo.dst[e] is None:
                    dangling_names.append(edges[e].target)
        # Node and edge ids are stored as they are, in order (they are unique, so a
        # table would not shrink them); the table holds the strings that repeat.
        strings: list[str] = list(
            dict.fromkeys(
                chain(
                    node_types,
                    compress(
                        cast(list[str], source_ports), map(is_not, source_ports, repeat(None))
                    ),
                    compress(
                        cast(list[str], target_ports), map(is_not, target_ports, repeat(None))
                    ),
                    compress(cast(list[str], conditions), map(is_not, conditions, repeat(None))),
                    dangling_names,
                )
            )
        )
        index = dict(zip(strings, range(len(strings)), strict=True))
        index_or_zero: dict[str | None, int] = dict(
            zip(strings, range(1, len(strings) + 1), strict=True)
        )

        def endpoints(positions: list[int | None], names: Iterable[str], delta: bool) -> bytes:
            if not topo.dangling:
                return _pack(positions, delta=delta)  # type: ignore[arg-type]
            return _pack(
                (
                    p if p is not None else n + index[name]
                    for p, name in zip(positions, names, strict=True)
                ),
                delta=delta,
            )

        payload = _Payload(
            schema_version=CURRENT_VERSION,
            name=workflow.name,
            description=workflow.description,
            meta=workflow.meta,
            strings=strings,
            node_ids=node_ids,
            node_types=_pack(map(index.__getitem__, node_types)),
            node_params=[node.params for node in nodes],
            node_meta=[node.meta for node in nodes],
            edge_ids=edge_ids,
            # Sources are scattered; targets mostly ascend (edges listed by target), so
            # only targets are stored as differences.
            edge_sources=endpoints(topo.src, map(attrgetter("source"), edges), False),
            edge_targets=endpoints(topo.dst, map(attrgetter("target"), edges), True),
            edge_kinds=bytes(map(_KIND_CODE.__getitem__, kinds)),
            edge_source_ports=_pack(map(index_or_zero.get, source_ports, repeat(0))),
            edge_target_ports=_pack(map(index_or_zero.get, target_ports, repeat(0))),
            edge_conditions=_pack(map(index_or_zero.get, conditions, repeat(0))),
            inputs=list(workflow.inputs),
            outputs=list(workflow.outputs),
        )
        raw = _ENCODER.encode(payload)
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise CodecError(f"the workflow's payload ({len(raw)} bytes) exceeds 4 GiB")
    if compress_payload:
        body = zstandard.ZstdCompressor(level=level, write_checksum=True).compress(raw)
        flags = _FLAG_ZSTD
    else:
        body = raw
        flags = 0
    return _HEADER.pack(MAGIC, FORMAT_VERSION, flags, 0, len(raw)) + body


def is_binary(data: bytes) -> bool:
    """Tell whether ``data`` starts with the binary workflow magic."""
    return data[:4] == MAGIC


def _read_header(data: bytes, where: str | None) -> tuple[int, int]:
    if len(data) < HEADER_SIZE:
        if not MAGIC.startswith(data[:4]):
            raise CodecError("not a binary workflow (no SYWF magic)", where=where)
        raise CodecError(
            f"truncated binary workflow: {len(data)} bytes, the header alone is {HEADER_SIZE}",
            where=where,
            hint="the file was cut short; copy it again",
        )
    magic, version, flags, reserved, size = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CodecError(
            f"not a binary workflow: it starts with {bytes(data[:4])!r}, not {MAGIC!r}",
            where=where,
            hint="JSON workflow files are read with the JSON codec",
        )
    if version != FORMAT_VERSION:
        newer = version > FORMAT_VERSION
        raise CodecError(
            f"binary workflow format version {version} is "
            f"{'newer than' if newer else 'not'} the one this Symphony reads ({FORMAT_VERSION})",
            where=where,
            hint="upgrade Symphony" if newer else "the file is corrupt",
        )
    if flags & ~_FLAG_ZSTD or reserved:
        raise CodecError(
            f"binary workflow header has unknown flags {flags:#x}/{reserved:#x}",
            where=where,
            hint="the file is corrupt or from a newer Symphony",
        )
    return flags, size


def _payload_bytes(data: bytes, where: str | None) -> bytes:
    flags, size = _read_header(data, where)
    body = data[HEADER_SIZE:]
    if not flags & _FLAG_ZSTD:
        if len(body) != size:
            raise CodecError(
                f"binary workflow payload is {len(body)} bytes, the header says {size}",
                where=where,
                hint="the file was cut short or has trailing bytes",
            )
        return bytes(body)
    try:
        params = zstandard.get_frame_parameters(body)
    except zstandard.ZstdError as exc:
        raise CodecError(
            f"truncated or corrupt binary workflow: {exc}", where=where, hint="copy it again"
        ) from None
    if (
        params.content_size not in (0, size)
        and params.content_size != zstandard.CONTENTSIZE_UNKNOWN
    ):
        raise CodecError(
            f"binary workflow frame holds {params.content_size} bytes, the header says {size}",
            where=where,
            hint="the file is corrupt",
        )
    try:
        raw = zstandard.ZstdDecompressor().decompress(body, max_output_size=size)
    except zstandard.ZstdError as exc:
        raise CodecError(
            f"truncated or corrupt binary workflow: {exc}",
            where=where,
            hint="the file was cut short or damaged; copy it again",
        ) from None
    if len(raw) != size:
        raise CodecError(
            f"binary workflow payload is {len(raw)} bytes, the header says {size}",
            where=where,
            hint="the file is corrupt",
        )
    return raw


def decode_binary(data: bytes, *, where: str | None = None) -> Workflow:
    """Decode the binary form.

    Args:
        data: The bytes, starting with :data:`MAGIC`.
        where: Names the source (a file) in error messages.

    Returns:
        The workflow (not validated).

    Raises:
        CodecError: Wrong magic, unknown format version, truncated or corrupt data, an
            index out of range, or a value the model does not allow. Nothing else is
            raised, whatever the bytes.
    """
    raw = _payload_bytes(data, where)
    try:
        payload = _DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        raise CodecError(
            f"corrupt binary workflow payload: {exc}", where=where, hint="the file is corrupt"
        ) from None
    except (msgspec.ValidationError, ValueError) as exc:
        # msgspec reports a string that is not UTF-8 as a UnicodeDecodeError.
        raise CodecError(
            f"corrupt binary workflow payload: {exc}", where=where, hint="the file is corrupt"
        ) from None
    except ValueRuleError as exc:
        raise CodecError(
            f"binary workflow holds a value a workflow may not: {exc}", where=where
        ) from None
    try:
        return _build(payload)
    except CodecError as exc:
        raise CodecError(exc.message, where=where, hint=exc.hint) from None


def _build(p: _Payload) -> Workflow:
    if p.schema_version != CURRENT_VERSION:
        raise CodecError(
            f"binary workflow has schema version {p.schema_version}; this Symphony reads "
            f"{CURRENT_VERSION}",
            hint="convert it with the Symphony that wrote it",
        )
    strings = p.strings
    s = len(strings)
    n = len(p.node_params)
    m = len(p.edge_kinds)
    if len(p.node_meta) != n:
        raise CodecError("node columns have different lengths", hint="the file is corrupt")
    with paused_gc(n + m):
        ids = p.node_ids
        edge_ids = p.edge_ids
        if len(ids) != n or len(edge_ids) != m:
            raise CodecError(
                "node or edge columns have different lengths", hint="the file is corrupt"
            )
        types = _strings_at(strings, p.node_types, n, "node_types")
        sources = _unpack(p.edge_sources, m, "edge_sources")
        targets = _unpack(p.edge_targets, m, "edge_targets", delta=True)
        highest = _check_range(sources, n + s, "edge_sources")
        highest = max(highest, _check_range(targets, n + s, "edge_targets"))
        sport_ix = _unpack(p.edge_source_ports, m, "edge_source_ports")
        dport_ix = _unpack(p.edge_target_ports, m, "edge_target_ports")
        cond_ix = _unpack(p.edge_conditions, m, "edge_conditions")
        try:
            params = list(map(freeze_mapping, p.node_params))
        except ValueRuleError as exc:
            raise CodecError(f"a node parameter holds a value a workflow may not: {exc}") from None
        nodes = tuple(map(Node, ids, types, params, p.node_meta))
        named = [*ids, *strings]
        optional: list[str | None] = [None, *strings]
        try:
            edges = tuple(
                map(
                    Edge,
                    edge_ids,
                    map(named.__getitem__, sources),
                    map(named.__getitem__, targets),
                    map(_KINDS.__getitem__, p.edge_kinds),
                    map(optional.__getitem__, sport_ix),
                    map(optional.__getitem__, dport_ix),
                    map(optional.__getitem__, cond_ix),
                )
            )
        except IndexError:
            raise CodecError(
                "an edge column refers past its table or has an unknown kind code",
                hint="the file is corrupt",
            ) from None
        workflow = Workflow._trusted(
            p.name,
            nodes,
            edges,
            p.description,
            tuple(p.inputs),
            tuple(p.outputs),
            p.meta if p.meta else EMPTY,
        )
        workflow._seed_topology(
            _topology(ids, edge_ids, sources, targets, named, dangling=highest >= n)
        )
    return workflow


def _topology(
    ids: list[str],
    edge_ids: list[str],
    sources: list[int],
    targets: list[int],
    named: list[str],
    *,
    dangling: bool,
) -> Topology:
    n = len(ids)
    index = dict(zip(reversed(ids), range(n - 1, -1, -1), strict=True))
    src: list[int | None] = sources  # type: ignore[assignment]
    dst: list[int | None] = targets  # type: ignore[assignment]
    if len(index) != n:
        # A repeated node id resolves to its first node, as when names are looked up.
        src = [index.get(named[p]) for p in sources]
        dst = [index.get(named[p]) for p in targets]
    elif dangling:
        # A position past the nodes names a string: dangling, unless it names a node.
        src = [p if p < n else index.get(named[p]) for p in sources]
        dst = [p if p < n else index.get(named[p]) for p in targets]
    return Topology(ids, edge_ids, src, dst, index=index)
