"""Shared output for benchmarks: one table of metric, ours, peer, ratio, target."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

__all__ = ["Row", "percentile", "print_table", "timeit_ns"]


@dataclass
class Row:
    """One line of a benchmark table.

    ``ours`` and ``peer`` are in ``unit``; ``ratio`` is ours/peer (lower is better for
    times, higher for throughput — say which in ``target``).
    """

    metric: str
    ours: float
    peer: float | None
    unit: str
    target: str
    peer_name: str = ""

    @property
    def ratio(self) -> float | None:
        if self.peer in (None, 0):
            return None
        return self.ours / self.peer


def percentile(samples: Sequence[float], q: float) -> float:
    """Return the q-th percentile (0-100) of ``samples`` by nearest rank."""
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def timeit_ns(fn: Callable[[], object], *, number: int, repeat: int = 5) -> float:
    """Median over ``repeat`` runs of the mean ns per call of ``fn`` over ``number`` calls."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter_ns() - start) / number)
    return statistics.median(runs)


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def print_table(title: str, rows: Sequence[Row]) -> None:
    """Print the rows as a Markdown table (and as JSON lines when BENCH_JSON=1)."""
    print(f"\n### {title}")
    print(f"python {platform.python_version()}, {os.cpu_count()} cores, {platform.platform()}\n")
    print("| metric | ours | peer | ratio | target |")
    print("|---|---|---|---|---|")
    for row in rows:
        peer = f"{_fmt(row.peer)} {row.unit}" if row.peer is not None else "-"
        if row.peer_name and row.peer is not None:
            peer = f"{peer} ({row.peer_name})"
        ratio = _fmt(row.ratio) + "x" if row.ratio is not None else "-"
        print(f"| {row.metric} | {_fmt(row.ours)} {row.unit} | {peer} | {ratio} | {row.target} |")
    if os.environ.get("BENCH_JSON") == "1":
        for row in rows:
            sys.stdout.write(json.dumps({"title": title, **asdict(row), "ratio": row.ratio}) + "\n")
    sys.stdout.flush()
