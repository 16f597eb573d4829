"""The calling side's bookkeeping of batched calls: which requests are open, where results go.

A ``call_batch()`` is a :class:`BatchWaiter`; its requests leave in chunks (one batch frame
each, or one write to a version-1 peer), and a :class:`Chunk` covers one chunk's
consecutive request ids. The :class:`ChunkTable` finds the chunk of any id. A run of
results lands in the caller's result list with one slice assignment and one check of the
chunk's bitmap, so an answer costs no Python work of its own: no future, no dict entry.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left, bisect_right
from typing import Any, Final

from symphony_core.ipc.protocol import ErrorCode

__all__ = ["BatchWaiter", "Chunk", "ChunkTable", "refusal_data", "refused_limit"]

_ONES: Final = b"\x01" * 4096
_LIMIT_NAMES: Final = frozenset({"max_batch", "max_concurrent"})


def refusal_data(limit_name: str, limit: int, got: int) -> dict[str, Any]:
    """The ``data`` of the errors refusing a batch of ``got`` requests over ``limit``."""
    return {"limit": limit_name, "max": limit, "got": got}


def refused_limit(code: int, data: Any) -> int | None:
    """If an error answer is a batch refusal (see :func:`refusal_data`), the peer's limit.

    A caller that meets one sends smaller batches from then on.
    """
    if code != ErrorCode.INVALID_REQUEST or not isinstance(data, dict):
        return None
    limit = data.get("max")
    if data.get("limit") in _LIMIT_NAMES and type(limit) is int and limit >= 1:
        return limit
    return None


class BatchWaiter:
    """One ``call_batch()``: its future, its results, and how many answers are due.

    Args:
        future: Set to the result list when every answer is in (or to the first error
            unless ``return_exceptions``).
        method: The method called (for errors).
        n: How many calls the batch makes.
        return_exceptions: Whether failures take their place in the results.
    """

    __slots__ = ("future", "method", "remaining", "results", "return_exceptions")

    def __init__(
        self, future: asyncio.Future[list[Any]], method: str, n: int, return_exceptions: bool
    ) -> None:
        self.future = future
        self.method = method
        self.remaining = n
        self.results: list[Any] = [None] * n
        self.return_exceptions = return_exceptions

    def _done(self, count: int) -> None:
        self.remaining -= count
        if not self.remaining and not self.future.done():
            self.future.set_result(self.results)


class Chunk:
    """Consecutive requests of one batch, sent together.

    Request ``base + k`` (for ``k`` below ``size``) holds result ``start + k`` of the
    batch's list.

    Args:
        batch: The call the requests belong to.
        base: The first request id.
        start: Where the first result goes in ``batch.results``.
        size: How many requests.
    """

    __slots__ = ("answered", "base", "batch", "outstanding", "size", "start")

    def __init__(self, batch: BatchWaiter, base: int, start: int, size: int) -> None:
        self.batch = batch
        self.base = base
        self.start = start
        self.size = size
        self.outstanding = size
        self.answered = bytearray(size)

    def is_open(self, rid: int) -> bool:
        """Whether request ``rid`` is in this chunk and not answered yet."""
        k = rid - self.base
        return 0 <= k < self.size and not self.answered[k]

    def open_ids(self) -> list[int]:
        """The ids not answered yet."""
        answered, base = self.answered, self.base
        return [base + k for k in range(self.size) if not answered[k]]

    def settle(self, rid: int, result: Any) -> None:
        """Record the result of open request ``rid``."""
        k = rid - self.base
        self.answered[k] = 1
        self.outstanding -= 1
        batch = self.batch
        batch.results[self.start + k] = result
        batch._done(1)

    def fail(self, rid: int, error: BaseException) -> None:
        """Record the failure of open request ``rid``.

        The batch fails with ``error`` unless it keeps exceptions as results.
        """
        if self.batch.return_exceptions:
            self.settle(rid, error)
            return
        self.answered[rid - self.base] = 1
        self.outstanding -= 1
        if not self.batch.future.done():
            self.batch.future.set_exception(error)

    def take_run(self, first: int, results: list[Any]) -> bool:
        """Record results for requests ``first ..``, if all of them are open here.

        Returns False (recording nothing) when any of them is not.
        """
        k = first - self.base
        m = len(results)
        end = k + m
        answered = self.answered
        if k < 0 or end > self.size or answered.find(1, k, end) != -1:
            return False
        answered[k:end] = _ONES[:m] if m <= 4096 else b"\x01" * m
        self.outstanding -= m
        batch = self.batch
        start = self.start + k
        batch.results[start : start + m] = results
        batch._done(m)
        return True


class ChunkTable:
    """The chunks of a connection's batched calls still waiting for answers.

    Attributes:
        in_flight: Requests of all chunks not answered yet.
    """

    __slots__ = ("_bases", "_chunks", "in_flight")

    def __init__(self) -> None:
        self._chunks: dict[int, Chunk] = {}
        self._bases: list[int] = []  # sorted: ids only grow, so chunks come in order
        self.in_flight = 0

    def __len__(self) -> int:
        return len(self._chunks)

    def add(self, chunk: Chunk) -> None:
        """Register ``chunk`` (its ids are above every registered chunk's)."""
        self._chunks[chunk.base] = chunk
        bases = self._bases
        if bases and bases[-1] > chunk.base:
            bases.insert(bisect_left(bases, chunk.base), chunk.base)
        else:
            bases.append(chunk.base)
        self.in_flight += chunk.outstanding

    def find(self, rid: int) -> Chunk | None:
        """Return the registered chunk holding request ``rid`` open, if any."""
        chunk = self._chunks.get(rid)
        if chunk is None:
            bases = self._bases
            i = bisect_right(bases, rid) - 1
            if i < 0:
                return None
            chunk = self._chunks[bases[i]]
        return chunk if chunk.is_open(rid) else None

    def discard(self, chunk: Chunk) -> int:
        """Unregister ``chunk``; return how many of its requests were still open."""
        if self._chunks.get(chunk.base) is not chunk:
            return 0
        del self._chunks[chunk.base]
        bases = self._bases
        if bases[0] == chunk.base:
            del bases[0]
        else:
            del bases[bisect_left(bases, chunk.base)]
        self.in_flight -= chunk.outstanding
        return chunk.outstanding

    def clear(self) -> list[Chunk]:
        """Unregister every chunk and return them."""
        chunks = list(self._chunks.values())
        self._chunks.clear()
        self._bases.clear()
        self.in_flight = 0
        return chunks

    def settle(self, rid: int, result: Any) -> bool:
        """Deliver the result of request ``rid``; False if no open chunk holds it."""
        chunk = self.find(rid)
        if chunk is None:
            return False
        chunk.settle(rid, result)
        self._after(chunk, 1)
        return True

    def fail(self, rid: int, error: BaseException) -> bool:
        """Deliver the failure of request ``rid``; False if no open chunk holds it."""
        chunk = self.find(rid)
        if chunk is None:
            return False
        chunk.fail(rid, error)
        self._after(chunk, 1)
        return True

    def take_run(self, first: int, results: list[Any]) -> bool:
        """Deliver a run of results if one chunk holds all of its requests open."""
        chunk = self._chunks.get(first) or self.find(first)
        if chunk is None or not chunk.take_run(first, results):
            return False
        self._after(chunk, len(results))
        return True

    def _after(self, chunk: Chunk, answered: int) -> None:
        self.in_flight -= answered
        if not chunk.outstanding:
            self.discard(chunk)
