"""Fixtures shared by tests/sandbox and tests/security: launcher, audit recorder, leftovers.

Each of those directories' conftest imports them, so both suites get the same module-
scoped launcher and the same after-test check with one definition.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from symphony_core.runtime.sandbox.launcher import Launcher
from symphony_core.runtime.sandbox.probe import probe_kernel
from symphony_core.testing.sandbox import Recorder, accepted_weakenings, assert_no_leftovers

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
    launcher = request.getfixturevalue("launcher") if "launcher" in request.fixturenames else None
    assert_no_leftovers(launcher)
