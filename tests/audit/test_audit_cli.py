"""``symphony audit``: filters, JSON, one-line errors, terminal safety, --follow."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from symphony_core.audit import AuditLog
from symphony_core.cli.audit import audit
from symphony_core.cli.main import cli, main

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def run(home: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Run]:
    added = "audit" not in cli.commands
    if added:
        cli.add_command(audit)

    def invoke(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exit_info:
            main(["--home", str(home), "audit", *args])
        out = capsys.readouterr()
        code = exit_info.value.code
        return (code if isinstance(code, int) else 0), out.out, out.err

    yield invoke
    if added:
        cli.commands.pop("audit", None)


def _fill(home: Path, now: float) -> None:
    clock = iter([now - 7200, now - 3000, now - 60, now - 1])
    log = AuditLog(home / "audit", clock=lambda: next(clock))
    for ext, target in [
        ("acme.tool", "/etc/passwd"),
        ("acme.other", "/etc/shadow"),
        ("zeta.x", "/root"),
        ("acme.tool", "/etc/\x1b[31mred"),
    ]:
        log.record(
            extension=ext,
            action="open",
            target=target,
            rule=f"landlock: fs.read not granted for {target}",
            code="landlock.fs.read",
            mechanism="landlock",
            pid=9,
            source="witness",
        )
    log.close()


def test_empty_log(run: Run) -> None:
    assert run() == (0, "no refused access logged\n", "")
    _code, out, _ = run("--json")
    assert json.loads(out)["entries"] == []


def test_filters_and_text(run: Run, home: Path) -> None:
    _fill(home, time.time())
    code, out, _ = run()
    lines = out.splitlines()
    assert code == 0
    assert len(lines) == 4
    assert (
        "acme.tool  pid 9  open /etc/passwd  -- landlock: fs.read not granted for /etc/passwd"
        in lines[0]
    )
    assert lines[0].endswith("[witness]")
    assert "\x1b" not in out
    assert "/etc/\\x1b[31mred" in lines[3]
    assert len(run("-e", "acme.tool")[1].splitlines()) == 2
    assert len(run("--extension", "acme.*")[1].splitlines()) == 3
    assert len(run("--since", "1h")[1].splitlines()) == 3
    assert len(run("--since", "1h", "--until", "30s")[1].splitlines()) == 2
    assert len(run("--limit", "1")[1].splitlines()) == 1
    assert run("--since", "1s", "-e", "zeta.*")[1] == "no refused access logged that matches\n"
    data = json.loads(run("--json", "-n", "2")[1])
    assert [e["extension"] for e in data["entries"]] == ["zeta.x", "acme.tool"]
    assert data["entries"][1]["target"] == "/etc/\x1b[31mred"  # JSON keeps the text as it is
    assert data["count"] == 2


def test_errors(run: Run) -> None:
    code, _, err = run("--since", "last tuesday")
    assert code == 1
    assert err.startswith("error: 'last tuesday' is not a time")
    assert err.count("\n") == 1
    code, _, err = run("--since", "1m", "--until", "1h")
    assert code == 1
    assert "is after --until" in err
    code, _, err = run("--follow", "--until", "1h")
    assert code == 2
    assert "takes no --until" in err
    code, _, err = run("--limit", "-1")
    assert code == 2


def test_malformed_lines_are_reported(run: Run, home: Path) -> None:
    _fill(home, time.time())
    with open(home / "audit" / "audit.jsonl", "ab") as handle:
        handle.write(b"garbage\n")
    code, out, err = run()
    assert code == 0
    assert len(out.splitlines()) == 4
    assert "skipped 1 malformed line(s)" in err
    assert json.loads(run("--json")[1])["malformed_lines"] == 1


_FOLLOW = """
import sys
from symphony_core.cli.audit import audit
from symphony_core.cli.main import cli, main
cli.add_command(audit)
main(sys.argv[1:])
"""


def test_follow_prints_new_entries_until_interrupted(home: Path) -> None:
    _fill(home, time.time())
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _FOLLOW,
            "--home",
            str(home),
            "audit",
            "-f",
            "-n",
            "1",
            "--json",
            "-e",
            "acme.*",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert first["target"] == "/etc/\x1b[31mred"  # the backlog: the most recent one
        log = AuditLog(home / "audit")
        log.record(extension="zeta.x", action="open", rule="r", code="c.d", mechanism="m")
        log.record(extension="acme.new", action="connect", rule="r", code="c.d", mechanism="m")
        second = json.loads(proc.stdout.readline())
        assert (second["extension"], second["action"]) == ("acme.new", "connect")
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
