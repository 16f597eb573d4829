"""The audit log: every access the sandbox refused, read with ``symphony audit``.

* :class:`AuditLog` — append-only JSON lines under ``<home>/audit/``, safe from many
  threads and processes, rotated by size; :meth:`AuditLog.query` and
  :meth:`AuditLog.follow` read it back filtered by extension and time.
* :class:`AuditEntry` — one refused access: time, extension, pid, what was tried, the
  rule that refused it, the mechanism.
* :class:`WitnessSink` — the launcher's ``audit_sink``: the sandbox's witness records in,
  audit entries out (``AuditLog.sink()`` makes one).
* :func:`parse_time` — ``--since``/``--until`` values: ISO 8601 or ``1h``, ``30m``...
"""

from symphony_core.audit.entry import TIME_PATTERN, AuditEntry, Source
from symphony_core.audit.log import AUDIT_FILE, AuditLog, audit_dir
from symphony_core.audit.sink import WitnessSink, describe_rule
from symphony_core.audit.timespec import (
    InvalidTimeError,
    format_duration,
    format_time,
    parse_duration,
    parse_time,
)

__all__ = [
    "AUDIT_FILE",
    "TIME_PATTERN",
    "AuditEntry",
    "AuditLog",
    "InvalidTimeError",
    "Source",
    "WitnessSink",
    "audit_dir",
    "describe_rule",
    "format_duration",
    "format_time",
    "parse_duration",
    "parse_time",
]
