"""The psutil watchdog: memory and CPU-share limits for a process tree without cgroups.

Where no cgroup can be made (an unprivileged host without delegation), the host polls
each sandboxed tree every ``interval`` (10 ms by default, about 1 % of a core):

* **memory** — what the tree really uses. Each poll sums the RSS of its processes
  (``/proc/<pid>/statm``, ~15 µs a process). That sum counts a page shared by several
  processes once per process: a dozen idle forks of an extension host, sharing its heap
  copy-on-write, read ~250 MiB of RSS and use ~30 MiB. So the sum only decides while it
  is within the limit; above it, the tree's proportional set size (PSS, from
  ``/proc/<pid>/smaps_rollup``: a shared page counts ``1/n`` in each of its ``n``
  processes, so the sum counts it once) confirms before anything is killed. PSS costs
  ~0.1 ms for a small process and ~1 ms per 200 MiB mapped — too much for every poll —
  so a measurement is reused while the set of processes stays the same, for
  ``max(0.1 s, 20 x the time it took)``, each process counted at its PSS plus any growth
  of its RSS since (never more than its RSS). Copy-on-write copies made in between do
  not change RSS: they are seen at the next measurement, at most that long afterwards.
  Over the limit, every process of the tree is SIGKILLed; polling overshoots by what
  the tree allocates in one interval (measured +2 % at 10 ms). ``RLIMIT_DATA`` bounds
  each process in between. A process whose PSS cannot be read counts at its RSS.
* **CPU share** — a token bucket: the tree earns ``share`` CPU-seconds per wall second
  (with a burst of ``share * burst`` seconds); when it has used more than it earned,
  every process is SIGSTOPped until the bucket refills, then SIGCONTinued. It is a
  ceiling, not a floor.

Reading another process's ``smaps_rollup`` takes ptrace read access, which a
non-dumpable process (every sandboxed one) grants only to holders of
``CAP_SYS_PTRACE`` in the user namespace its memory belongs to: root does, and a
non-root host does for the fork server's own user namespace, where its children's
memory belongs (see :mod:`.zygote`).

The tree is found from ``/proc/<pid>/task/<tid>/children`` (falling back to psutil);
pids seen once stay attributed to the tree while alive, so a process that ``setsid``s
and is orphaned after it was seen is still killed. One that escapes within one interval
is not found by the watchdog; the sweeper (:mod:`.sweeper`) kills it when the extension
process ends. Any process may end while it is being looked at: every psutil call on one
is ready for it to be gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

import msgspec
import psutil

__all__ = ["Watchdog", "WatchdogStats"]

_KEEP_FINISHED = 1024
#: Seconds a PSS measurement of a tree is reused at least (see the module docstring).
_PSS_REUSE = 0.1
#: A PSS measurement is reused for at least this many times what it cost.
_PSS_COST_FACTOR = 20.0


class WatchdogStats(msgspec.Struct, frozen=True, kw_only=True):
    """What the watchdog measured for one tree.

    Attributes:
        rss_bytes: Sum of the RSS of the tree's processes at the last poll (a page
            shared by several processes counts once per process).
        peak_rss_bytes: Highest such sum seen.
        cpu_seconds: CPU time used by the tree's live processes.
        throttled_seconds: Wall time the tree spent stopped for its CPU share.
        killed_for: ``memory`` when the tree was killed for its memory, else ``None``.
        pids: Processes attributed to the tree at the last poll.
        memory_bytes: The memory counted against the limit at the last poll: the RSS
            sum while it is within the limit, above it the tree's PSS (shared pages
            counted once).
        peak_memory_bytes: Highest memory counted against the limit.
    """

    rss_bytes: int
    peak_rss_bytes: int
    cpu_seconds: float
    throttled_seconds: float
    killed_for: str | None
    pids: tuple[int, ...]
    memory_bytes: int = 0
    peak_memory_bytes: int = 0


class _Tree:
    def __init__(self, root: int, memory_bytes: int | None, cpu_share: float | None) -> None:
        self.root = root
        self.memory_bytes = memory_bytes
        self.cpu_share = cpu_share
        self.known: dict[int, psutil.Process] = {}
        self.cpu_seen: dict[int, float] = {}
        self.cpu_total = 0.0
        self.tokens = 0.0
        self.last = time.monotonic()
        self.stopped_at: float | None = None
        self.throttled = 0.0
        self.rss = 0
        self.peak = 0
        self.memory = 0
        self.peak_memory = 0
        self.killed_for: str | None = None
        # The last PSS measurement: per pid (PSS, RSS then), of which set, when, how long
        # it stays good.
        self.pss: dict[int, tuple[int, int]] = {}
        self.pss_pids: frozenset[int] = frozenset()
        self.pss_at = 0.0
        self.pss_reuse = _PSS_REUSE


def _pss(pid: int) -> int | None:
    """Return the proportional set size of ``pid`` in bytes, ``None`` if unreadable."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
            data = handle.read()
    except OSError:  # gone, or no ptrace read access to it
        return None
    for line in data.splitlines():
        if line.startswith(b"Pss:"):
            fields = line.split()
            if len(fields) >= 2 and fields[1].isdigit():
                return int(fields[1]) * 1024
            return None
    return None


