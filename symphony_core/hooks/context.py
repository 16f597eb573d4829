"""What an extension is given about itself when it is activated and when its nodes run."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from packaging.version import Version

from symphony_core.hostapi import HOST_API_VERSION
from symphony_core.log import get_logger
from symphony_core.manifest.model import Manifest, NodeType

__all__ = ["ExtensionContext", "ExtensionLogger"]

ExtensionLogger = logging.LoggerAdapter[logging.Logger]
"""A logger whose records carry ``extension_id``."""


class ExtensionContext:
    """One extension's view of the host: who it is, where it may write, how to log.

    The directories are created on first access (mode ``0o700``), so an extension that
    never writes costs no file-system work.

    Args:
        manifest: The extension's validated manifest.
        scratch_dir: Directory for temporary files; may be emptied between runs.
        data_dir: Directory for files that must survive restarts.
        logger: Where the extension logs; a ``symphony.ext.<id>`` logger by default.
        host_api_version: The host API this host provides.
    """

    __slots__ = (
        "_data_dir",
        "_data_ready",
        "_nodes",
        "_scratch_dir",
        "_scratch_ready",
        "host_api_version",
        "logger",
        "manifest",
    )

    def __init__(
        self,
        *,
        manifest: Manifest,
        scratch_dir: Path,
        data_dir: Path,
        logger: ExtensionLogger | None = None,
        host_api_version: Version = HOST_API_VERSION,
    ) -> None:
        self.manifest = manifest
        self.host_api_version = host_api_version
        self.logger: ExtensionLogger = logger or logging.LoggerAdapter(
            get_logger(f"symphony.ext.{manifest.extension.id}"),
            {"extension_id": manifest.extension.id},
        )
        self._scratch_dir = scratch_dir
        self._data_dir = data_dir
        self._scratch_ready = False
        self._data_ready = False
        self._nodes: Mapping[str, NodeType] = MappingProxyType(
            {node.type: node for node in manifest.nodes}
        )

    @property
    def extension_id(self) -> str:
        """The extension's id (``publisher.name``)."""
        return self.manifest.extension.id

    @property
    def version(self) -> str:
        """The extension's version."""
        return self.manifest.extension.version

    @property
    def nodes(self) -> Mapping[str, NodeType]:
        """The node types the manifest declares, by type name."""
        return self._nodes

    @property
    def scratch_dir(self) -> Path:
        """Directory for temporary files (created on first access)."""
        if not self._scratch_ready:
            from symphony_core.fs import ensure_dir  # fs imports tempfile; few need it

            ensure_dir(self._scratch_dir, mode=0o700)
            self._scratch_ready = True
        return self._scratch_dir

    @property
    def data_dir(self) -> Path:
        """Directory for files that must survive restarts (created on first access)."""
        if not self._data_ready:
            from symphony_core.fs import ensure_dir

            ensure_dir(self._data_dir, mode=0o700)
            self._data_ready = True
        return self._data_dir

    def __repr__(self) -> str:
        return f"ExtensionContext({self.extension_id!r}, version={self.version!r})"
