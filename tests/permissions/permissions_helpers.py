"""Helpers for the permission tests: extension records with any manifest, a config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from symphony_core.config import Config, load_config
from symphony_core.extension import ExtensionRecord
from symphony_core.manifest.model import Manifest


def manifest(ext_id: str = "acme.tool", **tables: Any) -> Manifest:
    """A valid manifest for ``ext_id`` with the given extra tables (``permissions=...``)."""
    data: dict[str, Any] = {
        "extension": {
            "id": ext_id,
            "version": "1.0.0",
            "kind": "operator",
            "entry": "acme_tool.ext:Tool",
            "host-api": ">=1.0,<2",
        },
        **tables,
    }
    return msgspec.convert(data, Manifest)


def record(
    root: Path, ext_id: str = "acme.tool", trust: str = "community", **tables: Any
) -> ExtensionRecord:
    """An extension record whose package directory exists under ``root``."""
    package = root / "site" / ext_id.replace(".", "_")
    package.mkdir(parents=True, exist_ok=True)
    (package / "symphony.toml").write_text("# test\n")
    return ExtensionRecord(
        manifest=manifest(ext_id, **tables),
        manifest_path=package / "symphony.toml",
        distribution=ext_id.replace(".", "-"),
        distribution_version="1.0.0",
        entry_point=ext_id,
        package_dir=package,
        trust=trust,  # type: ignore[arg-type]
    )


def config(home: Path) -> Config:
    """A config rooted at ``home`` that ignores the environment."""
    return load_config({"home": str(home)}, env={})
