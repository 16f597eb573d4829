"""Tiny installed distributions for Host start-up tests, written as an installer would.

Each distribution gets a ``*.dist-info`` (``METADATA``, ``entry_points.txt``) and a
package directory with ``symphony.toml`` and a plugin module. Hosts are pointed at the
site with ``Host(config, paths=[site])``, so nothing is mocked.
"""

from __future__ import annotations

import importlib
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

PLUGIN = """
class Plugin:
    pass
"""


def manifest_text(
    ext_id: str,
    *,
    version: str = "1.0.0",
    dependencies: Mapping[str, str] | None = None,
    host_api: str = ">=1.0,<2",
    extra: str = "",
) -> str:
    """Return a valid ``symphony.toml`` for ``ext_id`` with one node type."""
    module = ext_id.replace(".", "_").replace("-", "_")
    lines = [
        "[extension]",
        f'id = "{ext_id}"',
        f'version = "{version}"',
        'kind = "operator"',
        f'entry = "{module}.plugin:Plugin"',
        f'host-api = "{host_api}"',
        f'description = "Test extension {ext_id}."',
        "",
    ]
    if dependencies:
        lines.append("[dependencies]")
        lines += [f'"{dep}" = "{spec}"' for dep, spec in dependencies.items()]
        lines.append("")
    lines += [
        "[[nodes]]",
        f'type = "{module}_node"',
        'inputs = [{ name = "text", type = "str" }]',
        'outputs = [{ name = "text", type = "str" }]',
        "",
    ]
    return "\n".join(lines) + extra


class Site:
    """A site directory that tests install distributions into."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)

    def add(
        self,
        ext_id: str,
        *,
        version: str = "1.0.0",
        dependencies: Mapping[str, str] | None = None,
        host_api: str = ">=1.0,<2",
        manifest: str | None = "",
        dist: str | None = None,
        extra: str = "",
    ) -> Path:
        """Install a distribution declaring ``ext_id``; return the manifest's path.

        Args:
            ext_id: The extension id (the entry point's name).
            version: The extension's (and the distribution's) version.
            dependencies: The manifest's ``[dependencies]``.
            host_api: The manifest's ``host-api``.
            manifest: The whole manifest text; ``""`` writes a valid one, ``None`` none.
            dist: Distribution name (default from the id); a second distribution
                declaring the same id makes a duplicate.
            extra: TOML appended to the generated manifest.
        """
        module = ext_id.replace(".", "_").replace("-", "_")
        package = module if dist is None else f"{module}_{dist.replace('-', '_')}"
        dist = dist or ext_id.replace(".", "-")
        pkg = self.path / package
        pkg.mkdir(exist_ok=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "plugin.py").write_text(PLUGIN)
        target = pkg / "symphony.toml"
        if manifest is not None:
            text = manifest or manifest_text(
                ext_id, version=version, dependencies=dependencies, host_api=host_api, extra=extra
            )
            target.write_text(text)
        info = self.path / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n\n"
        )
        (info / "entry_points.txt").write_text(f"[symphony.extensions]\n{ext_id} = {package}\n")
        importlib.invalidate_caches()
        return target

    def remove(self, ext_id: str, *, version: str = "1.0.0") -> None:
        """Uninstall the distribution declaring ``ext_id`` (default distribution name)."""
        module = ext_id.replace(".", "_").replace("-", "_")
        dist = ext_id.replace(".", "-")
        shutil.rmtree(self.path / f"{dist.replace('-', '_')}-{version}.dist-info")
        shutil.rmtree(self.path / module)
        importlib.invalidate_caches()


def bump(path: Path, seconds: int = 5) -> None:
    """Move ``path``'s mtime forward, so an edit is seen whatever the clock granularity."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 1_000_000_000))
