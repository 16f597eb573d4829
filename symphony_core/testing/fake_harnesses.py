"""Harnesses that run the contract suites against the in-memory doubles.

They are also worked examples for adapter authors: a real adapter's harness does the
same things against real processes, servers and files.
"""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from symphony_core.extension import ExtensionRecord
from symphony_core.ports.tracker import DagTracker
from symphony_core.testing.artifacts import FakeArtifactStore
from symphony_core.testing.clock import ManualClock
from symphony_core.testing.harnesses import (
    PROBE_ADD,
    PROBE_ASYNC_ECHO,
    PROBE_ECHO,
    PROBE_FAIL,
    Behaviour,
    Block,
    Fail,
    FailTimes,
    Gather,
    GraphSpec,
    Sleep,
    Succeed,
)
from symphony_core.testing.pool import FakePoolManager
from symphony_core.testing.records import make_record
from symphony_core.testing.registry import InMemoryRegistry, RegistryState
from symphony_core.testing.runtime import ACTIVATE, DEACTIVATE, FakeExtensionRuntime
from symphony_core.testing.stale import FakeStaleManager
from symphony_core.testing.tracker import (
    CheckpointMemory,
    FakeDagTracker,
    TaskContext,
    TaskGraph,
    TaskNode,
)

__all__ = [
    "FakeInstance",
    "FakePoolHarness",
    "FakeRegistryHarness",
    "FakeRuntimeHarness",
    "FakeStaleHarness",
    "FakeStoreHarness",
    "FakeTrackerHarness",
]


class FakeRuntimeHarness:
    """Probe extensions made of Python callables, in a :class:`FakeExtensionRuntime`."""

    def __init__(self) -> None:
        self.fake = FakeExtensionRuntime()
        self._log: list[tuple[str, str]] = []

    @property
    def runtime(self) -> FakeExtensionRuntime:
        """The runtime under test."""
        return self.fake

    def probe(
        self, name: str, *, fail_activate: bool = False, fail_deactivate: bool = False
    ) -> ExtensionRecord:
        """Return a new probe extension ``probe.<name>``, added to the runtime."""
        record = make_record(f"probe.{name}")
        ext_id = record.id

        def activate() -> None:
            self._log.append(("activate", ext_id))
            if fail_activate:
                raise RuntimeError("planned activation failure")

        def deactivate() -> None:
            self._log.append(("deactivate", ext_id))
            if fail_deactivate:
                raise RuntimeError("planned deactivation failure")

        def echo(value: Any) -> Any:
            return value

        def add(a: Any, b: Any) -> Any:
            return a + b

        def fail(message: str) -> None:
            raise RuntimeError(message)

        async def async_echo(value: Any) -> Any:
            return value

        self.fake.add(
            record,
            {
                ACTIVATE: activate,
                DEACTIVATE: deactivate,
                PROBE_ECHO: echo,
                PROBE_ADD: add,
                PROBE_FAIL: fail,
                PROBE_ASYNC_ECHO: async_echo,
            },
        )
        return record

    def lifecycle(self) -> list[tuple[str, str]]:
        """Return the lifecycle hooks of probes that ran, in order."""
        return list(self._log)


class FakeRegistryHarness:
    """An :class:`InMemoryRegistry` with users ``alice`` (owner) and ``bob`` (other)."""

    def __init__(self) -> None:
        self.state = RegistryState()
        alice, bob = secrets.token_hex(16), secrets.token_hex(16)
        self.state.add_token(alice, "alice")
        self.state.add_token(bob, "bob")
        self._owner = InMemoryRegistry(self.state, token=alice)
        self._other = InMemoryRegistry(self.state, token=bob)
        self._anonymous = InMemoryRegistry(self.state)

    @property
    def owner(self) -> InMemoryRegistry:
        """Alice's client."""
        return self._owner

    @property
    def other(self) -> InMemoryRegistry:
        """Bob's client."""
        return self._other

    @property
    def anonymous(self) -> InMemoryRegistry:
        """A client without a token."""
        return self._anonymous

    def requests(self) -> int:
        """Return the requests the registry received."""
        return self.state.requests


class FakeInstance:
    """An instrument instance of the fake pool's factory.

    Args:
        key: The instrument key.
        serial: Which load of that key produced it (from 1).
    """

    def __init__(self, key: str, serial: int) -> None:
        self.key = key
        self.serial = serial
        self.loaded = True

    def __repr__(self) -> str:
        return f"FakeInstance({self.key!r}, {self.serial})"


class _Factory:
    def __init__(self, sizes: Mapping[str, int]) -> None:
        self.sizes = dict(sizes)
        self.live: Counter[str] = Counter()
        self.serials: Counter[str] = Counter()
        self.unhealthy: set[str] = set()
        self.failing: set[str] = set()
        self.lock = threading.Lock()

    def memory(self, key: str) -> int | None:
        return self.sizes.get(key)

    def load(self, key: str) -> FakeInstance:
        with self.lock:
            if key in self.failing:
                raise RuntimeError(f"planned load failure of {key}")
            self.serials[key] += 1
            self.live[key] += 1
            return FakeInstance(key, self.serials[key])

    def unload(self, key: str, instance: FakeInstance) -> None:
        with self.lock:
            if not instance.loaded:
                raise AssertionError(f"{instance!r} unloaded twice")
            instance.loaded = False
            self.live[key] -= 1

    def check(self, key: str, instance: FakeInstance) -> str | None:
        return "planned health failure" if key in self.unhealthy else None


