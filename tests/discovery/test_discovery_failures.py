"""Each broken extension is reported on its own, with its cause; the others still load."""

from __future__ import annotations

from pathlib import Path

import pytest
from discovery_sites import Site, manifest_text

from symphony_core.config import Config
from symphony_core.discovery import (
    DiscoveryFailure,
    DiscoveryResult,
    DuplicateExtensionError,
    EntryPointValueError,
    ExtensionPackageNotFoundError,
    IdMismatchError,
    ManifestMissingError,
    ManifestUnreadableError,
    StrictDiscoveryError,
    discover,
)
from symphony_core.errors import DiscoveryError, PathConfinementError, UserError
from symphony_core.manifest import ManifestError


def _failures(result: DiscoveryResult) -> dict[str, DiscoveryFailure]:
    return {f.extension_id: f for f in result.failures if f.extension_id.startswith("acme.")}


def _ids(result: DiscoveryResult) -> set[str]:
    return {r.id for r in result.extensions if r.id.startswith("acme.")}


def test_missing_manifest(site: Site, config: Config) -> None:
    pkg = site.add("acme-bare", manifest=None)
    site.add("acme-good")

    result = discover(config)

    failure = _failures(result)["acme.bare"]
    assert isinstance(failure.error, ManifestMissingError)
    assert failure.error.code == "discovery.manifest_missing"
    assert failure.error.where == str(pkg / "symphony.toml")
    assert failure.distribution == "acme-bare"
    assert failure.distribution_version == "1.0.0"
    assert failure.entry_point == "acme.bare = acme_bare"
    assert _ids(result) == {"acme.good"}


def test_invalid_manifest_reports_every_issue(site: Site, config: Config) -> None:
    bad = (
        "[extension]\n"
        'id = "acme.broken"\n'
        'version = "not a version"\n'
        'kind = "gizmo"\n'
        'entry = "acme_broken.plugin:Plugin"\n'
        'host-api = ">=1.0,<2"\n'
        "surprise = 1\n"
    )
    site.add("acme-broken", manifest=bad)

    failure = _failures(discover(config))["acme.broken"]

    assert isinstance(failure.error, ManifestError)
    assert failure.error.code == "manifest.invalid"
    paths = {issue.path for issue in failure.error.issues}
    assert {"extension.version", "extension.kind", "extension.surprise"} <= paths


def test_manifest_that_is_not_toml(site: Site, config: Config) -> None:
    site.add("acme-garbled", manifest="[extension\nid = ")

    failure = _failures(discover(config))["acme.garbled"]

    assert isinstance(failure.error, ManifestError)
    assert [issue.code for issue in failure.error.issues] == ["manifest.syntax"]


@pytest.mark.parametrize(
    ("value", "phrase"),
    [
        ("acme_bad.plugin:Plugin", "names an object"),
        ("", "is empty"),
        ("1acme.x", "not a dotted package name"),
        ("acme_bad [extra]", "not a dotted package name"),
        ("acme_bad..x", "not a dotted package name"),
    ],
)
def test_malformed_entry_point_value(site: Site, config: Config, value: str, phrase: str) -> None:
    site.add("acme-bad", value=value)

    failure = _failures(discover(config))["acme.bad"]

    assert isinstance(failure.error, EntryPointValueError)
    assert failure.error.code == "discovery.entry_point_invalid"
    assert phrase in failure.error.message
    assert failure.error.hint is not None
    assert "symphony.toml" in failure.error.hint


def test_entry_point_line_without_value(site: Site, config: Config) -> None:
    site.add("acme-novalue", entry_points="[symphony.extensions]\nacme.novalue\n")

    failure = _failures(discover(config))["acme.novalue"]

    assert isinstance(failure.error, EntryPointValueError)


def test_entry_point_name_differs_from_manifest_id(site: Site, config: Config) -> None:
    site.add("acme-renamed", manifest=manifest_text("acme.original"))

    result = discover(config)

    failure = _failures(result)["acme.renamed"]
    assert isinstance(failure.error, IdMismatchError)
    assert "acme.original" in failure.error.message
    assert "acme.original" not in _ids(result)


def test_duplicate_id_reports_both_and_loads_neither(site: Site, config: Config) -> None:
    site.add("acme-one", ext_id="acme.same", manifest=manifest_text("acme.same"))
    site.add("acme-two", ext_id="acme.same", manifest=manifest_text("acme.same"))

    result = discover(config)

    dupes = [f for f in result.failures if f.extension_id == "acme.same"]
    assert sorted(f.distribution for f in dupes) == ["acme-one", "acme-two"]
    for failure in dupes:
        assert isinstance(failure.error, DuplicateExtensionError)
        other = "acme-two" if failure.distribution == "acme-one" else "acme-one"
        assert len(failure.error.others) == 1
        assert other in failure.error.others[0]
    assert "acme.same" not in _ids(result)


def test_package_not_installed(site: Site, config: Config) -> None:
    site.add("acme-ghost", value="acme_nowhere_to_be_found")

    failure = _failures(discover(config))["acme.ghost"]

    assert isinstance(failure.error, ExtensionPackageNotFoundError)
    assert "acme_nowhere_to_be_found" in failure.error.message


