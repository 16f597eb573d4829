"""Frames: a 4-byte big-endian body length, then the msgpack body.

:class:`FrameDecoder` is incremental: bytes arrive in any chunking (``feed`` copies them
in; ``get_buffer``/``buffer_updated`` let a transport read straight into its buffer) and
complete frame bodies come out of :meth:`FrameDecoder.next_frame`. A header declaring a
body larger than the cap is refused as soon as its four bytes are in, before any of the
body is read or any memory is reserved for it. After an error the decoder stays failed:
the stream can no longer be trusted to be aligned on frame boundaries.

:func:`append_frame` encodes a message straight into an output buffer (several frames
can share one buffer and one write).
"""

from __future__ import annotations

import struct
from typing import Final

import msgspec

from symphony_core.ipc.errors import FrameTooLargeError, ProtocolError
from symphony_core.ipc.protocol import Message

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "HEADER_SIZE",
    "MAX_FRAME_SIZE_LIMIT",
    "FrameDecoder",
    "append_frame",
    "encode_frame",
]

HEADER: Final = struct.Struct(">I")
HEADER_SIZE: Final = HEADER.size
DEFAULT_MAX_FRAME_SIZE: Final = 16 * 1024 * 1024
"""Default cap on one frame's body: 16 MiB. Larger data should be streamed."""
MAX_FRAME_SIZE_LIMIT: Final = 2**31 - 1
"""The largest cap that can be configured (the header could say up to 4 GiB)."""
_DEFAULT_BUFFER: Final = 64 * 1024
_ZERO_HEADER: Final = bytes(HEADER_SIZE)


class FrameDecoder:
    """Split a byte stream into frame bodies, refusing any frame over the size cap.

    Args:
        max_frame_size: Largest accepted body, in bytes.
        buffer_size: Size of the receive buffer kept between frames. A larger frame
            temporarily grows the buffer to fit exactly that frame.

    Raises:
        ValueError: A size is out of range.
    """

    __slots__ = ("_buf", "_end", "_error", "_max", "_min_size", "_start", "_view")

    def __init__(
        self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE, buffer_size: int = _DEFAULT_BUFFER
    ) -> None:
        if not 1 <= max_frame_size <= MAX_FRAME_SIZE_LIMIT:
            raise ValueError(f"max_frame_size must be in 1..{MAX_FRAME_SIZE_LIMIT}")
        if buffer_size < 2 * HEADER_SIZE:
            raise ValueError(f"buffer_size must be at least {2 * HEADER_SIZE}")
        self._max = max_frame_size
        self._min_size = buffer_size
        self._buf = bytearray(buffer_size)
        self._view = memoryview(self._buf)
        self._start = 0
        self._end = 0
        self._error: ProtocolError | None = None

    @property
    def max_frame_size(self) -> int:
        """The cap on one frame's body, in bytes."""
        return self._max

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as frames."""
        return self._end - self._start

    @property
    def capacity(self) -> int:
        """Current size of the receive buffer (memory held by the decoder)."""
        return len(self._buf)

    def get_buffer(self, sizehint: int = -1) -> memoryview:
        """Return writable space at the end of the buffer for the next read.

        The view is only valid until the next call to any method of the decoder.

        Args:
            sizehint: Ignored; the space offered fits at least the pending frame.

        Raises:
            ProtocolError: The decoder already failed.
        """
        if self._error is not None:
            raise self._error
        start, end = self._start, self._end
        if start == end:
            # Empty: rewind, and give back memory a large frame made us take.
            self._start = self._end = 0
            if len(self._buf) > self._min_size:
                self._resize(self._min_size)
            return self._view
        pending = end - start
        need = HEADER_SIZE
        if pending >= HEADER_SIZE:
            self._check_pending_header()
            need += HEADER.unpack_from(self._buf, start)[0]
        capacity = len(self._buf)
        if start + need > capacity or end == capacity:
            target = max(need, self._min_size)
            if pending >= target:
                # Complete frames are waiting (fed without being taken out): grow.
                target = 2 * pending
            if target > capacity:
                self._resize(target)
            else:
                self._compact()
        return self._view[self._end :]

    def buffer_updated(self, nbytes: int) -> None:
        """Record that ``nbytes`` were written into the view from :meth:`get_buffer`."""
        self._end += nbytes

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Append received bytes (copied). Take the frames out with :meth:`next_frame`.

        Raises:
            FrameTooLargeError: A header in ``data`` declares a body over the cap.
            ProtocolError: The decoder already failed.
        """
        view = memoryview(data).cast("B")
        offset, total = 0, len(view)
        while offset < total:
            # Checks the header of a frame that is still incomplete, so the refusal
            # happens before its body is stored.
            self._check_pending_header()
            space = self.get_buffer()
            n = min(len(space), total - offset)
            space[:n] = view[offset : offset + n]
            self._end += n
            offset += n
        self._check_pending_header()

    def next_frame(self) -> memoryview | None:
        """Return the next complete frame body, or ``None`` if more bytes are needed.

        The returned view points into the decoder's buffer: decode it before calling any
        other method.

        Raises:
            FrameTooLargeError: The next frame's header declares a body over the cap.
            ProtocolError: The decoder already failed.
        """
        if self._error is not None:
            raise self._error
        start = self._start
        available = self._end - start
        if available < HEADER_SIZE:
            return None
        size = HEADER.unpack_from(self._buf, start)[0]
        if size > self._max:
            self._error = FrameTooLargeError(size, self._max)
            raise self._error
        if available < HEADER_SIZE + size:
            return None
        body_start = start + HEADER_SIZE
        self._start = body_start + size
        return self._view[body_start : self._start]

    def _check_pending_header(self) -> None:
        if self._error is not None:
            raise self._error
        if self._end - self._start >= HEADER_SIZE:
            size = HEADER.unpack_from(self._buf, self._start)[0]
            if size > self._max:
                self._error = FrameTooLargeError(size, self._max)
                raise self._error

    def _compact(self) -> None:
        start, end = self._start, self._end
        if start:
            self._buf[: end - start] = self._view[start:end]
            self._start, self._end = 0, end - start

    def _resize(self, size: int) -> None:
        start, end = self._start, self._end
        buf = bytearray(size)
        buf[: end - start] = self._view[start:end]
        self._view.release()
        self._buf = buf
        self._view = memoryview(buf)
        self._start, self._end = 0, end - start


def append_frame(
    out: bytearray,
    message: Message,
    encoder: msgspec.msgpack.Encoder,
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
) -> int:
    """Encode ``message`` as one frame at the end of ``out``; return the body size.

    Raises:
        FrameTooLargeError: The body would exceed ``max_frame_size``; ``out`` is left
            as it was.
        TypeError: The message holds a value msgpack cannot carry; ``out`` is left as
            it was.
    """
    start = len(out)
    out += _ZERO_HEADER
    try:
        encoder.encode_into(message, out, -1)
    except BaseException:
        del out[start:]
        raise
    size = len(out) - start - HEADER_SIZE
    if size > max_frame_size:
        del out[start:]
        raise FrameTooLargeError(size, max_frame_size)
    HEADER.pack_into(out, start, size)
    return size


def encode_frame(
    message: Message,
    encoder: msgspec.msgpack.Encoder | None = None,
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
) -> bytes:
    """Return ``message`` as one complete frame (header and body).

    Raises:
        FrameTooLargeError: The body would exceed ``max_frame_size``.
        TypeError: The message holds a value msgpack cannot carry.
    """
    out = bytearray()
    append_frame(out, message, encoder or msgspec.msgpack.Encoder(), max_frame_size)
    return bytes(out)
