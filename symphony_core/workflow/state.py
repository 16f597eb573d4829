"""Execution state of one run: each node's state, only legal transitions, progress, events.

Node states and the moves between them::

    pending ──> ready ──> running ──> succeeded
       │          │          ├──────> failed ──> ready      (retry)
       │          │          └──────> cancelled
       ├──> skipped  <──┤
       └──> cancelled <─┘

* ``pending``: waiting for its upstream; ``ready``: may be started; ``running``: started.
* ``succeeded``, ``skipped`` (a branch not taken, an upstream failure) and ``cancelled``
  are final; ``failed`` is final unless the node is retried (``failed -> ready``).
* :meth:`RunState.reset` puts finished nodes back to ``pending`` for a partial re-run
  (e.g. the downstream closure of a changed node); a running node must be cancelled
  first.

Every accepted change is published to an :class:`~symphony_core.workflow.events.EventLog`
as a ``node.state`` event (with the previous state), in the order the changes were
made; an illegal one raises
:class:`~symphony_core.workflow.errors.IllegalTransitionError` and changes nothing.
:class:`RunState` is thread-safe: executor threads may report concurrently.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from symphony_core.workflow.errors import IllegalTransitionError, UnknownNodeError, WorkflowError
from symphony_core.workflow.events import Event, EventLog
from symphony_core.workflow.model import Workflow

__all__ = ["FINAL_STATES", "TRANSITIONS", "NodeState", "Progress", "RunState"]


class NodeState(StrEnum):
    """The state of one node in one run."""

    PENDING = "pending"
    READY = "ready"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


TRANSITIONS: Mapping[NodeState, frozenset[NodeState]] = {
    NodeState.PENDING: frozenset({NodeState.READY, NodeState.SKIPPED, NodeState.CANCELLED}),
    NodeState.READY: frozenset({NodeState.RUNNING, NodeState.SKIPPED, NodeState.CANCELLED}),
    NodeState.RUNNING: frozenset({NodeState.SUCCEEDED, NodeState.FAILED, NodeState.CANCELLED}),
    NodeState.FAILED: frozenset({NodeState.READY}),
    NodeState.SUCCEEDED: frozenset(),
    NodeState.SKIPPED: frozenset(),
    NodeState.CANCELLED: frozenset(),
}
"""The legal moves: state -> the states it may go to next."""

FINAL_STATES = frozenset(
    {NodeState.SUCCEEDED, NodeState.FAILED, NodeState.SKIPPED, NodeState.CANCELLED}
)
"""States in which a node is done for this run (``failed`` unless retried)."""

_ORDER = tuple(NodeState)


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a run is.

    Attributes:
        total: Number of nodes.
        counts: Number of nodes in each state (every state present, possibly 0).
        done: Nodes in a final state.
        fraction: ``done / total`` (1.0 for an empty workflow).
        finished: Every node is in a final state.
        ok: Finished with no failed or cancelled node.
    """

    total: int
    counts: Mapping[NodeState, int]
    done: int
    fraction: float
    finished: bool
    ok: bool

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return {
            "total": self.total,
            "counts": {str(state): count for state, count in self.counts.items()},
            "done": self.done,
            "fraction": self.fraction,
            "finished": self.finished,
            "ok": self.ok,
        }


