"""``symphony ext check`` and ``symphony ext schema``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from symphony_core.cli import ext_manifest
from symphony_core.cli.main import cli, main
from symphony_core.manifest import manifest_json_schema, manifest_reference_markdown


@pytest.fixture
def group() -> click.Group:
    ext = click.Group("ext")
    for command in ext_manifest.COMMANDS:
        ext.add_command(command)
    return ext


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_check_ok(runner: CliRunner, group: click.Group, package: Path) -> None:
    result = runner.invoke(group, ["check", str(package)])
    assert result.exit_code == 0, result.output
    assert result.output == f"ok: acme.textops 1.2.0rc1 ({package / 'symphony.toml'})\n"


def test_check_ok_json(runner: CliRunner, group: click.Group, package: Path) -> None:
    result = runner.invoke(group, ["check", "--json", str(package / "symphony.toml")])
    assert result.exit_code == 0
    out = json.loads(result.output)
    assert out == {
        "ok": True,
        "file": str(package / "symphony.toml"),
        "issues": [],
        "id": "acme.textops",
        "version": "1.2.0rc1",
    }


def _break(package: Path) -> Path:
    path = package / "symphony.toml"
    text = path.read_text()
    text = text.replace('kind = "operator"', 'kind = "operater"')
    text = text.replace('memory = "1.5 GiB"', 'memory = "lots"')
    text = text.replace('type = "list[str]"', 'type = "list[strin]"')
    path.write_text(text)
    return path


def test_check_lists_every_issue_and_exits_1(
    runner: CliRunner, group: click.Group, package: Path
) -> None:
    path = _break(package)
    result = runner.invoke(group, ["check", str(package)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{path}: extension.kind: not an allowed value")
    assert lines[1].startswith(f"{path}: limits.memory: ")
    assert lines[2].startswith(f"{path}: nodes[1].inputs[0].type: not a valid port type")
    assert lines[3] == f"3 problems in {path}"


def test_check_json_lists_every_issue(runner: CliRunner, group: click.Group, package: Path) -> None:
    _break(package)
    result = runner.invoke(group, ["check", "--json", str(package)])
    assert result.exit_code == 1
    out = json.loads(result.output)
    assert out["ok"] is False
    assert [(i["path"], i["code"]) for i in out["issues"]] == [
        ("extension.kind", "manifest.choice"),
        ("limits.memory", "manifest.pattern"),
        ("nodes[1].inputs[0].type", "manifest.port_type"),
    ]
    assert set(out["issues"][0]) >= {"file", "path", "code", "message", "found", "expected"}


def test_check_reports_missing_template_files(
    runner: CliRunner, group: click.Group, package: Path
) -> None:
    (package / "templates" / "count.json").unlink()
    result = runner.invoke(group, ["check", "--json", str(package)])
    assert result.exit_code == 1
    out = json.loads(result.output)
    assert [i["code"] for i in out["issues"]] == ["manifest.file_missing"]
    assert out["id"] == "acme.textops"


def test_check_syntax_error(runner: CliRunner, group: click.Group, tmp_path: Path) -> None:
    path = tmp_path / "symphony.toml"
    path.write_text("[extension\n")
    result = runner.invoke(group, ["check", str(path)])
    assert result.exit_code == 1
    assert result.output.startswith(f"{path}: TOML syntax error at line 1")


def test_schema_prints_the_json_schema(runner: CliRunner, group: click.Group) -> None:
    result = runner.invoke(group, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output) == manifest_json_schema()


def test_schema_writes_a_file(runner: CliRunner, group: click.Group, tmp_path: Path) -> None:
    target = tmp_path / "out" / "symphony.schema.json"
    result = runner.invoke(group, ["schema", "--output", str(target)])
    assert result.exit_code == 0
    assert json.loads(target.read_text()) == manifest_json_schema()
    assert [p.name for p in target.parent.iterdir()] == ["symphony.schema.json"]


def test_schema_markdown(runner: CliRunner, group: click.Group, tmp_path: Path) -> None:
    result = runner.invoke(group, ["schema", "--format", "markdown"])
    assert result.exit_code == 0
    assert result.output == manifest_reference_markdown()


@pytest.fixture
def mounted(group: click.Group) -> Iterator[str]:
    """Mount the commands on the real root group under a throwaway name."""
    name = "ext-manifest-test"
    group.name = name
    cli.add_command(group, name)
    try:
        yield name
    finally:
        cli.commands.pop(name, None)


def test_not_found_is_a_one_line_user_error(
    mounted: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([mounted, "check", str(tmp_path / "nope")])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert "does not exist" in err
    assert len(err.strip().splitlines()) == 1


def test_exit_codes_through_the_real_entry_point(
    mounted: str, package: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([mounted, "check", str(package)])
    assert exited.value.code == 0
    _break(package)
    with pytest.raises(SystemExit) as exited:
        main([mounted, "check", "--json", str(package)])
    assert exited.value.code == 1
    out = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert out["ok"] is False


def test_unwritable_schema_output_is_a_user_error(
    mounted: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SystemExit) as exited:
        main([mounted, "schema", "--output", str(blocker / "x.json")])
    assert exited.value.code == 1
    assert capsys.readouterr().err.startswith("error: ")
