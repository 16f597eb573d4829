"""The DAG Tracker port: runs workflows, checkpoints them and resumes them.

The port is generic in the workflow type (``DagTracker[W]``): the real tracker takes the
workflow model of :mod:`symphony_core.workflow`, the double a graph of Python callables.
Everything the tracker reports is keyed by node id (``str``), so the port needs nothing
else from the workflow.

Promises every adapter keeps (checked by
:class:`symphony_core.testing.contracts.DagTrackerContract`):

* A node runs only after every node it depends on succeeded, and receives their outputs.
* A node that fails after its retries makes every node downstream of it ``skipped``;
  independent nodes still run. The run then ends ``failed``.
* Each node's outcome is checkpointed when it finishes. :meth:`DagTracker.resume` runs a
  failed or cancelled run again from its checkpoint — also on a new tracker instance
  over the same storage — and never re-runs a node that succeeded.
* Each run has an ordered event stream: sequence numbers 1, 2, 3... without gaps, which a
  reader resumes with ``after``.
* Node outputs must be msgspec-encodable: they are checkpointed, and come back decoded
  (a tuple returns as a list).
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

import msgspec

from symphony_core.errors import SymphonyError, UserError

__all__ = [
    "DagTracker",
    "NodeState",
    "NodeStatus",
    "NoResultError",
    "RunEvent",
    "RunNotResumableError",
    "RunState",
    "RunStatus",
    "TERMINAL_RUN_STATES",
    "TrackerClosedError",
    "TrackerError",
    "UnknownRunError",
    "WaitTimeoutError",
]

WorkflowT = TypeVar("WorkflowT", contravariant=True)

RunState = Literal["pending", "running", "succeeded", "failed", "cancelled"]
NodeState = Literal["pending", "ready", "running", "succeeded", "failed", "skipped", "cancelled"]

TERMINAL_RUN_STATES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
"""Run states after which nothing happens unless the run is resumed."""


class NodeStatus(msgspec.Struct, frozen=True, kw_only=True):
    """The state of one node of a run.

    Attributes:
        node_id: The node's id.
        state: Where the node is.
        attempts: How many times it started (retries and resumes included).
        error: Why it failed, was skipped or cancelled.
    """

    node_id: str
    state: NodeState
    attempts: int = 0
    error: str | None = None


class RunStatus(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of a run.

    Attributes:
        run_id: The run's id.
        state: Where the run is.
        nodes: Every node's status, by node id.
        error: Why the run failed or was cancelled.
    """

    run_id: str
    state: RunState
    nodes: dict[str, NodeStatus]
    error: str | None = None

    @property
    def done(self) -> int:
        """Nodes that reached a final state (succeeded, failed, skipped, cancelled)."""
        return sum(
            1
            for node in self.nodes.values()
            if node.state in ("succeeded", "failed", "skipped", "cancelled")
        )

    @property
    def progress(self) -> float:
        """Fraction of nodes in a final state, from 0 to 1 (1 for an empty workflow)."""
        return self.done / len(self.nodes) if self.nodes else 1.0

    @property
    def finished(self) -> bool:
        """Whether the run is in a terminal state."""
        return self.state in TERMINAL_RUN_STATES


class RunEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One change of a run or of one of its nodes.

    Attributes:
        run_id: The run's id.
        seq: Position in the run's stream, from 1, without gaps.
        node_id: The node that changed; ``None`` for a change of the run itself.
        state: The new state: a node state, a run state when ``node_id`` is None, or
            ``retrying`` when an attempt failed and the node will run again.
        attempt: The node's attempt number (0 for run events).
        error: Why, for a failure, skip or cancellation.
    """

    run_id: str
    seq: int
    node_id: str | None
    state: str
    attempt: int = 0
    error: str | None = None


class TrackerError(SymphonyError):
    """Base of the DAG Tracker errors."""

    code = "tracker.error"


class UnknownRunError(TrackerError, UserError):
    """No run has that id."""

    code = "tracker.unknown_run"


class RunNotResumableError(TrackerError, UserError):
    """Only a failed or cancelled run can be resumed."""

    code = "tracker.not_resumable"


class NoResultError(TrackerError, UserError):
    """The node has no output: it did not succeed (or does not exist)."""

    code = "tracker.no_result"


class WaitTimeoutError(TrackerError):
    """The run did not finish within the wait's timeout."""

    code = "tracker.wait_timeout"


class TrackerClosedError(TrackerError):
    """The tracker was used after :meth:`DagTracker.close`."""

    code = "tracker.closed"


@runtime_checkable
class DagTracker(Protocol[WorkflowT]):
    """Runs workflows of type ``WorkflowT`` (see the module documentation)."""

    def submit(self, workflow: WorkflowT) -> str:
        """Start running a workflow in the background.

        Args:
            workflow: The workflow to run (validated beforehand).

        Returns:
            The new run's id.

        Raises:
            TrackerClosedError: The tracker is closed.
        """
        ...

    def status(self, run_id: str) -> RunStatus:
        """Return a snapshot of a run.

        Raises:
            UnknownRunError: No run has that id.
        """
        ...

    def wait(self, run_id: str, timeout: float | None = None) -> RunStatus:
        """Wait until the run is in a terminal state and return its status.

        Args:
            run_id: The run's id.
            timeout: Seconds to wait at most; ``None`` waits as long as needed.

        Returns:
            The final status.

        Raises:
            UnknownRunError: No run has that id.
            WaitTimeoutError: The run did not finish in time (it keeps running).
        """
        ...

    def cancel(self, run_id: str) -> None:
        """Cancel a run: nodes not started yet become ``cancelled``.

        A running node is asked to stop and keeps its outcome if it finishes anyway.
        Cancelling a finished run does nothing.

        Raises:
            UnknownRunError: No run has that id.
        """
        ...

    def resume(self, run_id: str) -> None:
        """Run a failed or cancelled run again from its checkpoint, in the background.

        Nodes that succeeded are not run again; their checkpointed outputs feed the
        others. Failed, skipped and cancelled nodes run again.

        Raises:
            UnknownRunError: No run has that id.
            RunNotResumableError: The run is not failed or cancelled.
            TrackerClosedError: The tracker is closed.
        """
        ...

    def result(self, run_id: str, node_id: str) -> Any:
        """Return the output of a node that succeeded (as decoded from the checkpoint).

        Raises:
            UnknownRunError: No run has that id.
            NoResultError: The node did not succeed or does not exist.
        """
        ...

    def events(self, run_id: str, after: int = 0) -> list[RunEvent]:
        """Return the run's events with a sequence number above ``after``, in order.

        Args:
            run_id: The run's id.
            after: The last sequence number already seen (0 for all).

        Raises:
            UnknownRunError: No run has that id.
        """
        ...

    def close(self) -> None:
        """Cancel active runs, wait for them to stop, checkpoint and refuse further use.

        Idempotent. Cancelled runs can be resumed by a tracker opened later over the same
        storage.
        """
        ...
