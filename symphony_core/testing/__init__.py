"""Test doubles for every port, and what the contract suites need to drive adapters.

Each double keeps the promises of its port (checked by the same contract suite as the
real adapter), so tests of the domain core can run on them:

* :class:`FakeExtensionRuntime` — extensions made of Python callables.
* :class:`InMemoryRegistry` — a registry client over an in-memory registry with its rules.
* :class:`InMemoryEventBus` — synchronous, deterministic delivery.
* :class:`FakePoolManager`, :class:`FakeDagTracker`, :class:`FakeArtifactStore`,
  :class:`FakeArbitrationEngine`, :class:`FakeStaleManager` — the Pit services.

Importing this package needs no pytest; the contract suites live in
:mod:`symphony_core.testing.contracts`, which does.
"""

from symphony_core.testing.arbitration import FakeArbitrationEngine
from symphony_core.testing.artifacts import FakeArtifactStore
from symphony_core.testing.bus import InMemoryEventBus
from symphony_core.testing.clock import ManualClock
from symphony_core.testing.fake_harnesses import (
    FakeInstance,
    FakePoolHarness,
    FakeRegistryHarness,
    FakeRuntimeHarness,
    FakeStaleHarness,
    FakeStoreHarness,
    FakeTrackerHarness,
)
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
    NodeSpec,
    PoolHarness,
    RegistryHarness,
    RuntimeHarness,
    Sleep,
    StaleHarness,
    StoreHarness,
    Succeed,
    TrackerHarness,
)
from symphony_core.testing.pool import FakePoolManager, InstrumentFactory
from symphony_core.testing.records import make_manifest, make_record
from symphony_core.testing.registry import InMemoryRegistry, RegistryState
from symphony_core.testing.runtime import (
    ACTIVATE,
    DEACTIVATE,
    FakeExtensionRuntime,
    HookImpl,
    RecordedCall,
)
from symphony_core.testing.stale import FakeStaleManager
from symphony_core.testing.tracker import (
    CheckpointMemory,
    FakeDagTracker,
    TaskContext,
    TaskGraph,
    TaskGraphError,
    TaskNode,
)

__all__ = [
    "ACTIVATE",
    "DEACTIVATE",
    "PROBE_ADD",
    "PROBE_ASYNC_ECHO",
    "PROBE_ECHO",
    "PROBE_FAIL",
    "Behaviour",
    "Block",
    "CheckpointMemory",
    "Fail",
    "FailTimes",
    "FakeArbitrationEngine",
    "FakeArtifactStore",
    "FakeDagTracker",
    "FakeExtensionRuntime",
    "FakeInstance",
    "FakePoolHarness",
    "FakePoolManager",
    "FakeRegistryHarness",
    "FakeRuntimeHarness",
    "FakeStaleHarness",
    "FakeStaleManager",
    "FakeStoreHarness",
    "FakeTrackerHarness",
    "Gather",
    "GraphSpec",
    "HookImpl",
    "InMemoryEventBus",
    "InMemoryRegistry",
    "InstrumentFactory",
    "ManualClock",
    "NodeSpec",
    "PoolHarness",
    "RecordedCall",
    "RegistryHarness",
    "RegistryState",
    "RuntimeHarness",
    "Sleep",
    "StaleHarness",
    "StoreHarness",
    "Succeed",
    "TaskContext",
    "TaskGraph",
    "TaskGraphError",
    "TaskNode",
    "TrackerHarness",
    "make_manifest",
    "make_record",
]
