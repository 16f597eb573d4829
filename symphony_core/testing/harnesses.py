"""What an adapter's test supplies to run a contract suite: harness protocols and specs.

A contract suite cannot build an adapter's world by itself: a probe extension for a
runtime, a registry server with two users, a workflow for a tracker. Each suite asks its
fixture for a *harness* that does it, and describes what it needs in neutral terms (for
example a :class:`GraphSpec` that a harness turns into a workflow of its tracker).

This module needs no pytest, so harness code can live next to an adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from symphony_core.extension import ExtensionRecord
from symphony_core.ports.artifacts import ArtifactStore
from symphony_core.ports.data import DataAccess
from symphony_core.ports.pool import PoolManager
from symphony_core.ports.runtime import ExtensionRuntime
from symphony_core.ports.stale import StaleManager
from symphony_core.ports.tracker import DagTracker

__all__ = [
    "PROBE_ASYNC_ECHO",
    "PROBE_ADD",
    "PROBE_ECHO",
    "PROBE_FAIL",
    "Behaviour",
    "Block",
    "Fail",
    "FailTimes",
    "Gather",
    "GraphSpec",
    "NodeSpec",
    "PoolHarness",
    "RegistryHarness",
    "RuntimeHarness",
    "Sleep",
    "StaleHarness",
    "StoreHarness",
    "Succeed",
    "TrackerHarness",
]

WorkflowT = TypeVar("WorkflowT")

# -- extension runtime ----------------------------------------------------------------

PROBE_ECHO = "probe_echo"
"""Probe hook ``probe_echo(value)``: returns ``value``."""
PROBE_ADD = "probe_add"
"""Probe hook ``probe_add(a, b)``: returns ``a + b``."""
PROBE_FAIL = "probe_fail"
"""Probe hook ``probe_fail(message)``: raises an exception whose message is ``message``."""
PROBE_ASYNC_ECHO = "probe_async_echo"
"""Probe hook ``probe_async_echo(value)``: a coroutine function returning ``value``."""


class RuntimeHarness(Protocol):
    """Probe extensions for an :class:`~symphony_core.ports.runtime.ExtensionRuntime`.

    A probe implements the hooks :data:`PROBE_ECHO`, :data:`PROBE_ADD`,
    :data:`PROBE_FAIL` and :data:`PROBE_ASYNC_ECHO`, and its activate and deactivate
    hooks append to :meth:`lifecycle`.
    """

    @property
    def runtime(self) -> ExtensionRuntime:
        """The runtime under test."""
        ...

    def probe(
        self, name: str, *, fail_activate: bool = False, fail_deactivate: bool = False
    ) -> ExtensionRecord:
        """Return a new probe extension ``probe.<name>``, known to the runtime, inactive.

        Args:
            name: Second part of the id (lower-case letters and digits).
            fail_activate: Its activate hook raises.
            fail_deactivate: Its deactivate hook raises.
        """
        ...

    def lifecycle(self) -> list[tuple[str, str]]:
        """Return the probes' lifecycle hooks that ran (completed or raised), in order.

        Each entry is ``("activate" | "deactivate", extension id)``.
        """
        ...


# -- data access ------------------------------------------------------------------------


class RegistryHarness(Protocol):
    """Three clients of one fresh, empty registry."""

    @property
    def owner(self) -> DataAccess:
        """A client whose token authenticates one user."""
        ...

    @property
    def other(self) -> DataAccess:
        """A client whose token authenticates another user."""
        ...

    @property
    def anonymous(self) -> DataAccess:
        """A client without a token."""
        ...

    def requests(self) -> int:
        """Return how many requests the registry has received so far."""
        ...


# -- pool manager -----------------------------------------------------------------------


class PoolHarness(Protocol):
    """A pool over instruments whose health and loading the test controls."""

    @property
    def pool(self) -> PoolManager[Any]:
        """The pool under test."""
        ...

    def live(self, key: str) -> int:
        """Return how many instances of ``key`` are loaded on the instrument side."""
        ...

    def set_healthy(self, key: str, healthy: bool) -> None:
        """Make health checks of ``key``'s instances pass or fail from now on."""
        ...

    def set_load_failure(self, key: str, fail: bool) -> None:
        """Make loading ``key`` raise (or succeed again) from now on."""
        ...


# -- dag tracker ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Succeed:
    """The node returns ``value``."""

    value: Any = None


@dataclass(frozen=True, slots=True)
class Fail:
    """The node raises with ``message`` on every attempt."""

    message: str = "planned failure"


@dataclass(frozen=True, slots=True)
class FailTimes:
    """The node's first ``times`` executions raise, the later ones return ``value``."""

    times: int
    value: Any = None


@dataclass(frozen=True, slots=True)
class Gather:
    """The node returns ``{upstream node id: its output}``."""


@dataclass(frozen=True, slots=True)
class Block:
    """The node waits until the harness releases it, then returns ``value``.

    If it is asked to stop first, it raises.
    """

    value: Any = None


@dataclass(frozen=True, slots=True)
class Sleep:
    """The node sleeps ``seconds`` (raising early if asked to stop), then returns ``value``."""

    seconds: float
    value: Any = None


Behaviour = Succeed | Fail | FailTimes | Gather | Block | Sleep


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """One node of a :class:`GraphSpec`.

    Attributes:
        id: Node id, unique in the graph.
        behaviour: What it does when run.
        after: Ids of the nodes whose outputs it takes.
        retries: Extra attempts after a failure.
        timeout: Seconds an attempt may take.
    """

    id: str
    behaviour: Behaviour
    after: tuple[str, ...] = ()
    retries: int = 0
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class GraphSpec:
    """A workflow described independently of any workflow model.

    Attributes:
        nodes: The nodes, in the order that breaks ties between independent nodes.
    """

    nodes: tuple[NodeSpec, ...]


class TrackerHarness(Protocol[WorkflowT]):
    """Builds workflows for a tracker and watches their nodes run.

    Node ids are unique across the graphs one harness builds.
    """

    @property
    def tracker(self) -> DagTracker[WorkflowT]:
        """The current tracker (the new one after :meth:`reopen`)."""
        ...

    def build(self, spec: GraphSpec) -> WorkflowT:
        """Return a workflow that behaves as ``spec`` says."""
        ...

    def executions(self, node_id: str) -> int:
        """Return how many times the node's behaviour started, across all runs."""
        ...

    def started(self, node_id: str, timeout: float) -> bool:
        """Wait until the node's behaviour has started at least once; return whether it did."""
        ...

    def release(self, node_id: str) -> None:
        """Let a :class:`Block` node finish."""
        ...

    def reopen(self) -> DagTracker[WorkflowT]:
        """Close the tracker and open a new one over the same durable storage."""
        ...


# -- artifact store ---------------------------------------------------------------------


class StoreHarness(Protocol):
    """An artifact store whose stored bytes the test can damage."""

    @property
    def store(self) -> ArtifactStore:
        """The store under test."""
        ...

    def damage(self, digest: str, *, remove: bool = False) -> None:
        """Change (or, with ``remove``, delete) the stored bytes behind ``digest``.

        Damage must stick: damaging the same artifact twice must not restore it.
        """
        ...


# -- stale manager ----------------------------------------------------------------------


class StaleHarness(Protocol):
    """A stale manager whose clock the test moves."""

    @property
    def manager(self) -> StaleManager:
        """The manager under test."""
        ...

    def advance(self, seconds: float) -> None:
        """Move the manager's clock forward."""
        ...
