"""``symphony workflow`` and ``symphony template``: check, convert, draw and instantiate.

Node types and templates come from the installed extensions (read from their manifests,
no extension code is imported) and from any ``--manifest symphony.toml`` given; pass
``--no-installed`` to use only the manifests named on the command line.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from symphony_core.cli.context import CliState, emit_json, json_option, pass_state
from symphony_core.extension import ExtensionRecord
from symphony_core.manifest.model import Manifest
from symphony_core.workflow.catalog import NodeCatalog
from symphony_core.workflow.errors import TemplateParameterError, WorkflowError
from symphony_core.workflow.files import encode_workflow, load_workflow
from symphony_core.workflow.model import Workflow
from symphony_core.workflow.order import critical_path, layers
from symphony_core.workflow.render import render
from symphony_core.workflow.templates import TemplateCatalog, coerce_parameter
from symphony_core.workflow.validate import Issue, validate

__all__ = ["template", "workflow"]

_manifest_option = click.option(
    "--manifest",
    "manifests",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A symphony.toml whose node types and templates to use (repeatable).",
)
_installed_option = click.option(
    "--installed/--no-installed",
    default=True,
    show_default=True,
    help="Also use the node types and templates of installed extensions.",
)


class _Sources:
    """The manifests (with their paths) the catalogs are built from."""

    def __init__(self, state: CliState, manifests: Sequence[Path], installed: bool) -> None:
        from symphony_core.manifest.load import load_manifest

        self.items: list[tuple[Manifest, Path]] = []
        self.notes: list[str] = []
        if installed:
            for record in self._installed(state):
                self.items.append((record.manifest, record.manifest_path))
        given = {manifest.id for manifest, _ in self.items}
        for path in manifests:
            manifest = load_manifest(path)
            if manifest.id in given:
                # The file named on the command line wins over the installed copy.
                self.items = [(m, p) for m, p in self.items if m.id != manifest.id]
            given.add(manifest.id)
            self.items.append((manifest, path))

    def _installed(self, state: CliState) -> list[ExtensionRecord]:
        from symphony_core.discovery import discover

        result = discover(state.config, strict=False)
        for failure in result.failures:
            self.notes.append(f"note: skipped a broken extension: {failure.describe()}")
        return list(result.extensions)

    def nodes(self) -> NodeCatalog:
        return NodeCatalog.from_manifests(manifest for manifest, _ in self.items)

    def templates(self, files: Sequence[Path] = ()) -> TemplateCatalog:
        catalog = TemplateCatalog.from_manifests(self.items)
        for path in files:
            catalog.add_file(path)
        return catalog

    def print_notes(self) -> None:
        for note in self.notes:
            click.echo(note, err=True)


def _issue_line(issue: Issue) -> str:
    where = ""
    if issue.node_ids:
        where = (
            f" [nodes: {', '.join(issue.node_ids[:5])}{'...' if len(issue.node_ids) > 5 else ''}]"
        )
    elif issue.edge_ids:
        where = f" [edges: {', '.join(issue.edge_ids[:5])}]"
    hint = f"\n      hint: {issue.hint}" if issue.hint else ""
    return f"  {issue.severity}: {issue.code}: {issue.message}{where}{hint}"


def _write(data: bytes | str, output: Path | None) -> None:
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if output is None or str(output) == "-":
        if isinstance(data, bytes) and sys.stdout.isatty() and not data[:1].isascii():
            raise click.UsageError("refusing to write binary data to a terminal; use -o FILE")
        sys.stdout.buffer.write(payload)
        sys.stdout.flush()
        return
    from symphony_core.fs import atomic_write

    atomic_write(output, payload)


@click.group()
def workflow() -> None:
    """Validate, convert, order and draw workflow files (JSON or binary)."""


@workflow.command("validate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_manifest_option
@_installed_option
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@json_option
@pass_state
def validate_command(
    state: CliState,
    file: Path,
    manifests: tuple[Path, ...],
    installed: bool,
    strict: bool,
    as_json: bool,
) -> None:
    """Check FILE against the node types of the extensions; list every problem."""
    loaded = load_workflow(file)
    sources = _Sources(state, manifests, installed)
    report = validate(loaded, sources.nodes())
    failed = not report.ok or (strict and bool(report.warnings))
    if as_json:
        emit_json({"file": str(file), **report.to_dict()})
    else:
        sources.print_notes()
        if not report.issues:
            click.echo(f"{file}: ok ({len(loaded.nodes)} nodes, {len(loaded.edges)} edges)")
        else:
            click.echo(f"{file}: {len(report.errors)} error(s), {len(report.warnings)} warning(s)")
            for issue in report.issues:
                click.echo(_issue_line(issue))
    if failed:
        raise click.exceptions.Exit(1)


def _default_output(file: Path, fmt: str) -> Path:
    suffix = ".json" if fmt == "json" else ".swf"
    target = file.with_suffix(suffix)
    if target == file:
        target = file.with_name(f"{file.stem}.converted{suffix}")
    return target


@workflow.command("convert")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--to", "fmt", type=click.Choice(["json", "bin"]), required=True, help="Target form.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output file ('-' for stdout; default: FILE with .json or .swf).",
)
@click.option("--indent", type=click.IntRange(0, 8), help="Pretty-print JSON with N spaces.")
def convert_command(file: Path, fmt: str, output: Path | None, indent: int | None) -> None:
    """Convert FILE to canonical JSON or to the binary form."""
    loaded = load_workflow(file)
    data = encode_workflow(loaded, "bin" if fmt == "bin" else "json", indent=indent)
    target = output if output is not None else _default_output(file, fmt)
    _write(data, target)
    if str(target) != "-":
        click.echo(f"wrote {target} ({len(data)} bytes, {fmt})", err=True)


@workflow.command("render")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "dot"]),
    default="mermaid",
    show_default=True,
    help="Mermaid (paste into Markdown) or Graphviz DOT (dot -Tsvg).",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Output file."
)
@_manifest_option
@click.option(
    "--installed/--no-installed",
    default=False,
    show_default=True,
    help="Use installed extensions to tell Instruments from Operators.",
)
@pass_state
def render_command(
    state: CliState,
    file: Path,
    fmt: str,
    output: Path | None,
    manifests: tuple[Path, ...],
    installed: bool,
) -> None:
    """Draw FILE as a Mermaid flowchart or a Graphviz graph."""
    loaded = load_workflow(file)
    catalog = _Sources(state, manifests, installed).nodes() if manifests or installed else None
    _write(render(loaded, "dot" if fmt == "dot" else "mermaid", catalog), output)


@workflow.command("order")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
def order_command(file: Path, as_json: bool) -> None:
    """Print FILE's parallel layers (in topological order) and its critical path."""
    loaded = load_workflow(file)
    found = layers(loaded)
    path = critical_path(loaded)
    if as_json:
        emit_json({"layers": found, "critical_path": list(path.nodes)})
        return
    for k, layer in enumerate(found):
        click.echo(f"layer {k}: {' '.join(layer)}")
    click.echo(f"critical path ({len(path.nodes)} nodes): {' -> '.join(path.nodes)}")


