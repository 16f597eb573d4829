"""Sandboxed start-up: launch to handshake answered, ours vs plain multiprocessing.

Ours: ``Launcher.start`` (warm fork server) — fork, every boot step (cgroup, rlimits,
network namespace, capability drop, fd hygiene, Landlock, seccomp, audit hook) — then
the child answers a handshake over its IPC socket. Peers: a ``multiprocessing``
process (forkserver, warm; and spawn) that answers the same handshake over a Pipe with
*no* sandbox at all, from a module that imports nothing else. Run:
``uv run python bench/bench_sandbox.py [iterations]``.
"""

from __future__ import annotations

import multiprocessing
import socket
import statistics
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from symphony_core.runtime.sandbox.launcher import Launcher
    from symphony_core.runtime.sandbox.policy import SandboxProfile

# Module level stays minimal: the multiprocessing peers re-import this module in each
# spawned child, and should pay for nothing but themselves.


def _peer_child(conn: Connection) -> None:
    conn.send_bytes(b"ready")
    conn.recv_bytes()


def _ours(launcher: Launcher, profile: SandboxProfile) -> tuple[float, dict[str, float]]:
    from symphony_core.runtime.sandbox import selftest

    host_end, child_end = socket.socketpair()
    start = time.perf_counter()
    proc = launcher.start(profile, target=selftest.HANDSHAKE, ipc_fd=child_end.fileno())
    child_end.close()
    frame = selftest.read_frame(host_end.fileno())
    elapsed = (time.perf_counter() - start) * 1000
    assert frame is not None
    host_end.close()
    proc.close()
    return elapsed, proc.step_ms


def _peer(ctx: multiprocessing.context.BaseContext) -> float:
    parent, child = ctx.Pipe()
    start = time.perf_counter()
    process = ctx.Process(target=_peer_child, args=(child,))  # type: ignore[attr-defined]
    process.start()
    parent.recv_bytes()
    elapsed = (time.perf_counter() - start) * 1000
    parent.send_bytes(b"bye")
    process.join()
    child.close()
    parent.close()
    return elapsed


def main(iterations: int = 40) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _table import Row, percentile, print_table

    from symphony_core.runtime.sandbox.launcher import Launcher
    from symphony_core.runtime.sandbox.policy import SandboxProfile

    first_start = time.perf_counter()
    launcher = Launcher()
    launcher.start_server()
    ready = launcher.wait_ready()
    ours_first = (time.perf_counter() - first_start) * 1000

    forkserver = multiprocessing.get_context("forkserver")
    spawn = multiprocessing.get_context("spawn")
    peer_first = _peer(forkserver)  # the forkserver's first start

    full = SandboxProfile()
    watchdog_launcher = Launcher(limits="watchdog", accept_weaker=["no-cgroups"])
    watchdog_launcher.start_server()
    watchdog_launcher.wait_ready()

    for _ in range(3):  # warm-up
        _ours(launcher, full)
        _peer(forkserver)
    ours: list[float] = []
    ours_nocg: list[float] = []
    steps: dict[str, list[float]] = {}
    fs: list[float] = []
    sp: list[float] = []
    for i in range(iterations):
        elapsed, step_ms = _ours(launcher, full)
        ours.append(elapsed)
        for name, ms in step_ms.items():
            steps.setdefault(name, []).append(ms)
        ours_nocg.append(_ours(watchdog_launcher, full)[0])
        fs.append(_peer(forkserver))
        if i % 4 == 0:
            sp.append(_peer(spawn))
    launcher.close()
    watchdog_launcher.close()

    rows = [
        Row(
            "ready p50 (full sandbox)",
            percentile(ours, 50),
            percentile(fs, 50),
            "ms",
            "< 30 ms",
            "mp forkserver, no sandbox",
        ),
        Row(
            "ready p90 (full sandbox)",
            percentile(ours, 90),
            percentile(fs, 90),
            "ms",
            "-",
            "mp forkserver, no sandbox",
        ),
        Row(
            "ready p50 (full sandbox)",
            percentile(ours, 50),
            percentile(sp, 50),
            "ms",
            "< 30 ms",
            "mp spawn, no sandbox",
        ),
        Row(
            "ready p90 (full sandbox)",
            percentile(ours, 90),
            percentile(sp, 90),
            "ms",
            "-",
            "mp spawn, no sandbox",
        ),
        Row(
            "ready p50 (no cgroup, watchdog)",
            percentile(ours_nocg, 50),
            percentile(fs, 50),
            "ms",
            "-",
            "mp forkserver, no sandbox",
        ),
        Row(
            "first start of the fork server",
            ours_first,
            peer_first,
            "ms",
            "off the critical path",
            "mp forkserver first process",
        ),
    ]
    print_table("Sandboxed process start-up (launch to handshake)", rows)
    print(f"\nfork server start-up inside the zygote: {ready.startup_ms:.1f} ms")
    print(
        "boot steps, median ms: "
        + ", ".join(f"{k} {statistics.median(v):.2f}" for k, v in steps.items())
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
