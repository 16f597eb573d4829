"""Builders of manifests and extension records for tests, with sensible defaults."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from symphony_core.extension import ExtensionRecord, Trust
from symphony_core.manifest.model import ExtensionInfo, ExtensionKind, Manifest

__all__ = ["make_manifest", "make_record"]


def make_manifest(
    extension_id: str,
    version: str = "1.0.0",
    *,
    kind: ExtensionKind = "operator",
    dependencies: Mapping[str, str] | None = None,
    host_api: str = ">=1.0,<2",
    name: str | None = None,
    description: str = "",
    entry: str | None = None,
) -> Manifest:
    """Return a manifest with only what a test cares about filled in.

    Args:
        extension_id: ``publisher.name``.
        version: PEP 440 version.
        kind: The extension kind.
        dependencies: Extension id to PEP 440 specifier.
        host_api: Host API specifier.
        name: Human-readable name.
        description: Description.
        entry: ``module:attr``; derived from the id when omitted.

    Returns:
        The manifest (not re-validated: tests may build invalid ones on purpose).
    """
    publisher, _, short = extension_id.partition(".")
    default_entry = f"{publisher}_{short}.ext:Extension".replace("-", "_")
    return Manifest(
        extension=ExtensionInfo(
            id=extension_id,
            version=version,
            kind=kind,
            entry=entry or default_entry,
            host_api=host_api,
            name=name,
            description=description,
        ),
        dependencies=dict(dependencies or {}),
    )


def make_record(
    extension_id: str,
    version: str = "1.0.0",
    *,
    kind: ExtensionKind = "operator",
    trust: Trust = "trusted",
    dependencies: Mapping[str, str] | None = None,
    root: Path | None = None,
) -> ExtensionRecord:
    """Return an extension record for a manifest built by :func:`make_manifest`.

    Args:
        extension_id: ``publisher.name``.
        version: PEP 440 version.
        kind: The extension kind.
        trust: ``trusted`` (in-process) or ``community`` (sandboxed).
        dependencies: Extension id to PEP 440 specifier.
        root: Directory the record's paths point into (they need not exist).

    Returns:
        The record.
    """
    base = (root or Path("/nonexistent/symphony-test")) / extension_id
    manifest = make_manifest(extension_id, version, kind=kind, dependencies=dependencies)
    return ExtensionRecord(
        manifest=manifest,
        manifest_path=base / "symphony.toml",
        distribution=extension_id.replace(".", "-"),
        distribution_version=version,
        entry_point=extension_id,
        package_dir=base,
        trust=trust,
    )
