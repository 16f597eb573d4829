"""Witness records from the launcher become audit entries naming the rule that refused them."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symphony_core.audit import AuditLog, WitnessSink, describe_rule
from symphony_core.runtime.sandbox.launcher import AuditRecord
from symphony_core.runtime.sandbox.witness import AuditEvent


@pytest.mark.parametrize(
    ("code", "action", "target", "detail", "rule", "mechanism"),
    [
        (
            "landlock.fs.read",
            "open",
            "/etc/passwd",
            "",
            "landlock: fs.read not granted for /etc/passwd",
            "landlock",
        ),
        (
            "landlock.fs.write",
            "open",
            "/tmp/x",
            "",
            "landlock: fs.write not granted for /tmp/x",
            "landlock",
        ),
        (
            "landlock.net.connect",
            "connect",
            "127.0.0.1:22",
            "",
            "landlock: TCP connect to port 22 not granted",
            "landlock",
        ),
        (
            "seccomp.socket",
            "socket",
            "AF_UNIX",
            "family=1",
            "seccomp: socket family AF_UNIX denied",
            "seccomp",
        ),
        (
            "seccomp.kill",
            "kill",
            "1234",
            "signal=9",
            "seccomp: signal to pid 1234 denied (the host, its fork server or every process)",
            "seccomp",
        ),
        (
            "seccomp.subprocess",
            "exec",
            "/bin/sh",
            "",
            "seccomp: exec denied (subprocess not granted)",
            "seccomp",
        ),
        (
            "seccomp.metadata",
            "chmod",
            "/x",
            "",
            "seccomp: chmod denied (file metadata changes are not granted)",
            "seccomp",
        ),
        (
            "witness.corrupt",
            "audit-channel",
            "",
            "record length 0 out of bounds",
            "witness: the audit channel was corrupt (record length 0 out of bounds); "
            "the process's later attempts are not logged",
            "witness",
        ),
        ("netns.something", "x", "", "", "netns: something refused", "netns"),
    ],
)
def test_rules_in_words(
    code: str, action: str, target: str, detail: str, rule: str, mechanism: str
) -> None:
    assert describe_rule(code, action, target, detail) == (rule, mechanism)


def test_sink_writes_the_hosts_facts_and_the_rule(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit")
    sink = log.sink()
    sink(
        AuditRecord(
            extension_id="acme.tool",
            pid=4321,
            event=AuditEvent(
                action="open", target="/etc/passwd", rule="landlock.fs.read", pid=1, time=0.0
            ),
        )
    )
    [entry] = list(log.query())
    assert (entry.extension, entry.pid, entry.action, entry.target) == (
        "acme.tool",
        4321,
        "open",
        "/etc/passwd",
    )
    assert entry.rule == "landlock: fs.read not granted for /etc/passwd"
    assert (entry.code, entry.mechanism, entry.source) == (
        "landlock.fs.read",
        "landlock",
        "witness",
    )
    assert entry.time != "1970-01-01T00:00:00.000Z"  # the host's time, not the child's claim
    assert entry.detail == "reported-pid=1"  # the child's own claim, kept apart


def test_forged_rule_codes_are_quarantined(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit")
    WitnessSink(log)(
        AuditRecord(
            extension_id="evil.ext",
            pid=1,
            event=AuditEvent(action="open", target="/x", rule="\x1b[2J all good", detail="d"),
        )
    )
    [entry] = list(log.query())
    assert entry.code == "witness.unknown"
    assert entry.detail == "rule='\\x1b[2J all good' d"


@settings(max_examples=200)
@given(
    code=st.text(max_size=80),
    action=st.text(max_size=40),
    target=st.text(max_size=200),
    detail=st.text(max_size=100),
)
def test_any_event_is_recorded(code: str, action: str, target: str, detail: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as root:
        log = AuditLog(Path(root))
        WitnessSink(log)(
            AuditRecord(
                extension_id="a.b",
                pid=7,
                event=AuditEvent(action=action, target=target, rule=code, detail=detail),
            )
        )
        [entry] = list(log.query())
        assert entry.action == action[:64] or entry.action.endswith("…")
        assert entry.extension == "a.b"
        assert log.skipped == 0
