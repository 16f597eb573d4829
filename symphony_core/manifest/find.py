"""Find the ``symphony.toml`` meant by a path the user gave."""

from __future__ import annotations

from pathlib import Path

from symphony_core.manifest.issues import ManifestNotFoundError

__all__ = ["MANIFEST_NAME", "find_manifest"]

MANIFEST_NAME = "symphony.toml"
"""The manifest's file name inside an extension's package."""


def _package_manifests(project: Path) -> list[Path]:
    found: list[Path] = []
    # Flat layout (project/pkg/) and src layout (project/src/pkg/).
    for root in (project, project / "src"):
        if not root.is_dir():
            continue
        for child in sorted(root.iterdir()):
            candidate = child / MANIFEST_NAME
            if child.is_dir() and not child.name.startswith(".") and candidate.is_file():
                found.append(candidate)
    return found


def find_manifest(path: Path) -> Path:
    """Return the manifest file that ``path`` designates.

    ``path`` may be the manifest file itself, a package directory holding a
    ``symphony.toml``, or a project directory with a ``pyproject.toml`` (or that file
    itself) whose package holds one: the package directories one level down, and one
    level below ``src/``, are searched.

    Args:
        path: What the user named.

    Returns:
        The manifest file.

    Raises:
        ManifestNotFoundError: Nothing there is or holds a manifest, a project holds
            several and the choice would be a guess, or the path cannot be examined.
    """
    try:
        return _find(path)
    except OSError as exc:
        raise ManifestNotFoundError(
            f"cannot look for a manifest at {path}: {exc.strerror or type(exc).__name__}",
            where=str(path),
            hint="check the path and its permissions",
        ) from None


def _find(path: Path) -> Path:
    if path.is_file():
        if path.name != "pyproject.toml":
            return path
        path = path.parent
    if not path.exists():
        raise ManifestNotFoundError(
            f"{path} does not exist",
            where=str(path),
            hint=f"give a {MANIFEST_NAME} file, a package directory or a project directory",
        )
    if not path.is_dir():
        raise ManifestNotFoundError(
            f"{path} is neither a file nor a directory",
            where=str(path),
            hint=f"give a {MANIFEST_NAME} file, a package directory or a project directory",
        )
    direct = path / MANIFEST_NAME
    if direct.is_file():
        return direct
    if (path / "pyproject.toml").is_file():
        found = _package_manifests(path)
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            listed = ", ".join(str(item) for item in found)
            raise ManifestNotFoundError(
                f"the project {path} has several manifests: {listed}",
                where=str(path),
                hint="name the package directory (or the manifest file) to check",
            )
        raise ManifestNotFoundError(
            f"no {MANIFEST_NAME} in the project {path} or in its package directories",
            where=str(path),
            hint=f"put {MANIFEST_NAME} inside the extension's package (next to __init__.py)",
        )
    raise ManifestNotFoundError(
        f"no {MANIFEST_NAME} in {path}",
        where=str(path),
        hint=f"give a {MANIFEST_NAME} file, a package directory or a project directory",
    )
