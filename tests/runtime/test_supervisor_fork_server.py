"""The sandbox's fork server dies under running extensions: calls fail naming the extension
and the cause, the supervisor restarts the extension on a new fork server, the extension
is not quarantined for what it did not do, and a fork server crash loop is reported.

The example extension (``examples.textops``, found by discovery) and a small "tool"
extension (a hook that sleeps, to have a call in flight) run in real sandboxed processes;
each test has its own launcher, whose fork server it kills.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from sandboxed_harness import (
    AuditLog,
    accepted_here,
    assert_no_leftovers,
    profile_with,
    write_extension,
    write_specs,
)

from symphony_core.config import Config
from symphony_core.discovery import discover
from symphony_core.errors import ExtensionLoadError
from symphony_core.extension import ExtensionRecord
from symphony_core.runtime.crashes import ExtensionCrashedError, ExtensionQuarantinedError
from symphony_core.runtime.crossing import EXTHOST_TARGET
from symphony_core.runtime.sandbox.launcher import ForkServerPolicy, Launcher
from symphony_core.runtime.sandboxed import SandboxedRuntime
from symphony_core.runtime.supervisor import SupervisorPolicy

EXAMPLE = "examples.textops"
TOOL = """
import os
import time
from symphony_core.hooks import hookimpl


class Ext:
    @hookimpl
    def probe_do(self, action, arg):
        if action == "pid":
            return os.getpid()
        if action == "sleep":
            time.sleep(arg)
            return arg
        if action == "exit":
            os._exit(arg)
        raise ValueError(f"unknown action {action}")
"""
FAST = SupervisorPolicy(restart_backoff=0.05, restart_backoff_max=0.4)


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.005)


def kill_server(launcher: Launcher) -> int:
    """SIGKILL the ready fork server; return its pid once its death is recorded."""
    launcher.wait_ready()
    pid = launcher.server_pid
    assert pid is not None
    count = len(launcher.server_deaths)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: len(launcher.server_deaths) > count)
    return pid


class World:
    """A launcher of its own, runtimes on it, and the extensions the tests use."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.root = tmp / "site"
        self.root.mkdir()
        self.config = Config(home=tmp / "home", discovery_cache=False)
        self.specs = write_specs(self.root)
        self.audit = AuditLog()
        self.launcher: Launcher | None = None
        self.runtimes: list[SandboxedRuntime] = []

    def make_launcher(self, policy: ForkServerPolicy | None = None) -> Launcher:
        self.launcher = Launcher(
            allowed_targets={EXTHOST_TARGET},
            audit_sink=self.audit,
            accept_weaker=accepted_here(),
            server_policy=policy,
        )
        self.launcher.start_server()
        return self.launcher

    def runtime(self, policy: SupervisorPolicy = FAST, *, specs: bool = True) -> SandboxedRuntime:
        assert self.launcher is not None
        runtime = SandboxedRuntime(
            self.config,
            launcher=self.launcher,
            profile_for=profile_with(self.config),
            audit_sink=self.audit,
            policy=policy,
            hookspecs=(self.specs,) if specs else (),
        )
        runtime.start()
        self.runtimes.append(runtime)
        return runtime

    def example(self) -> ExtensionRecord:
        found = discover(self.config).get(EXAMPLE)
        assert found is not None, "the example extension is not installed"
        return found

    def tool(self, runtime: SandboxedRuntime) -> str:
        record = write_extension(self.root, "test.tool", TOOL)
        runtime.add(record)
        return record.id


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = World(tmp_path)
    yield world
    for runtime in world.runtimes:
        runtime.close()
    assert_no_leftovers(world.launcher)
    if world.launcher is not None:
        world.launcher.close()


def do(runtime: SandboxedRuntime, ext: str, action: str, arg: Any = None) -> Any:
    return runtime.call(ext, "probe_do", {"action": action, "arg": arg})


def tokenize(runtime: SandboxedRuntime) -> Any:
    return runtime.call_node("tokenize", {"text": "The quick brown fox. THE FOX"})


TOKENS = {"tokens": ["the", "quick", "brown", "fox", "the", "fox"]}


def test_the_example_comes_back_on_a_new_fork_server(world: World) -> None:
    launcher = world.make_launcher()
    runtime = world.runtime(specs=False)  # the example needs no probe hooks
    runtime.add(world.example())
    assert tokenize(runtime) == TOKENS
    before = runtime.status(EXAMPLE)
    assert before.state == "running"
    assert before.pid is not None
    server = kill_server(launcher)
    # The extension's process died with its fork server; the supervisor names the
    # cause and restarts the extension, which lands on the new fork server.
    wait_for(
        lambda: (
            runtime.status(EXAMPLE).total_crashes == 1
            and runtime.status(EXAMPLE).state == "running"
        )
    )
    status = runtime.status(EXAMPLE)
    cause = status.last_crash
    assert cause is not None
    assert cause.kind == "lost"
    assert cause.message == (
        f"ended because the sandbox fork server (pid {server}) was killed by signal 9 (SIGKILL)"
    )
    assert (cause.pid, cause.returncode) == (before.pid, -signal.SIGKILL)
    assert status.restarts == 1
    assert status.recent_crashes == 0  # not held against the extension
    assert tokenize(runtime) == TOKENS
    after = runtime.status(EXAMPLE)
    assert after.pid not in (None, before.pid)
    assert launcher.server_pid not in (None, server)
    assert psutil.Process(after.pid).ppid() == launcher.server_pid


