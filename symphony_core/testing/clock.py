"""A clock that moves only when told to, for deterministic tests of time-based behaviour."""

from __future__ import annotations

import threading

__all__ = ["ManualClock"]


class ManualClock:
    """A monotonic clock in seconds that advances only through :meth:`advance`.

    Call the instance to read it, like :func:`time.monotonic`.

    Args:
        start: The initial reading.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        """Return the current reading."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward and return the new reading.

        Args:
            seconds: How far, 0 or more.

        Raises:
            ValueError: ``seconds`` is negative: a monotonic clock never goes back.
        """
        if seconds < 0:
            raise ValueError(f"a monotonic clock cannot go back ({seconds} s)")
        with self._lock:
            self._now += seconds
            return self._now
