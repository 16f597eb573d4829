"""State shared by every command: global options, the lazily loaded config and host."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from symphony_core.config import Config, load_config

__all__ = ["CliState", "emit_json", "json_option", "pass_state"]


@dataclass
class CliState:
    """Global options and what is built from them on first use."""

    home: Path | None = None
    config_file: Path | None = None
    debug: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)
    _config: Config | None = None

    @property
    def config(self) -> Config:
        """The effective configuration (loaded once)."""
        if self._config is None:
            explicit = dict(self.overrides)
            if self.home is not None:
                explicit["home"] = str(self.home)
            self._config = load_config(explicit, config_file=self.config_file)
        return self._config


pass_state = click.make_pass_decorator(CliState, ensure=True)

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of text."
)


def emit_json(data: Any) -> None:
    """Write ``data`` as indented JSON to stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")
