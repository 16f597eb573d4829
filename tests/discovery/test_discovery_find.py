"""Discovery finds installed extensions and reads their manifests without importing them."""

from __future__ import annotations

import sys
from pathlib import Path

from discovery_sites import Site, manifest_text

from symphony_core.config import Config
from symphony_core.discovery import discover
from symphony_core.extension import ExtensionRecord


def _ours(records: list[ExtensionRecord]) -> list[ExtensionRecord]:
    return [r for r in records if r.id.startswith("acme.")]


def test_record_describes_the_installed_extension(site: Site, config: Config) -> None:
    pkg = site.add("acme-textops", version="2.3.0")

    result = discover(config)

    (record,) = _ours(result.extensions)
    assert record.id == "acme.textops"
    assert record.version == "2.3.0"
    assert record.distribution == "acme-textops"  # from METADATA, not the directory name
    assert record.distribution_version == "2.3.0"
    assert record.entry_point == "acme.textops"
    assert record.package_dir == pkg
    assert record.manifest_path == pkg / "symphony.toml"
    assert record.manifest.extension.entry == "acme_textops.plugin:Plugin"
    assert record.trust == "community"


def test_extensions_are_sorted_by_id(site: Site, config: Config) -> None:
    for name in ("zeta", "alpha", "mid"):
        site.add(f"acme-{name}")

    ids = [r.id for r in _ours(discover(config).extensions)]

    assert ids == ["acme.alpha", "acme.mid", "acme.zeta"]


def test_discovery_never_runs_extension_code(site: Site, config: Config, tmp_path: Path) -> None:
    marker = tmp_path / "imported"
    init = f"open({str(marker)!r}, 'w').close()\nraise RuntimeError('imported!')\n"
    site.add("acme-sneaky", init=init)
    site.add("acme-nested", package="acme_outer.inner", value="acme_outer.inner", init=init)

    result = discover(config)

    assert {r.id for r in _ours(result.extensions)} == {"acme.sneaky", "acme.nested"}
    assert not marker.exists()
    assert not any(m.startswith(("acme_sneaky", "acme_outer")) for m in sys.modules)


def test_dotted_value_reads_the_subpackage_manifest(site: Site, config: Config) -> None:
    pkg = site.add("acme-nested", package="acme_outer.inner", value="acme_outer.inner")

    (record,) = _ours(discover(config).extensions)

    assert record.package_dir == pkg
    assert pkg.parent.name == "acme_outer"


def test_namespace_package_is_found(site: Site, config: Config) -> None:
    pkg = site.add("acme-ns")
    (pkg / "__init__.py").unlink()

    (record,) = _ours(discover(config).extensions)

    assert record.package_dir == pkg


def test_egg_info_distribution_is_found(site: Site, config: Config) -> None:
    site.add("acme-legacy", version="0.9.1", egg_info=True)

    (record,) = _ours(discover(config).extensions)

    assert record.distribution == "acme-legacy"
    assert record.distribution_version == "0.9.1"


def test_explicit_paths_limit_the_search(tmp_path: Path, config: Config) -> None:
    # Not on sys.path at all: only the explicit search path finds it.
    off_path = Site(tmp_path / "elsewhere")
    off_path.path.mkdir()
    off_path.add("acme-hidden")

    assert "acme.hidden" not in {r.id for r in discover(config).extensions}
    result = discover(config, paths=[str(off_path.path)])
    assert [r.id for r in result.extensions] == ["acme.hidden"]
    assert result.failures == []


def test_first_distribution_on_the_path_wins(tmp_path: Path, config: Config) -> None:
    first, second = Site(tmp_path / "first"), Site(tmp_path / "second")
    first.path.mkdir()
    second.path.mkdir()
    first.add("acme-dup", version="2.0.0")
    second.add("acme-dup", version="1.0.0")

    result = discover(config, paths=[str(first.path), str(second.path)])

    # Same distribution twice on the path is not a duplicate extension: the first wins,
    # as with importlib.metadata.entry_points().
    assert [(r.id, r.distribution_version) for r in result.extensions] == [("acme.dup", "2.0.0")]
    assert result.failures == []


def test_other_groups_and_comments_are_ignored(site: Site, config: Config) -> None:
    site.add(
        "acme-mixed",
        entry_points=(
            "# a comment\n[console_scripts]\nacme.fake = acme_fake\n\n"
            "[symphony.extensions]\n# acme.commented = nothing\nacme.mixed = acme_mixed\n"
        ),
    )

    result = discover(config)

    assert [r.id for r in _ours(result.extensions)] == ["acme.mixed"]
    assert not [f for f in result.failures if f.extension_id.startswith("acme.")]


def test_dependencies_are_read_from_the_manifest(site: Site, config: Config) -> None:
    site.add(
        "acme-app",
        manifest=manifest_text("acme.app", dependencies={"acme.lib": ">=1.0,<2"}),
    )

    (record,) = _ours(discover(config).extensions)

    assert record.manifest.dependencies == {"acme.lib": ">=1.0,<2"}


def test_dotted_value_through_a_namespace_package_split_over_two_dirs(
    tmp_path: Path, config: Config
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    (first / "acme_ns" / "other").mkdir(parents=True)  # a portion without our subpackage
    pkg = Site(second).add("acme-split", package="acme_ns.inner", value="acme_ns.inner")
    (second / "acme_ns" / "__init__.py").unlink()  # acme_ns is a namespace package

    result = discover(config, paths=[str(first), str(second)])

    (record,) = result.extensions
    assert record.package_dir == pkg
    assert result.get("acme.split") == record
    assert result.get("acme.absent") is None


def test_dotted_value_whose_leaf_is_a_module(site: Site, config: Config) -> None:
    pkg = site.add("acme-leaf", value="acme_leaf.mod")
    (pkg / "mod.py").write_text("")

    failure = next(f for f in discover(config).failures if f.extension_id == "acme.leaf")

    assert failure.error.code == "discovery.package_not_found"
    assert "'acme_leaf.mod' is a module" in failure.error.message