def test_a_call_in_flight_fails_naming_the_extension_and_the_fork_server(world: World) -> None:
    launcher = world.make_launcher()
    runtime = world.runtime()
    ext = world.tool(runtime)
    first = do(runtime, ext, "pid")
    box: dict[str, BaseException] = {}

    def slow() -> None:
        try:
            do(runtime, ext, "sleep", 30)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=slow)
    thread.start()
    wait_for(lambda: runtime.status(ext).state == "running" and thread.is_alive())
    time.sleep(0.05)  # let the call reach the extension
    server = kill_server(launcher)
    thread.join(20)
    error = box["error"]
    assert isinstance(error, ExtensionCrashedError)
    assert error.extension_id == ext
    assert error.cause.kind == "lost"
    text = str(error)
    assert text.startswith(f"{ext}: crashed during hook probe_do: ")
    assert f"the sandbox fork server (pid {server}) was killed by signal 9 (SIGKILL)" in text
    assert "restarting in 0.05 s" in text
    wait_for(lambda: runtime.status(ext).state == "running")
    second = do(runtime, ext, "pid")
    assert second != first
    assert psutil.Process(second).ppid() == launcher.server_pid


def test_fork_server_deaths_do_not_quarantine_but_own_crashes_do(world: World) -> None:
    world.make_launcher(ForkServerPolicy(crash_limit=10))
    launcher = world.launcher
    assert launcher is not None
    runtime = world.runtime(SupervisorPolicy(restart_backoff=0.05, crash_limit=2))
    ext = world.tool(runtime)
    do(runtime, ext, "pid")
    for n in (1, 2, 3):
        kill_server(launcher)
        wait_for(
            lambda n=n: (
                runtime.status(ext).total_crashes == n  # type: ignore[misc]
                and runtime.status(ext).state == "running"
            )
        )
        assert do(runtime, ext, "pid") > 0
    status = runtime.status(ext)
    assert (status.state, status.recent_crashes, status.restarts) == ("running", 0, 3)
    # Positive control: the same policy quarantines the extension's own crash loop.
    for _ in range(2):
        with pytest.raises(ExtensionCrashedError) as caught:
            do(runtime, ext, "exit", 3)
        assert caught.value.cause.kind == "exit"
    wait_for(lambda: runtime.status(ext).state == "quarantined")
    with pytest.raises(ExtensionQuarantinedError):
        do(runtime, ext, "pid")


def test_a_fork_server_crash_loop_stops_the_restarts_with_a_clear_error(world: World) -> None:
    launcher = world.make_launcher(
        ForkServerPolicy(crash_limit=2, restart_backoff=0.05, restart_backoff_max=0.1)
    )
    runtime = world.runtime()
    ext = world.tool(runtime)
    do(runtime, ext, "pid")
    kill_server(launcher)
    wait_for(
        lambda: runtime.status(ext).total_crashes == 1 and runtime.status(ext).state == "running"
    )
    kill_server(launcher)
    # The restart finds a fork server in a crash loop: the extension is stopped, not
    # restarted over and over.
    wait_for(
        lambda: runtime.status(ext).total_crashes == 2 and runtime.status(ext).state == "stopped"
    )
    assert launcher.server_pid is None
    with pytest.raises(ExtensionLoadError) as caught:
        do(runtime, ext, "pid")
    error = caught.value
    assert error.extension_id == ext
    assert "the sandbox fork server keeps dying: it died 2 times within 60 s" in str(error)
    assert "symphony doctor" in (error.hint or "")
    assert error.details["cause_code"] == "sandbox.fork_server_crash_loop"
    # Once the host has dealt with it, the extension starts again on its next use.
    launcher.forget_server_deaths()
    assert do(runtime, ext, "pid") > 0
    assert runtime.status(ext).state == "running"


def test_a_start_cut_short_by_the_fork_server_is_made_again(world: World) -> None:
    launcher = world.make_launcher()
    runtime = world.runtime()
    ext = world.tool(runtime)
    launcher.wait_ready()
    server = launcher.server_pid
    assert server is not None
    os.kill(server, signal.SIGSTOP)  # the start request waits, unanswered
    box: dict[str, Any] = {}

    def first_call() -> None:
        try:
            box["pid"] = do(runtime, ext, "pid")
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=first_call)
    thread.start()
    try:
        wait_for(lambda: launcher.pending_starts == 1)
    finally:
        os.kill(server, signal.SIGKILL)
    thread.join(30)
    assert "error" not in box, box.get("error")
    # Started again on the new fork server, with a fresh connection: the call was served.
    assert psutil.Process(box["pid"]).ppid() == launcher.server_pid != server
    assert [d.pid for d in launcher.server_deaths] == [server]
    status = runtime.status(ext)
    assert (status.state, status.total_crashes) == ("running", 0)
