"""Registers every command group with the root group (imported by ``main``)."""

from __future__ import annotations

from symphony_core.cli.main import cli

__all__ = ["cli"]