class RunState:
    """The states of every node of one run of a workflow.

    Args:
        workflow: The workflow being run (its node ids name the nodes).
        run_id: The run's id (default: a new UUID).
        events: Where state changes are published (default: a new :class:`EventLog`).
        initial: States to start from (e.g. loaded from a checkpoint); the others start
            ``pending``. No events are published for them.
    """

    def __init__(
        self,
        workflow: Workflow,
        *,
        run_id: str | None = None,
        events: EventLog | None = None,
        initial: Mapping[str, NodeState | str] | None = None,
    ) -> None:
        topo = workflow.topology
        if topo.duplicate_nodes:
            raise WorkflowError(
                "cannot track a run of a workflow with duplicate node ids",
                hint="validate the workflow first",
            )
        self.workflow = workflow
        self.run_id = run_id or uuid.uuid4().hex
        self.events = events if events is not None else EventLog()
        self._index = topo.index
        self._ids = topo.ids
        self._states: list[NodeState] = [NodeState.PENDING] * topo.n
        self._counts: dict[NodeState, int] = dict.fromkeys(_ORDER, 0)
        self._counts[NodeState.PENDING] = topo.n
        self._lock = threading.Lock()
        for node_id, state in (initial or {}).items():
            position = self._position(node_id)
            new = NodeState(state)
            self._counts[self._states[position]] -= 1
            self._counts[new] += 1
            self._states[position] = new

    def _position(self, node_id: str) -> int:
        position = self._index.get(node_id)
        if position is None:
            raise UnknownNodeError(
                f"run {self.run_id} has no node {node_id!r}", hint="use the workflow's node ids"
            )
        return position

    def state(self, node_id: str) -> NodeState:
        """The node's current state.

        Raises:
            UnknownNodeError: The workflow has no such node.
        """
        return self._states[self._position(node_id)]

    def states(self) -> dict[str, NodeState]:
        """Every node's state, by id."""
        with self._lock:
            return dict(zip(self._ids, self._states, strict=True))

    def in_state(self, state: NodeState | str) -> list[str]:
        """Ids of the nodes in ``state``, in workflow order."""
        wanted = NodeState(state)
        with self._lock:
            return [
                node_id for node_id, s in zip(self._ids, self._states, strict=True) if s is wanted
            ]

    def can(self, node_id: str, to: NodeState | str) -> bool:
        """Whether the node may move to ``to`` now."""
        return NodeState(to) in TRANSITIONS[self.state(node_id)]

    def transition(
        self, node_id: str, to: NodeState | str, *, data: Mapping[str, Any] | None = None
    ) -> Event:
        """Move a node to a new state and publish a ``node.state`` event.

        Args:
            node_id: The node.
            to: The new state.
            data: Extra facts for the event (an error message, an attempt number...).

        Returns:
            The published event.

        Raises:
            UnknownNodeError: The workflow has no such node.
            IllegalTransitionError: The move is not allowed from the current state.
            ValueError: ``to`` is not a state.
        """
        new = NodeState(to)
        position = self._position(node_id)
        with self._lock:
            current = self._states[position]
            if new not in TRANSITIONS[current]:
                raise IllegalTransitionError(
                    node_id, current, new, sorted(str(s) for s in TRANSITIONS[current])
                )
            self._states[position] = new
            self._counts[current] -= 1
            self._counts[new] += 1
            return self.events.append(
                "node.state",
                run_id=self.run_id,
                node=node_id,
                state=str(new),
                previous=str(current),
                data=data,
            )

    def reset(self, node_ids: Iterable[str]) -> list[Event]:
        """Put nodes back to ``pending`` for a re-run (each published as an event).

        Nodes already ``pending`` are left alone.

        Raises:
            UnknownNodeError: A node is not in the workflow (nothing is changed).
            IllegalTransitionError: A node is running (nothing is changed); cancel it first.
        """
        positions = [(node_id, self._position(node_id)) for node_id in node_ids]
        with self._lock:
            for node_id, position in positions:
                current = self._states[position]
                if current is NodeState.RUNNING:
                    raise IllegalTransitionError(
                        node_id, current, NodeState.PENDING, ["cancelled", "failed", "succeeded"]
                    )
            events: list[Event] = []
            for node_id, position in positions:
                current = self._states[position]
                if current is NodeState.PENDING:
                    continue
                self._states[position] = NodeState.PENDING
                self._counts[current] -= 1
                self._counts[NodeState.PENDING] += 1
                events.append(
                    self.events.append(
                        "node.state",
                        run_id=self.run_id,
                        node=node_id,
                        state=str(NodeState.PENDING),
                        previous=str(current),
                        data={"reset": True},
                    )
                )
            return events

    def publish(self, kind: str, *, data: Mapping[str, Any] | None = None) -> Event:
        """Publish a run-level event (``run.started``, ``run.finished``...)."""
        with self._lock:
            return self.events.append(kind, run_id=self.run_id, data=data)

    def progress(self) -> Progress:
        """How many nodes are in each state and whether the run is finished."""
        with self._lock:
            counts = dict(self._counts)
        total = len(self._states)
        done = sum(counts[state] for state in FINAL_STATES)
        finished = done == total
        return Progress(
            total=total,
            counts=counts,
            done=done,
            fraction=done / total if total else 1.0,
            finished=finished,
            ok=finished and counts[NodeState.FAILED] == 0 and counts[NodeState.CANCELLED] == 0,
        )
