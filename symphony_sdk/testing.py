"""Helpers for testing an extension in-process, straight from its installed package.

The manifest is read from the package directory without importing the package
(:func:`importlib.util.find_spec` on a top-level package runs none of its code), the
same way the host discovers extensions. For tests of trusted behaviour only: community
extensions are meant to be tested in the sandbox runtime.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Iterable
from pathlib import Path

from symphony_core import (
    MANIFEST_NAME,
    Config,
    ExtensionRecord,
    InProcessRuntime,
    Trust,
    UserError,
    load_manifest,
)

__all__ = ["ENTRY_POINT_GROUP", "make_runtime", "package_dir", "record_for_package"]

ENTRY_POINT_GROUP = "symphony.extensions"
"""Entry-point group in which distributions declare their extensions."""


def package_dir(package: str) -> Path:
    """Return the directory of a top-level package without importing it.

    Args:
        package: Name of a top-level package (no dots).

    Returns:
        The package's directory.

    Raises:
        UserError: The name is dotted, or no such package can be found.
    """
    if "." in package:
        raise UserError(
            f"{package!r} is not a top-level package",
            hint="give the package whose directory holds symphony.toml",
        )
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            f"no package named {package!r} can be found",
            hint="install the extension (for example 'uv pip install -e .') first",
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _entry_point_of(package: str) -> importlib.metadata.EntryPoint | None:
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.value.strip() == package:
            return entry_point
    return None


def record_for_package(package: str, *, trust: Trust = "trusted") -> ExtensionRecord:
    """Build the record of an extension package, reading its manifest without importing it.

    Args:
        package: The top-level package whose directory holds ``symphony.toml``.
        trust: Trust level to give the record.

    Returns:
        The extension record.

    Raises:
        UserError: The package cannot be found.
        ManifestError: Its manifest is missing or invalid.
    """
    directory = package_dir(package)
    manifest_path = directory / MANIFEST_NAME
    manifest = load_manifest(manifest_path)
    entry_point = _entry_point_of(package)
    dist = entry_point.dist if entry_point is not None else None
    return ExtensionRecord(
        manifest=manifest,
        manifest_path=manifest_path,
        distribution=dist.name if dist is not None else package,
        distribution_version=dist.version if dist is not None else manifest.extension.version,
        entry_point=entry_point.name if entry_point is not None else manifest.extension.id,
        package_dir=directory,
        trust=trust,
    )


def make_runtime(home: Path, packages: Iterable[str] = ()) -> InProcessRuntime:
    """Build an in-process runtime whose data lives under ``home``, with packages added.

    Nothing is imported until a node or hook is used. Close the runtime when done (it
    is a context manager).

    Args:
        home: Data directory for the runtime (a temporary directory in tests).
        packages: Extension packages to add (see :func:`record_for_package`).

    Returns:
        The runtime.
    """
    runtime = InProcessRuntime(Config(home=home))
    for package in packages:
        runtime.add(record_for_package(package))
    return runtime
