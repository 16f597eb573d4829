"""Fixtures for sandbox tests: a shared launcher, an audit recorder, a leftover check."""

from __future__ import annotations

from launcher_fixtures import launcher, no_leftovers, recorder

__all__ = ["launcher", "no_leftovers", "recorder"]
