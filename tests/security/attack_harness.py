"""Helpers for the attack tests: audit recorder, leftover detection."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from symphony_core.runtime.sandbox import cgroups
from symphony_core.runtime.sandbox.launcher import AuditRecord, Launcher


class Recorder:
    """Collects audit records from the launcher's I/O thread."""

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []
        self._cond = threading.Condition()

    def __call__(self, record: AuditRecord) -> None:
        with self._cond:
            self.records.append(record)
            self._cond.notify_all()

    def wait_for(self, match: Callable[[AuditRecord], bool], timeout: float = 5.0) -> AuditRecord:
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
    pid = launcher.server_pid
    if pid is None:
        return []
    try:
        return [p for p in psutil.Process(pid).children(recursive=True) if p.status() != "zombie"]
    except psutil.NoSuchProcess:
        return []
