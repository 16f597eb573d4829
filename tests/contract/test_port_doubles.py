"""Every in-memory double passes its port's contract suite."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from symphony_core import ports
from symphony_core.testing import (
    FakeArbitrationEngine,
    FakeArtifactStore,
    FakeDagTracker,
    FakeExtensionRuntime,
    FakePoolHarness,
    FakePoolManager,
    FakeRegistryHarness,
    FakeRuntimeHarness,
    FakeStaleHarness,
    FakeStaleManager,
    FakeStoreHarness,
    FakeTrackerHarness,
    InMemoryEventBus,
    InMemoryRegistry,
)
from symphony_core.testing.contracts import (
    ArbitrationEngineContract,
    ArtifactStoreContract,
    DagTrackerContract,
    DataAccessContract,
    EngineFactory,
    EventBusContract,
    ExtensionRuntimeContract,
    PoolFactory,
    PoolManagerContract,
    StaleFactory,
    StaleManagerContract,
    StoreFactory,
)


class TestFakeExtensionRuntime(ExtensionRuntimeContract):
    @pytest.fixture
    def runtime_harness(self) -> FakeRuntimeHarness:
        return FakeRuntimeHarness()


class TestInMemoryRegistry(DataAccessContract):
    @pytest.fixture
    def registry_harness(self) -> FakeRegistryHarness:
        return FakeRegistryHarness()


class TestInMemoryEventBus(EventBusContract):
    @pytest.fixture
    def bus(self) -> InMemoryEventBus:
        return InMemoryEventBus()


class TestFakePoolManager(PoolManagerContract):
    @pytest.fixture
    def pool_factory(self) -> PoolFactory:
        def build(budget: int, sizes: Mapping[str, int]) -> FakePoolHarness:
            return FakePoolHarness(budget, sizes)

        return build


class TestFakeDagTracker(DagTrackerContract):
    @pytest.fixture
    def tracker_harness(self) -> FakeTrackerHarness:
        return FakeTrackerHarness()


class TestFakeArtifactStore(ArtifactStoreContract):
    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        return FakeStoreHarness


class TestFakeArbitrationEngine(ArbitrationEngineContract):
    @pytest.fixture
    def engine_factory(self) -> EngineFactory:
        return FakeArbitrationEngine


class TestFakeStaleManager(StaleManagerContract):
    @pytest.fixture
    def stale_factory(self) -> StaleFactory:
        return FakeStaleHarness


@pytest.mark.parametrize(
    ("double", "port"),
    [
        (FakeExtensionRuntime(), ports.ExtensionRuntime),
        (InMemoryRegistry(), ports.DataAccess),
        (InMemoryEventBus(), ports.EventBus),
        (FakePoolManager(0, FakePoolHarness(0, {})._factory), ports.PoolManager),
        (FakeDagTracker(), ports.DagTracker),
        (FakeArtifactStore(), ports.ArtifactStore),
        (FakeArbitrationEngine(), ports.ArbitrationEngine),
        (FakeStaleManager(), ports.StaleManager),
    ],
    ids=lambda value: type(value).__name__ if not isinstance(value, type) else value.__name__,
)
def test_every_double_is_an_instance_of_its_port(double: object, port: type) -> None:
    assert isinstance(double, port)


@pytest.mark.parametrize(
    "port",
    [
        ports.ExtensionRuntime,
        ports.DataAccess,
        ports.EventBus,
        ports.PoolManager,
        ports.DagTracker,
        ports.ArtifactStore,
        ports.ArbitrationEngine,
        ports.StaleManager,
    ],
)
def test_a_plain_object_is_not_a_port(port: type) -> None:
    assert not isinstance(object(), port)
