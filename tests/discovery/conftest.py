"""Fixtures for discovery tests: a site directory on ``sys.path`` and a host config."""

from __future__ import annotations

from pathlib import Path

import pytest
from discovery_sites import Site

from symphony_core.config import Config


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Site:
    """A fresh site directory, first on ``sys.path``."""
    path = tmp_path / "site"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    return Site(path)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """A host configuration with its own home (and cache) directory."""
    return Config(home=tmp_path / "home")
