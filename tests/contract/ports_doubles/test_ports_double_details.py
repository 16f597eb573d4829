"""What the doubles do beyond their ports' contracts."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
from collections.abc import Callable

import pytest

from symphony_core import ports
from symphony_core.errors import HookCallError, SymphonyError, error_codes
from symphony_core.ports.tracker import RunStatus
from symphony_core.testing import (
    CheckpointMemory,
    FakeArbitrationEngine,
    FakeArtifactStore,
    FakeDagTracker,
    FakeExtensionRuntime,
    FakePoolHarness,
    FakeStaleManager,
    InMemoryEventBus,
    InMemoryRegistry,
    ManualClock,
    RegistryState,
    TaskContext,
    TaskGraph,
    TaskGraphError,
    TaskNode,
    make_manifest,
    make_record,
)


def _ok(value: object) -> Callable[[TaskContext], object]:
    return lambda ctx: value


# -- task graphs ---------------------------------------------------------------------


def test_task_graph_orders_topologically_with_stable_ties() -> None:
    graph = TaskGraph(
        [
            TaskNode("d", _ok(4), after=("b", "c")),
            TaskNode("c", _ok(3), after=("a",)),
            TaskNode("b", _ok(2), after=("a",)),
            TaskNode("a", _ok(1)),
            TaskNode("e", _ok(5)),
        ]
    )
    # Ties go to the node given first: c before b, a before e.
    assert graph.order == ("a", "c", "b", "d", "e")


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        ([TaskNode("a", _ok(1)), TaskNode("a", _ok(2))], "duplicate"),
        ([TaskNode("a", _ok(1), after=("zz",))], "unknown node"),
        ([TaskNode("a", _ok(1), after=("b",)), TaskNode("b", _ok(1), after=("a",))], "cycle"),
        ([TaskNode("a", _ok(1), retries=-1)], "retries"),
    ],
)
def test_task_graph_refuses_bad_graphs(nodes: list[TaskNode], message: str) -> None:
    with pytest.raises(TaskGraphError) as info:
        TaskGraph(nodes)
    assert message in str(info.value)
    assert info.value.code == "tracker.invalid_graph"


def test_tracker_marks_runs_interrupted_by_a_crash_and_resumes_them() -> None:
    checkpoints = CheckpointMemory()
    tracker = FakeDagTracker(checkpoints)
    run_id = tracker.submit(TaskGraph([TaskNode("a", _ok(1))]))
    tracker.wait(run_id, 10)
    # Simulate a tracker killed mid-run: its checkpoint says "running".
    rec = checkpoints.runs[run_id]
    rec.state = "running"
    rec.nodes["a"] = ports.NodeStatus(node_id="a", state="running", attempts=1)
    reopened = FakeDagTracker(checkpoints)
    status: RunStatus = reopened.status(run_id)
    assert status.state == "failed"
    assert status.error is not None
    assert "interrupted" in status.error
    assert status.nodes["a"].state == "failed"
    reopened.resume(run_id)
    assert reopened.wait(run_id, 10).state == "succeeded"
    assert reopened.result(run_id, "a") == 1
    reopened.close()


def test_tracker_reports_unencodable_outputs_as_node_failures() -> None:
    tracker = FakeDagTracker()
    run_id = tracker.submit(TaskGraph([TaskNode("a", lambda ctx: object())]))
    status = tracker.wait(run_id, 10)
    assert status.nodes["a"].state == "failed"
    assert "checkpointed" in (status.nodes["a"].error or "")
    with pytest.raises(TypeError):
        tracker.submit("not a graph")  # type: ignore[arg-type]
    tracker.close()


def test_task_context_carries_the_attempt_and_inputs() -> None:
    seen: list[TaskContext] = []

    def record(ctx: TaskContext) -> int:
        seen.append(ctx)
        if ctx.attempt == 1:
            raise RuntimeError("first attempt fails")
        return 1

    tracker = FakeDagTracker()
    graph = TaskGraph([TaskNode("a", _ok(7)), TaskNode("b", record, after=("a",), retries=1)])
    run_id = tracker.submit(graph)
    assert tracker.wait(run_id, 10).state == "succeeded"
    assert [(c.attempt, dict(c.inputs), c.cancelled()) for c in seen] == [
        (1, {"a": 7}, False),
        (2, {"a": 7}, False),
    ]
    tracker.close()


# -- runtime -------------------------------------------------------------------------


def test_fake_runtime_records_calls_and_refuses_async_impls_in_sync_calls() -> None:
    runtime = FakeExtensionRuntime()
    record = make_record("acme.tool")

    async def later() -> int:
        return 1

    runtime.add(record, {"double": lambda x: 2 * x, "later": later})
    assert runtime.call("acme.tool", "double", {"x": 4}) == 8
    with pytest.raises(HookCallError) as info:
        runtime.call("acme.tool", "later", {})
    assert "acall" in str(info.value)
    assert asyncio.run(runtime.acall("acme.tool", "later", {})) == 1
    assert [(c.hook, c.outcome) for c in runtime.calls] == [
        ("double", "returned"),
        ("later", "raised"),
        ("later", "returned"),
    ]
    assert runtime.calls[0].kwargs == {"x": 4}
    assert runtime.calls[0].result == 8


def test_fake_runtime_refuses_two_versions_of_one_extension() -> None:
    runtime = FakeExtensionRuntime()
    runtime.activate(make_record("acme.tool", "1.0.0"))
    with pytest.raises(ports.ExtensionAlreadyActiveError):
        runtime.activate(make_record("acme.tool", "2.0.0"))
    with pytest.raises(ports.ExtensionAlreadyActiveError):
        runtime.add(make_record("acme.tool", "2.0.0"), {})
    runtime.deactivate("acme.tool")
    runtime.activate(make_record("acme.tool", "2.0.0"))
    assert runtime.active_ids() == ["acme.tool"]


# -- bus, store, pool, arbiter, stale, registry ---------------------------------------


def test_bus_payload_checks_can_be_turned_off() -> None:
    bus = InMemoryEventBus(check_payloads=False)
    got: list[object] = []
    sentinel = object()
    bus.subscribe("a.b", lambda m: got.append(m.payload))
    bus.publish("a.b", sentinel)
    assert got == [sentinel]
    with pytest.raises(ValueError, match="timeout"):
        bus.request("a.b", 1, timeout=0)


def test_bus_flush_inside_a_handler_returns_at_once() -> None:
    bus = InMemoryEventBus()
    bus.subscribe("a.b", lambda m: bus.flush(0.01))
    bus.publish("a.b", 1)


def test_artifact_store_hash_algorithms() -> None:
    data = b"some bytes"
    assert FakeArtifactStore().put(data) == "sha256:" + hashlib.sha256(data).hexdigest()
    assert (
        FakeArtifactStore(algorithm="blake2b").put(data)
        == "blake2b:" + hashlib.blake2b(data, digest_size=32).hexdigest()
    )
    with pytest.raises(ValueError, match="limit"):
        FakeArtifactStore().search("x", limit=0)


def test_pool_refuses_nonsense_arguments() -> None:
    harness = FakePoolHarness(100, {"a": 10})
    with pytest.raises(ValueError, match="count"):
        harness.pool.load("a", count=0)
    with pytest.raises(ValueError, match="timeout"):
        harness.pool.acquire("a", timeout=-1)
    with pytest.raises(ValueError, match="budget"):
        FakePoolHarness(-1, {})


def test_arbiter_explains_and_validates_its_settings() -> None:
    engine = FakeArbitrationEngine()
    engine.define("gpu", 2)
    holder = engine.request("gpu", 2, requester="trainer")
    ticket = engine.submit("gpu", 1, requester="me")
    reason = engine.explain(ticket).reason
    assert "trainer (2)" in reason
    assert "0 of 2 free" in reason
    engine.release(holder)
    assert engine.explain(ticket).reason.startswith("granted")
    with pytest.raises(ValueError, match="aging"):
        FakeArbitrationEngine(aging=0)


def test_stale_manager_calls_on_evict_with_each_eviction() -> None:
    clock = ManualClock()
    evicted: list[str] = []
    manager = FakeStaleManager(clock=clock, on_evict=lambda e: evicted.append(e.key))
    manager.track("a", kind="cache", ttl=1)
    manager.track("b", kind="cache")
    clock.advance(1)
    assert [e.key for e in manager.evict(ports.EvictionPolicy())] == ["a"]
    assert evicted == ["a"]


def test_stale_manager_handles_long_input_chains() -> None:
    manager = FakeStaleManager(clock=ManualClock())
    manager.track("n0", kind="artifact", fingerprint="v1")
    for i in range(1, 3000):
        manager.track(f"n{i}", kind="artifact", inputs=[f"n{i - 1}"])
    manager.changed("n0", "v2")
    assert len(manager.scan()) == 2999


def test_manual_clock_never_goes_back() -> None:
    clock = ManualClock(5.0)
    assert clock.advance(2.5) == 7.5
    assert clock() == 7.5
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance(-1)


def test_registry_clients_share_one_state() -> None:
    state = RegistryState()
    state.add_token("t1", "alice")
    state.grant_namespace("acme", "bob")
    alice = InMemoryRegistry(state, token="t1")
    with pytest.raises(ports.RegistryForbiddenError):
        alice.publish(make_manifest("acme.tool"), b"x", filename="t-1.0.tar.gz")
    state.add_token("t2", "bob")
    bob = alice.with_token("t2")
    bob.publish(make_manifest("acme.tool"), b"x", filename="t-1.0.tar.gz")
    assert [v.version for v in alice.versions("acme.tool")] == ["1.0.0"]
    assert state.requests == 3


# -- the public surface --------------------------------------------------------------


def test_every_port_error_has_a_unique_registered_code() -> None:
    errors = [
        getattr(ports, name)
        for name in ports.__all__
        if isinstance(getattr(ports, name), type)
        and issubclass(getattr(ports, name), SymphonyError)
    ]
    codes = [cls.code for cls in errors]
    assert len(codes) == len(set(codes)), codes
    registered = error_codes()
    for cls in errors:
        assert registered[cls.code] is cls


def test_every_exported_name_exists() -> None:
    import symphony_core.testing as testing

    for module in (ports, testing):
        for name in module.__all__:
            assert hasattr(module, name), name


def test_importing_the_doubles_does_not_import_pytest() -> None:
    code = "import sys, symphony_core.testing, symphony_core.ports; print('pytest' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "False"
