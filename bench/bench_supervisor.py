"""Supervised sandboxed extensions: crash and hang detection, restart, call round trip.

Ours: :class:`~symphony_core.runtime.sandboxed.SandboxedRuntime` (one sandboxed process
per extension, heartbeats, pidfd). Peers, in the same run:

* deaths — ``concurrent.futures.ProcessPoolExecutor``: time until a future whose worker
  was SIGKILLed (or segfaulted) fails with ``BrokenProcessPool``; a restart there means
  making a new pool;
* hangs — the pool never notices a stopped worker (shown as ``-``);
* calls — the in-process runtime running the same node of the example extension.

Run: ``uv run python bench/bench_supervisor.py [rounds]`` (default 10 rounds, ~20 s).
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import importlib
import os
import signal
import statistics
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import msgspec
from _table import Row, percentile, print_table

from symphony_core.config import Config
from symphony_core.discovery import discover
from symphony_core.extension import ExtensionRecord
from symphony_core.manifest.model import ExtensionInfo, Manifest
from symphony_core.runtime import InProcessRuntime
from symphony_core.runtime.crashes import ExtensionCrashedError
from symphony_core.runtime.sandboxed import SandboxedRuntime
from symphony_core.runtime.supervisor import SupervisorPolicy

SPECS = """
from typing import Any
from symphony_core.hooks import hookspec

class BenchSpecs:
    @hookspec()
    def bench_do(self, action: str, arg: Any) -> Any:
        '''Do what the benchmark asks.'''
"""

TOOL = """
import ctypes, os, signal, time
from symphony_core.hooks import hookimpl

class Tool:
    @hookimpl
    def bench_do(self, action, arg):
        if action == "pid":
            return os.getpid()
        if action == "sleep":
            time.sleep(arg)
        if action == "segfault":
            ctypes.string_at(0)
        if action == "stop":
            os.kill(os.getpid(), signal.SIGSTOP)
        return arg
