"""Check the files a manifest names against the package that ships it."""

from __future__ import annotations

from pathlib import Path

from symphony_core.errors import PathConfinementError
from symphony_core.fs import confine
from symphony_core.manifest.issues import Issue, format_key_path
from symphony_core.manifest.model import Manifest

__all__ = ["check_manifest_files"]


def check_manifest_files(manifest: Manifest, manifest_path: Path) -> list[Issue]:
    """Check that every template file exists inside the manifest's directory.

    Paths are resolved with :func:`symphony_core.fs.confine`, so a symlink that leads
    out of the package is reported like a ``..`` would be.

    Args:
        manifest: A validated manifest.
        manifest_path: The file it was read from; its directory is the package.

    Returns:
        One issue per template file that escapes the package or does not exist.
    """
    source = str(manifest_path)
    base = manifest_path.parent
    issues: list[Issue] = []
    for index, template in enumerate(manifest.templates):
        key = format_key_path(("templates", index, "path"))
        try:
            target = confine(base, template.path, what=f"template path {key}")
        except PathConfinementError as exc:
            issues.append(
                Issue(
                    file=source,
                    path=key,
                    code="manifest.path",
                    message=exc.message,
                    found=f'"{template.path}"',
                    expected="a path that stays inside the package directory",
                )
            )
            continue
        if not target.is_file():
            issues.append(
                Issue(
                    file=source,
                    path=key,
                    code="manifest.file_missing",
                    message=f"no such file in the package ({target})",
                    found=f'"{template.path}"',
                    expected="the path of a template file, relative to the manifest",
                )
            )
    return issues
