"""Read one installed extension's manifest into a :class:`~symphony_core.manifest.Manifest`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from symphony_core.discovery.scan import Signature, signature
from symphony_core.manifest import Manifest, ManifestError, check_manifest_files, load_manifest

__all__ = ["KnownManifests", "read_manifest"]

KnownManifests = Callable[[Path, Signature | None], Manifest | None]
"""Returns the already validated manifest of a file whose signature is unchanged, if any."""


def read_manifest(
    path: Path, known: KnownManifests | None = None
) -> tuple[Manifest, Signature | None]:
    """Read and validate the manifest at ``path``, including the files it names.

    Args:
        path: A ``symphony.toml`` file inside an installed package.
        known: Manifests validated by an earlier discovery, reused when the file's
            signature has not changed since.

    Returns:
        The validated manifest and the file's signature, taken before it was read.

    Raises:
        ManifestError: The file cannot be read or is not a valid manifest (code
            ``manifest.invalid``), or a template file it names is missing from the
            package; the error lists every issue found.
    """
    sig = signature(str(path))
    manifest = known(path, sig) if known is not None else None
    if manifest is None:
        manifest = load_manifest(path)
    issues = check_manifest_files(manifest, path)
    if issues:
        raise ManifestError(str(path), issues)
    return manifest, sig
