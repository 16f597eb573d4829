"""Reading manifests from bytes and files, finding them, writing them back."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
import pytest
import tomli_w

from symphony_core.errors import UserError
from symphony_core.manifest import (
    MAX_MANIFEST_BYTES,
    Manifest,
    ManifestError,
    ManifestNotFoundError,
    check_manifest_files,
    dump_manifest,
    find_manifest,
    load_manifest,
    manifest_to_dict,
    parse_manifest,
)


def only_issue(error: ManifestError) -> tuple[str, str]:
    assert len(error.issues) == 1, str(error)
    return error.issues[0].path, error.issues[0].code


def test_full_manifest_loads_with_every_value(package: Path) -> None:
    manifest = load_manifest(package / "symphony.toml")
    assert isinstance(manifest, Manifest)
    ext = manifest.extension
    assert (ext.id, ext.version, ext.kind, ext.host_api) == (
        "acme.textops",
        "1.2.0rc1",
        "operator",
        ">=1.0,<2",
    )
    assert ext.order_before == ["acme.later"]
    assert manifest.dependencies == {"acme.tokenizer": ">=1.0,<2", "acme.other": ""}
    assert manifest.python.requires_python == ">=3.11"
    assert manifest.permissions.filesystem.write == ["out/logs"]
    assert manifest.permissions.network == "loopback"
    assert manifest.limits.memory == "1.5 GiB"
    assert manifest.limits.open_files == 256
    node = manifest.nodes[0]
    assert node.cpu_bound is True
    assert [p.name for p in node.outputs] == ["counts", "total"]
    assert node.parameters["extra"].default == {"a": [1, 2.5, "x", True]}
    assert node.parameters["out"].default is msgspec.UNSET
    assert manifest.nodes[1].inputs[0].required is False
    assert manifest.templates[0].path == "templates/count.json"


@pytest.mark.parametrize("omit_defaults", [True, False])
def test_dump_round_trips(full_text: str, omit_defaults: bool) -> None:
    manifest = parse_manifest(full_text, source="a")
    text = dump_manifest(manifest, omit_defaults=omit_defaults)
    assert parse_manifest(text, source="b") == manifest
    assert parse_manifest(text.encode(), source="b") == manifest


def test_dump_leaves_out_defaults_and_nulls(full_text: str) -> None:
    plain = manifest_to_dict(parse_manifest(full_text, source="a"))
    assert "required" not in plain["nodes"][0]["inputs"][0]
    assert plain["nodes"][1]["inputs"][0]["required"] is False
    assert "default" not in plain["nodes"][0]["parameters"]["out"]
    tomli_w.dumps(plain)  # nothing TOML cannot hold


def test_bytes_str_and_bom_parse_the_same(full_text: str) -> None:
    from_str = parse_manifest(full_text, source="x")
    assert parse_manifest(full_text.encode(), source="x") == from_str
    assert parse_manifest(b"\xef\xbb\xbf" + full_text.encode(), source="x") == from_str


def test_unreadable_file_is_a_manifest_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as caught:
        load_manifest(tmp_path / "missing.toml")
    assert only_issue(caught.value) == ("", "manifest.unreadable")
    assert str(caught.value).startswith(f"{tmp_path / 'missing.toml'}: cannot read the file")
    with pytest.raises(ManifestError) as caught:
        load_manifest(tmp_path)  # a directory
    assert only_issue(caught.value) == ("", "manifest.unreadable")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything")
def test_permission_denied_is_a_manifest_error(tmp_path: Path, full_text: str) -> None:
    path = tmp_path / "symphony.toml"
    path.write_text(full_text)
    path.chmod(0)
    try:
        with pytest.raises(ManifestError) as caught:
            load_manifest(path)
        assert only_issue(caught.value) == ("", "manifest.unreadable")
    finally:
        path.chmod(0o644)


def test_not_utf8_names_the_line_and_column() -> None:
    data = b'[extension]\nid = "ab\xff"\n'
    with pytest.raises(ManifestError) as caught:
        parse_manifest(data, source="s.toml")
    issue = caught.value.issues[0]
    assert issue.code == "manifest.encoding"
    assert (issue.line, issue.column) == (2, 9)
    assert issue.found == "the byte 0xff"


def test_toml_syntax_error_names_the_line_and_column() -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest('[extension]\nid = "a.b"\nversion = \n', source="s.toml")
    issue = caught.value.issues[0]
    assert issue.code == "manifest.syntax"
    assert (issue.line, issue.column) == (3, 11)
    assert "line 3, column 11" in str(caught.value)


def test_toml_syntax_error_at_end_of_document() -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest("a = [1, 2", source="s.toml")
    issue = caught.value.issues[0]
    assert issue.code == "manifest.syntax"
    assert issue.line is None
    assert "end of the file" in issue.message


def test_duplicate_key_is_a_syntax_error() -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest('[extension]\nid = "a.b"\nid = "c.d"\n', source="s.toml")
    assert caught.value.issues[0].code == "manifest.syntax"


def test_deeply_nested_toml_is_a_manifest_error() -> None:
    text = "x = " + "[" * 5000 + "]" * 5000
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, source="s.toml")
    assert caught.value.issues[0].code in {"manifest.too_deep", "manifest.syntax"}


def test_oversized_manifest_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "symphony.toml"
    path.write_bytes(b"#" * (MAX_MANIFEST_BYTES + 10))
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    assert only_issue(caught.value) == ("", "manifest.too_large")


def test_manifest_error_is_a_user_error() -> None:
    with pytest.raises(UserError):
        parse_manifest("", source="empty.toml")
    with pytest.raises(ManifestError) as caught:
        parse_manifest("", source="empty.toml")
    assert only_issue(caught.value) == ("extension", "manifest.missing")
    assert str(caught.value) == (
        "empty.toml: extension: required key is missing (expected a table)"
    )


# -- find_manifest ---------------------------------------------------------------------


def test_find_accepts_the_file_itself(package: Path) -> None:
    assert find_manifest(package / "symphony.toml") == package / "symphony.toml"


def test_find_accepts_the_package_dir(package: Path) -> None:
    assert find_manifest(package) == package / "symphony.toml"


@pytest.mark.parametrize("layout", ["flat", "src"])
def test_find_searches_a_projects_packages(tmp_path: Path, full_text: str, layout: str) -> None:
    project = tmp_path / "proj"
    root = project / "src" if layout == "src" else project
    (root / "acme_textops").mkdir(parents=True)
    (root / "acme_textops" / "symphony.toml").write_text(full_text)
    (root / "docs").mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "x"\n')
    expected = root / "acme_textops" / "symphony.toml"
    assert find_manifest(project) == expected
    assert find_manifest(project / "pyproject.toml") == expected


def test_find_refuses_to_guess_between_packages(tmp_path: Path, full_text: str) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "symphony.toml").write_text(full_text)
    with pytest.raises(ManifestNotFoundError, match="several manifests"):
        find_manifest(tmp_path)


def test_find_reports_missing_manifests(tmp_path: Path) -> None:
    with pytest.raises(ManifestNotFoundError, match="does not exist") as caught:
        find_manifest(tmp_path / "nope")
    assert caught.value.code == "manifest.not_found"
    with pytest.raises(ManifestNotFoundError, match=r"no symphony\.toml in"):
        find_manifest(tmp_path)
    (tmp_path / "pyproject.toml").write_text("")
    with pytest.raises(ManifestNotFoundError, match="package directories"):
        find_manifest(tmp_path)


# -- check_manifest_files ----------------------------------------------------------------


def test_template_files_present_give_no_issues(package: Path) -> None:
    path = package / "symphony.toml"
    assert check_manifest_files(load_manifest(path), path) == []


def test_missing_template_file_is_reported(package: Path) -> None:
    (package / "templates" / "count.json").unlink()
    path = package / "symphony.toml"
    issues = check_manifest_files(load_manifest(path), path)
    assert [(i.path, i.code) for i in issues] == [("templates[0].path", "manifest.file_missing")]


def test_template_symlink_out_of_the_package_is_reported(package: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    (package / "templates" / "count.json").unlink()
    (package / "templates" / "count.json").symlink_to(outside)
    path = package / "symphony.toml"
    issues = check_manifest_files(load_manifest(path), path)
    assert [(i.path, i.code) for i in issues] == [("templates[0].path", "manifest.path")]
