"""The real ``symphony`` console script, run as a user runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SYMPHONY = shutil.which("symphony", path=os.path.dirname(sys.executable))


def run(
    *args: str, home: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    assert SYMPHONY is not None, "the symphony console script is not installed in this venv"
    full_env = {**os.environ, "SYMPHONY_HOME": str(home), **(env or {})}
    return subprocess.run(
        [SYMPHONY, *args], capture_output=True, text=True, env=full_env, check=False
    )


def test_doctor_reports_kernel_mechanisms(tmp_path: Path) -> None:
    proc = run("doctor", "--json", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["python"]["version"].startswith("3.")
    kernel = report["kernel"]
    for key in ("landlock_abi", "seccomp", "user_namespaces", "network_namespaces", "cgroups"):
        assert key in kernel
    assert {g["name"] for g in report["sandbox"]["guarantees"]} >= {"filesystem", "network"}
    human = run("doctor", home=tmp_path)
    assert human.returncode == 0
    assert "Landlock ABI" in human.stdout
    assert "sandbox guarantees" in human.stdout


def test_ext_list_shows_the_example(tmp_path: Path) -> None:
    proc = run("ext", "list", "--json", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    by_id = {e["id"]: e for e in data["extensions"]}
    example = by_id["examples.textops"]
    assert (example["kind"], example["trust"], example["status"]) == (
        "operator",
        "community",
        "sandboxed",
    )
    trusted = run("ext", "list", home=tmp_path, env={"SYMPHONY_TRUSTED": "examples.*"})
    line = next(ln for ln in trusted.stdout.splitlines() if ln.startswith("examples.textops"))
    assert line.split()[1:5] == ["operator", "1.0.0", "trusted", "ready"]


def test_ext_info(tmp_path: Path) -> None:
    proc = run("ext", "info", "examples.textops", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "node          word_count(tokens: list[str])" in proc.stdout
    data = json.loads(run("ext", "info", "examples.textops", "--json", home=tmp_path).stdout)
    assert data["manifest"]["extension"]["id"] == "examples.textops"


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (("ext", "info", "nope.nope"), 1, "no installed extension has this id"),
        (("ext", "list", "--bogus"), 2, "No such option"),
        (("nonsense",), 2, "No such command"),
        (("ext", "check", "/nonexistent/dir"), 1, "/nonexistent/dir"),
    ],
)
def test_user_mistakes_are_one_line_without_traceback(
    tmp_path: Path, args: tuple[str, ...], code: int, fragment: str
) -> None:
    proc = run(*args, home=tmp_path)
    assert proc.returncode == code
    output = proc.stdout + proc.stderr
    assert fragment in output
    assert "Traceback" not in output


def test_json_error_for_scripts(tmp_path: Path) -> None:
    proc = run("ext", "info", "nope.nope", "--json", home=tmp_path)
    assert proc.returncode == 1
    error = json.loads(proc.stdout)["error"]
    assert error["code"] == "host.unknown_extension"
    assert error["extension_id"] == "nope.nope"


def test_bad_config_is_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("strict = 'very'\n")
    proc = run("ext", "list", home=tmp_path)
    assert proc.returncode == 1
    assert "config.toml" in proc.stderr
    assert "strict" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_ext_check_and_schema(tmp_path: Path) -> None:
    example = Path(__file__).parents[2] / "extensions/examples/textops"
    ok = run("ext", "check", str(example), home=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("ok: examples.textops 1.0.0")
    bad = tmp_path / "symphony.toml"
    bad.write_text('[extension]\nid = "Bad Id"\nversion = "x.y"\nkind = "robot"\n')
    proc = run("ext", "check", str(bad), "--json", home=tmp_path)
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    paths = {issue["path"] for issue in report["issues"]}
    assert {"extension.id", "extension.version", "extension.kind", "extension.entry"} <= paths
    schema = json.loads(run("ext", "schema", home=tmp_path).stdout)
    assert "extension" in json.dumps(schema)


def test_ext_call_runs_the_example_sandboxed_end_to_end(tmp_path: Path) -> None:
    proc = run(
        "ext",
        "call",
        "examples.textops/tokenize",
        "-i",
        "text=Hello big World, hello",
        "--json",
        home=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["outputs"] == {"tokens": ["hello", "big", "world", "hello"]}
    counts = run(
        "ext", "call", "word_count", "-i", 'tokens=["a","b","a"]', "-p", "top=1", home=tmp_path
    )
    assert counts.returncode == 0, counts.stderr
    assert counts.stdout.splitlines() == ['counts: {"a": 2}', "total: 3", "distinct: 2"]


def test_ext_call_mistakes_are_one_line(tmp_path: Path) -> None:
    bad_param = run(
        "ext",
        "call",
        "examples.textops/tokenize",
        "-i",
        "text=x",
        "-p",
        "pattern=(",
        home=tmp_path,
    )
    assert bad_param.returncode == 1
    assert "examples.textops" in bad_param.stderr
    assert "not a valid regular expression" in bad_param.stderr
    assert "Traceback" not in bad_param.stderr
    unknown = run("ext", "call", "nope", home=tmp_path)
    assert unknown.returncode == 1
    assert "no loadable extension contributes the node type 'nope'" in unknown.stderr
    malformed = run("ext", "call", "tokenize", "-i", "text", home=tmp_path)
    assert malformed.returncode == 2
    assert "NAME=VALUE" in malformed.stderr
