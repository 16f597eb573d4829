"""``symphony audit``: read the log of refused accesses, filtered by extension and time."""

from __future__ import annotations

import json
import sys
import unicodedata
from datetime import datetime

import click

from symphony_core.audit.entry import AuditEntry
from symphony_core.audit.log import AuditLog
from symphony_core.audit.timespec import parse_time
from symphony_core.cli.context import CliState, emit_json, json_option, pass_state
from symphony_core.errors import UserError

__all__ = ["audit"]


def _printable(text: str) -> str:
    # Targets come from sandboxed code: never let one drive the terminal.
    return "".join(
        f"\\x{ord(c):02x}" if unicodedata.category(c).startswith("C") else c for c in text
    )


def _line(entry: AuditEntry) -> str:
    what = f"{entry.action} {entry.target}".strip()
    claimed = "" if entry.source == "host" else " [witness]"
    return _printable(
        f"{entry.time}  {entry.extension}  pid {entry.pid}  {what}  -- {entry.rule}{claimed}"
    )


@click.command("audit")
@click.option(
    "--extension", "-e", metavar="ID", help="Only this extension (an id, or a glob such as acme.*)."
)
@click.option(
    "--since", metavar="TIME", help="From this time: ISO 8601, or how long ago (1h, 30m, 2d)."
)
@click.option("--until", metavar="TIME", help="Up to this time: ISO 8601, or how long ago.")
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="Show the most recent N matching entries (0: all).",
)
@click.option("--follow", "-f", is_flag=True, help="Keep printing new entries as they are logged.")
@json_option
@pass_state
def audit(
    state: CliState,
    extension: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    follow: bool,
    as_json: bool,
) -> None:
    """Show refused accesses: time, extension, what was tried, the rule that refused it."""
    low = parse_time(since) if since is not None else None
    high = parse_time(until) if until is not None else None
    if low is not None and high is not None and low > high:
        raise UserError(
            f"--since {since} is after --until {until}", hint="swap them or widen the range"
        )
    if follow and high is not None:
        raise click.UsageError("--follow shows new entries as they come: it takes no --until")
    log = AuditLog.for_config(state.config)
    if follow:
        _follow(log, extension, low, limit, as_json)
        return
    entries = list(log.query(extension=extension, since=low, until=high, limit=limit or None))
    if as_json:
        emit_json(
            {
                "log": str(log.path),
                "entries": [e.to_dict() for e in entries],
                "count": len(entries),
                "malformed_lines": log.skipped,
            }
        )
        return
    if log.skipped:
        click.echo(f"warning: skipped {log.skipped} malformed line(s) in {log.directory}", err=True)
    if not entries:
        filtered = extension is not None or low is not None or high is not None
        click.echo("no refused access logged" + (" that matches" if filtered else ""))
        return
    for entry in entries:
        click.echo(_line(entry))


def _follow(
    log: AuditLog, extension: str | None, since: datetime | None, limit: int, as_json: bool
) -> None:
    try:
        for entry in log.follow(extension=extension, since=since, backlog=limit or None):
            if as_json:
                sys.stdout.write(json.dumps(entry.to_dict(), ensure_ascii=False) + "\n")
            else:
                sys.stdout.write(_line(entry) + "\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        return  # Ctrl-C is how one stops following: not an error
