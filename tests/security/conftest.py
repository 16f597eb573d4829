"""Fixtures for the attack tests: a shared launcher, an audit recorder, a leftover check."""

from __future__ import annotations

import pytest
from launcher_fixtures import launcher, no_leftovers, recorder

__all__ = ["launcher", "no_leftovers", "recorder"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/security/" in str(item.fspath):
            item.add_marker(pytest.mark.security)
