"""One line of the audit log: a refused access, who tried it, and the rule that refused it."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

__all__ = ["TIME_PATTERN", "AuditEntry", "Source"]

TIME_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$"
"""UTC ISO 8601 with milliseconds: the only time form in the log (it sorts as text)."""

Source = Literal["witness", "host"]
"""``witness``: reported by the extension's own audit hook (a claim, stamped by the host
with the extension and pid it knows); ``host``: observed by the host itself."""


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A refused access.

    Attributes:
        time: When the host recorded it (UTC, ``2024-05-01T12:00:00.123Z``).
        extension: The extension id.
        pid: The process that tried (0 when unknown).
        action: What was tried: ``open``, ``connect``, ``socket``, ``exec``, ``kill``,
            ``memory``...
        target: What it was aimed at: a path, an address, a pid, a program.
        rule: The rule that refused it, in words: ``landlock: fs.read not granted for
            /etc/passwd``, ``limit: memory 256MiB (cgroup OOM kill)``.
        code: The rule's stable id: ``landlock.fs.read``, ``seccomp.socket``,
            ``limit.memory``.
        mechanism: What enforced it: ``landlock``, ``seccomp``, ``netns``, ``cgroup``,
            ``rlimit``, ``watchdog``, ``witness``, ``host``.
        detail: Extra facts (open mode, socket family, signal number).
        source: ``witness`` or ``host`` (see :data:`Source`).
    """

    time: Annotated[str, msgspec.Meta(pattern=TIME_PATTERN)]
    extension: str
    pid: int = 0
    action: str
    target: str = ""
    rule: str
    code: str
    mechanism: str
    detail: str = ""
    source: Source = "host"

    def to_dict(self) -> dict[str, object]:
        """Return the entry as a JSON-serialisable dict."""
        return msgspec.to_builtins(self)  # type: ignore[no-any-return]
