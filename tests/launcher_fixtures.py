"""Fixtures shared by tests/sandbox and tests/security: launcher, audit recorder, leftovers.

Each of those directories' conftest imports them, so both suites get the same module-
scoped launcher and the same after-test check with one definition.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import psutil
import pytest

from symphony_core.runtime.sandbox import cgroups
from symphony_core.runtime.sandbox.launcher import Launcher
from symphony_core.runtime.sandbox.probe import probe_kernel
from symphony_core.testing.sandbox import (
    Recorder,
    accepted_weakenings,
    own_cgroups,
    zygote_children,
)

__all__ = ["launcher", "no_leftovers", "recorder"]


@pytest.fixture(scope="module")
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="module")
def launcher(recorder: Recorder) -> Iterator[Launcher]:
    # Without cgroup delegation (a host running as nobody) the tests opt in to
    # `no-cgroups` explicitly, as a user would; nothing else is ever accepted here.
    launcher = Launcher(audit_sink=recorder, accept_weaker=accepted_weakenings(probe_kernel()))
    launcher.start_server()
    launcher.wait_ready()
    yield launcher
    launcher.close()
    assert launcher.server_pid is None


@pytest.fixture(autouse=True)
def no_leftovers(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test: no sandbox cgroup of ours and no process under the fork server."""
    yield
    deadline = time.monotonic() + 3.0
    while True:
        groups = own_cgroups()
        procs: list[psutil.Process] = []
        if "launcher" in request.fixturenames:
            procs = zygote_children(request.getfixturevalue("launcher"))
        if not groups and not procs:
            return
        if time.monotonic() > deadline:
            # Clean up first so one failure does not cascade into every later test.
            for proc in procs:
                with contextlib.suppress(psutil.Error):
                    proc.kill()
            cgroups.sweep_stale(include_own=True)
            raise AssertionError(f"leftovers after the test: cgroups {groups}, processes {procs}")
        time.sleep(0.02)