def _measure_pss(tree: _Tree, rss: dict[int, int]) -> int:
    """Measure the PSS of every process of ``tree`` now; return the tree's total."""
    started = time.perf_counter()
    measured: dict[int, tuple[int, int]] = {}
    for pid, resident in rss.items():
        pss = _pss(pid)
        # Unreadable (or gone meanwhile): its RSS is an upper bound.
        measured[pid] = (resident if pss is None else min(pss, resident), resident)
    now = time.monotonic()
    tree.pss = measured
    tree.pss_pids = frozenset(rss)
    tree.pss_at = now
    tree.pss_reuse = max(_PSS_REUSE, _PSS_COST_FACTOR * (time.perf_counter() - started))
    return sum(pss for pss, _ in measured.values())


def _counted_memory(tree: _Tree, rss: dict[int, int]) -> int:
    """The memory of ``tree`` to hold against its limit, given each process's RSS."""
    total = sum(rss.values())
    limit = tree.memory_bytes
    if limit is None or total <= limit:
        return total
    fresh = frozenset(rss) == tree.pss_pids and time.monotonic() - tree.pss_at <= tree.pss_reuse
    if fresh:
        # The last measurement plus what each process gained since (new pages are its
        # own); never above its RSS, which bounds its PSS.
        estimate = sum(
            min(rss[pid], pss + max(0, rss[pid] - then)) for pid, (pss, then) in tree.pss.items()
        )
        if estimate <= limit:
            return estimate
    # Nothing is killed on an estimate: over the limit, it is measured again.
    return _measure_pss(tree, rss)


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as handle:
                out.extend(int(c) for c in handle.read().split())
        except OSError:
            try:
                return [c.pid for c in psutil.Process(pid).children()]
            except psutil.Error:
                return out
    return out


