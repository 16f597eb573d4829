"""Layered configuration: defaults < config file < ``SYMPHONY_*`` environment < arguments.

The data directory comes first because the config file lives in it: an explicit
``home`` argument, else ``SYMPHONY_HOME``, else the platform's user data directory
(platformdirs). The config file is ``SYMPHONY_CONFIG`` if set, else ``<home>/config.toml``
(optional).

Each layer is validated on its own, so an error names the layer at fault — the file and
key, or the environment variable — and what was expected.

Only what every start needs is imported with this module: the TOML reader, ``json`` and
``platformdirs`` are imported when a config file exists, a variable holds JSON, or no
``SYMPHONY_HOME`` is set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

from symphony_core.errors import ConfigError

__all__ = ["ENV_PREFIX", "Config", "ErrorPolicy", "load_config"]

ENV_PREFIX = "SYMPHONY_"

ErrorPolicy = Literal["stop", "collect", "isolate"]


class Config(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, rename="kebab"):
    """Settings of one Symphony host.

    Attributes:
        home: Data directory: caches, policy, audit log, stores.
        log_level: ``debug``, ``info``, ``warning`` or ``error``.
        log_format: ``text`` for people or ``json`` for JSON lines.
        strict: Any extension that fails discovery, validation or loading is fatal.
        safe_mode: Load no community (untrusted) extension at all.
        trusted: Glob patterns of extension ids that run in-process (the Pit by default).
        disabled: Extension ids that are never loaded.
        hook_order: Per hook, extension ids in the order their implementations run;
            overrides what extensions ask for. The key ``"*"`` applies to every hook.
        hook_policy: Per hook, what happens when an implementation raises:
            ``stop`` (raise at once), ``collect`` (run all, then raise every failure) or
            ``isolate`` (run all, report failures, return the good results).
        discovery_cache: Keep an on-disk index of discovered manifests.
        registry_url: Base URL of the registry; ``None`` uses the embedded one.
    """

    home: Path
    log_level: Literal["debug", "info", "warning", "error"] = "warning"
    log_format: Literal["text", "json"] = "text"
    strict: bool = False
    safe_mode: bool = False
    trusted: tuple[str, ...] = ("symphony.*",)
    disabled: tuple[str, ...] = ()
    hook_order: dict[str, tuple[str, ...]] = msgspec.field(default_factory=dict)
    hook_policy: dict[str, ErrorPolicy] = msgspec.field(default_factory=dict)
    discovery_cache: bool = True
    registry_url: str | None = None

    @property
    def cache_dir(self) -> Path:
        """Directory for caches that can be rebuilt at any time."""
        return self.home / "cache"

    @property
    def config_file(self) -> Path:
        """Default location of the config file inside ``home``."""
        return self.home / "config.toml"


_FIELDS = {f.encode_name: f for f in msgspec.structs.fields(Config)}


def _validate_layer(layer: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Check one layer's keys and value types; return it with kebab-case keys."""
    out: dict[str, Any] = {}
    for raw_key, value in layer.items():
        key = raw_key.replace("_", "-")
        if key not in _FIELDS:
            known = ", ".join(sorted(_FIELDS))
            raise ConfigError(
                f"unknown setting {raw_key!r}", where=source, hint=f"known settings: {known}"
            )
        field = _FIELDS[key]
        try:
            msgspec.convert(value, field.type, strict=False, dec_hook=_dec_path)
        except msgspec.ValidationError as exc:
            raise ConfigError(
                f"setting {raw_key!r} = {value!r} is invalid: {exc}", where=source
            ) from None
        out[key] = value
    return out


def _dec_path(tp: type, obj: Any) -> Any:
    if tp is Path and isinstance(obj, str):
        return Path(obj)
    raise NotImplementedError


def _env_layer(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, text in env.items():
        if not name.startswith(ENV_PREFIX) or name in ("SYMPHONY_HOME", "SYMPHONY_CONFIG"):
            continue
        key = name[len(ENV_PREFIX) :].lower().replace("_", "-")
        if key not in _FIELDS:
            continue  # other tools' SYMPHONY_* variables are not ours to judge
        value: Any = text
        stripped = text.strip()
        if stripped[:1] in ("[", "{"):
            import json

            try:
                value = json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise ConfigError(
                    f"value is not valid JSON: {exc.msg} at character {exc.pos}",
                    where=f"environment variable {name}",
                ) from None
        elif key in ("trusted", "disabled"):
            value = [part.strip() for part in text.split(",") if part.strip()]
        out[key] = value
        _validate_layer({key: value}, f"environment variable {name}")
    return out


def _file_layer(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror}", where=str(path)) from None
    import tomllib  # only when there is a file to read

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"not valid TOML: not UTF-8 text ({exc.reason} at byte {exc.start})", where=str(path)
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", where=str(path)) from None
    return _validate_layer(data, f"config file {path}")


def default_home(env: Mapping[str, str] | None = None) -> Path:
    """Return the data directory: ``SYMPHONY_HOME`` or the platform's user data dir."""
    env = os.environ if env is None else env
    if env.get("SYMPHONY_HOME"):
        return Path(env["SYMPHONY_HOME"]).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("symphony", appauthor=False))


def load_config(
    explicit: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Config:
    """Build the effective configuration from all layers.

    Args:
        explicit: Settings given by the caller (CLI flags, embedding code); win over all.
        env: Environment to read ``SYMPHONY_*`` from (``os.environ`` by default).
        config_file: Config file to read instead of ``SYMPHONY_CONFIG`` / ``<home>/config.toml``.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: A layer holds an unknown key or a value of the wrong type; the
            message names the file and key or the environment variable.
    """
    env = os.environ if env is None else env
    explicit = dict(explicit or {})
    home = Path(explicit.pop("home")) if explicit.get("home") else default_home(env)
    if config_file is None:
        config_file = Path(env["SYMPHONY_CONFIG"]) if env.get("SYMPHONY_CONFIG") else None
    merged: dict[str, Any] = {}
    merged.update(_file_layer(config_file or home / "config.toml"))
    merged.update(_env_layer(env))
    merged.update(_validate_layer(explicit, "arguments"))
    merged.pop("home", None)
    merged["home"] = str(home)
    try:
        return msgspec.convert(merged, Config, strict=False, dec_hook=_dec_path)
    except msgspec.ValidationError as exc:  # pragma: no cover - each layer was checked
        raise ConfigError(f"invalid configuration: {exc}") from None
