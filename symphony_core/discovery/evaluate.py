"""Turn one entry point into a discovered extension or a failure, without importing it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from symphony_core.discovery.scan import EntryPointRef, Signature
from symphony_core.errors import SymphonyError
from symphony_core.manifest.model import Manifest

if TYPE_CHECKING:
    from symphony_core.discovery.reading import KnownManifests

__all__ = ["Broken", "Found", "describe", "evaluate"]


class Found(msgspec.Struct, frozen=True, kw_only=True):
    """An entry point whose package and valid manifest were found.

    Attributes:
        ref: The entry point.
        package_dir: The package directory holding the manifest.
        manifest_path: The manifest file.
        manifest: The validated manifest.
        manifest_signature: Stat signature of the manifest, taken before it was read.
    """

    ref: EntryPointRef
    package_dir: Path
    manifest_path: Path
    manifest: Manifest
    manifest_signature: Signature | None


class Broken(msgspec.Struct, frozen=True, kw_only=True):
    """An entry point that could not be turned into an extension.

    Attributes:
        ref: The entry point.
        error: Why.
    """

    ref: EntryPointRef
    error: SymphonyError


def describe(ref: EntryPointRef) -> str:
    """Name an entry point for messages: distribution, version and the entry itself."""
    return f"{ref.distribution} {ref.version}, entry point {ref.name!r} = {ref.value!r}"


def evaluate(
    ref: EntryPointRef, paths: Sequence[str] | None, known: KnownManifests | None = None
) -> Found | Broken:
    """Locate the package an entry point names and read its manifest.

    Nothing of the extension is imported or executed: the package is located through
    the import system's finders and the manifest is read as a file.

    Args:
        ref: The entry point.
        paths: The search path (``None``: the running import system).
        known: Manifests validated by an earlier discovery, reused for unchanged files.

    Returns:
        :class:`Found`, or :class:`Broken` with the cause (a bad entry point value, a
        package that is not there, a missing, unreadable or invalid manifest).
    """
    # Imported here, step by step: a warm start evaluates only failed entry points, and
    # one whose package or manifest is missing needs neither the TOML reader nor the
    # manifest validator to say so.
    from symphony_core.discovery.locate import check_value, find_manifest, package_directories

    where = describe(ref)
    try:
        parts = check_value(ref.name, ref.value, where)
        directories = package_directories(parts, paths, extension_id=ref.name, where=where)
        manifest_path = find_manifest(directories, extension_id=ref.name, where=where)
        from symphony_core.discovery.reading import read_manifest

        manifest, manifest_signature = read_manifest(manifest_path, known)
    except SymphonyError as exc:
        return Broken(ref=ref, error=exc)
    return Found(
        ref=ref,
        package_dir=manifest_path.parent,
        manifest_path=manifest_path,
        manifest=manifest,
        manifest_signature=manifest_signature,
    )
