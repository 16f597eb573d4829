"""Property tests of the frame decoder: any bytes, any chunking, only frames or errors."""

from __future__ import annotations

import contextlib
import itertools
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symphony_core.ipc import FrameDecoder, ProtocolError, decode_message
from symphony_core.ipc.framing import encode_frame
from symphony_core.ipc.protocol import Response

CAP = 4096


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def decode_all(pieces: list[bytes], *, buffer_size: int = 64) -> tuple[list[bytes], bool]:
    """Feed pieces through the transport path; return frames and whether it failed."""
    decoder = FrameDecoder(max_frame_size=CAP, buffer_size=buffer_size)
    frames: list[bytes] = []
    try:
        for piece in pieces:
            offset = 0
            while offset < len(piece):
                view = decoder.get_buffer()
                n = min(len(view), len(piece) - offset)
                view[:n] = piece[offset : offset + n]
                decoder.buffer_updated(n)
                offset += n
                while (frame := decoder.next_frame()) is not None:
                    frames.append(bytes(frame))
    except ProtocolError:
        return frames, True
    return frames, False


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(0, 10_000), max_size=20))
def test_arbitrary_bytes_yield_frames_or_a_protocol_error(data: bytes, cuts: list[int]) -> None:
    frames, failed = decode_all(split(data, cuts))
    # Whatever came out is a prefix of the input, frame by frame.
    position = 0
    for frame in frames:
        (size,) = struct.unpack_from(">I", data, position)
        assert size == len(frame) <= CAP
        assert data[position + 4 : position + 4 + size] == frame
        position += 4 + size
    if failed:
        (size,) = struct.unpack_from(">I", data, position)
        assert size > CAP
    # Each frame body is either a valid message or a ProtocolError, nothing else.
    for frame in frames:
        with contextlib.suppress(ProtocolError):
            decode_message(frame)


@settings(max_examples=200, deadline=None)
@given(
    bodies=st.lists(st.binary(max_size=300), max_size=12),
    cuts=st.lists(st.integers(0, 10_000), max_size=30),
    buffer_size=st.integers(8, 512),
)
def test_any_chunking_equals_whole_decoding(
    bodies: list[bytes], cuts: list[int], buffer_size: int
) -> None:
    stream = b"".join(struct.pack(">I", len(b)) + b for b in bodies)
    whole, failed_whole = decode_all([stream], buffer_size=buffer_size)
    chunked, failed_chunked = decode_all(split(stream, cuts), buffer_size=buffer_size)
    assert whole == chunked == bodies
    assert not failed_whole
    assert not failed_chunked


@settings(max_examples=50, deadline=None)
@given(bodies=st.lists(st.binary(max_size=200), min_size=1, max_size=6))
def test_split_at_every_boundary_equals_whole(bodies: list[bytes]) -> None:
    stream = b"".join(encode_frame(Response(i, b)) for i, b in enumerate(bodies))
    whole, _ = decode_all([stream])
    for cut in range(len(stream) + 1):
        feed = FrameDecoder(max_frame_size=CAP, buffer_size=16)
        got: list[bytes] = []
        for part in (stream[:cut], stream[cut:]):
            feed.feed(part)
            while (frame := feed.next_frame()) is not None:
                got.append(bytes(frame))
        assert got == whole
    assert [decode_message(f) for f in whole] == [Response(i, b) for i, b in enumerate(bodies)]


@settings(max_examples=100, deadline=None)
@given(size=st.integers(CAP + 1, 2**32 - 1), tail=st.binary(max_size=100))
def test_oversized_header_fails_without_growing(size: int, tail: bytes) -> None:
    decoder = FrameDecoder(max_frame_size=CAP, buffer_size=64)
    with pytest.raises(ProtocolError) as info:
        decoder.feed(struct.pack(">I", size) + tail)
    assert str(size) in info.value.message
    assert decoder.capacity == 64