"""


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def _segfault() -> None:
    ctypes.string_at(0)


def _tool_record(root: Path) -> ExtensionRecord:
    (root / "benchspecs.py").write_text(textwrap.dedent(SPECS))
    (root / "benchtool.py").write_text(textwrap.dedent(TOOL))
    return ExtensionRecord(
        manifest=Manifest(
            extension=ExtensionInfo(
                id="bench.tool",
                version="1.0.0",
                kind="addon",
                entry="benchtool:Tool",
                host_api=">=1.0,<2",
            )
        ),
        manifest_path=root / "symphony.toml",
        distribution="benchtool",
        distribution_version="1.0.0",
        entry_point="bench.tool",
        package_dir=root,
    )


def _wait_running(runtime: SandboxedRuntime, ext: str) -> None:
    while runtime.status(ext).state != "running":
        time.sleep(0.001)


def _call_in_thread(fn: Any) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:
            box["error"] = exc
            box["at"] = time.perf_counter()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, box


def ours_kill(runtime: SandboxedRuntime, ext: str) -> tuple[float, float]:
    """SIGKILL during a call: ms until the call fails; ms until the next call is served."""
    _wait_running(runtime, ext)
    runtime.release(ext)  # forget earlier rounds' crashes: the first back-off step each time
    pid = runtime.call(ext, "bench_do", {"action": "pid", "arg": None})
    thread, box = _call_in_thread(
        lambda: runtime.call(ext, "bench_do", {"action": "sleep", "arg": 30})
    )
    time.sleep(0.02)
    killed = time.perf_counter()
    os.kill(pid, signal.SIGKILL)
    thread.join()
    assert isinstance(box.get("error"), ExtensionCrashedError), box
    failed = box["at"]
    runtime.call(ext, "bench_do", {"action": "echo", "arg": 1})
    return (failed - killed) * 1000, (time.perf_counter() - failed) * 1000


def ours_call_fails(runtime: SandboxedRuntime, ext: str, action: str) -> float:
    """A call whose hook segfaults or stops the process: ms from the call to its failure."""
    _wait_running(runtime, ext)
    runtime.release(ext)
    runtime.call(ext, "bench_do", {"action": "pid", "arg": None})
    start = time.perf_counter()
    try:
        runtime.call(ext, "bench_do", {"action": action, "arg": None})
    except ExtensionCrashedError:
        return (time.perf_counter() - start) * 1000
    raise AssertionError(f"{action} did not crash the extension")


def peer_kill() -> tuple[float, float]:
    pool = concurrent.futures.ProcessPoolExecutor(max_workers=1)
    pool.submit(_sleep, 0).result()  # the worker exists
    (pid,) = list(pool._processes)
    future = pool.submit(_sleep, 30)
    time.sleep(0.02)
    killed = time.perf_counter()
    os.kill(pid, signal.SIGKILL)
    try:
        future.result()
    except concurrent.futures.process.BrokenProcessPool:
        failed = time.perf_counter()
    pool.shutdown(wait=True)
    fresh = concurrent.futures.ProcessPoolExecutor(max_workers=1)
    fresh.submit(_sleep, 0).result()
    fresh.shutdown()
    return (failed - killed) * 1000, (time.perf_counter() - failed) * 1000


def peer_segfault() -> float:
    pool = concurrent.futures.ProcessPoolExecutor(max_workers=1)
    pool.submit(_sleep, 0).result()
    start = time.perf_counter()
    try:
        pool.submit(_segfault).result()
    except concurrent.futures.process.BrokenProcessPool:
        elapsed = (time.perf_counter() - start) * 1000
    pool.shutdown(wait=True)
    return elapsed


def main(rounds: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-supervisor-"))
    site = tmp / "site"
    site.mkdir()
    sys.path.insert(0, str(site))
    tool = _tool_record(site)
    importlib.invalidate_caches()
    config = Config(home=tmp / "home", discovery_cache=False)
    policy = SupervisorPolicy(crash_limit=10_000)
    runtime = SandboxedRuntime(config, policy=policy, hookspecs=("benchspecs:BenchSpecs",))
    runtime.start()
    runtime.add(tool)
    textops = discover(config).get("examples.textops")
    assert textops is not None
    runtime.add(textops)
    inprocess = InProcessRuntime(config)
    inprocess.add(msgspec.structs.replace(textops, trust="trusted"))
    try:
        cold_start = time.perf_counter()
        runtime.call(tool.id, "bench_do", {"action": "echo", "arg": 0})
        cold_ms = (time.perf_counter() - cold_start) * 1000
        kills = [ours_kill(runtime, tool.id) for _ in range(rounds)]
        segfaults = [ours_call_fails(runtime, tool.id, "segfault") for _ in range(rounds)]
        hangs = [ours_call_fails(runtime, tool.id, "stop") for _ in range(rounds)]
        peer_kills = [peer_kill() for _ in range(rounds)]
        peer_segfaults = [peer_segfault() for _ in range(rounds)]

        tokens = {"tokens": ["a", "b", "a", "c"] * 8}
        params = {"top": 3}
        for _ in range(200):
            runtime.call_node("word_count", tokens, params)
            inprocess.call_node("word_count", tokens, params)
        ours_rt = _latencies(lambda: runtime.call_node("word_count", tokens, params), 2000)
        peer_rt = _latencies(lambda: inprocess.call_node("word_count", tokens, params), 2000)
    finally:
        runtime.close()
        inprocess.close()

    def med(values: list[float]) -> float:
        return statistics.median(values)

    deadline = policy.hang_deadline * 1000
    rows = [
        Row(
            "SIGKILL -> in-flight call fails, p50",
            med([k for k, _ in kills]),
            med([k for k, _ in peer_kills]),
            "ms",
            "< 250 ms",
            "ProcessPoolExecutor",
        ),
        Row(
            "SIGKILL -> in-flight call fails, max",
            max(k for k, _ in kills),
            max(k for k, _ in peer_kills),
            "ms",
            "< 250 ms",
            "ProcessPoolExecutor",
        ),
        Row(
            "segfault in a call -> call fails, p50",
            med(segfaults),
            med(peer_segfaults),
            "ms",
            "< 250 ms",
            "ProcessPoolExecutor",
        ),
        Row(
            "hung (SIGSTOP) in a call -> call fails, p50",
            med(hangs),
            None,
            "ms",
            f"< 250 ms (deadline {deadline:.0f} ms)",
            "never detected",
        ),
        Row(
            "hung (SIGSTOP) in a call -> call fails, max",
            max(hangs),
            None,
            "ms",
            "< 250 ms",
            "never detected",
        ),
        Row(
            "crash -> next call served (restart), p50",
            med([r for _, r in kills]),
            med([r for _, r in peer_kills]),
            "ms",
            f"back-off {policy.restart_backoff * 1000:.0f} ms",
            "new ProcessPoolExecutor",
        ),
        Row(
            "node call round trip, p50",
            percentile(ours_rt, 50),
            percentile(peer_rt, 50),
            "us",
            "< 1000 us",
            "in-process runtime",
        ),
        Row(
            "node call round trip, p99",
            percentile(ours_rt, 99),
            percentile(peer_rt, 99),
            "us",
            "< 2000 us",
            "in-process runtime",
        ),
        Row("first call (start, boot, import, activate)", cold_ms, None, "ms", "< 300 ms"),
    ]
    print_table(f"Supervised sandboxed extensions ({rounds} rounds)", rows)


def _latencies(fn: Any, number: int) -> list[float]:
    out = []
    for _ in range(number):
        start = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - start) / 1000)
    return out


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
