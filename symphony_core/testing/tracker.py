"""A DAG tracker that runs graphs of Python callables: the double of ``DagTracker``.

Each run executes on its own thread, one node at a time in a deterministic topological
order (ties broken by the order nodes were given). Node outcomes, encoded outputs and
the event stream live in a :class:`CheckpointMemory`, which a new tracker can be opened
over to resume runs — the in-memory stand-in for the real tracker's SQLite checkpoint.
"""

from __future__ import annotations

import heapq
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from symphony_core.errors import UserError
from symphony_core.ports.tracker import (
    TERMINAL_RUN_STATES,
    NodeState,
    NodeStatus,
    NoResultError,
    RunEvent,
    RunNotResumableError,
    RunState,
    RunStatus,
    TrackerClosedError,
    UnknownRunError,
    WaitTimeoutError,
)

__all__ = [
    "CheckpointMemory",
    "FakeDagTracker",
    "TaskContext",
    "TaskGraph",
    "TaskGraphError",
    "TaskNode",
]

_FINAL_NODE_STATES = frozenset({"succeeded", "failed", "skipped", "cancelled"})


class TaskGraphError(UserError):
    """A task graph has duplicate ids, unknown dependencies or a cycle."""

    code = "tracker.invalid_graph"


@dataclass(frozen=True, slots=True)
class TaskContext:
    """What a task callable gets.

    Attributes:
        run_id: The run.
        node_id: The node being run.
        attempt: The attempt number, from 1 (counted across retries and resumes).
        inputs: Outputs of the nodes it depends on, by node id.
    """

    run_id: str
    node_id: str
    attempt: int
    inputs: Mapping[str, Any]
    _stop: threading.Event = field(repr=False)

    def cancelled(self) -> bool:
        """Return whether the task was asked to stop (run cancelled or timed out)."""
        return self._stop.is_set()

    def wait_cancelled(self, timeout: float | None = None) -> bool:
        """Wait until the task is asked to stop; return whether it was.

        Args:
            timeout: Seconds to wait at most.
        """
        return self._stop.wait(timeout)


@dataclass(frozen=True, slots=True)
class TaskNode:
    """One node of a :class:`TaskGraph`.

    Attributes:
        id: Unique node id.
        fn: Called with a :class:`TaskContext`; returns the node's output.
        after: Ids of the nodes it depends on.
        retries: Extra attempts after a failure.
        timeout: Seconds an attempt may take (the callable is asked to stop after).
    """

    id: str
    fn: Callable[[TaskContext], Any]
    after: tuple[str, ...] = ()
    retries: int = 0
    timeout: float | None = None


class TaskGraph:
    """A validated DAG of :class:`TaskNode` with a deterministic topological order.

    Args:
        nodes: The nodes; their order breaks ties in the topological order.

    Raises:
        TaskGraphError: Duplicate ids, unknown dependencies or a cycle.
    """

    def __init__(self, nodes: Iterable[TaskNode]) -> None:
        self.nodes: dict[str, TaskNode] = {}
        for node in nodes:
            if node.id in self.nodes:
                raise TaskGraphError("duplicate node id", where=node.id)
            if node.retries < 0:
                raise TaskGraphError("retries cannot be negative", where=node.id)
            self.nodes[node.id] = node
        position = {node_id: index for index, node_id in enumerate(self.nodes)}
        indegree = dict.fromkeys(self.nodes, 0)
        children: dict[str, list[str]] = {node_id: [] for node_id in self.nodes}
        for node in self.nodes.values():
            for dep in dict.fromkeys(node.after):
                if dep not in self.nodes:
                    raise TaskGraphError(f"depends on unknown node {dep!r}", where=node.id)
                indegree[node.id] += 1
                children[dep].append(node.id)
        ready = [position[n] for n, degree in indegree.items() if degree == 0]
        heapq.heapify(ready)
        ids = list(self.nodes)
        order: list[str] = []
        while ready:
            node_id = ids[heapq.heappop(ready)]
            order.append(node_id)
            for child in children[node_id]:
                indegree[child] -= 1
                if indegree[child] == 0:
                    heapq.heappush(ready, position[child])
        if len(order) != len(self.nodes):
            stuck = sorted(n for n, degree in indegree.items() if degree > 0)
            raise TaskGraphError("the graph has a cycle through " + ", ".join(stuck))
        self.order: tuple[str, ...] = tuple(order)


@dataclass(slots=True)
class _RunRecord:
    graph: TaskGraph
    state: RunState
    nodes: dict[str, NodeStatus]
    outputs: dict[str, bytes] = field(default_factory=dict)
    events: list[RunEvent] = field(default_factory=list)
    error: str | None = None


class CheckpointMemory:
    """Durable state of a :class:`FakeDagTracker`, shareable with a tracker opened later.

    Only one tracker may use it at a time, as only one process owns a checkpoint file.
    """

    def __init__(self) -> None:
        self.runs: dict[str, _RunRecord] = {}


@dataclass(slots=True)
class _Active:
    thread: threading.Thread
    cancel: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event | None = None


