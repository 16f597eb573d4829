"""Reusable contract suites: one pytest class per port that every adapter must pass.

An adapter's test module subclasses the suite and supplies its fixture::

    from symphony_core.testing.contracts import ArtifactStoreContract

    class TestSqliteStore(ArtifactStoreContract):
        @pytest.fixture
        def store_factory(self, tmp_path):
            counter = itertools.count()
            return lambda: MyStoreHarness(tmp_path / str(next(counter)))

This package imports pytest and hypothesis: import it from tests only.
"""

import pytest

# Contract modules hold the asserts; have pytest rewrite them for readable failures.
pytest.register_assert_rewrite(
    "symphony_core.testing.contracts.arbitration",
    "symphony_core.testing.contracts.artifacts",
    "symphony_core.testing.contracts.bus",
    "symphony_core.testing.contracts.data",
    "symphony_core.testing.contracts.pool",
    "symphony_core.testing.contracts.runtime",
    "symphony_core.testing.contracts.stale",
    "symphony_core.testing.contracts.tracker",
)

from symphony_core.testing.contracts.arbitration import (  # noqa: E402
    ArbitrationEngineContract,
    EngineFactory,
)
from symphony_core.testing.contracts.artifacts import (  # noqa: E402
    ArtifactStoreContract,
    StoreFactory,
)
from symphony_core.testing.contracts.bus import EventBusContract  # noqa: E402
from symphony_core.testing.contracts.data import DataAccessContract  # noqa: E402
from symphony_core.testing.contracts.pool import PoolFactory, PoolManagerContract  # noqa: E402
from symphony_core.testing.contracts.runtime import ExtensionRuntimeContract  # noqa: E402
from symphony_core.testing.contracts.stale import StaleFactory, StaleManagerContract  # noqa: E402
from symphony_core.testing.contracts.tracker import DagTrackerContract  # noqa: E402

__all__ = [
    "ArbitrationEngineContract",
    "ArtifactStoreContract",
    "DagTrackerContract",
    "DataAccessContract",
    "EngineFactory",
    "EventBusContract",
    "ExtensionRuntimeContract",
    "PoolFactory",
    "PoolManagerContract",
    "StaleFactory",
    "StaleManagerContract",
    "StoreFactory",
]
