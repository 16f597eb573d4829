"""The psutil watchdog: memory and CPU-share limits for a process tree without cgroups.

Where no cgroup can be made (an unprivileged host without delegation), the host polls
each sandboxed tree every ``interval`` (10 ms by default, about 1 % of a core):

* **memory** — the RSS of the whole tree; above the limit every process of the tree is
  SIGKILLed. Polling overshoots by what the tree allocates in one interval (measured
  +2 % at 10 ms). ``RLIMIT_DATA`` bounds each process in between.
* **CPU share** — a token bucket: the tree earns ``share`` CPU-seconds per wall second
  (with a burst of ``share * burst`` seconds); when it has used more than it earned,
  every process is SIGSTOPped until the bucket refills, then SIGCONTinued. It is a
  ceiling, not a floor.

The tree is found from ``/proc/<pid>/task/<tid>/children`` (falling back to psutil);
pids seen once stay attributed to the tree while alive, so a process that ``setsid``s
and is orphaned after it was seen is still killed. One that escapes within one interval
is not: killing the tree is best effort without a cgroup, and the host says so.
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


class WatchdogStats(msgspec.Struct, frozen=True, kw_only=True):
    """What the watchdog measured for one tree.

    Attributes:
        rss_bytes: Resident memory of the tree at the last poll.
        peak_rss_bytes: Highest tree RSS seen.
        cpu_seconds: CPU time used by the tree's live processes.
        throttled_seconds: Wall time the tree spent stopped for its CPU share.
        killed_for: ``memory`` when the tree was killed for its memory, else ``None``.
        pids: Processes attributed to the tree at the last poll.
    """

    rss_bytes: int
    peak_rss_bytes: int
    cpu_seconds: float
    throttled_seconds: float
    killed_for: str | None
    pids: tuple[int, ...]


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
        self.killed_for: str | None = None


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
            memory_bytes: Tree RSS limit (``None``: not watched).
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
            if not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE:
                tree.known.pop(pid, None)

    def _poll(self, tree: _Tree) -> None:
        with contextlib.suppress(psutil.Error):
            self._discover(tree)
        rss = 0
        cpu = 0.0
        for pid, proc in list(tree.known.items()):
            try:
                with proc.oneshot():
                    rss += proc.memory_info().rss
                    times = proc.cpu_times()
            except psutil.Error:
                tree.known.pop(pid, None)
                continue
            used = times.user + times.system
            cpu += max(0.0, used - tree.cpu_seen.get(pid, 0.0))
            tree.cpu_seen[pid] = used
        tree.rss = rss
        tree.peak = max(tree.peak, rss)
        tree.cpu_total += cpu
        if tree.memory_bytes is not None and rss > tree.memory_bytes:
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
