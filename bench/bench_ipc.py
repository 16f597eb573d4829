"""IPC benchmark: our protocol to a real child process vs a bare multiprocessing.Pipe echo.

Ours: ``python -m symphony_core.ipc.echo_server`` on a socketpair, driven by the blocking
client and by the asyncio bus (handshake, msgspec-validated structs, length-prefixed
frames, JSON-RPC semantics). Peer: a child doing ``recv_bytes``/``send_bytes`` on a
``multiprocessing.Pipe`` with the same 200-byte payload, no parsing at all.

Everything is measured in rounds; each round starts fresh child processes for every
side, because whether the scheduler keeps a pair of processes on one core or spreads
them over two moves a round trip 3-4x on a small VM. p50 is the median of the rounds'
p50s, p99 is taken over all samples; a throughput is the median of the rounds' (each
round's figure being the best of a few runs). Throughput is messages answered per
second: "pipelined" keeps many single-frame requests in flight; "batched" is like for
like: ``call_batch`` of 64 calls at a time (one batch frame each way), against the peer
sending 64 length-prefixed 200-byte messages in one ``send_bytes``; its child splits
them and answers each with its own length-prefixed echo, all in one ``send_bytes``, and
the peer splits the answer into its 64 results, one batch at a time as well. That is
the least any batching protocol does (the caller gets 64 separate answers, as from
``call_batch``); ours also decodes, validates and dispatches every message.

The same round trips and batches are then measured again with the placement fixed —
every process on one core, or the children on the other core — because on a small VM
the unpinned rows mostly say where the scheduler happened to put each pair (a
cross-core wake-up costs ~45 µs, for the bare pipe as for us).

Run: ``uv run python bench/bench_ipc.py`` (``--quick`` for a short run).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import multiprocessing.connection
import os
import socket
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _table import Row, percentile, print_table

from symphony_core.ipc import BlockingClient, Bus, Connection, IpcLimits

PAYLOAD = b"x" * 200
BATCH = 64


# ---------------------------------------------------------------- the peer


_LEN = struct.Struct(">I")


def _split(blob: bytes) -> list[bytes]:
    """The length-prefixed messages in ``blob``."""
    out: list[bytes] = []
    append, unpack_from = out.append, _LEN.unpack_from
    i, end = 0, len(blob)
    while i < end:
        (size,) = unpack_from(blob, i)
        i += 4
        append(blob[i : i + size])
        i += size
    return out


def _pipe_echo(conn: multiprocessing.connection.Connection) -> None:
    # One message per recv_bytes; an empty message switches to batches and back: then
    # each recv_bytes holds length-prefixed messages, each answered with its own
    # length-prefixed echo, all in one send_bytes (the least a batching server does).
    batches = False
    pack = _LEN.pack
    while True:
        try:
            data = conn.recv_bytes()
        except EOFError:
            return
        if not data:
            batches = not batches
            continue
        if batches:
            out = []
            for message in _split(data):
                out.append(pack(len(message)))
                out.append(message)
            conn.send_bytes(b"".join(out))
        else:
            conn.send_bytes(data)


def _echo_once(send: Callable[[bytes], None], recv: Callable[[], bytes], blob: bytes) -> bytes:
    send(blob)
    return recv()


class PipePeer:
    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_pipe_echo, args=(child,), daemon=True)
        self.process.start()
        child.close()

    def rtt_samples(self, n: int) -> list[float]:
        send, recv, clock = self.conn.send_bytes, self.conn.recv_bytes, time.perf_counter
        out = []
        for _ in range(n):
            start = clock()
            send(PAYLOAD)
            recv()
            out.append(clock() - start)
        return out

    def pipelined(self, n: int, window: int) -> float:
        send, recv = self.conn.send_bytes, self.conn.recv_bytes
        start = time.perf_counter()
        done = 0
        while done < n:
            k = min(window, n - done)
            for _ in range(k):
                send(PAYLOAD)
            for _ in range(k):
                recv()
            done += k
        return n / (time.perf_counter() - start)

    def batched(self, n: int, batch: int) -> float:
        """``batch`` length-prefixed messages per write, answered in one write; split."""
        blob = b"".join(_LEN.pack(len(PAYLOAD)) + PAYLOAD for _ in range(batch))
        send, recv = self.conn.send_bytes, self.conn.recv_bytes
        writes = n // batch
        send(b"")  # the child reads batches from now on
        try:
            assert _split(_echo_once(send, recv, blob)) == [PAYLOAD] * batch
            start = time.perf_counter()
            for _ in range(writes):
                send(blob)
                results = _split(recv())
            elapsed = time.perf_counter() - start
        finally:
            send(b"")
        assert len(results) == batch
        return writes * batch / elapsed

    def close(self) -> None:
        self.conn.close()
        self.process.join(5)


# ---------------------------------------------------------------- ours


def spawn_echo() -> tuple[socket.socket, subprocess.Popen[bytes]]:
    host, child = socket.socketpair()
    process = subprocess.Popen(
        [sys.executable, "-m", "symphony_core.ipc.echo_server", "--fd", str(child.fileno())],
        pass_fds=[child.fileno()],
    )
    child.close()
    return host, process


class BlockingOurs:
    def __init__(self) -> None:
        channel, self.process = spawn_echo()
        self.client = BlockingClient(channel)
        self.client.handshake()

    def rtt_samples(self, n: int) -> list[float]:
        call, clock, params = self.client.call, time.perf_counter, [PAYLOAD]
        out = []
        for _ in range(n):
            start = clock()
            call("echo", params)
            out.append(clock() - start)
        return out

    def batched(self, n: int, batch: int) -> float:
        params = [[PAYLOAD]] * batch
        start = time.perf_counter()
        for _ in range(n // batch):
            self.client.call_batch("echo", params)
        return (n // batch) * batch / (time.perf_counter() - start)

    def close(self) -> None:
        self.client.close()
        self.process.wait(5)


class BusOurs:
    """The asyncio bus, driven from one long-lived event loop."""

    def __init__(self, limits: IpcLimits | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        channel, self.process = spawn_echo()
        self.bus = Bus(limits=limits)
        self.conn: Connection = self.loop.run_until_complete(self.bus.connect(channel))

    def rtt_samples(self, n: int) -> list[float]:
        async def go() -> list[float]:
            call, clock, params = self.conn.call, time.perf_counter, [PAYLOAD]
            out = []
            for _ in range(n):
                start = clock()
                await call("echo", params)
                out.append(clock() - start)
            return out

        return self.loop.run_until_complete(go())

    def pipelined(self, n: int, window: int) -> float:
        async def go() -> float:
            call, params = self.conn.call, [PAYLOAD]
            start = time.perf_counter()
            done = 0
            while done < n:
                k = min(window, n - done)
                await asyncio.gather(*[call("echo", params) for _ in range(k)])
                done += k
            return n / (time.perf_counter() - start)

        return self.loop.run_until_complete(go())

    def batched(self, n: int, batch: int) -> float:
        async def go() -> float:
            params = [[PAYLOAD]] * batch
            start = time.perf_counter()
            for _ in range(n // batch):
                await self.conn.call_batch("echo", params)
            return (n // batch) * batch / (time.perf_counter() - start)

        return self.loop.run_until_complete(go())

    def close(self) -> None:
        self.loop.run_until_complete(self.bus.close())
        self.loop.close()
        self.process.wait(5)


# ---------------------------------------------------------------- driver

SIDES = ("pipe", "blocking", "bus", "loop")


def open_sides(names: tuple[str, ...] = SIDES) -> dict[str, PipePeer | BlockingOurs | BusOurs]:
    makers: dict[str, Callable[[], PipePeer | BlockingOurs | BusOurs]] = {
        "pipe": PipePeer,
        "blocking": BlockingOurs,
        "bus": BusOurs,
        "loop": lambda: BusOurs(IpcLimits(spin_wait=0.0)),
    }
    return {name: makers[name]() for name in names}


def best_of(repeats: int, fn: Callable[[], float]) -> float:
    return max(fn() for _ in range(repeats))


def measure_round(
    sides: dict[str, PipePeer | BlockingOurs | BusOurs],
    tput: dict[str, list[float]],
    n: int,
    window: int,
) -> None:
    """One round of throughput runs on freshly started processes."""
    peer, blocking, bus = sides["pipe"], sides["blocking"], sides["bus"]
    assert isinstance(peer, PipePeer)
    assert isinstance(blocking, BlockingOurs)
    assert isinstance(bus, BusOurs)
    for side in (peer, blocking, bus):
        side.rtt_samples(300)  # warm up
    # Batched first: every side comes to it after the same sequential warm-up (a
    # pipelined run keeps both processes busy, which makes the scheduler spread them).
    tput["pipe"].append(best_of(3, lambda: peer.batched(n, BATCH)))
    tput["blocking"].append(best_of(3, lambda: blocking.batched(n, BATCH)))
    tput["bus"].append(best_of(3, lambda: bus.batched(n, BATCH)))
    tput["pipe_pipelined"].append(best_of(2, lambda: peer.pipelined(n, window)))
    tput["bus_pipelined"].append(best_of(2, lambda: bus.pipelined(n, window)))


def pid_of(side: PipePeer | BlockingOurs | BusOurs) -> int:
    """The child process of one side."""
    pid = side.process.pid
    assert pid is not None
    return pid


def pinned_batched(n: int, n_rtt: int, *, one_core: bool) -> dict[str, float] | None:
    """Round trips and batched throughput with the placement fixed, not left to chance.

    ``one_core``: the bench process and every child on the same core (each round trip
    is then pure CPU time of both ends); otherwise the children on a second core (each
    round trip then pays two cross-core wake-ups). None if there are not two cores to
    pin to.
    """
    mine = os.sched_getaffinity(0)
    cpus = sorted(mine)
    if len(cpus) < 2:
        return None
    host_cpu, child_cpu = cpus[0], cpus[0] if one_core else cpus[1]
    sides = open_sides(("pipe", "blocking", "bus"))
    try:
        os.sched_setaffinity(0, {host_cpu})
        for side in sides.values():
            os.sched_setaffinity(pid_of(side), {child_cpu})
        out: dict[str, float] = {}
        for name, side in sides.items():
            side.rtt_samples(300)
            samples = sorted(side.rtt_samples(n_rtt))
            out[f"{name}_p50"] = samples[len(samples) // 2] * 1e6
            out[f"{name}_p99"] = samples[int(len(samples) * 0.99)] * 1e6
            out[name] = max(side.batched(n, BATCH) for _ in range(3))
        return out
    finally:
        os.sched_setaffinity(0, mine)
        for side in sides.values():
            side.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="short run while developing")
    args = parser.parse_args()
    n_rtt = 2_000 if args.quick else 20_000
    n_tput = 20_000 if args.quick else 100_000
    rounds = 4 if args.quick else 8
    window = 256

    # Each round starts fresh child processes for every side: where the scheduler puts a
    # pair of processes (one core or two) moves a round trip by 3-4x on this kind of VM,
    # so every side draws that lottery once per round, and the p50 is the median round.
    samples: dict[str, list[float]] = {name: [] for name in SIDES}
    round_p50: dict[str, list[float]] = {name: [] for name in SIDES}
    for _ in range(rounds):
        sides = open_sides()
        try:
            for side in sides.values():
                side.rtt_samples(300)  # warm up: imports, allocator, socket buffers
            for name, side in sides.items():
                taken = [s * 1e6 for s in side.rtt_samples(n_rtt // rounds)]
                samples[name] += taken
                round_p50[name].append(percentile(taken, 50))
        finally:
            for side in sides.values():
                side.close()
    p50 = {k: statistics.median(v) for k, v in round_p50.items()}
    p99 = {k: percentile(v, 99) for k, v in samples.items()}

    # Throughput, in rounds too: every side draws the placement lottery once per round.
    tput: dict[str, list[float]] = {
        name: [] for name in ("pipe_pipelined", "bus_pipelined", "pipe", "blocking", "bus")
    }
    for _ in range(rounds):
        sides = open_sides(("pipe", "blocking", "bus"))
        try:
            measure_round(sides, tput, n_tput, window)
        finally:
            for side in sides.values():
                side.close()
    median = {k: statistics.median(v) for k, v in tput.items()}
    one_core = pinned_batched(n_tput, n_rtt, one_core=True)
    two_cores = pinned_batched(n_tput, n_rtt, one_core=False)

    pipe = "multiprocessing.Pipe echo"
    rows = [
        Row(
            "round trip p50, blocking client",
            p50["blocking"],
            p50["pipe"],
            "µs",
            "< 60 µs, ≤ 2x peer",
            pipe,
        ),
        Row(
            "round trip p99, blocking client",
            p99["blocking"],
            p99["pipe"],
            "µs",
            "< 250 µs, ≤ 2x peer",
            pipe,
        ),
        Row(
            "round trip p50, asyncio bus (default limits)",
            p50["bus"],
            p50["pipe"],
            "µs",
            "< 60 µs, ≤ 2x peer",
            pipe,
        ),
        Row(
            "round trip p99, asyncio bus (default limits)",
            p99["bus"],
            p99["pipe"],
            "µs",
            "< 250 µs, ≤ 2x peer",
            pipe,
        ),
        Row(
            "round trip p50, asyncio bus, spin_wait=0 (event loop only)",
            p50["loop"],
            p50["pipe"],
            "µs",
            "< 60 µs, ≤ 2x peer",
            pipe,
        ),
        Row(
            "round trip p99, asyncio bus, spin_wait=0 (event loop only)",
            p99["loop"],
            p99["pipe"],
            "µs",
            "< 250 µs, ≤ 2x peer",
            pipe,
        ),
        Row(
            f"throughput unbatched, bus, {window} in flight",
            median["bus_pipelined"],
            median["pipe_pipelined"],
            "msg/s",
            "≥ 10 000 msg/s (ratio: higher is better)",
            pipe,
        ),
        Row(
            f"throughput batched, bus call_batch({BATCH})",
            median["bus"],
            median["pipe"],
            "msg/s",
            "≥ 100 000 msg/s, ≥ 0.5x peer (higher is better)",
            f"{pipe}, {BATCH} msgs per write",
        ),
        Row(
            f"throughput batched, blocking call_batch({BATCH})",
            median["blocking"],
            median["pipe"],
            "msg/s",
            "≥ 100 000 msg/s, ≥ 0.5x peer (higher is better)",
            f"{pipe}, {BATCH} msgs per write",
        ),
    ]
    for label, pinned in (("one core", one_core), ("two cores", two_cores)):
        if pinned is None:
            continue
        for name in ("blocking", "bus"):
            for q, target in (("p50", "< 60 µs, ≤ 2x peer"), ("p99", "< 250 µs, ≤ 2x peer")):
                rows.append(
                    Row(
                        f"round trip {q}, {name}, pinned to {label}",
                        pinned[f"{name}_{q}"],
                        pinned[f"pipe_{q}"],
                        "µs",
                        target,
                        f"{pipe} on {label}",
                    )
                )
        for name, what in (("blocking", "blocking"), ("bus", "bus")):
            rows.append(
                Row(
                    f"throughput batched, {what} call_batch({BATCH}), pinned to {label}",
                    pinned[name],
                    pinned["pipe"],
                    "msg/s",
                    "≥ 100 000 msg/s, ≥ 0.5x peer (higher is better)",
                    f"{pipe} on {label}, {BATCH} msgs per write",
                )
            )
    print_table(
        f"IPC: 200-byte echo to a child process, {n_rtt} sequential round trips "
        f"({rounds} rounds, fresh processes each; p50 = median round), "
        f"{n_tput} messages per throughput run (median of {rounds} rounds, best of 3 each)",
        rows,
    )
    print("\nper-round p50 (µs); each round has fresh processes, so this shows the spread:")
    for name, values in round_p50.items():
        print(f"  {name:9s} " + "  ".join(f"{v:6.1f}" for v in values))
    print(f"\nper-round batched throughput (k msg/s, {BATCH} per batch) and ours/peer:")
    for name in ("pipe", "blocking", "bus"):
        print(f"  {name:9s} " + "  ".join(f"{v / 1000:6.0f}" for v in tput[name]))
    for name in ("blocking", "bus"):
        ratios = [o / p for o, p in zip(tput[name], tput["pipe"], strict=True)]
        print(f"  {name + '/pipe':14s} " + "  ".join(f"{r:5.2f}" for r in ratios))


if __name__ == "__main__":
    main()
