"""What an Instrument answers when the host checks one of its loaded instances."""

from __future__ import annotations

import msgspec

__all__ = ["InstrumentHealth"]


class InstrumentHealth(msgspec.Struct, frozen=True, kw_only=True):
    """The answer of ``symphony_instrument_health`` for one loaded instance.

    A msgspec struct so it crosses the sandbox boundary as plain data.

    Attributes:
        healthy: Whether the instance can serve requests.
        detail: Why not, or any note worth showing (empty when there is nothing to say).
        metrics: Numbers the instance reports about itself (memory in bytes, latency...).
    """

    healthy: bool
    detail: str = ""
    metrics: dict[str, float] = msgspec.field(default_factory=dict)