class Watchdog:
    """Polls registered process trees and enforces their memory and CPU-share limits.

    Args:
        interval: Seconds between polls.
        burst: CPU-share burst, in seconds of the allowed share.
    """

    def __init__(self, interval: float = 0.01, burst: float = 0.05) -> None:
        self.interval = interval
        self.burst = burst
        self._trees: dict[int, _Tree] = {}
        self._finished: dict[int, WatchdogStats] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def register(self, pid: int, *, memory_bytes: int | None, cpu_share: float | None) -> None:
        """Watch the tree rooted at ``pid``.

        Args:
            pid: The root process.
            memory_bytes: Memory limit of the tree (``None``: not watched).
            cpu_share: CPU ceiling as a fraction of one core (``None``: not throttled).
        """
        tree = _Tree(pid, memory_bytes, cpu_share)
        with contextlib.suppress(psutil.Error):
            tree.known[pid] = psutil.Process(pid)
        with self._lock:
            self._trees[pid] = tree
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._run, name="sandbox-watchdog", daemon=True
                )
                self._thread.start()

    def unregister(self, pid: int) -> None:
        """Stop watching the tree of ``pid`` (continuing it if it was stopped).

        Its last figures stay available from :meth:`stats`.
        """
        final = self.stats(pid)
        with self._lock:
            tree = self._trees.pop(pid, None)
            if final is not None:
                if len(self._finished) >= _KEEP_FINISHED:
                    self._finished.pop(next(iter(self._finished)))
                self._finished[pid] = final
        if tree is not None and tree.stopped_at is not None:
            self._signal(tree, signal.SIGCONT)

    def stats(self, pid: int) -> WatchdogStats | None:
        """Return the figures of the tree of ``pid`` (live or last), ``None`` if never watched."""
        with self._lock:
            tree = self._trees.get(pid)
            if tree is None:
                return self._finished.get(pid)
            return WatchdogStats(
                rss_bytes=tree.rss,
                peak_rss_bytes=tree.peak,
                memory_bytes=tree.memory,
                peak_memory_bytes=tree.peak_memory,
                cpu_seconds=tree.cpu_total,
                throttled_seconds=tree.throttled
                + (time.monotonic() - tree.stopped_at if tree.stopped_at else 0.0),
                killed_for=tree.killed_for,
                pids=tuple(sorted(tree.known)),
            )

    def kill_tree(self, pid: int) -> list[int]:
        """SIGKILL every process attributed to the tree of ``pid`` (found now or earlier).

        Returns:
            The pids signalled.
        """
        with self._lock:
            tree = self._trees.get(pid)
        if tree is None:
            tree = _Tree(pid, None, None)
        self._discover(tree)
        return self._signal(tree, signal.SIGKILL)

    def stop(self) -> None:
        """Stop polling (stopped trees are continued)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(1.0)
        with self._lock:
            trees = list(self._trees.values())
        for tree in trees:
            if tree.stopped_at is not None:
                self._signal(tree, signal.SIGCONT)

    def _signal(self, tree: _Tree, sig: int) -> list[int]:
        sent = []
        for pid, proc in list(tree.known.items()):
            try:
                proc.send_signal(sig)  # psutil checks the pid was not reused
                sent.append(pid)
            except psutil.Error:
                tree.known.pop(pid, None)
        return sent

    def _discover(self, tree: _Tree) -> None:
        stack = [tree.root, *tree.known]
        seen: set[int] = set()
        while stack:
            pid = stack.pop()
            if pid in seen:
                continue
            seen.add(pid)
            if pid not in tree.known:
                with contextlib.suppress(psutil.Error):
                    tree.known[pid] = psutil.Process(pid)
            stack.extend(_children(pid))
        for pid, proc in list(tree.known.items()):
            try:
                gone = not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
            except psutil.Error:  # it ended (or was reaped) since it was listed
                gone = True
            if gone:
                tree.known.pop(pid, None)

    def _poll(self, tree: _Tree) -> None:
        with contextlib.suppress(psutil.Error):
            self._discover(tree)
        rss: dict[int, int] = {}
        cpu = 0.0
        for pid, proc in list(tree.known.items()):
            try:
                with proc.oneshot():
                    rss[pid] = proc.memory_info().rss
                    times = proc.cpu_times()
            except psutil.Error:
                tree.known.pop(pid, None)
                rss.pop(pid, None)
                continue
            used = times.user + times.system
            cpu += max(0.0, used - tree.cpu_seen.get(pid, 0.0))
            tree.cpu_seen[pid] = used
        memory = _counted_memory(tree, rss)
        tree.rss = sum(rss.values())
        tree.peak = max(tree.peak, tree.rss)
        tree.memory = memory
        tree.peak_memory = max(tree.peak_memory, memory)
        tree.cpu_total += cpu
        if tree.memory_bytes is not None and memory > tree.memory_bytes:
            tree.killed_for = "memory"
            self._signal(tree, signal.SIGKILL)
            return
        if tree.cpu_share is None:
            return
        now = time.monotonic()
        tree.tokens += tree.cpu_share * (now - tree.last) - cpu
        tree.tokens = min(tree.tokens, tree.cpu_share * self.burst)
        tree.last = now
        if tree.tokens < 0 and tree.stopped_at is None:
            self._signal(tree, signal.SIGSTOP)
            tree.stopped_at = now
        elif tree.tokens >= 0 and tree.stopped_at is not None:
            self._signal(tree, signal.SIGCONT)
            tree.throttled += now - tree.stopped_at
            tree.stopped_at = None

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            with self._lock:
                trees = list(self._trees.values())
            if not trees:
                with self._lock:
                    if not self._trees:
                        self._thread = None
                        return
            for tree in trees:
                self._poll(tree)
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