class FakeDagTracker:
    """Runs :class:`TaskGraph` workflows on background threads, with checkpoints.

    Runs that were active in ``checkpoints`` when this tracker opens (their tracker
    stopped without closing) are marked failed as interrupted, ready to be resumed.

    Args:
        checkpoints: Where run state lives; a new one when omitted.
    """

    def __init__(self, checkpoints: CheckpointMemory | None = None) -> None:
        self.checkpoints = checkpoints if checkpoints is not None else CheckpointMemory()
        self._cond = threading.Condition()
        self._active: dict[str, _Active] = {}
        self._closed = False
        with self._cond:
            for run_id, rec in self.checkpoints.runs.items():
                if rec.state not in TERMINAL_RUN_STATES:
                    self._interrupted(run_id, rec)

    def _interrupted(self, run_id: str, rec: _RunRecord) -> None:
        why = "interrupted: the tracker stopped while the run was active"
        for node_id, status in rec.nodes.items():
            if status.state == "running":
                self._set(run_id, rec, node_id, "failed", why)
            elif status.state in ("pending", "ready"):
                self._set(run_id, rec, node_id, "cancelled", why)
        self._finish(run_id, rec, "failed", why)

    # -- state changes (lock held) ----------------------------------------------------

    def _emit(
        self,
        run_id: str,
        rec: _RunRecord,
        node_id: str | None,
        state: str,
        attempt: int = 0,
        error: str | None = None,
    ) -> None:
        rec.events.append(
            RunEvent(
                run_id=run_id,
                seq=len(rec.events) + 1,
                node_id=node_id,
                state=state,
                attempt=attempt,
                error=error,
            )
        )
        self._cond.notify_all()

    def _set(
        self,
        run_id: str,
        rec: _RunRecord,
        node_id: str,
        state: NodeState,
        error: str | None = None,
        *,
        attempts: int | None = None,
    ) -> None:
        old = rec.nodes[node_id]
        count = old.attempts if attempts is None else attempts
        rec.nodes[node_id] = NodeStatus(node_id=node_id, state=state, attempts=count, error=error)
        self._emit(run_id, rec, node_id, state, count, error)

    def _finish(self, run_id: str, rec: _RunRecord, state: RunState, error: str | None) -> None:
        rec.state = state
        rec.error = error
        self._emit(run_id, rec, None, state, error=error)

    # -- execution (run thread) -------------------------------------------------------

    def _start(self, run_id: str) -> None:
        thread = threading.Thread(
            target=self._execute, args=(run_id,), name=f"fake-dag-{run_id}", daemon=True
        )
        self._active[run_id] = _Active(thread)
        thread.start()

    def _execute(self, run_id: str) -> None:
        try:
            self._run_nodes(run_id)
        finally:
            with self._cond:
                self._active.pop(run_id, None)
                self._cond.notify_all()

    def _run_nodes(self, run_id: str) -> None:
        with self._cond:
            rec = self.checkpoints.runs[run_id]
            active = self._active[run_id]
            rec.state = "running"
            self._emit(run_id, rec, None, "running")
        for node_id in rec.graph.order:
            if active.cancel.is_set():
                break
            node = rec.graph.nodes[node_id]
            with self._cond:
                if rec.nodes[node_id].state == "succeeded":
                    continue
                blocked = [d for d in node.after if rec.nodes[d].state != "succeeded"]
                if blocked:
                    dep = blocked[0]
                    self._set(run_id, rec, node_id, "skipped", f"upstream {dep!r} did not succeed")
                    continue
                self._set(run_id, rec, node_id, "ready")
                inputs = {d: msgspec.msgpack.decode(rec.outputs[d]) for d in node.after}
            self._run_node(run_id, rec, active, node, inputs)
        with self._cond:
            if active.cancel.is_set():
                for node_id, status in rec.nodes.items():
                    if status.state not in _FINAL_NODE_STATES:
                        self._set(run_id, rec, node_id, "cancelled", "the run was cancelled")
                self._finish(run_id, rec, "cancelled", "the run was cancelled")
                return
            failed = [n for n, s in rec.nodes.items() if s.state == "failed"]
            if failed:
                first = rec.nodes[failed[0]]
                self._finish(run_id, rec, "failed", f"node {failed[0]!r} failed: {first.error}")
            else:
                self._finish(run_id, rec, "succeeded", None)

    def _run_node(
        self,
        run_id: str,
        rec: _RunRecord,
        active: _Active,
        node: TaskNode,
        inputs: dict[str, Any],
    ) -> None:
        for attempt_index in range(node.retries + 1):
            with self._cond:
                attempt = rec.nodes[node.id].attempts + 1
                stop = threading.Event()
                if active.cancel.is_set():
                    stop.set()
                active.stop = stop
                self._set(run_id, rec, node.id, "running", attempts=attempt)
            context = TaskContext(run_id, node.id, attempt, inputs, stop)
            output, error = self._call(node, context, stop)
            with self._cond:
                active.stop = None
                if error is None:
                    rec.outputs[node.id] = output
                    self._set(run_id, rec, node.id, "succeeded")
                    return
                if active.cancel.is_set():
                    self._set(run_id, rec, node.id, "cancelled", f"cancelled: {error}")
                    return
                if attempt_index < node.retries:
                    self._emit(run_id, rec, node.id, "retrying", attempt, error)
                    continue
                self._set(run_id, rec, node.id, "failed", error)

    @staticmethod
    def _call(
        node: TaskNode, context: TaskContext, stop: threading.Event
    ) -> tuple[bytes, str | None]:
        """Run one attempt; return the encoded output, or the error text."""
        outcome: list[tuple[bytes, str | None]] = []

        def attempt() -> None:
            try:
                value = node.fn(context)
            except Exception as exc:
                outcome.append((b"", f"{type(exc).__name__}: {exc}"))
                return
            try:
                outcome.append((msgspec.msgpack.encode(value), None))
            except (TypeError, ValueError, OverflowError) as exc:
                outcome.append((b"", f"the output cannot be checkpointed: {exc}"))

        if node.timeout is None:
            attempt()
            return outcome[0]
        worker = threading.Thread(target=attempt, name=f"fake-dag-node-{node.id}", daemon=True)
        worker.start()
        worker.join(node.timeout)
        if worker.is_alive():
            # A Python thread cannot be killed: ask the task to stop and disown it.
            stop.set()
            return b"", f"timed out after {node.timeout} s"
        return outcome[0]

    # -- the port ---------------------------------------------------------------------

    def _record(self, run_id: str) -> _RunRecord:
        rec = self.checkpoints.runs.get(run_id)
        if rec is None:
            raise UnknownRunError("no run has this id", where=run_id)
        return rec

    def submit(self, workflow: TaskGraph) -> str:
        """Start running a task graph; return the run id."""
        if not isinstance(workflow, TaskGraph):
            raise TypeError(f"FakeDagTracker runs TaskGraph, not {type(workflow).__name__}")
        run_id = f"run-{uuid.uuid4().hex[:12]}"
        with self._cond:
            if self._closed:
                raise TrackerClosedError("the tracker is closed")
            rec = _RunRecord(
                graph=workflow,
                state="pending",
                nodes={n: NodeStatus(node_id=n, state="pending") for n in workflow.order},
            )
            self.checkpoints.runs[run_id] = rec
            self._emit(run_id, rec, None, "pending")
            self._start(run_id)
        return run_id

    def status(self, run_id: str) -> RunStatus:
        """Return a snapshot of a run."""
        with self._cond:
            rec = self._record(run_id)
            return RunStatus(run_id=run_id, state=rec.state, nodes=dict(rec.nodes), error=rec.error)

    def wait(self, run_id: str, timeout: float | None = None) -> RunStatus:
        """Wait until the run is terminal and its thread has stopped."""
        with self._cond:
            rec = self._record(run_id)
            done = self._cond.wait_for(
                lambda: rec.state in TERMINAL_RUN_STATES and run_id not in self._active, timeout
            )
            if not done:
                raise WaitTimeoutError(
                    f"the run is still {rec.state} after {timeout} s", where=run_id
                )
        return self.status(run_id)

    def cancel(self, run_id: str) -> None:
        """Cancel a run; a running task is asked to stop."""
        with self._cond:
            rec = self._record(run_id)
            active = self._active.get(run_id)
            if active is None or rec.state in TERMINAL_RUN_STATES:
                return
            active.cancel.set()
            if active.stop is not None:
                active.stop.set()

    def resume(self, run_id: str) -> None:
        """Run a failed or cancelled run again from its checkpoint."""
        with self._cond:
            if self._closed:
                raise TrackerClosedError("the tracker is closed")
            rec = self._record(run_id)
            if rec.state not in ("failed", "cancelled") or run_id in self._active:
                raise RunNotResumableError(
                    f"the run is {rec.state}: only a failed or cancelled run can be resumed",
                    where=run_id,
                )
            for node_id, status in rec.nodes.items():
                if status.state != "succeeded":
                    self._set(run_id, rec, node_id, "pending")
            rec.state = "pending"
            rec.error = None
            self._emit(run_id, rec, None, "pending")
            self._start(run_id)

    def result(self, run_id: str, node_id: str) -> Any:
        """Return a succeeded node's output, decoded from the checkpoint."""
        with self._cond:
            rec = self._record(run_id)
            status = rec.nodes.get(node_id)
            if status is None or status.state != "succeeded":
                state = "absent" if status is None else status.state
                raise NoResultError(f"the node is {state}, so it has no output", where=node_id)
            data = rec.outputs[node_id]
        return msgspec.msgpack.decode(data)

    def events(self, run_id: str, after: int = 0) -> list[RunEvent]:
        """Return the run's events with a sequence number above ``after``."""
        with self._cond:
            return list(self._record(run_id).events[max(after, 0) :])

    def close(self) -> None:
        """Cancel active runs, wait for their threads, refuse further use."""
        with self._cond:
            self._closed = True
            actives = list(self._active.items())
            for _, active in actives:
                active.cancel.set()
                if active.stop is not None:
                    active.stop.set()
        for _, active in actives:
            active.thread.join()
