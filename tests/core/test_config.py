from __future__ import annotations

from pathlib import Path

import pytest

from symphony_core.config import load_config
from symphony_core.errors import ConfigError


def test_defaults_use_symphony_home(tmp_path: Path) -> None:
    cfg = load_config(env={"SYMPHONY_HOME": str(tmp_path)})
    assert cfg.home == tmp_path
    assert cfg.log_level == "warning"
    assert cfg.trusted == ("symphony.*",)
    assert cfg.cache_dir == tmp_path / "cache"


def test_platformdirs_default_without_env() -> None:
    cfg = load_config(env={})
    assert cfg.home.name == "symphony"


def test_layers_in_order(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        'log-level = "info"\nstrict = true\ntrusted = ["acme.*"]\n'
        '[hook-policy]\nsymphony_addon_event = "isolate"\n'
    )
    env = {"SYMPHONY_HOME": str(tmp_path), "SYMPHONY_LOG_LEVEL": "error"}
    cfg = load_config(env=env)
    assert cfg.log_level == "error"  # env beats file
    assert cfg.strict is True  # file beats default
    assert cfg.trusted == ("acme.*",)
    assert cfg.hook_policy == {"symphony_addon_event": "isolate"}
    cfg = load_config({"log_level": "debug"}, env=env)
    assert cfg.log_level == "debug"  # argument beats env


def test_env_lists_and_json(tmp_path: Path) -> None:
    env = {
        "SYMPHONY_HOME": str(tmp_path),
        "SYMPHONY_TRUSTED": "a.*, b.c",
        "SYMPHONY_HOOK_ORDER": '{"*": ["a.b", "c.d"]}',
        "SYMPHONY_SAFE_MODE": "true",
        "SYMPHONY_UNRELATED_TOOL": "x",
    }
    cfg = load_config(env=env)
    assert cfg.trusted == ("a.*", "b.c")
    assert cfg.hook_order == {"*": ("a.b", "c.d")}
    assert cfg.safe_mode is True


def test_explicit_config_file(tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text('log-format = "json"\n')
    cfg = load_config(env={"SYMPHONY_HOME": str(tmp_path), "SYMPHONY_CONFIG": str(other)})
    assert cfg.log_format == "json"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("log-level = 3\n", "log-level"),
        ("nonsense = 1\n", "unknown setting 'nonsense'"),
        ("log-level = \n", "not valid TOML"),
        ('hook-policy = {x = "explode"}\n', "hook-policy"),
    ],
)
def test_file_errors_name_file_and_key(tmp_path: Path, content: str, fragment: str) -> None:
    (tmp_path / "config.toml").write_text(content)
    with pytest.raises(ConfigError) as info:
        load_config(env={"SYMPHONY_HOME": str(tmp_path)})
    assert fragment in str(info.value)
    assert str(tmp_path / "config.toml") in str(info.value)


def test_env_error_names_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SYMPHONY_STRICT"):
        load_config(env={"SYMPHONY_HOME": str(tmp_path), "SYMPHONY_STRICT": "maybe"})
    with pytest.raises(ConfigError, match=r"SYMPHONY_HOOK_POLICY.*JSON"):
        load_config(env={"SYMPHONY_HOME": str(tmp_path), "SYMPHONY_HOOK_POLICY": "{bad"})


def test_argument_error_names_arguments(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="arguments"):
        load_config({"log_format": "xml"}, env={"SYMPHONY_HOME": str(tmp_path)})