@click.group()
def template() -> None:
    """List and instantiate workflow templates."""


_template_file_option = click.option(
    "--file",
    "files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A template file to use besides the extensions' (repeatable).",
)


@template.command("list")
@_manifest_option
@_installed_option
@_template_file_option
@json_option
@pass_state
def list_command(
    state: CliState,
    manifests: tuple[Path, ...],
    installed: bool,
    files: tuple[Path, ...],
    as_json: bool,
) -> None:
    """List the templates the extensions contribute, with their parameters."""
    sources = _Sources(state, manifests, installed)
    catalog = sources.templates(files)
    described: list[dict[str, Any]] = []
    for entry in catalog.entries():
        try:
            described.append(catalog.get(entry.name).describe())
        except WorkflowError as exc:
            described.append({"name": entry.name, "error": exc.to_dict()})
    if as_json:
        emit_json({"templates": described})
        return
    sources.print_notes()
    if not described:
        click.echo("no templates")
        return
    for item in described:
        if "error" in item:
            click.echo(f"{item['name']}: unreadable: {item['error']['message']}")
            continue
        click.echo(f"{item['name']}: {item['description']}".rstrip(": "))
        for name, spec in item["parameters"].items():
            default = "required" if spec["required"] else f"default {json.dumps(spec['default'])}"
            extra = f" - {spec['description']}" if spec["description"] else ""
            click.echo(f"    {name}: {spec['accepts']} ({default}){extra}")


def _parse_assignments(raw: Sequence[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in raw:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not key=value", param_hint="-p")
        if key in values:
            raise click.BadParameter(f"{key!r} is given twice", param_hint="-p")
        values[key] = value
    return values


@template.command("instantiate")
@click.argument("name")
@click.option(
    "-p", "--param", "params", multiple=True, metavar="KEY=VALUE", help="A parameter value."
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Output file."
)
@click.option("--to", "fmt", type=click.Choice(["json", "bin"]), default="json", show_default=True)
@click.option("--indent", type=click.IntRange(0, 8), default=2, show_default=True)
@click.option(
    "--validate/--no-validate",
    "check",
    default=True,
    show_default=True,
    help="Validate the result against the node types.",
)
@_manifest_option
@_installed_option
@_template_file_option
@pass_state
def instantiate_command(
    state: CliState,
    name: str,
    params: tuple[str, ...],
    output: Path | None,
    fmt: str,
    indent: int,
    check: bool,
    manifests: tuple[Path, ...],
    installed: bool,
    files: tuple[Path, ...],
) -> None:
    """Build the workflow of template NAME with -p key=value parameters."""
    texts = _parse_assignments(params)
    sources = _Sources(state, manifests, installed)
    catalog = sources.templates(files)
    chosen = catalog.get(name)
    values: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for key, text in texts.items():
        parameter = chosen.parameters.get(key)
        if parameter is None:
            values[key] = text  # reported as unknown by the template, with the others
            continue
        try:
            values[key] = coerce_parameter(parameter, text)
        except ValueError as exc:
            problems.append((key, str(exc)))
    if problems:
        try:
            chosen.check({k: v for k, v in values.items() if k not in dict(problems)})
        except TemplateParameterError as exc:
            problems.extend(p for p in exc.problems if p[0] not in dict(problems))
        raise TemplateParameterError(chosen.name, problems)
    built: Workflow = chosen.instantiate(values, templates=catalog)
    if check:
        validate(built, sources.nodes()).raise_for_errors(where=name)
    data = encode_workflow(
        built, "bin" if fmt == "bin" else "json", indent=None if fmt == "bin" else indent
    )
    if fmt == "json" and not data.endswith(b"\n"):
        data += b"\n"
    _write(data, output)
