"""Run state and the event stream, with concrete scenarios (threads included)."""

from __future__ import annotations

import threading

import pytest

from symphony_core.workflow import (
    Event,
    EventLog,
    EventsLostError,
    FellBehindError,
    IllegalTransitionError,
    Node,
    NodeState,
    RunState,
    UnknownNodeError,
    Workflow,
    WorkflowError,
)

WF = Workflow("w", [Node(n, "x.y/z") for n in ("a", "b", "c")])


def test_a_node_goes_through_its_life() -> None:
    run = RunState(WF, run_id="r1")
    for state in ("ready", "running", "failed", "ready", "running", "succeeded"):
        run.transition("a", state)
    assert run.state("a") is NodeState.SUCCEEDED
    events = run.events.since(0)
    assert [(e.previous, e.state) for e in events] == [
        ("pending", "ready"),
        ("ready", "running"),
        ("running", "failed"),
        ("failed", "ready"),
        ("ready", "running"),
        ("running", "succeeded"),
    ]
    assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6]
    assert {e.run_id for e in events} == {"r1"}


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ([], "running"),
        ([], "succeeded"),
        (["ready"], "succeeded"),
        (["ready", "running"], "ready"),
        (["ready", "running", "succeeded"], "failed"),
        (["skipped"], "ready"),
        (["cancelled"], "ready"),
    ],
)
def test_illegal_moves_change_nothing(path: list[str], bad: str) -> None:
    run = RunState(WF)
    for state in path:
        run.transition("b", state)
    before = run.events.last_seq
    with pytest.raises(IllegalTransitionError) as info:
        run.transition("b", bad)
    assert info.value.code == "workflow.illegal_transition"
    assert info.value.node == "b"
    assert run.events.last_seq == before
    assert run.state("b") == NodeState(path[-1] if path else "pending")


def test_reset_for_a_re_run_and_progress() -> None:
    run = RunState(WF)
    run.transition("a", "ready")
    run.transition("a", "running")
    run.transition("b", "skipped")
    with pytest.raises(IllegalTransitionError, match="cannot go from running"):
        run.reset(["b", "a"])
    assert run.state("b") is NodeState.SKIPPED  # nothing changed
    run.transition("a", "succeeded")
    progress = run.progress()
    assert (progress.done, progress.total, progress.finished) == (2, 3, False)
    assert progress.fraction == pytest.approx(2 / 3)
    events = run.reset(["a", "b", "c"])
    assert [(e.node, e.previous) for e in events] == [("a", "succeeded"), ("b", "skipped")]
    assert run.in_state("pending") == ["a", "b", "c"]
    run.transition("c", "cancelled")
    run.transition("a", "skipped")
    run.transition("b", "skipped")
    done = run.progress()
    assert done.finished
    assert not done.ok
    assert done.to_dict()["counts"]["cancelled"] == 1


def test_unknown_nodes_and_initial_states() -> None:
    run = RunState(WF, initial={"a": "succeeded"})
    assert run.state("a") is NodeState.SUCCEEDED
    assert run.events.last_seq == 0
    with pytest.raises(UnknownNodeError):
        run.state("zz")
    with pytest.raises(ValueError, match="exploded"):
        run.transition("a", "exploded")
    with pytest.raises(WorkflowError, match="duplicate node ids"):
        RunState(Workflow("w", [Node("a", "t/x"), Node("a", "t/x")]))


def test_run_level_events_carry_data() -> None:
    run = RunState(WF, run_id="r")
    event = run.publish("run.started", data={"nodes": 3})
    assert (event.kind, event.data, event.node) == ("run.started", {"nodes": 3}, None)


def fill(log: EventLog, count: int) -> list[Event]:
    return [log.append("tick", run_id="r", data={"i": i}) for i in range(count)]


def test_buffer_eviction_and_resume_without_replay() -> None:
    log = EventLog(capacity=3)
    fill(log, 5)
    assert (log.oldest_seq, log.last_seq) == (3, 5)
    assert [e.seq for e in log.since(2)] == [3, 4, 5]
    with pytest.raises(EventsLostError) as info:
        log.subscribe(after=1)
    assert (info.value.after, info.value.oldest) == (1, 3)
    with pytest.raises(WorkflowError, match="newest is #5"):
        log.subscribe(after=9)


