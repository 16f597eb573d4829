"""Registers every command group with the root group (imported by ``main``)."""

from __future__ import annotations

from symphony_core.cli.doctor import doctor
from symphony_core.cli.ext import ext
from symphony_core.cli.main import cli

__all__ = ["cli"]

cli.add_command(doctor)
cli.add_command(ext)
