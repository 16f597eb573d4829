"""``symphony workflow ...`` and ``symphony template ...`` through click's test runner."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from symphony_core.cli.workflow import template, workflow
from symphony_core.workflow import (
    Edge,
    Workflow,
    WorkflowBuilder,
    decode_binary,
    encode_json,
    encode_template,
    load_workflow,
)
from symphony_core.workflow.codec_binary import MAGIC

MANIFEST = """
[extension]
id = "ex.text"
version = "1.0.0"
kind = "operator"
entry = "ex_text:Ext"
host-api = ">=1.0,<2"

[[nodes]]
type = "read"
outputs = [{ name = "text", type = "str" }]
[nodes.parameters.path]
type = "path"

[[nodes]]
type = "count"
inputs = [{ name = "text", type = "str" }]
outputs = [{ name = "counts", type = "dict[str, int]" }, { name = "total", type = "int" }]
[nodes.parameters.limit]
type = "int"
default = 10
min = 1

[[nodes]]
type = "show"
inputs = [{ name = "value", type = "any" }]

[[templates]]
name = "count_file"
path = "templates/count.json"
description = "Read a file and count its words."
"""

root = click.Group("symphony")
root.add_command(workflow)
root.add_command(template)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SYMPHONY_HOME", str(tmp_path / "home"))
    (tmp_path / "ext" / "templates").mkdir(parents=True)
    (tmp_path / "ext" / "symphony.toml").write_text(MANIFEST)
    from symphony_core.manifest.model import Parameter
    from symphony_core.workflow import Template

    body = (
        WorkflowBuilder("count ${path}")
        .node("load", "ex.text/read", {"path": "${path}"})
        .node("count", "ex.text/count", {"limit": "${limit}"})
        .node("show", "ex.text/show")
        .connect("load.text", "count.text")
        .connect("count.total", "show.value")
        .build()
    )
    tpl = Template(
        name="count_file",
        body=body,
        parameters={
            "path": Parameter(type="path"),
            "limit": Parameter(type="int", default=5, min=1),
        },
    )
    (tmp_path / "ext" / "templates" / "count.json").write_bytes(encode_template(tpl))
    return tmp_path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(root, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def local(env: Path) -> list[str]:
    return ["--no-installed", "--manifest", str(env / "ext" / "symphony.toml")]


def test_template_list_and_instantiate_then_validate_convert_render(env: Path) -> None:
    code, out, _ = run("template", "list", *local(env))
    assert code == 0
    assert "ex.text/count_file: Read a file and count its words." in out
    assert "limit: an integer no smaller than 1 (default 5)" in out

    target = env / "wf.json"
    code, _, _ = run(
        "template",
        "instantiate",
        "ex.text/count_file",
        "-p",
        "path=in.txt",
        "-p",
        "limit=7",
        "-o",
        str(target),
        *local(env),
    )
    assert code == 0
    wf = load_workflow(target)
    assert wf.name == "count in.txt"
    assert wf.node("count").params == {"limit": 7}

    code, out, _ = run("workflow", "validate", str(target), *local(env))
    assert (code, out.strip()) == (0, f"{target}: ok (3 nodes, 2 edges)")

    code, _, err = run("workflow", "convert", str(target), "--to", "bin")
    binary = env / "wf.swf"
    assert code == 0
    assert "wrote" in err
    assert binary.read_bytes()[:4] == MAGIC
    assert decode_binary(binary.read_bytes()) == wf
    code, _, _ = run(
        "workflow", "convert", str(binary), "--to", "json", "-o", str(env / "back.json")
    )
    assert code == 0
    assert (env / "back.json").read_bytes() == encode_json(wf)

    code, out, _ = run("workflow", "render", str(binary), "--format", "mermaid")
    assert code == 0
    assert out.startswith("%% count in.txt\nflowchart TD")
    code, out, _ = run("workflow", "render", str(target), "--format", "dot", *local(env))
    assert code == 0
    assert "n0 -> n1" in out

    code, out, _ = run("workflow", "order", str(target), "--json")
    assert json.loads(out) == {
        "layers": [["load"], ["count"], ["show"]],
        "critical_path": ["load", "count", "show"],
    }


def test_validate_reports_every_problem_and_exits_1(env: Path) -> None:
    wf = (
        WorkflowBuilder("bad")
        .node("c", "ex.text/count", {"limit": 0})
        .node("x", "ex.other/thing")
        .build()
        .add_edge(Edge("loop", "c", "c", "control"))
    )
    path = env / "bad.json"
    path.write_bytes(encode_json(wf))
    code, out, _ = run("workflow", "validate", str(path), *local(env))
    assert code == 1
    for text in ("workflow.param_invalid", "workflow.extension_unknown", "workflow.cycle", "hint:"):
        assert text in out
    code, out, _ = run("workflow", "validate", str(path), "--json", *local(env))
    report = json.loads(out)
    assert code == 1
    assert report["ok"] is False
    assert report["errors"] == len(report["issues"])


def test_strict_turns_warnings_into_failure(env: Path) -> None:
    path = env / "empty.json"
    path.write_bytes(encode_json(Workflow("empty")))
    assert run("workflow", "validate", str(path), *local(env))[0] == 0
    assert run("workflow", "validate", str(path), "--strict", *local(env))[0] == 1


def test_user_errors_are_symphony_errors(env: Path) -> None:
    from symphony_core.errors import UserError

    junk = env / "junk.json"
    junk.write_bytes(b"\x00not json")
    with pytest.raises(UserError, match="not a JSON workflow"):
        CliRunner().invoke(
            root, ["workflow", "validate", str(junk), *local(env)], catch_exceptions=False
        )
    with pytest.raises(UserError, match="limit: 'x' is not an integer; path: required"):
        CliRunner().invoke(
            root,
            ["template", "instantiate", "ex.text/count_file", "-p", "limit=x", *local(env)],
            catch_exceptions=False,
        )
    result = CliRunner().invoke(
        root, ["template", "instantiate", "x", "-p", "novalue", *local(env)]
    )
    assert result.exit_code == 2
    assert "key=value" in result.output


def test_installed_extensions_are_discovered(env: Path) -> None:
    # The real discovery path: the example extension is installed in the test environment.
    path = env / "textops.json"
    path.write_text(
        json.dumps(
            {
                "schema_version": 2,
                "name": "tx",
                "nodes": [
                    {"id": "tok", "type": "examples.textops/tokenize"},
                    {"id": "count", "type": "examples.textops/word_count", "params": {"top": 0}},
                ],
                "edges": [
                    {
                        "id": "e1",
                        "source": "tok",
                        "source_port": "tokens",
                        "target": "count",
                        "target_port": "tokens",
                    }
                ],
                "inputs": [{"name": "text", "node": "tok", "port": "text"}],
            }
        )
    )
    code, out, _ = run("workflow", "validate", str(path), "--json")
    report = json.loads(out)
    assert code == 1
    assert [i["code"] for i in report["issues"]] == ["workflow.param_invalid"]
    assert "below the minimum 1" in report["issues"][0]["message"]
    code, out, _ = run("template", "list", "--json")
    assert code == 0
    assert "templates" in json.loads(out)


def test_through_the_symphony_entry_point_when_attached(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from symphony_core.cli import commands  # noqa: F401  (attaches the groups)
    from symphony_core.cli.main import cli, main

    if "workflow" not in cli.commands:
        pytest.skip("the integrator has not attached the workflow group to `symphony` yet")
    junk = env / "junk.json"
    junk.write_bytes(b"[]")
    with pytest.raises(SystemExit) as info:
        main(["workflow", "validate", str(junk), *local(env)])
    assert info.value.code == 1
    assert "a JSON object" in capsys.readouterr().err
