"""Generate synthetic installed extension distributions for start-up benchmarks.

``make_site(root, n)`` writes ``n`` distributions into one site directory exactly as an
installer would leave them, so any tool that reads installed metadata sees ordinary
installed distributions once the directory is on ``sys.path`` (``PYTHONPATH``):

* ``synth_ext_0042-1.2.0.dist-info/`` with ``METADATA`` (``Requires-Dist`` for each
  dependency), ``WHEEL``, ``INSTALLER``, ``entry_points.txt`` and a ``RECORD`` with real
  hashes. ``entry_points.txt`` declares the extension twice: in Symphony's group
  ``symphony.extensions`` (value: the package holding ``symphony.toml``) and in a
  stevedore namespace (value: ``module:attr`` of the plugin class), so both sides find
  the same distributions and the same code;
* ``synth_ext_0042/`` with ``__init__.py``, ``plugin.py`` (a small class) and
  ``symphony.toml``.

Dependencies form a layered random DAG (seeded): extension ``i`` in layer ``k > 0``
depends on up to three extensions of earlier layers, each with a version specifier the
installed version satisfies (``>=1.0,<2``, ``~=1.x``, ``>=1.x``), so a resolver has real
work and every extension is loadable.

Run it directly to create a site directory and print its path::

    uv run python bench/synthetic.py 100 /tmp/site100
"""

from __future__ import annotations

import base64
import hashlib
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PEER_NAMESPACE", "SyntheticSite", "make_site", "write_distribution"]

PEER_NAMESPACE = "symphony_bench.plugins"
"""The stevedore namespace every synthetic distribution also registers in."""

_GROUP = "symphony.extensions"
_WHEEL = (
    "Wheel-Version: 1.0\nGenerator: bench-synthetic\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
)


@dataclass
class SyntheticSite:
    """A generated site directory.

    Attributes:
        path: The directory to put on ``sys.path``.
        ids: Extension ids, in generation order.
        packages: Top-level package names, same order.
        dependencies: For each id, the ids it depends on.
    """

    path: Path
    ids: list[str] = field(default_factory=list)
    packages: list[str] = field(default_factory=list)
    dependencies: dict[str, list[str]] = field(default_factory=dict)


def _record_line(root: Path, path: Path) -> str:
    data = path.read_bytes()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path.relative_to(root).as_posix()},sha256={digest},{len(data)}"


def _manifest(ext_id: str, version: str, package: str, index: int, deps: dict[str, str]) -> str:
    lines = [
        "[extension]",
        f'id = "{ext_id}"',
        f'version = "{version}"',
        'kind = "operator"',
        f'entry = "{package}.plugin:Plugin"',
        'host-api = ">=1.0,<2"',
        f'description = "Synthetic extension {index} for start-up benchmarks."',
        f'activation = ["on-node:op_{index:04d}"]',
        "",
        "[dependencies]",
        *(f'"{dep}" = "{spec}"' for dep, spec in deps.items()),
        "",
        "[[nodes]]",
        f'type = "op_{index:04d}"',
        'description = "Upper-cases its input."',
        'inputs = [{ name = "text", type = "str" }]',
        'outputs = [{ name = "result", type = "str" }]',
        "",
        "[nodes.parameters.repeat]",
        'type = "int"',
        "default = 1",
        "min = 1",
        "",
    ]
    return "\n".join(lines)


_PLUGIN = '''"""Plugin of a synthetic extension."""


class Plugin:
    """Upper-cases text, ``repeat`` times."""

    name = {name!r}

    def run(self, text: str, repeat: int = 1) -> str:
        """Return ``text`` upper-cased and repeated."""
        return text.upper() * repeat
'''


def write_distribution(root: Path, index: int, version: str, deps: dict[str, str]) -> str:
    """Write synthetic distribution number ``index`` into ``root``; return its id.

    Args:
        root: The site directory.
        index: Number of the distribution (names it: ``synth-ext-0042``).
        version: Its version.
        deps: Extension id -> version specifier, for the manifest and ``Requires-Dist``.
    """
    ext_id = f"synth.ext{index:04d}"
    package = f"synth_ext_{index:04d}"
    pkg_dir = root / package
    pkg_dir.mkdir(exist_ok=True)
    files = [pkg_dir / "__init__.py", pkg_dir / "plugin.py", pkg_dir / "symphony.toml"]
    files[0].write_text(f'"""Synthetic extension {ext_id}."""\n')
    files[1].write_text(_PLUGIN.format(name=ext_id))
    files[2].write_text(_manifest(ext_id, version, package, index, deps))

    info = root / f"{package}-{version}.dist-info"
    info.mkdir(exist_ok=True)
    requires = "".join(
        f"Requires-Dist: synth-ext-{dep.removeprefix('synth.ext')}{spec}\n"
        for dep, spec in deps.items()
    )
    meta = [
        (
            info / "METADATA",
            f"Metadata-Version: 2.1\nName: synth-ext-{index:04d}\nVersion: {version}\n"
            f"Summary: Synthetic Symphony extension {index}\n{requires}\n",
        ),
        (info / "WHEEL", _WHEEL),
        (info / "INSTALLER", "pip\n"),
        (
            info / "entry_points.txt",
            f"[{_GROUP}]\n{ext_id} = {package}\n\n"
            f"[{PEER_NAMESPACE}]\next{index:04d} = {package}.plugin:Plugin\n",
        ),
    ]
    for path, text in meta:
        path.write_text(text)
    record = [_record_line(root, p) for p in [*files, *(p for p, _ in meta)]]
    record.append(f"{info.name}/RECORD,,")
    (info / "RECORD").write_text("\n".join(record) + "\n")
    return ext_id


def make_site(root: Path, n: int, *, seed: int = 0) -> SyntheticSite:
    """Write ``n`` synthetic extension distributions into the directory ``root``.

    Args:
        root: The site directory (created if missing).
        n: How many distributions.
        seed: Seed of the dependency DAG.

    Returns:
        What was generated.
    """
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    site = SyntheticSite(path=root)
    layer_size = max(1, round(n**0.5))
    minors = [rng.randint(0, 9) for _ in range(n)]
    for i in range(n):
        earlier = (i // layer_size) * layer_size
        dep_indexes = sorted(rng.sample(range(earlier), min(rng.randint(0, 3), earlier)))
        deps: dict[str, str] = {}
        for j in dep_indexes:
            spec = rng.choice([">=1.0,<2", f"~=1.{minors[j]}", f">=1.{minors[j]}"])
            deps[f"synth.ext{j:04d}"] = spec
        ext_id = write_distribution(root, i, f"1.{minors[i]}.0", deps)
        site.ids.append(ext_id)
        site.packages.append(f"synth_ext_{i:04d}")
        site.dependencies[ext_id] = list(deps)
    return site


def main(argv: list[str]) -> int:
    """``synthetic.py N DIR``: write N distributions into DIR and print DIR."""
    if len(argv) != 3:
        print("usage: synthetic.py N DIR", file=sys.stderr)
        return 2
    site = make_site(Path(argv[2]), int(argv[1]))
    print(site.path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
