"""What the host knows about one installed extension before running any of its code."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import msgspec

from symphony_core.manifest.model import Manifest

__all__ = ["ExtensionRecord", "Trust"]

Trust = Literal["trusted", "community"]


class ExtensionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One discovered extension: its manifest and where it came from.

    Attributes:
        manifest: The validated manifest.
        manifest_path: The ``symphony.toml`` file it was read from.
        distribution: Name of the Python distribution that ships it.
        distribution_version: Version of that distribution.
        entry_point: Name of the entry point in the ``symphony.extensions`` group.
        package_dir: Directory of the extension's top-level package (its own files).
        trust: ``trusted`` runs in-process; ``community`` runs sandboxed.
    """

    manifest: Manifest
    manifest_path: Path
    distribution: str
    distribution_version: str
    entry_point: str
    package_dir: Path
    trust: Trust = "community"

    @property
    def id(self) -> str:
        """The extension id."""
        return self.manifest.extension.id

    @property
    def version(self) -> str:
        """The extension version."""
        return self.manifest.extension.version
