"""Contract suite of the ``DagTracker`` port."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from symphony_core.ports.tracker import (
    DagTracker,
    NoResultError,
    RunNotResumableError,
    TrackerClosedError,
    UnknownRunError,
    WaitTimeoutError,
)
from symphony_core.testing.harnesses import (
    Behaviour,
    Block,
    Fail,
    FailTimes,
    Gather,
    GraphSpec,
    NodeSpec,
    Sleep,
    Succeed,
    TrackerHarness,
)

__all__ = ["DagTrackerContract"]

_SETTLE = 20.0


def _graph(*nodes: tuple[str, Behaviour] | NodeSpec) -> GraphSpec:
    return GraphSpec(
        tuple(node if isinstance(node, NodeSpec) else NodeSpec(node[0], node[1]) for node in nodes)
    )


def _node(
    node_id: str, behaviour: Behaviour, *after: str, retries: int = 0, timeout: float | None = None
) -> NodeSpec:
    return NodeSpec(node_id, behaviour, tuple(after), retries, timeout)


class DagTrackerContract:
    """Behaviour every DAG tracker shows.

    Subclass it and supply ``tracker_harness``: a fresh
    :class:`~symphony_core.testing.harnesses.TrackerHarness` per test. Its tracker is
    closed after the test.
    """

    @pytest.fixture
    def tracker_harness(self) -> TrackerHarness[Any]:
        """Return a fresh harness; adapters' test classes override this."""
        raise NotImplementedError("supply a tracker_harness fixture")

    @pytest.fixture
    def h(self, tracker_harness: TrackerHarness[Any]) -> Iterator[TrackerHarness[Any]]:
        """The harness, whose current tracker is closed after the test."""
        yield tracker_harness
        tracker_harness.tracker.close()

    @staticmethod
    def _run(h: TrackerHarness[Any], spec: GraphSpec) -> tuple[str, Any]:
        run_id = h.tracker.submit(h.build(spec))
        return run_id, h.tracker.wait(run_id, _SETTLE)

    def test_satisfies_the_protocol(self, h: TrackerHarness[Any]) -> None:
        """The adapter is a DagTracker."""
        assert isinstance(h.tracker, DagTracker)

    def test_a_chain_runs_in_dependency_order(self, h: TrackerHarness[Any]) -> None:
        """Each node starts after the one it depends on succeeded; each runs once."""
        run_id, status = self._run(
            h,
            _graph(
                _node("c", Succeed(3), "b"),
                _node("a", Succeed(1)),
                _node("b", Succeed(2), "a"),
            ),
        )
        assert status.state == "succeeded"
        assert {n: s.state for n, s in status.nodes.items()} == dict.fromkeys("abc", "succeeded")
        events = h.tracker.events(run_id)
        started = [e.node_id for e in events if e.node_id and e.state == "running"]
        assert started == ["a", "b", "c"]
        assert [h.executions(n) for n in "abc"] == [1, 1, 1]
        assert [h.tracker.result(run_id, n) for n in "abc"] == [1, 2, 3]

    def test_outputs_flow_to_dependents(self, h: TrackerHarness[Any]) -> None:
        """A node receives its dependencies' outputs by node id."""
        run_id, status = self._run(
            h,
            _graph(
                _node("a", Succeed({"n": 1})),
                _node("b", Succeed("text")),
                _node("c", Gather(), "a", "b"),
            ),
        )
        assert status.state == "succeeded"
        assert h.tracker.result(run_id, "c") == {"a": {"n": 1}, "b": "text"}

    def test_a_diamond_runs_each_node_once(self, h: TrackerHarness[Any]) -> None:
        """Shared ancestors are not run twice."""
        run_id, status = self._run(
            h,
            _graph(
                _node("top", Succeed(0)),
                _node("left", Gather(), "top"),
                _node("right", Gather(), "top"),
                _node("bottom", Gather(), "left", "right"),
            ),
        )
        assert status.state == "succeeded"
        assert [h.executions(n) for n in ("top", "left", "right", "bottom")] == [1, 1, 1, 1]
        assert h.tracker.result(run_id, "bottom") == {
            "left": {"top": 0},
            "right": {"top": 0},
        }

    def test_a_failure_skips_downstream_but_not_independent_nodes(
        self, h: TrackerHarness[Any]
    ) -> None:
        """Dependents of a failed node are skipped; independent nodes still run."""
        _, status = self._run(
            h,
            _graph(
                _node("bad", Fail("disk full")),
                _node("after_bad", Succeed(1), "bad"),
                _node("later", Succeed(2), "after_bad"),
                _node("free", Succeed(3)),
            ),
        )
        assert status.state == "failed"
        assert status.error
        states = {n: s.state for n, s in status.nodes.items()}
        assert states == {
            "bad": "failed",
            "after_bad": "skipped",
            "later": "skipped",
            "free": "succeeded",
        }
        assert "disk full" in (status.nodes["bad"].error or "")
        assert h.executions("after_bad") == 0
        assert h.executions("free") == 1

    def test_retries_until_success(self, h: TrackerHarness[Any]) -> None:
        """A node with retries is attempted again after failures."""
        run_id, status = self._run(h, _graph(_node("flaky", FailTimes(2, "ok"), retries=2)))
        assert status.state == "succeeded"
        assert status.nodes["flaky"].attempts == 3
        assert h.executions("flaky") == 3
        assert h.tracker.result(run_id, "flaky") == "ok"
        retrying = [e for e in h.tracker.events(run_id) if e.state == "retrying"]
        assert [e.attempt for e in retrying] == [1, 2]

    def test_retries_run_out(self, h: TrackerHarness[Any]) -> None:
        """After its retries a node fails for good."""
        _, status = self._run(h, _graph(_node("flaky", FailTimes(5), retries=1)))
        assert status.state == "failed"
        assert status.nodes["flaky"].state == "failed"
        assert status.nodes["flaky"].attempts == 2

    def test_an_attempt_that_takes_too_long_fails(self, h: TrackerHarness[Any]) -> None:
        """A node over its timeout fails (and its dependents are skipped)."""
        _, status = self._run(
            h,
            _graph(_node("slow", Sleep(30.0), timeout=0.1), _node("next", Succeed(), "slow")),
        )
        assert status.state == "failed"
        assert status.nodes["slow"].state == "failed"
        assert status.nodes["next"].state == "skipped"

    def test_cancel_stops_a_running_workflow(self, h: TrackerHarness[Any]) -> None:
        """The running node is asked to stop; nodes not started are cancelled."""
        run_id = h.tracker.submit(
            h.build(_graph(_node("hold", Block("x")), _node("after", Succeed(), "hold")))
        )
        assert h.started("hold", _SETTLE)
        h.tracker.cancel(run_id)
        status = h.tracker.wait(run_id, _SETTLE)
        assert status.state == "cancelled"
        assert status.nodes["hold"].state == "cancelled"
        assert status.nodes["after"].state == "cancelled"
        assert h.executions("after") == 0

    def test_cancelling_a_finished_run_changes_nothing(self, h: TrackerHarness[Any]) -> None:
        """cancel() of a succeeded run leaves it succeeded."""
        run_id, _ = self._run(h, _graph(_node("a", Succeed(1))))
        h.tracker.cancel(run_id)
        assert h.tracker.status(run_id).state == "succeeded"
        assert h.tracker.result(run_id, "a") == 1

    def test_resume_reruns_only_what_did_not_succeed(self, h: TrackerHarness[Any]) -> None:
        """Resuming a failed run redoes no finished node and feeds it from the checkpoint."""
        run_id, status = self._run(
            h,
            _graph(
                _node("src", Succeed([1, 2])),
                _node("flaky", FailTimes(1, "fixed"), "src"),
                _node("sink", Gather(), "src", "flaky"),
                _node("side", Succeed("s")),
            ),
        )
        assert status.state == "failed"
        assert status.nodes["sink"].state == "skipped"
        h.tracker.resume(run_id)
        status = h.tracker.wait(run_id, _SETTLE)
        assert status.state == "succeeded"
        assert status.error is None
        assert [h.executions(n) for n in ("src", "flaky", "sink", "side")] == [1, 2, 1, 1]
        assert h.tracker.result(run_id, "sink") == {"src": [1, 2], "flaky": "fixed"}

    def test_resume_a_cancelled_run(self, h: TrackerHarness[Any]) -> None:
        """A cancelled run can be resumed and finishes."""
        run_id = h.tracker.submit(
            h.build(_graph(_node("first", Succeed(1)), _node("hold", Block(2), "first")))
        )
        assert h.started("hold", _SETTLE)
        h.tracker.cancel(run_id)
        assert h.tracker.wait(run_id, _SETTLE).state == "cancelled"
        h.release("hold")
        h.tracker.resume(run_id)
        status = h.tracker.wait(run_id, _SETTLE)
        assert status.state == "succeeded"
        assert h.executions("first") == 1
        assert h.tracker.result(run_id, "hold") == 2

    def test_resume_on_a_new_tracker_over_the_same_storage(self, h: TrackerHarness[Any]) -> None:
        """Recovery: a tracker opened later resumes the run from its checkpoint."""
        run_id, status = self._run(
            h,
            _graph(_node("done", Succeed("kept")), _node("flaky", FailTimes(1, 7), "done")),
        )
        assert status.state == "failed"
        tracker = h.reopen()
        assert tracker.status(run_id).state == "failed"
        assert tracker.result(run_id, "done") == "kept"
        tracker.resume(run_id)
        assert tracker.wait(run_id, _SETTLE).state == "succeeded"
        assert h.executions("done") == 1
        assert tracker.result(run_id, "flaky") == 7

    def test_resuming_a_run_that_did_not_fail_is_refused(self, h: TrackerHarness[Any]) -> None:
        """Only failed or cancelled runs resume: tracker.not_resumable."""
        run_id, _ = self._run(h, _graph(_node("a", Succeed())))
        with pytest.raises(RunNotResumableError) as info:
            h.tracker.resume(run_id)
        assert info.value.code == "tracker.not_resumable"

    def test_unknown_runs_are_refused_everywhere(self, h: TrackerHarness[Any]) -> None:
        """Every method names an unknown run id with tracker.unknown_run."""
        calls: list[Callable[[], Any]] = [
            lambda: h.tracker.status("run-nope"),
            lambda: h.tracker.wait("run-nope", 1.0),
            lambda: h.tracker.cancel("run-nope"),
            lambda: h.tracker.resume("run-nope"),
            lambda: h.tracker.result("run-nope", "a"),
            lambda: h.tracker.events("run-nope"),
        ]
        for call in calls:
            with pytest.raises(UnknownRunError) as info:
                call()
            assert info.value.code == "tracker.unknown_run"

    def test_only_succeeded_nodes_have_results(self, h: TrackerHarness[Any]) -> None:
        """result() of a failed, skipped or absent node is tracker.no_result."""
        run_id, _ = self._run(h, _graph(_node("bad", Fail()), _node("next", Succeed(), "bad")))
        for node_id in ("bad", "next", "absent"):
            with pytest.raises(NoResultError) as info:
                h.tracker.result(run_id, node_id)
            assert info.value.code == "tracker.no_result"

    def test_events_are_numbered_without_gaps_and_resumable(self, h: TrackerHarness[Any]) -> None:
        """Sequence numbers run 1..n; after=k returns the rest; the run's end is last."""
        run_id, _ = self._run(h, _graph(_node("a", Succeed()), _node("b", Succeed(), "a")))
        events = h.tracker.events(run_id)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert all(e.run_id == run_id for e in events)
        assert events[-1].node_id is None
        assert events[-1].state == "succeeded"
        node_events = [(e.node_id, e.state) for e in events if e.node_id is not None]
        assert node_events.index(("a", "succeeded")) < node_events.index(("b", "running"))
        assert h.tracker.events(run_id, after=2) == events[2:]
        assert h.tracker.events(run_id, after=len(events)) == []

    def test_wait_can_time_out(self, h: TrackerHarness[Any]) -> None:
        """wait() gives up with tracker.wait_timeout; the run goes on."""
        run_id = h.tracker.submit(h.build(_graph(_node("hold", Block("v")))))
        with pytest.raises(WaitTimeoutError) as info:
            h.tracker.wait(run_id, 0.05)
        assert info.value.code == "tracker.wait_timeout"
        assert h.tracker.status(run_id).state in ("pending", "running")
        h.release("hold")
        assert h.tracker.wait(run_id, _SETTLE).state == "succeeded"

    def test_status_reports_progress(self, h: TrackerHarness[Any]) -> None:
        """A finished run reports all nodes done."""
        run_id, status = self._run(h, _graph(*[_node(f"n{i}", Succeed(i)) for i in range(5)]))
        assert status.run_id == run_id
        assert status.done == 5
        assert status.progress == 1.0
        assert status.finished

    def test_outputs_come_back_as_checkpointed(self, h: TrackerHarness[Any]) -> None:
        """Outputs are encoded for the checkpoint: tuples come back as lists."""
        value = {"pair": (1, 2), "nested": [1.5, None, True, "é"], "blob": b"\x00\x01"}
        run_id, _ = self._run(h, _graph(_node("a", Succeed(value))))
        assert h.tracker.result(run_id, "a") == {
            "pair": [1, 2],
            "nested": [1.5, None, True, "é"],
            "blob": b"\x00\x01",
        }

    def test_runs_are_independent(self, h: TrackerHarness[Any]) -> None:
        """Two runs at once keep their own states and results."""
        blocked = h.tracker.submit(h.build(_graph(_node("wait_here", Block("late")))))
        quick, status = self._run(h, _graph(_node("quick", Succeed("early"))))
        assert blocked != quick
        assert status.state == "succeeded"
        assert h.tracker.status(blocked).state in ("pending", "running")
        h.release("wait_here")
        assert h.tracker.wait(blocked, _SETTLE).state == "succeeded"
        assert h.tracker.result(blocked, "wait_here") == "late"

    def test_close_refuses_new_runs(self, h: TrackerHarness[Any]) -> None:
        """After close() submit is tracker.closed; close() is idempotent."""
        spec = h.build(_graph(_node("a", Succeed())))
        h.tracker.close()
        h.tracker.close()
        with pytest.raises(TrackerClosedError) as info:
            h.tracker.submit(spec)
        assert info.value.code == "tracker.closed"