def test_value_naming_a_module_not_a_package(site: Site, config: Config) -> None:
    (site.path / "acme_solo.py").write_text("")
    site.add("acme-single", value="acme_solo")

    failure = _failures(discover(config))["acme.single"]

    assert isinstance(failure.error, ExtensionPackageNotFoundError)
    assert "module, not a package" in failure.error.message


def test_missing_subpackage(site: Site, config: Config) -> None:
    site.add("acme-sub", value="acme_sub.missing")

    failure = _failures(discover(config))["acme.sub"]

    assert isinstance(failure.error, ExtensionPackageNotFoundError)
    assert "acme_sub.missing" in failure.error.message


def test_manifest_symlink_leading_outside_is_refused(
    site: Site, config: Config, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.toml"
    outside.write_text(manifest_text("acme.linked"))
    pkg = site.add("acme-linked", manifest=None)
    (pkg / "symphony.toml").symlink_to(outside)

    failure = _failures(discover(config))["acme.linked"]

    assert isinstance(failure.error, PathConfinementError)


def test_manifest_symlink_inside_the_package_is_fine(site: Site, config: Config) -> None:
    pkg = site.add("acme-inlink", manifest=None)
    (pkg / "real.toml").write_text(manifest_text("acme.inlink"))
    (pkg / "symphony.toml").symlink_to(pkg / "real.toml")

    assert "acme.inlink" in _ids(discover(config))


def test_manifest_that_is_a_directory(site: Site, config: Config) -> None:
    pkg = site.add("acme-dir", manifest=None)
    (pkg / "symphony.toml").mkdir()

    failure = _failures(discover(config))["acme.dir"]

    assert isinstance(failure.error, ManifestUnreadableError)


def test_every_failure_is_a_user_error_with_a_code(site: Site, config: Config) -> None:
    site.add("acme-a", manifest=None)
    site.add("acme-b", value="x:y")
    site.add("acme-c", manifest="nonsense = [")

    failures = _failures(discover(config))

    assert set(failures) == {"acme.a", "acme.b", "acme.c"}
    for failure in failures.values():
        assert isinstance(failure.error, UserError)
        as_dict = failure.to_dict()
        assert as_dict["error"]["code"] == failure.error.code
        assert as_dict["distribution"] == failure.distribution


def test_strict_mode_raises_with_every_failure(site: Site, config: Config) -> None:
    site.add("acme-a", manifest=None)
    site.add("acme-b", value="x:y")
    site.add("acme-good")

    with pytest.raises(StrictDiscoveryError) as caught:
        discover(config, strict=True)

    error = caught.value
    assert isinstance(error, DiscoveryError)
    ids = {f.extension_id for f in error.failures}
    assert {"acme.a", "acme.b"} <= ids
    assert "acme.a" in error.message
    assert "acme.b" in error.message
    codes = {f["error"]["code"] for f in error.details["failures"]}
    assert {"discovery.manifest_missing", "discovery.entry_point_invalid"} <= codes


def test_strict_from_config_and_explicit_override(site: Site, tmp_path: Path) -> None:
    site.add("acme-a", manifest=None)
    strict_config = Config(home=tmp_path / "home", strict=True)

    with pytest.raises(StrictDiscoveryError):
        discover(strict_config)
    result = discover(strict_config, strict=False)
    assert "acme.a" in _failures(result)


def test_strict_mode_without_failures_returns(tmp_path: Path, config: Config) -> None:
    clean = Site(tmp_path / "clean")
    clean.path.mkdir()
    clean.add("acme-fine")

    result = discover(config, paths=[str(clean.path)], strict=True)

    assert [r.id for r in result.extensions] == ["acme.fine"]


def test_extension_inside_a_zip_archive_is_reported(tmp_path: Path, config: Config) -> None:
    import zipfile

    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("acme_zipped-1.0.0.dist-info/METADATA", "Name: acme-zipped\nVersion: 1.0.0\n")
        zf.writestr(
            "acme_zipped-1.0.0.dist-info/entry_points.txt",
            "[symphony.extensions]\nacme.zipped = acme_zipped\n",
        )
        zf.writestr("acme_zipped/__init__.py", "")
        zf.writestr("acme_zipped/symphony.toml", manifest_text("acme.zipped"))

    result = discover(config, paths=[str(archive)])

    (failure,) = result.failures
    assert failure.extension_id == "acme.zipped"
    assert failure.distribution == "acme-zipped"
    assert isinstance(failure.error, ExtensionPackageNotFoundError)
    assert "zip" in failure.error.message


def test_duplicate_error_as_dict_names_the_others(site: Site, config: Config) -> None:
    site.add("acme-one", ext_id="acme.same", manifest=manifest_text("acme.same"))
    site.add("acme-two", ext_id="acme.same", manifest=manifest_text("acme.same"))

    failure = next(f for f in discover(config).failures if f.distribution == "acme-one")

    as_dict = failure.error.to_dict()
    assert as_dict["code"] == "discovery.duplicate_id"
    assert as_dict["extension_id"] == "acme.same"
    assert len(as_dict["others"]) == 1
    assert "acme-two" in as_dict["others"][0]