def test_a_slow_subscriber_is_told_and_resumes_with_no_gap() -> None:
    persisted: list[Event] = []
    log = EventLog(
        capacity=4,
        persist=persisted.append,
        replay=lambda after: (e for e in persisted if e.seq > after),
    )
    fast = log.subscribe(after=0)
    slow = log.subscribe(after=0)
    fill(log, 2)
    assert [e.seq for e in slow.poll()] == [1, 2]
    for _ in range(10):  # the producer never waits for the slow one
        log.append("tick", run_id="r")
        assert fast.get(timeout=0) is not None
    with pytest.raises(FellBehindError) as info:
        slow.get(timeout=0)
    assert info.value.last_seq == 2
    assert slow.behind
    with pytest.raises(FellBehindError):
        slow.get(timeout=0)
    resumed = slow.resume()
    assert [e.seq for e in resumed.poll()] == list(range(3, 13))  # replayed, then buffered
    assert resumed.get(timeout=0) is None


def test_a_reopened_log_continues_numbering() -> None:
    stored = [Event(seq=i, kind="tick", run_id="r", time=0.0) for i in range(1, 6)]
    log = EventLog(start_seq=5, replay=lambda after: [e for e in stored if e.seq > after])
    assert log.append("tick", run_id="r").seq == 6
    assert [e.seq for e in log.since(3)] == [4, 5, 6]


def test_replay_with_a_gap_is_reported() -> None:
    stored = [Event(seq=i, kind="tick", run_id="r", time=0.0) for i in (1, 2, 4)]
    log = EventLog(start_seq=4, replay=lambda after: [e for e in stored if e.seq > after])
    sub = log.subscribe(after=0)
    assert [sub.get(timeout=0).seq, sub.get(timeout=0).seq] == [1, 2]  # type: ignore[union-attr]
    with pytest.raises(EventsLostError):
        sub.get(timeout=0)


def test_live_subscriber_in_another_thread() -> None:
    log = EventLog(capacity=1000)
    got: list[int] = []
    sub = log.subscribe()

    def consume() -> None:
        got.extend(e.seq for e in sub)

    thread = threading.Thread(target=consume)
    thread.start()
    fill(log, 200)
    log.close()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert got == list(range(1, 201))
    with pytest.raises(WorkflowError, match="closed"):
        log.append("tick", run_id="r")


def test_get_times_out_and_close_stops_a_subscription() -> None:
    log = EventLog()
    sub = log.subscribe()
    assert sub.get(timeout=0.01) is None
    fill(log, 1)
    sub.close()
    assert sub.get(timeout=0) is None
    with pytest.raises(WorkflowError, match="at least one"):
        EventLog(capacity=0)


def test_concurrent_transitions_keep_counts_and_numbering() -> None:
    nodes = [Node(f"n{i}", "x.y/z") for i in range(200)]
    run = RunState(Workflow("w", nodes))

    def work(ids: list[str]) -> None:
        for node_id in ids:
            for state in ("ready", "running", "succeeded"):
                run.transition(node_id, state)

    threads = [threading.Thread(target=work, args=([n.id for n in nodes[k::4]],)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert run.progress().ok
    events = run.events.since(0)
    assert [e.seq for e in events] == list(range(1, 601))
    per_node: dict[str, list[str]] = {}
    for event in events:
        per_node.setdefault(event.node or "", []).append(event.state or "")
    assert all(states == ["ready", "running", "succeeded"] for states in per_node.values())


def test_the_transition_table_is_the_specified_one() -> None:
    from symphony_core.workflow import TRANSITIONS

    spec = {
        "pending": {"ready", "skipped", "cancelled"},
        "ready": {"running", "skipped", "cancelled"},
        "running": {"succeeded", "failed", "cancelled"},
        "failed": {"ready"},
        "succeeded": set(),
        "skipped": set(),
        "cancelled": set(),
    }
    assert {str(k): {str(s) for s in v} for k, v in TRANSITIONS.items()} == spec
