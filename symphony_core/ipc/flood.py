"""Flood control for frames a peer sends without being asked (events, notifications...).

A token bucket admits ``rate`` frames per second on average with bursts of ``burst``;
the excess is dropped and counted. When drops within one second reach ``close_after``,
:attr:`FloodGuard.flooding` turns true and the connection owner disconnects the peer.
"""

from __future__ import annotations

import time

__all__ = ["FloodGuard"]


class FloodGuard:
    """Admit or drop unsolicited frames from one peer.

    Args:
        rate: Frames per second admitted on average.
        burst: Frames admitted at once above the average.
        close_after: Drops within one second that count as flooding (``None``: never).
    """

    __slots__ = (
        "_burst",
        "_close_after",
        "_last",
        "_last_report",
        "_rate",
        "_tokens",
        "_window_drops",
        "_window_start",
        "dropped",
    )

    def __init__(self, rate: float, burst: int, close_after: int | None) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._close_after = close_after
        self._tokens = float(burst)
        self._last = time.monotonic()
        self._window_start = self._last
        self._window_drops = 0
        self._last_report = 0.0
        self.dropped = 0
        """Frames dropped over the connection's life."""

    def admit(self) -> bool:
        """Take a token for one frame; return False (and count a drop) if none is left."""
        now = time.monotonic()
        tokens = self._tokens + (now - self._last) * self._rate
        self._last = now
        if tokens > self._burst:
            tokens = self._burst
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return True
        self._tokens = tokens
        self.record_drop(now)
        return False

    def record_drop(self, now: float | None = None) -> None:
        """Count one dropped frame (also for drops decided elsewhere, e.g. BUSY)."""
        if now is None:
            now = time.monotonic()
        self.dropped += 1
        if now - self._window_start >= 1.0:
            self._window_start = now
            self._window_drops = 0
        self._window_drops += 1

    @property
    def flooding(self) -> bool:
        """Whether drops in the current second reached the disconnect threshold."""
        return self._close_after is not None and self._window_drops >= self._close_after

    def should_report(self) -> bool:
        """Return True at most once a second, to rate-limit the warning about drops."""
        now = time.monotonic()
        if now - self._last_report >= 1.0:
            self._last_report = now
            return True
        return False
