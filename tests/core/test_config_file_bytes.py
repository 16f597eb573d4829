"""The config file is read as bytes first: the TOML reader only runs when there is one."""

from __future__ import annotations

from pathlib import Path

import pytest

from symphony_core.config import load_config
from symphony_core.errors import ConfigError


def test_a_config_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_bytes(b'log-level = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8") as info:
        load_config(env={"SYMPHONY_HOME": str(tmp_path)})
    assert info.value.where == str(tmp_path / "config.toml")


def test_a_config_file_that_is_a_directory_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "config.toml").mkdir()
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(env={"SYMPHONY_HOME": str(tmp_path)})


def test_no_config_file_is_fine(tmp_path: Path) -> None:
    assert load_config(env={"SYMPHONY_HOME": str(tmp_path)}).home == tmp_path
