"""Real, tiny installed distributions on disk for discovery tests.

Each distribution is written the way an installer leaves it: a ``*.dist-info`` directory
(``METADATA``, ``entry_points.txt``, ``RECORD``) next to the package directory holding
``symphony.toml``. The site directory goes on ``sys.path`` with
``monkeypatch.syspath_prepend`` — importlib.metadata is never mocked.
"""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Mapping
from pathlib import Path


def manifest_text(
    ext_id: str,
    *,
    version: str = "1.0.0",
    entry: str | None = None,
    description: str = "A test extension.",
    dependencies: Mapping[str, str] | None = None,
    extra: str = "",
) -> str:
    """Return a valid ``symphony.toml`` for ``ext_id``."""
    entry = entry or f"{ext_id.replace('.', '_').replace('-', '_')}.plugin:Plugin"
    lines = [
        "[extension]",
        f'id = "{ext_id}"',
        f'version = "{version}"',
        'kind = "operator"',
        f'entry = "{entry}"',
        'host-api = ">=1.0,<2"',
        f'description = "{description}"',
        "",
    ]
    if dependencies:
        lines.append("[dependencies]")
        lines += [f'"{dep}" = "{spec}"' for dep, spec in dependencies.items()]
        lines.append("")
    return "\n".join(lines) + extra


class Site:
    """A site directory on ``sys.path`` that tests install distributions into."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def add(
        self,
        dist: str,
        *,
        version: str = "1.0.0",
        ext_id: str | None = None,
        value: str | None = None,
        package: str | None = None,
        manifest: str | None = "",
        init: str = "",
        entry_points: str | None = None,
        egg_info: bool = False,
    ) -> Path:
        """Install distribution ``dist``; return its package directory.

        Args:
            dist: Distribution name (``acme-textops``).
            version: Its version.
            ext_id: Entry point name; default ``acme.<last part of dist>``.
            value: Entry point value; default the package name.
            package: Package (directory) name, dotted for subpackages; default from dist.
            manifest: ``symphony.toml`` text; ``""`` writes a valid one for ``ext_id``,
                ``None`` writes none.
            init: Content of each ``__init__.py`` written.
            entry_points: Whole ``entry_points.txt`` text, overriding the default.
            egg_info: Write ``name.egg-info`` with ``PKG-INFO`` instead of a dist-info.
        """
        normalized = dist.replace("-", "_").lower()
        ext_id = ext_id if ext_id is not None else f"acme.{dist.split('-')[-1]}"
        package = package or normalized
        value = value if value is not None else package
        pkg_dir = self.path.joinpath(*package.split("."))
        pkg_dir.mkdir(parents=True, exist_ok=True)
        for depth in range(1, len(package.split(".")) + 1):
            self.path.joinpath(*package.split(".")[:depth], "__init__.py").write_text(init)
        if manifest is not None:
            text = manifest or manifest_text(ext_id, version=version)
            (pkg_dir / "symphony.toml").write_text(text)
        if egg_info:
            info = self.path / f"{normalized}.egg-info"
            info.mkdir(exist_ok=True)
            (info / "PKG-INFO").write_text(
                f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n"
            )
        else:
            info = self.path / f"{normalized}-{version}.dist-info"
            info.mkdir(exist_ok=True)
            (info / "METADATA").write_text(
                f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n\nLong text: here\n"
            )
            (info / "RECORD").write_text(f"{info.name}/METADATA,,\n")
        if entry_points is None:
            entry_points = f"[console_scripts]\n{dist} = x:y\n\n[symphony.extensions]\n"
            entry_points += f"{ext_id} = {value}\n"
        (info / "entry_points.txt").write_text(entry_points)
        importlib.invalidate_caches()
        return pkg_dir

    def remove(self, dist: str, *, version: str = "1.0.0", package: str | None = None) -> None:
        """Uninstall ``dist``: remove its metadata and package directories."""
        normalized = dist.replace("-", "_").lower()
        shutil.rmtree(self.path / f"{normalized}-{version}.dist-info")
        shutil.rmtree(self.path / (package or normalized).split(".")[0])
        importlib.invalidate_caches()
