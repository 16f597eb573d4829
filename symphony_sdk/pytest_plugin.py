"""pytest fixtures for extension authors (registered through the ``pytest11`` entry point).

* ``symphony_home`` — a fresh data directory for the test;
* ``symphony_runtime`` — an in-process runtime using it, closed after the test; add your
  package with ``symphony_runtime.add(record_for_package("my_package"))`` and call
  ``symphony_runtime.call_node(...)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from symphony_core import InProcessRuntime
from symphony_sdk.testing import make_runtime

__all__ = ["symphony_home", "symphony_runtime"]


@pytest.fixture
def symphony_home(tmp_path: Path) -> Path:
    """A fresh Symphony data directory for one test."""
    home = tmp_path / "symphony-home"
    home.mkdir()
    return home


@pytest.fixture
def symphony_runtime(symphony_home: Path) -> Iterator[InProcessRuntime]:
    """An in-process runtime for one test, closed (extensions deactivated) afterwards."""
    runtime = make_runtime(symphony_home)
    try:
        yield runtime
    finally:
        runtime.close()
