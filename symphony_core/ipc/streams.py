"""Streamed results: the consumer's bounded, credit-driven iterator and the sender's credit.

The sender may have at most ``window`` chunks outstanding; the consumer hands credit
back as it takes chunks out, so the consumer's queue never holds more than ``window``
chunks and a fast producer cannot grow the consumer's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from symphony_core.ipc.errors import ConnectionClosedError, ProtocolError, RequestTimeoutError
from symphony_core.ipc.protocol import Params

if TYPE_CHECKING:
    from symphony_core.ipc.calls import Calls

__all__ = ["RemoteStream", "StreamCredit", "StreamReceiver"]

_NEW, _OPEN, _DONE = 0, 1, 2


class StreamCredit:
    """How many chunks a stream's sender may still send; senders wait at zero.

    Args:
        window: Initial credit (the receiver's window).
    """

    __slots__ = ("_available", "_closed", "_waiter")

    def __init__(self, window: int) -> None:
        self._available = window
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False

    @property
    def available(self) -> int:
        """Chunks that may be sent before more credit arrives."""
        return self._available

    def add(self, n: int) -> None:
        """Grant ``n`` more chunks (a Credit frame arrived)."""
        self._available += n
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def take(self) -> None:
        """Use one chunk of credit, waiting for more if none is left.

        Raises:
            ConnectionClosedError: The connection closed while waiting.
        """
        while self._available <= 0:
            if self._closed:
                raise ConnectionClosedError("connection closed while a stream waited for credit")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        self._available -= 1

    def close(self) -> None:
        """Wake a waiting sender so it sees the connection is gone."""
        self._closed = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class StreamReceiver:
    """The connection's side of a stream being received: a bounded queue of chunks.

    Registered with the connection while the stream is open; the user holds the
    :class:`RemoteStream` around it, so dropping that object can cancel the stream.
    """

    __slots__ = ("error", "items", "method", "peer", "received", "state", "waiter", "window")

    def __init__(self, method: str, window: int, peer: str) -> None:
        self.method = method
        self.window = window
        self.peer = peer
        self.received = 0
        self.state = _NEW
        self.items: deque[Any] = deque()
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _finish(self, error: BaseException | None) -> None:
        if self.state != _DONE:
            self.state = _DONE
            self.error = error
        self._wake()

    def _on_chunk(self, seq: int, data: Any) -> ProtocolError | None:
        if self.state != _OPEN:
            return None
        if seq != self.received:
            return ProtocolError(
                f"stream {self.method!r} chunk {seq} arrived, expected {self.received}",
                peer=self.peer,
            )
        if len(self.items) >= self.window:
            return ProtocolError(
                f"stream {self.method!r} sent more than its credit of {self.window} chunks",
                peer=self.peer,
            )
        self.received += 1
        self.items.append(data)
        self._wake()
        return None

    def _on_end(self, count: int) -> ProtocolError | None:
        if count != self.received:
            error = ProtocolError(
                f"stream {self.method!r} ended after {count} chunks but {self.received} arrived",
                peer=self.peer,
            )
            self._finish(error)
            return error
        self._finish(None)
        return None

    def _on_result(self, result: Any) -> None:
        if self.state == _OPEN:
            self.items.append(result)
        self._finish(None)

    def _on_error(self, error: BaseException) -> None:
        self._finish(error)


class RemoteStream(AsyncIterator[Any]):
    """The consumer side of a streamed result; iterate with ``async for``.

    Created by :meth:`Connection.stream`; the request is sent on first use. Byte
    streams arrive as pieces of at most the sender's chunk size: join them if needed.
    Leaving the iteration early (``break``, an exception, :meth:`aclose`, or dropping the
    object) sends a Cancel so the producer stops. A method that returns a plain value
    yields that one value.

    Prefer ``async with conn.stream(...) as chunks: async for chunk in chunks: ...``,
    which sends the Cancel as soon as the block is left.
    """

    def __init__(
        self,
        conn: Calls,
        method: str,
        params: Params,
        *,
        window: int,
        timeout: float | None,
    ) -> None:
        self.method = method
        self._conn = conn
        self._params = params
        self._timeout = timeout
        self._id = -1
        self._rx = StreamReceiver(method, window, conn.name)
        self._unacked = 0
        self._credit_step = max(1, window // 2)

    @property
    def request_id(self) -> int:
        """The request id on the wire (-1 before the request is sent)."""
        return self._id

    @property
    def received(self) -> int:
        """Chunks received so far."""
        return self._rx.received

    @property
    def buffered(self) -> int:
        """Chunks received and not yet consumed (never more than the window)."""
        return len(self._rx.items)

    async def _start(self) -> None:
        self._rx.state = _OPEN
        try:
            self._id = await self._conn._open_stream(self._rx, self.method, self._params)
        except BaseException:
            self._rx.state = _DONE
            raise

    async def __aenter__(self) -> RemoteStream:
        if self._rx.state == _NEW:
            await self._start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __aiter__(self) -> RemoteStream:
        return self

    async def __anext__(self) -> Any:
        rx = self._rx
        if rx.state == _NEW:
            await self._start()
        items = rx.items
        while not items:
            if rx.state == _DONE:
                if rx.error is not None:
                    error, rx.error = rx.error, None
                    raise error
                raise StopAsyncIteration
            rx.waiter = waiter = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(self._timeout):
                    await waiter
            except TimeoutError:
                rx._finish(
                    RequestTimeoutError(
                        f"stream {self.method!r} sent nothing for {self._timeout} s",
                        peer=self._conn.name,
                    )
                )
                self._conn._cancel_request(self._id)
            except asyncio.CancelledError:
                await self.aclose()
                raise
            finally:
                rx.waiter = None
        item = items.popleft()
        if rx.state == _OPEN:
            self._unacked += 1
            if self._unacked >= self._credit_step:
                self._conn._grant_credit(self._id, self._unacked)
                self._unacked = 0
        return item

    async def aclose(self) -> None:
        """Stop the stream: the producer gets a Cancel if it was still sending."""
        rx = self._rx
        if rx.state == _OPEN:
            self._conn._cancel_request(self._id)
        rx.state = _DONE
        rx.items.clear()

    def __del__(self) -> None:
        # Dropped mid-stream (e.g. ``break`` out of ``async for`` without ``async with``):
        # free the request slot and stop the producer. Scheduled on the loop, as the
        # garbage collector may run this at any point.
        if self._rx.state == _OPEN and not self._conn.closed:
            with contextlib.suppress(RuntimeError):  # a closed loop: the connection is gone
                self._conn._loop.call_soon_threadsafe(self._conn._cancel_request, self._id)

    async def collect(self, limit: int | None = None) -> list[Any]:
        """Read the whole stream into a list (for streams known to be small).

        Raises:
            ProtocolError: More than ``limit`` chunks arrived (the stream is cancelled).
        """
        out: list[Any] = []
        async for item in self:
            if limit is not None and len(out) >= limit:
                await self.aclose()
                raise ProtocolError(
                    f"stream {self.method!r} has more than {limit} chunks", peer=self._conn.name
                )
            out.append(item)
        return out
