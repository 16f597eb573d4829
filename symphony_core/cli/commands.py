"""Registers every command group with the root group (imported by ``main``)."""

from __future__ import annotations

from symphony_core.cli.audit import audit
from symphony_core.cli.doctor import doctor
from symphony_core.cli.ext import ext
from symphony_core.cli.main import cli
from symphony_core.cli.policy import policy
from symphony_core.cli.workflow import template, workflow

__all__ = ["cli"]

cli.add_command(doctor)
cli.add_command(ext)
cli.add_command(workflow)
cli.add_command(template)
cli.add_command(policy)
cli.add_command(audit)
