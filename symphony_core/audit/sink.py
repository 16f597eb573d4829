"""From the sandbox's witness records to audit log entries that name the refusing rule.

The launcher hands every refused attempt its children's witnesses report to an
``audit_sink`` as an ``AuditRecord(extension_id, pid, event)``: the extension id and
pid are the host's facts, the event is the extension's claim. :class:`WitnessSink`
turns each into an :class:`~symphony_core.audit.entry.AuditEntry` whose ``rule`` says
in words which rule refused it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from symphony_core.audit.log import AuditLog
    from symphony_core.runtime.sandbox.launcher import AuditRecord

__all__ = ["WitnessSink", "describe_rule"]

_CODE = re.compile(r"^[a-z][a-z0-9_-]{0,31}(\.[a-z0-9_-]{1,31}){0,4}$")


def describe_rule(code: str, action: str, target: str, detail: str = "") -> tuple[str, str]:
    """Return ``(rule in words, mechanism)`` for a witness rule code.

    Args:
        code: The rule id the witness reported (``landlock.fs.read``...).
        action: What was tried.
        target: What it was aimed at.
        detail: Extra facts.

    Returns:
        E.g. ``("landlock: fs.read not granted for /etc/passwd", "landlock")``.
    """
    if code == "landlock.fs.read":
        return f"landlock: fs.read not granted for {target}", "landlock"
    if code == "landlock.fs.write":
        return f"landlock: fs.write not granted for {target}", "landlock"
    if code == "landlock.net.connect":
        port = target.rsplit(":", 1)[-1]
        return f"landlock: TCP connect to port {port} not granted", "landlock"
    if code == "seccomp.socket":
        return f"seccomp: socket family {target} denied", "seccomp"
    if code == "seccomp.kill":
        return (
            f"seccomp: signal to pid {target} denied (the host, its fork server or every process)",
            "seccomp",
        )
    if code == "seccomp.subprocess":
        return f"seccomp: {action} denied (subprocess not granted)", "seccomp"
    if code == "seccomp.metadata":
        return f"seccomp: {action} denied (file metadata changes are not granted)", "seccomp"
    if code == "witness.corrupt":
        return (
            f"witness: the audit channel was corrupt ({detail}); the process's later "
            "attempts are not logged",
            "witness",
        )
    mechanism, _, rest = code.partition(".")
    return f"{mechanism}: {rest or code} refused", mechanism


class WitnessSink:
    """``Launcher(audit_sink=WitnessSink(log))``: writes each witness record to ``log``.

    A rule code that is not a plain dotted name (an extension can write anything into
    its own witness pipe) is recorded as ``witness.unknown`` with the raw text in
    ``detail``; so is the pid the witness reports when it is not the sandboxed process's
    own (a process it started). Never raises: the audit log drops and counts what it
    cannot write.

    Args:
        log: The audit log.
    """

    def __init__(self, log: AuditLog) -> None:
        self.log = log

    def __call__(self, record: AuditRecord) -> None:
        """Write ``record`` (a launcher ``AuditRecord``) to the log."""
        event = record.event
        code, detail = event.rule, event.detail
        if not _CODE.match(code):
            code, detail = "witness.unknown", f"rule={code!r} {detail}".strip()
        if event.pid and event.pid != record.pid:
            # A process the child started (with the subprocess grant) tried it.
            detail = f"{detail} reported-pid={event.pid}".strip()
        rule, mechanism = describe_rule(code, event.action, event.target, detail)
        self.log.record(
            extension=record.extension_id,
            pid=record.pid,
            action=event.action,
            target=event.target,
            rule=rule,
            code=code,
            mechanism=mechanism,
            detail=detail,
            source="witness",
        )
