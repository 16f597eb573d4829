"""The supervisor: deaths, hangs and stuck calls detected, causes named, restarts with
back-off, quarantine after a crash loop, state re-synced, nothing left after shutdown.

Each test drives a real sandboxed process running a small "tool" extension whose hook
``probe_do(action, arg)`` misbehaves on request. Detection latencies are printed (run
with ``-s``), never asserted.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import psutil
import pytest
from sandboxed_harness import (
    AuditLog,
    assert_no_leftovers,
    make_launcher,
    profile_with,
    write_extension,
    write_specs,
)

from symphony_core.config import Config
from symphony_core.errors import HookCallError
from symphony_core.extension import ExtensionRecord
from symphony_core.runtime.crashes import (
    ExtensionCrashedError,
    ExtensionQuarantinedError,
    ExtensionStoppedError,
)
from symphony_core.runtime.crossing import (
    ResultNotPortableError,
    ValueNotPortableError,
)
from symphony_core.runtime.sandbox.launcher import Launcher
from symphony_core.runtime.sandboxed import SandboxedRuntime
from symphony_core.runtime.supervisor import SupervisorPolicy

TOOL = """
import ctypes
import asyncio
import os
import signal
import time
from symphony_core.hooks import hookimpl

LOG = {log!r}
EVENTS = []


def _note(line):
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\\n").encode())
    finally:
        os.close(fd)


class Ext:
    @hookimpl
    def symphony_activate(self, context):
        _note(f"activate {{context.extension_id}} {{os.getpid()}}")

    @hookimpl
    def symphony_deactivate(self, context):
        _note(f"deactivate {{context.extension_id}} {{os.getpid()}}")

    @hookimpl
    def symphony_addon_event(self, event):
        EVENTS.append([event.topic, event.data])

    async def _later(self, seconds):
        import asyncio
        await asyncio.sleep(seconds)
        return seconds

    @hookimpl
    def probe_do(self, action, arg):
        if action == "pid":
            return os.getpid()
        if action == "echo":
            return arg
        if action == "sleep":
            time.sleep(arg)
            return arg
        if action == "exit":
            os._exit(arg)
        if action == "segfault":
            ctypes.string_at(0)
        if action == "stop":
            os.kill(os.getpid(), signal.SIGSTOP)
        if action == "events":
            return EVENTS
        if action == "complex":
            return complex(1, 2)
        if action == "async":
            return self._later(arg)
        if action == "grandchild":
            pid = os.fork()
            if pid == 0:
                os.setsid()
                if os.fork() == 0:
                    time.sleep(120)
                os._exit(0)
            os.waitpid(pid, 0)
            return pid
        raise ValueError(f"unknown action {{action}}")