class FakePoolHarness:
    """A :class:`FakePoolManager` over instruments of the given sizes.

    Args:
        budget: The memory budget.
        sizes: Instrument key to the memory one instance needs.
    """

    def __init__(self, budget: int, sizes: Mapping[str, int]) -> None:
        self._factory = _Factory(sizes)
        self._pool: FakePoolManager[FakeInstance] = FakePoolManager(budget, self._factory)

    @property
    def pool(self) -> FakePoolManager[FakeInstance]:
        """The pool under test."""
        return self._pool

    def live(self, key: str) -> int:
        """Return how many instances of ``key`` are loaded."""
        return self._factory.live[key]

    def set_healthy(self, key: str, healthy: bool) -> None:
        """Make health checks of ``key`` pass or fail."""
        (self._factory.unhealthy.discard if healthy else self._factory.unhealthy.add)(key)

    def set_load_failure(self, key: str, fail: bool) -> None:
        """Make loading ``key`` raise or succeed."""
        (self._factory.failing.add if fail else self._factory.failing.discard)(key)


class FakeTrackerHarness:
    """Builds :class:`TaskGraph` workflows for a :class:`FakeDagTracker`."""

    def __init__(self) -> None:
        self._tracker = FakeDagTracker(CheckpointMemory())
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._started: dict[str, threading.Event] = {}
        self._released: dict[str, threading.Event] = {}

    @property
    def tracker(self) -> DagTracker[TaskGraph]:
        """The current tracker."""
        return self._tracker

    def _event(self, table: dict[str, threading.Event], node_id: str) -> threading.Event:
        with self._lock:
            return table.setdefault(node_id, threading.Event())

    def _task(self, node_id: str, behaviour: Behaviour) -> Callable[[TaskContext], Any]:
        started = self._event(self._started, node_id)
        released = self._event(self._released, node_id)

        def run(ctx: TaskContext) -> Any:
            with self._lock:
                self._counts[node_id] += 1
                count = self._counts[node_id]
            started.set()
            match behaviour:
                case Succeed(value):
                    return value
                case Fail(message):
                    raise RuntimeError(message)
                case FailTimes(times, value):
                    if count <= times:
                        raise RuntimeError(f"planned failure {count} of {times}")
                    return value
                case Gather():
                    return dict(ctx.inputs)
                case Block(value):
                    while not released.wait(0.005):
                        if ctx.cancelled():
                            raise RuntimeError("asked to stop before being released")
                    return value
                case Sleep(seconds, value):
                    if ctx.wait_cancelled(seconds):
                        raise RuntimeError("asked to stop while sleeping")
                    return value

        return run

    def build(self, spec: GraphSpec) -> TaskGraph:
        """Return a task graph that behaves as ``spec`` says."""
        return TaskGraph(
            TaskNode(
                id=node.id,
                fn=self._task(node.id, node.behaviour),
                after=node.after,
                retries=node.retries,
                timeout=node.timeout,
            )
            for node in spec.nodes
        )

    def executions(self, node_id: str) -> int:
        """Return how many times the node's behaviour started."""
        with self._lock:
            return self._counts[node_id]

    def started(self, node_id: str, timeout: float) -> bool:
        """Wait until the node's behaviour has started."""
        return self._event(self._started, node_id).wait(timeout)

    def release(self, node_id: str) -> None:
        """Let a Block node finish."""
        self._event(self._released, node_id).set()

    def reopen(self) -> FakeDagTracker:
        """Close the tracker and open a new one over the same checkpoints."""
        self._tracker.close()
        self._tracker = FakeDagTracker(self._tracker.checkpoints)
        return self._tracker


class FakeStoreHarness:
    """A :class:`FakeArtifactStore` whose bytes can be damaged."""

    def __init__(self) -> None:
        self._store = FakeArtifactStore()

    @property
    def store(self) -> FakeArtifactStore:
        """The store under test."""
        return self._store

    def damage(self, digest: str, *, remove: bool = False) -> None:
        """Append a byte to the stored bytes, or remove them.

        Appending means repeated damage never undoes itself.
        """
        if remove:
            self._store.tamper(digest, None)
            return
        self._store.tamper(digest, (self._store.raw(digest) or b"") + b"\x00")


class FakeStaleHarness:
    """A :class:`FakeStaleManager` on a :class:`ManualClock`."""

    def __init__(self) -> None:
        self.clock = ManualClock(1000.0)
        self._manager = FakeStaleManager(clock=self.clock)

    @property
    def manager(self) -> FakeStaleManager:
        """The manager under test."""
        return self._manager

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.clock.advance(seconds)
