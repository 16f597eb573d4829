"""The supervisor's life cycle against a model, with real sandboxed processes (stateful).

Few, short runs: every step talks to a real process (and a crash starts a new one).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sandboxed_harness import (
    assert_no_leftovers,
    make_launcher,
    profile_with,
    write_extension,
    write_specs,
)

from symphony_core.config import Config
from symphony_core.runtime.crashes import ExtensionCrashedError, ExtensionQuarantinedError
from symphony_core.runtime.sandbox.launcher import Launcher
from symphony_core.runtime.sandboxed import SandboxedRuntime
from symphony_core.runtime.supervisor import SupervisorPolicy

TOOL = """
import os
from symphony_core.hooks import hookimpl


class Ext:
    @hookimpl
    def probe_do(self, action, arg):
        if action == "exit":
            os._exit(arg)
        return arg
"""

EXT = "state.tool"
POLICY = SupervisorPolicy(restart_backoff=0.01, restart_backoff_max=0.02, crash_limit=3)
_LAUNCHER: list[Launcher] = []


@pytest.fixture(scope="module", autouse=True)
def launcher() -> Iterator[Launcher]:
    launcher = make_launcher()
    _LAUNCHER.append(launcher)
    yield launcher
    _LAUNCHER.clear()
    launcher.close()


class SupervisorMachine(RuleBasedStateMachine):
    """A model: active or not, quarantined or not, crashes since the last release."""

    @initialize()
    def start(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="symphony-states-"))
        site = self.tmp / "site"
        site.mkdir()
        config = Config(home=self.tmp / "home")
        self.runtime = SandboxedRuntime(
            config,
            launcher=_LAUNCHER[0],
            profile_for=profile_with(config),
            policy=POLICY,
            hookspecs=(write_specs(site),),
        )
        self.runtime.add(write_extension(site, EXT, TOOL))
        self.active = False
        self.quarantined = False
        self.crashes = 0

    def _call(self, arg: int) -> None:
        if self.quarantined:
            with pytest.raises(ExtensionQuarantinedError):
                self.runtime.call(EXT, "probe_do", {"action": "echo", "arg": arg})
            return
        assert self.runtime.call(EXT, "probe_do", {"action": "echo", "arg": arg}) == arg
        self.active = True  # a call activates

    @rule(arg=st.integers(0, 1000))
    def call(self, arg: int) -> None:
        self._call(arg)

    @rule()
    def crash(self) -> None:
        if self.quarantined:
            return
        with pytest.raises(ExtensionCrashedError) as info:
            self.runtime.call(EXT, "probe_do", {"action": "exit", "arg": 4})
        self.crashes += 1
        assert info.value.cause.returncode == 4
        if self.crashes >= POLICY.crash_limit:
            self.quarantined = True
            self.active = False
            assert "quarantined after 3 crashes" in str(info.value)
        else:
            assert "restarting in" in str(info.value)  # the call had activated it
            self.active = True

    @rule()
    def deactivate(self) -> None:
        self.runtime.deactivate(EXT)
        self.active = False

    @rule()
    def activate(self) -> None:
        if self.quarantined:
            with pytest.raises(ExtensionQuarantinedError):
                self.runtime.activate(EXT)
            return
        self.runtime.activate(EXT)
        self.active = True

    @rule()
    def release(self) -> None:
        assert self.runtime.release(EXT) == self.quarantined
        self.quarantined = False
        self.crashes = 0

    @invariant()
    def status_agrees(self) -> None:
        if not hasattr(self, "runtime"):
            return
        status = self.runtime.status(EXT)
        assert status.active == self.active
        assert (status.state == "quarantined") == self.quarantined
        assert status.recent_crashes == self.crashes
        if not self.active and not self.quarantined:
            assert status.state == "stopped"
            assert status.pid is None

    def teardown(self) -> None:
        if hasattr(self, "runtime"):
            self.runtime.close()
            assert_no_leftovers(_LAUNCHER[0])


SupervisorMachine.TestCase.settings = settings(
    max_examples=12, stateful_step_count=15, deadline=None
)
test_supervisor_follows_the_model = SupervisorMachine.TestCase