"""

FAST = SupervisorPolicy(restart_backoff=0.05, restart_backoff_max=0.4)


@pytest.fixture(scope="module")
def audit() -> AuditLog:
    return AuditLog()


@pytest.fixture(scope="module")
def launcher(audit: AuditLog) -> Iterator[Launcher]:
    launcher = make_launcher(audit)
    yield launcher
    launcher.close()


class World:
    """A runtime with tool extensions, and what the tests need to look at them."""

    def __init__(self, tmp: Path, launcher: Launcher, audit: AuditLog) -> None:
        self.root = tmp / "site"
        self.root.mkdir()
        self.logs = tmp / "logs"
        self.logs.mkdir()
        self.log = self.logs / "lifecycle.log"
        self.config = Config(home=tmp / "home")
        self.specs = write_specs(self.root)
        self.launcher = launcher
        self.audit = audit
        self.runtimes: list[SandboxedRuntime] = []

    def runtime(self, policy: SupervisorPolicy = FAST, **profile: Any) -> SandboxedRuntime:
        runtime = SandboxedRuntime(
            self.config,
            launcher=self.launcher,
            profile_for=profile_with(self.config, writable=(str(self.logs),), **profile),
            audit_sink=self.audit,
            policy=policy,
            hookspecs=(self.specs,),
        )
        self.runtimes.append(runtime)
        return runtime

    def tool(self, runtime: SandboxedRuntime, name: str = "tool") -> ExtensionRecord:
        record = write_extension(self.root, f"test.{name}", TOOL.format(log=str(self.log)))
        runtime.add(record)
        return record

    def lifecycle(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def world(tmp_path: Path, launcher: Launcher, audit: AuditLog) -> Iterator[World]:
    world = World(tmp_path, launcher, audit)
    yield world
    for runtime in world.runtimes:
        runtime.close()
    assert_no_leftovers(launcher)


def do(runtime: SandboxedRuntime, ext: str, action: str, arg: Any = None, **kw: Any) -> Any:
    return runtime.call(ext, "probe_do", {"action": action, "arg": arg}, **kw)


def in_background(fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:
            box["error"] = exc
            box["at"] = time.perf_counter()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, box


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.005)


def wait_running(runtime: SandboxedRuntime, ext: str) -> None:
    wait_for(lambda: runtime.status(ext).state == "running")


# -- deaths -------------------------------------------------------------------------------


def test_a_killed_process_fails_the_call_in_flight_at_once_and_is_restarted(
    world: World,
) -> None:
    runtime = world.runtime()
    ext = world.tool(runtime).id
    first = do(runtime, ext, "pid")
    thread, box = in_background(lambda: do(runtime, ext, "sleep", 30))
    wait_for(lambda: runtime.status(ext).state == "running" and thread.is_alive())
    time.sleep(0.05)  # let the call reach the extension
    killed_at = time.perf_counter()
    os.kill(first, signal.SIGKILL)
    thread.join(10)
    error = box["error"]
    assert isinstance(error, ExtensionCrashedError)
    print(f"\nSIGKILL -> in-flight call failed: {(box['at'] - killed_at) * 1000:.2f} ms")
    assert error.extension_id == ext
    assert error.cause.kind == "signal"
    assert error.cause.signal == signal.SIGKILL
    assert error.cause.pid == first
    assert "killed by signal 9 (SIGKILL)" in str(error)
    assert "hook probe_do" in str(error)
    assert "restarting in 0.05 s" in str(error)
    assert error.to_dict()["details"]["cause"]["kind"] == "signal"
    # It was active: it comes back by itself, activated again, in a new process.
    wait_running(runtime, ext)
    second = do(runtime, ext, "pid")
    assert second != first
    assert not psutil.pid_exists(first) or psutil.Process(first).status() == "zombie"
    status = runtime.status(ext)
    assert (status.restarts, status.total_crashes, status.pid) == (1, 1, second)
    assert status.last_crash is not None
    assert status.last_crash.kind == "signal"
    assert [line.split()[0] for line in world.lifecycle()] == ["activate", "activate"]


def test_every_call_in_flight_fails_with_the_cause_and_others_are_untouched(
    world: World,
) -> None:
    runtime = world.runtime()
    ext = world.tool(runtime).id
    other = world.tool(runtime, "other").id
    assert do(runtime, other, "echo", 1) == 1
    calls = [in_background(lambda: do(runtime, ext, "sleep", 30)) for _ in range(3)]
    bystander = in_background(lambda: do(runtime, other, "sleep", 0.5))
    time.sleep(0.2)
    os.kill(runtime.status(ext).pid or 0, signal.SIGKILL)
    for thread, box in calls:
        thread.join(10)
        assert isinstance(box["error"], ExtensionCrashedError)
        assert box["error"].cause.kind == "signal"
    bystander[0].join(10)
    assert bystander[1] == {"result": 0.5}
    assert runtime.status(other).total_crashes == 0


@pytest.mark.parametrize(
    ("action", "arg", "kind", "text"),
    [
        ("segfault", None, "signal", "killed by signal 11 (SIGSEGV, segmentation fault)"),
        ("exit", 7, "exit", "exited with code 7"),
        ("exit", 0, "exit", "exited with code 0 although it was not asked to stop"),
    ],
)
def test_the_cause_of_a_death_is_named(
    world: World, action: str, arg: Any, kind: str, text: str
) -> None:
    runtime = world.runtime()
    ext = world.tool(runtime).id
    do(runtime, ext, "pid")  # started and active
    started = time.perf_counter()
    with pytest.raises(ExtensionCrashedError) as info:
        do(runtime, ext, action, arg)
    print(f"\n{action}: call failed {(time.perf_counter() - started) * 1000:.2f} ms after it began")
    cause = info.value.cause
    assert (cause.kind, cause.message) == (kind, text)
    assert info.value.extension_id == ext
    if action == "segfault":
        # faulthandler's report, from the process's own stderr
        assert "Segmentation fault" in cause.stderr_tail
    wait_running(runtime, ext)
    assert do(runtime, ext, "echo", "back") == "back"


# -- hangs and stuck calls -----------------------------------------------------------------


def test_a_frozen_process_misses_its_heartbeats_and_is_killed_as_hung(world: World) -> None:
    runtime = world.runtime()
    ext = world.tool(runtime).id
    do(runtime, ext, "pid")
    started = time.perf_counter()
    with pytest.raises(ExtensionCrashedError) as info:
        do(runtime, ext, "stop")
    elapsed = (time.perf_counter() - started) * 1000
    deadline = runtime.policy.hang_deadline * 1000
    print(f"\nSIGSTOP -> hung verdict: {elapsed:.1f} ms (deadline {deadline:.0f} ms)")
    cause = info.value.cause
    assert cause.kind == "hung"
    assert "no heartbeat answer within 200 ms" in cause.message
    assert cause.signal == signal.SIGKILL  # killed by the supervisor
    assert "supervisor.heartbeat" in world.audit.rules(ext)
    wait_running(runtime, ext)
    assert do(runtime, ext, "echo", 2) == 2


def test_slow_python_code_is_not_a_hang(world: World) -> None:
    """The hook runs on the extension thread: heartbeats keep being answered."""
    runtime = world.runtime()
    ext = world.tool(runtime).id
    assert do(runtime, ext, "sleep", 0.6) == 0.6
    assert runtime.status(ext).total_crashes == 0


def test_a_call_past_its_time_limit_stops_the_process(world: World) -> None:
    runtime = world.runtime()
    ext = world.tool(runtime).id
    with pytest.raises(ExtensionCrashedError) as info:
        do(runtime, ext, "sleep", 30, timeout=0.3)
    cause = info.value.cause
    assert cause.kind == "call_timeout"
    assert cause.message.startswith("hook probe_do did not finish within 0.3 s")
    assert cause.limit == "call time 0.3 s"
    assert "supervisor.call_timeout" in world.audit.rules(ext)
    wait_running(runtime, ext)
    assert do(runtime, ext, "echo", 3) == 3


# -- restarts and quarantine -----------------------------------------------------------------


def test_back_off_doubles_per_recent_crash(world: World) -> None:
    policy = msgspec.structs.replace(FAST, restart_backoff=0.05, crash_limit=5)
    runtime = world.runtime(policy)
    ext = world.tool(runtime).id
    delays = []
    for _ in range(3):
        with pytest.raises(ExtensionCrashedError):
            do(runtime, ext, "exit", 1)
        delays.append(runtime.status(ext).restart_delay)
        wait_running(runtime, ext)
    assert delays == [0.05, 0.1, 0.2]
    assert runtime.status(ext).restarts == 3


def test_a_crash_loop_quarantines_until_released(world: World) -> None:
    runtime = world.runtime()
    ext = world.tool(runtime).id
    errors = []
    for _ in range(3):
        with pytest.raises(ExtensionCrashedError) as info:
            do(runtime, ext, "exit", 3)
        errors.append(str(info.value))
        if runtime.status(ext).state != "quarantined":
            wait_running(runtime, ext)
    assert "restarting in" in errors[0]
    assert "quarantined after 3 crashes within 300 s" in errors[2]
    status = runtime.status(ext)
    assert status.state == "quarantined"
    assert not status.active
    assert ext not in runtime.active_ids()
    with pytest.raises(ExtensionQuarantinedError) as quarantined:
        do(runtime, ext, "echo", 1)
    message = str(quarantined.value)
    assert "crashed 3 times within 300 s" in message
    assert "exited with code 3" in message
    assert quarantined.value.code == "extension.quarantined"
    assert quarantined.value.last_cause is not None
    assert runtime.release(ext) is True
    assert runtime.status(ext).state == "stopped"
    assert do(runtime, ext, "echo", "free") == "free"
    assert runtime.status(ext).recent_crashes == 0


def test_a_crash_during_activation_is_reported_and_not_restarted(world: World) -> None:
    runtime = world.runtime()
    record = write_extension(
        world.root,
        "test.badstart",
        """
        import os
        from symphony_core.hooks import hookimpl

        class Ext:
            @hookimpl
            def symphony_activate(self, context):
                os._exit(5)
        """,
    )
    runtime.add(record)
    with pytest.raises(ExtensionCrashedError) as info:
        runtime.activate(record.id)
    assert "during activation" in str(info.value)
    assert info.value.cause.returncode == 5
    assert runtime.status(record.id).state == "stopped"
    assert not runtime.is_active(record.id)


# -- state -----------------------------------------------------------------------------------


def test_event_routes_and_activation_survive_a_restart(world: World) -> None:
    runtime = world.runtime()
    ext = world.tool(runtime).id
    runtime.subscribe(ext, "job.**")
    runtime.activate(ext)
    assert runtime.publish("job.started", {"n": 1}) == 1
    assert runtime.publish("other", 0) == 0
    wait_for(lambda: do(runtime, ext, "events") == [["job.started", {"n": 1}]])
    with pytest.raises(ExtensionCrashedError):
        do(runtime, ext, "exit", 9)
    wait_running(runtime, ext)
    # A new process: its memory is gone, but it was activated again and still routed.
    assert do(runtime, ext, "events") == []
    assert runtime.publish("job.done.ok", [1, 2]) == 1
    wait_for(lambda: do(runtime, ext, "events") == [["job.done.ok", [1, 2]]])
    activations = [line for line in world.lifecycle() if line.startswith("activate")]
    assert len(activations) == 2
    assert activations[0].split()[2] != activations[1].split()[2]  # two processes


# -- shutdown ----------------------------------------------------------------------------


def test_close_leaves_no_process_behind_grandchildren_included(world: World) -> None:
    # With cgroups or without (then the sweeper finds the orphan by the extension's
    # user namespace): close() returns once the sweep is done, so nothing is polled for.
    runtime = world.runtime(subprocess=True)
    ext = world.tool(runtime).id
    main_pid = do(runtime, ext, "pid")
    escaped = do(runtime, ext, "grandchild")  # setsid() child whose own child sleeps
    tree = [p.pid for p in psutil.Process(main_pid).children(recursive=True)]
    everyone = [
        p.pid for p in psutil.process_iter() if p.pid != main_pid and _session_of(p.pid) == escaped
    ]
    assert everyone, "the escaped grandchild should be running in its own session"
    assert not set(everyone) & set(tree), "it should have left the extension's tree"
    runtime.close()
    for pid in [main_pid, *tree, *everyone]:
        assert not _alive(pid), f"process {pid} survived the shutdown"
    lines = world.lifecycle()
    assert lines[-1].startswith("deactivate")


def test_deactivate_stops_the_process_and_a_call_during_stop_is_reported(world: World) -> None:
    runtime = world.runtime(msgspec.structs.replace(FAST, stop_timeout=0.5))
    ext = world.tool(runtime).id
    pid = do(runtime, ext, "pid")
    runtime.deactivate(ext)
    assert not _alive(pid)
    assert runtime.status(ext).state == "stopped"
    assert do(runtime, ext, "pid") != pid  # started again on use
    thread, box = in_background(lambda: do(runtime, ext, "sleep", 30))
    time.sleep(0.2)
    stopper = in_background(lambda: runtime.close())
    thread.join(15)
    stopper[0].join(15)
    assert isinstance(box["error"], (ExtensionStoppedError, ExtensionCrashedError))
    assert box["error"].extension_id == ext


def test_a_failing_call_does_not_count_as_a_crash(world: World) -> None:
    runtime = world.runtime()
    ext = world.tool(runtime).id
    with pytest.raises(HookCallError) as info:
        do(runtime, ext, "nonsense")
    assert "ValueError: unknown action nonsense" in str(info.value)
    assert runtime.status(ext).total_crashes == 0
    assert runtime.status(ext).state == "running"


def test_values_that_cannot_cross_are_refused_with_clear_errors(world: World) -> None:
    runtime = world.runtime()
    ext = world.tool(runtime).id
    with pytest.raises(ValueNotPortableError) as sent:
        do(runtime, ext, "echo", 1j)
    assert "cannot be sent to the sandbox" in str(sent.value)
    with pytest.raises(ResultNotPortableError) as returned:
        do(runtime, ext, "complex")
    assert returned.value.extension_id == ext
    assert "cannot leave its sandbox" in str(returned.value)
    assert do(runtime, ext, "echo", [1, "two", b"3", None]) == [1, "two", b"3", None]
    assert runtime.status(ext).total_crashes == 0


def test_concurrent_callers_from_many_threads(world: World) -> None:
    runtime = world.runtime()
    ext = world.tool(runtime).id
    results: dict[int, Any] = {}

    def caller(n: int) -> None:
        results[n] = [do(runtime, ext, "echo", [n, i]) for i in range(20)]

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == {n: [[n, i] for i in range(20)] for n in range(6)}
    assert len([line for line in world.lifecycle() if line.startswith("activate")]) == 1


def test_a_cancelled_async_caller_leaves_the_extension_usable(world: World) -> None:
    runtime = world.runtime()
    ext = world.tool(runtime).id
    do(runtime, ext, "pid")

    async def impatient() -> None:
        await asyncio.wait_for(
            runtime.acall(ext, "probe_do", {"action": "async", "arg": 5}), timeout=0.2
        )

    with pytest.raises(TimeoutError):
        asyncio.run(impatient())
    assert do(runtime, ext, "echo", "fine") == "fine"
    assert runtime.status(ext).total_crashes == 0


def _alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _session_of(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None
