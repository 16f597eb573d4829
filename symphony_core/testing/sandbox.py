"""Helpers for tests of sandboxed code: audit recording, leftover detection, what to skip.

Used by Symphony's own sandbox and attack tests, and usable by an extension's tests:
:class:`Recorder` collects the sandbox's audit records, :func:`own_cgroups` and
:func:`zygote_children` find what a test left behind (:func:`assert_no_leftovers` waits
for them to go, and cleans up before failing), and the ``*_unavailable``
functions give the true reason a test cannot run on this machine (or ``None``).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from symphony_core.runtime.sandbox import cgroups
from symphony_core.runtime.sandbox.launcher import AuditRecord, Launcher
from symphony_core.runtime.sandbox.policy import Weakening
from symphony_core.runtime.sandbox.probe import KernelCapabilities

__all__ = [
    "Recorder",
    "accepted_weakenings",
    "assert_no_leftovers",
    "cgroup_unavailable",
    "own_cgroups",
    "process_limit_unavailable",
    "sandbox_unavailable",
    "zygote_children",
]


class Recorder:
    """Collects audit records from the launcher's I/O thread."""

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []
        self._cond = threading.Condition()

    def __call__(self, record: AuditRecord) -> None:
        """Keep one record (the launcher's audit sink calls this)."""
        with self._cond:
            self.records.append(record)
            self._cond.notify_all()

    def wait_for(self, match: Callable[[AuditRecord], bool], timeout: float = 5.0) -> AuditRecord:
        """Return the first record ``match`` accepts, waiting up to ``timeout`` seconds.

        Raises:
            AssertionError: No such record arrived in time.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for record in self.records:
                    if match(record):
                        return record
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no matching audit record in {self.records}")
                self._cond.wait(remaining)


def own_cgroups() -> list[Path]:
    """Sandbox cgroups created by this (test) process that still exist."""
    support = cgroups.discover(try_create=False)
    found: list[Path] = []
    parents = {Path(c.directory) for c in support.controllers.values() if c.directory}
    if support.accounting_dir:
        parents.add(Path(support.accounting_dir))
    for parent in parents:
        found += [p for p in parent.glob(f"symphony-{os.getpid()}-*") if p.is_dir()]
    return found


def zygote_children(launcher: Launcher) -> list[psutil.Process]:
    """Live processes under the launcher's fork server (what a test left running)."""
    pid = launcher.server_pid
    if pid is None:
        return []
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    out = []
    for child in children:
        # A child may end between the listing and this look: it is simply not left over.
        with contextlib.suppress(psutil.NoSuchProcess):
            if child.status() != psutil.STATUS_ZOMBIE:
                out.append(child)
    return out


def assert_no_leftovers(launcher: Launcher | None, timeout: float = 3.0) -> None:
    """Wait until no sandbox cgroup of ours and no process under the fork server is left.

    Args:
        launcher: Whose fork server's children to check (``None``: cgroups only).
        timeout: Seconds to wait for them to go.

    Raises:
        AssertionError: Something is still there after ``timeout``; it is killed and
            swept first, so one failing test does not make every later one fail.
    """
    deadline = time.monotonic() + timeout
    while True:
        groups = own_cgroups()
        procs = zygote_children(launcher) if launcher is not None else []
        if not groups and not procs:
            return
        if time.monotonic() > deadline:
            for proc in procs:
                with contextlib.suppress(psutil.Error):
                    proc.kill()
            cgroups.sweep_stale(include_own=True)
            raise AssertionError(f"leftovers after the test: cgroups {groups}, processes {procs}")
        time.sleep(0.02)


def accepted_weakenings(caps: KernelCapabilities) -> tuple[str, ...]:
    """The weakenings these tests accept on this machine: ``no-cgroups``, only when needed.

    A host whose cgroups are not delegated to it (e.g. one running as ``nobody``) must opt
    in explicitly; the watchdog and rlimits stand in. Any other missing mechanism makes
    the tests skip (see :func:`sandbox_unavailable`).
    """
    if Weakening.NO_CGROUPS in caps.guarantees().required_weakenings:
        return (Weakening.NO_CGROUPS.value,)
    return ()


def sandbox_unavailable(caps: KernelCapabilities) -> str | None:
    """Why the sandbox cannot run here even with ``no-cgroups`` accepted, or ``None``."""
    missing = [w.value for w in caps.guarantees().required_weakenings if w != Weakening.NO_CGROUPS]
    if not missing:
        return None
    return f"this machine needs {', '.join(missing)} for a sandbox; see `symphony doctor`"


def cgroup_unavailable(caps: KernelCapabilities, *controllers: str) -> str | None:
    """Why these cgroup controllers cannot be used by this uid, or ``None``."""
    reasons = []
    for name in controllers:
        status = caps.cgroups.controllers.get(name)
        if status is None or not status.usable:
            why = status.reason if status is not None else "not probed"
            reasons.append(f"{name} cgroup not delegated to uid {os.geteuid()} ({why})")
    return "; ".join(reasons) or None


def process_limit_unavailable(caps: KernelCapabilities) -> str | None:
    """Why nothing bounds a sandboxed tree's process count here, or ``None``.

    A pids cgroup does, or (non-root host) ``RLIMIT_NPROC`` in the child's own user
    namespace; the ``process-count`` guarantee says which.
    """
    guarantee = next(g for g in caps.guarantees().items if g.name == "process-count")
    if guarantee.active:
        return None
    return (
        f"neither a pids cgroup nor RLIMIT_NPROC in a user namespace of the child's own "
        f"is available to uid {os.geteuid()} ({guarantee.mechanism}): nothing holds a fork bomb"
    )
