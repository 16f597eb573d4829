"""``symphony ext check`` and ``symphony ext schema``: lint a manifest, export its schema.

The commands are added to the ``ext`` group by :mod:`symphony_core.cli.commands`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from symphony_core.cli.context import emit_json, json_option
from symphony_core.errors import UserError
from symphony_core.fs import atomic_write
from symphony_core.manifest import (
    Issue,
    Manifest,
    ManifestError,
    check_manifest_files,
    find_manifest,
    load_manifest,
    manifest_json_schema,
    manifest_reference_markdown,
)

__all__ = ["COMMANDS", "OutputWriteError", "check", "schema"]


class OutputWriteError(UserError):
    """A file the user asked the CLI to write could not be written."""

    code = "cli.output_write_failed"


@click.command("check")
@click.argument("path", type=click.Path(path_type=Path))
@json_option
def check(path: Path, as_json: bool) -> None:
    """Check a manifest and report every problem in it at once.

    PATH is a symphony.toml file, the package directory that holds one, or a project
    directory (with pyproject.toml) whose package holds one. Exits 1 if anything is wrong.
    """
    manifest_path = find_manifest(path)
    manifest: Manifest | None = None
    issues: list[Issue]
    try:
        manifest = load_manifest(manifest_path)
        issues = check_manifest_files(manifest, manifest_path)
    except ManifestError as exc:
        issues = exc.issues
    ok = not issues
    if as_json:
        out: dict[str, object] = {
            "ok": ok,
            "file": str(manifest_path),
            "issues": [issue.to_dict() for issue in issues],
        }
        if manifest is not None:
            out["id"] = manifest.id
            out["version"] = manifest.version
        emit_json(out)
    elif ok and manifest is not None:
        click.echo(f"ok: {manifest.id} {manifest.version} ({manifest_path})")
    else:
        for issue in issues:
            click.echo(str(issue))
        count = len(issues)
        click.echo(f"{count} problem{'s' if count != 1 else ''} in {manifest_path}")
    if not ok:
        # SystemExit rather than ctx.exit(): the root entry point runs click with
        # standalone_mode=False, where click returns ctx.exit()'s code instead of exiting.
        sys.exit(1)


@click.command("schema")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "markdown"]),
    default="json",
    show_default=True,
    help="json: the JSON Schema; markdown: the reference of every table and key.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file (atomically) instead of printing.",
)
def schema(fmt: str, output: Path | None) -> None:
    """Print the JSON Schema of symphony.toml, or its Markdown reference."""
    if fmt == "markdown":
        text = manifest_reference_markdown()
    else:
        text = json.dumps(manifest_json_schema(), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        atomic_write(output, text)
    except OSError as exc:
        raise OutputWriteError(
            f"cannot write {output}: {exc.strerror or type(exc).__name__}",
            where=str(output),
            hint="choose a path in a directory you can write to",
        ) from None
    click.echo(f"wrote {output}", err=True)


COMMANDS: tuple[click.Command, ...] = (check, schema)
"""The commands of this module, for the ``ext`` group to add."""
