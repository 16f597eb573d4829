"""Frame encoding and the incremental decoder: sizes, caps, chunking, memory."""

from __future__ import annotations

import struct

import msgspec
import pytest

from symphony_core.ipc import FrameDecoder, FrameTooLargeError, ProtocolError
from symphony_core.ipc.framing import HEADER_SIZE, append_frame, encode_frame
from symphony_core.ipc.protocol import Request, Response, decode_message


def frames_of(decoder: FrameDecoder) -> list[bytes]:
    out = []
    while (frame := decoder.next_frame()) is not None:
        out.append(bytes(frame))
    return out


def test_encode_frame_is_length_prefixed_msgpack() -> None:
    frame = encode_frame(Request(7, "echo", [1, "a"]))
    (size,) = struct.unpack(">I", frame[:4])
    assert size == len(frame) - 4
    assert msgspec.msgpack.decode(frame[4:]) == [3, 7, "echo", [1, "a"]]
    assert decode_message(frame[4:]) == Request(7, "echo", [1, "a"])


def test_append_frame_batches_several_frames_in_one_buffer() -> None:
    out = bytearray()
    encoder = msgspec.msgpack.Encoder()
    sizes = [append_frame(out, Response(i, "x" * i), encoder) for i in range(5)]
    decoder = FrameDecoder()
    decoder.feed(out)
    bodies = frames_of(decoder)
    assert [len(b) for b in bodies] == sizes
    assert [decode_message(b) for b in bodies] == [Response(i, "x" * i) for i in range(5)]


def test_append_frame_over_cap_leaves_buffer_untouched() -> None:
    out = bytearray(b"keep")
    with pytest.raises(FrameTooLargeError) as info:
        append_frame(out, Response(1, b"x" * 1000), msgspec.msgpack.Encoder(), 100)
    assert out == b"keep"
    assert info.value.limit == 100
    assert info.value.size > 1000
    assert info.value.code == "ipc.frame_too_large"


def test_append_frame_unencodable_leaves_buffer_untouched() -> None:
    out = bytearray(b"keep")
    with pytest.raises(TypeError):
        append_frame(out, Response(1, object()), msgspec.msgpack.Encoder())
    assert out == b"keep"


def test_byte_by_byte_equals_whole() -> None:
    stream = b"".join(encode_frame(Response(i, b"z" * (i * 37))) for i in range(20))
    whole = FrameDecoder()
    whole.feed(stream)
    expected = frames_of(whole)
    one = FrameDecoder(buffer_size=16)
    got: list[bytes] = []
    for i in range(len(stream)):
        one.feed(stream[i : i + 1])
        got.extend(frames_of(one))
    assert got == expected
    assert len(got) == 20


def test_oversized_header_is_refused_before_the_body_is_stored() -> None:
    decoder = FrameDecoder(max_frame_size=1024, buffer_size=64)
    # Header claims 1 GiB; only the header and a few body bytes are fed.
    with pytest.raises(FrameTooLargeError) as info:
        decoder.feed(struct.pack(">I", 1 << 30) + b"\x00" * 10)
    assert info.value.size == 1 << 30
    assert info.value.limit == 1024
    # No memory was reserved for the declared body.
    assert decoder.capacity == 64
    # The decoder stays failed: the stream is no longer aligned.
    with pytest.raises(FrameTooLargeError):
        decoder.next_frame()
    with pytest.raises(FrameTooLargeError):
        decoder.get_buffer()


def test_oversized_header_via_get_buffer_path_is_refused() -> None:
    decoder = FrameDecoder(max_frame_size=100, buffer_size=64)
    view = decoder.get_buffer()
    header = struct.pack(">I", 101)
    view[:4] = header
    decoder.buffer_updated(4)
    with pytest.raises(FrameTooLargeError):
        decoder.next_frame()
    assert decoder.capacity == 64


def test_frame_exactly_at_cap_is_accepted() -> None:
    decoder = FrameDecoder(max_frame_size=100, buffer_size=16)
    decoder.feed(struct.pack(">I", 100) + b"a" * 100)
    assert frames_of(decoder) == [b"a" * 100]


def test_buffer_grows_for_a_large_frame_then_shrinks_back() -> None:
    decoder = FrameDecoder(max_frame_size=1 << 20, buffer_size=1024)
    body = b"q" * 300_000
    frame = struct.pack(">I", len(body)) + body
    position = 0
    while position < len(frame):
        view = decoder.get_buffer()
        chunk = frame[position : position + min(4096, len(view))]
        view[: len(chunk)] = chunk
        decoder.buffer_updated(len(chunk))
        position += len(chunk)
    assert decoder.capacity >= len(body) + HEADER_SIZE
    assert decoder.capacity <= 2 * (len(body) + HEADER_SIZE)
    assert frames_of(decoder) == [body]
    decoder.get_buffer()
    assert decoder.capacity == 1024


def test_get_buffer_offers_room_for_the_whole_pending_frame() -> None:
    decoder = FrameDecoder(max_frame_size=1 << 16, buffer_size=32)
    decoder.feed(struct.pack(">I", 5000) + b"x" * 10)
    view = decoder.get_buffer()
    assert len(view) >= 5000 - 10


def test_feeding_many_frames_without_taking_them_keeps_everything() -> None:
    decoder = FrameDecoder(buffer_size=16)
    stream = b"".join(encode_frame(Response(i, i)) for i in range(1000))
    decoder.feed(stream)
    assert decoder.buffered == len(stream)
    assert [decode_message(f) for f in frames_of(decoder)] == [Response(i, i) for i in range(1000)]


def test_invalid_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="max_frame_size"):
        FrameDecoder(max_frame_size=0)
    with pytest.raises(ValueError, match="buffer_size"):
        FrameDecoder(buffer_size=4)


def test_frame_too_large_is_a_protocol_error_with_hint() -> None:
    error = FrameTooLargeError(10, 5, peer="x")
    assert isinstance(error, ProtocolError)
    assert "stream" in (error.hint or "")
    assert error.to_dict()["peer"] == "x"
