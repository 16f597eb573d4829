"""What a warm ``Host().start()`` imports: only what getting ready needs.

Each test runs a fresh interpreter (so ``sys.modules`` means something), starts a host
twice — the first start writes the discovery index, the second is warm — and reports
which modules the warm start left loaded. Import laziness is a design property of the
start-up path, checked here by behaviour, not by timing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from host_sites import Site

# Never needed to get ready on a warm start (and each costs milliseconds to import).
HEAVY = [
    "pluggy",
    "asyncio",
    "resolvelib",
    "tomllib",
    "platformdirs",
    "packaging",
    "packaging.requirements",
    "packaging.specifiers",
    "symphony_core.manifest.validate",
    "symphony_core.manifest.load",
    "symphony_core.manifest.schema",
    "symphony_core.resolution.installed",
    "symphony_core.resolution.resolver",
    "symphony_core.hooks.relay",
    "symphony_core.hooks.context",
    "symphony_core.ports",
    "symphony_core.discovery.locate",
]

WARM_START = textwrap.dedent(
    """
    import json, subprocess, sys
    # The first start happens in another process, so this one imports nothing early.
    subprocess.run([sys.executable, "-c", sys.argv[2], sys.argv[1]], check=True,
                   capture_output=True)
    before = set(sys.modules)
    from symphony_core.app import Host

    host = Host(paths=[sys.argv[1]]).start()
    report = {"cache": host.discovery.cache, "loaded": sorted(set(sys.modules) - before),
              "order": host.load_order()}
    if len(sys.argv) > 3:
        sys.path.insert(0, sys.argv[1])
        host.activate(sys.argv[3])
        report["after_activation"] = sorted(set(sys.modules) - before)
    host.close()
    print(json.dumps(report))
    """
)

PRIME = "import sys\nfrom symphony_core.app import Host\nHost(paths=[sys.argv[1]]).start()\n"


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYMPHONY_")}
    env["SYMPHONY_HOME"] = str(home)
    env["SYMPHONY_TRUSTED"] = "acme.*"
    return env


def _fresh_warm_start(site: Site, home: Path, *activate: str) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", WARM_START, str(site.path), PRIME, *activate],
        env=_env(home),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return report


def _heavy(loaded: object) -> list[str]:
    assert isinstance(loaded, list)
    return [name for name in HEAVY if name in loaded]


def test_warm_start_imports_nothing_heavy(tmp_path: Path) -> None:
    site = Site(tmp_path / "site")
    site.add("acme.base", version="1.2.0")
    site.add("acme.top", dependencies={"acme.base": ">=1,<2"})

    report = _fresh_warm_start(site, tmp_path / "home")

    assert report["cache"] == "hit"
    assert report["order"] == ["acme.base", "acme.top"]
    assert _heavy(report["loaded"]) == []
    # Nothing was worth reporting, so not even logging was needed.
    assert "logging" not in report["loaded"]  # type: ignore[operator]


def test_warm_start_with_refusals_and_a_broken_extension_stays_light(tmp_path: Path) -> None:
    site = Site(tmp_path / "site")
    site.add("acme.base")
    site.add("acme.orphan", dependencies={"acme.gone": ">=1"})
    site.add("acme.future", host_api=">=2")
    site.add("acme.nomanifest", manifest=None)  # re-evaluated on every start

    report = _fresh_warm_start(site, tmp_path / "home")

    assert report["cache"] == "hit"
    assert report["order"] == ["acme.base"]
    heavy = _heavy(report["loaded"])
    # Finding that the manifest is missing needs the package locator, nothing more.
    assert heavy == ["symphony_core.discovery.locate"]


def test_first_use_imports_the_hook_layer_then(tmp_path: Path) -> None:
    site = Site(tmp_path / "site")
    site.add("acme.base")

    report = _fresh_warm_start(site, tmp_path / "home", "acme.base")

    assert report["cache"] == "hit"
    assert _heavy(report["loaded"]) == []
    after = report["after_activation"]
    assert isinstance(after, list)
    assert {"pluggy", "symphony_core.hooks.relay", "acme_base.plugin"} <= set(after)


def test_importing_the_manifest_model_does_not_import_the_validator() -> None:
    script = textwrap.dedent(
        """
        import json, sys
        import symphony_core.manifest.model
        from symphony_core.manifest import Manifest
        print(json.dumps(sorted(sys.modules)))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    loaded = json.loads(proc.stdout)
    for name in ("symphony_core.manifest.validate", "tomllib", "packaging", "tomli_w"):
        assert name not in loaded


def test_lazy_packages_export_every_listed_name() -> None:
    import symphony_core.discovery as discovery
    import symphony_core.hooks as hooks
    import symphony_core.manifest as manifest
    import symphony_core.resolve as resolve

    for module in (discovery, hooks, manifest, resolve):
        for name in module.__all__:
            assert getattr(module, name) is not None, (module.__name__, name)
        assert set(module.__all__) <= set(dir(module))
