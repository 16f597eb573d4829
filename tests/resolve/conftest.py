"""Builders shared by the resolution tests."""

from __future__ import annotations

from pathlib import Path

from symphony_core.extension import ExtensionRecord
from symphony_core.manifest.model import ExtensionInfo, Manifest
from symphony_core.resolve import Candidate, Origin


def cand(
    ext_id: str,
    version: str,
    deps: dict[str, str] | None = None,
    *,
    host: str = "",
    origin: Origin = "registry",
) -> Candidate:
    return Candidate.create(ext_id, version, host_api=host, dependencies=deps, origin=origin)


def manifest(
    ext_id: str, version: str, deps: dict[str, str] | None = None, *, host: str = ">=1,<2"
) -> Manifest:
    module = ext_id.replace(".", "_").replace("-", "_")
    return Manifest(
        extension=ExtensionInfo(
            id=ext_id, version=version, kind="operator", entry=f"{module}.ext:Ext", host_api=host
        ),
        dependencies=dict(deps or {}),
    )


def record(
    ext_id: str,
    version: str,
    deps: dict[str, str] | None = None,
    *,
    host: str = ">=1,<2",
    distribution: str | None = None,
) -> ExtensionRecord:
    dist = distribution or ext_id.replace(".", "-")
    root = Path("/site-packages") / dist
    return ExtensionRecord(
        manifest=manifest(ext_id, version, deps, host=host),
        manifest_path=root / "symphony.toml",
        distribution=dist,
        distribution_version=version,
        entry_point=ext_id,
        package_dir=root,
    )
