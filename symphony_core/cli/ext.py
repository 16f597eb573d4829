"""``symphony ext``: list, inspect, check and describe extensions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import msgspec
from rich.console import Console
from rich.table import Table

from symphony_core.app import ExtensionStatus, Host
from symphony_core.cli import ext_manifest
from symphony_core.cli.context import CliState, emit_json, json_option, pass_state

__all__ = ["ext"]

_STATUS_STYLE = {
    "active": "green",
    "ready": "green",
    "sandboxed": "cyan",
    "quarantined": "red",
    "failed": "red",
    "refused": "red",
    "disabled": "dim",
    "safe-mode": "yellow",
}


def _host(state: CliState, strict: bool, safe_mode: bool) -> Host:
    if strict:
        state.overrides["strict"] = True
    if safe_mode:
        state.overrides["safe_mode"] = True
    return Host(state.config).start()


def _cause_line(status: ExtensionStatus) -> str:
    if not status.cause:
        return ""
    return f"[{status.cause.get('code', '?')}] {status.cause.get('message', '')}"


@click.group()
def ext() -> None:
    """Work with installed extensions and their manifests."""


_strict_option = click.option(
    "--strict", is_flag=True, help="Fail when any installed extension is broken."
)
_safe_option = click.option("--safe-mode", is_flag=True, help="Load no community extension.")


@ext.command("list")
@json_option
@_strict_option
@_safe_option
@pass_state
def list_(state: CliState, as_json: bool, strict: bool, safe_mode: bool) -> None:
    """List installed extensions: kind, version, trust and status."""
    with _host(state, strict, safe_mode) as host:
        statuses = host.extensions()
        order = host.load_order()
    if as_json:
        emit_json({"extensions": [s.to_dict() for s in statuses], "load_order": order})
        return
    if not statuses:
        click.echo("no extensions installed (entry-point group 'symphony.extensions')")
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("id", "kind", "version", "trust", "status", "cause"):
        table.add_column(column, overflow="fold")
    for s in statuses:
        style = _STATUS_STYLE.get(s.status, "")
        table.add_row(
            s.id,
            s.kind or "-",
            s.version,
            s.trust,
            f"[{style}]{s.status}[/]" if style else s.status,
            _cause_line(s),
        )
    Console(soft_wrap=False, width=max(100, Console().width)).print(table)


@ext.command("info")
@click.argument("extension_id")
@json_option
@pass_state
def info(state: CliState, extension_id: str, as_json: bool) -> None:
    """Show everything known about one installed extension."""
    with _host(state, False, False) as host:
        status = host.status(extension_id)
        manifest = None
        if status.manifest_path is not None:
            manifest = msgspec.to_builtins(host.manifest(extension_id))
    if as_json:
        emit_json({"status": status.to_dict(), "manifest": manifest})
        return
    lines = [
        f"{status.id} {status.version}",
        f"  kind          {status.kind or '-'}",
        f"  trust         {status.trust}"
        + (" (runs in-process)" if status.trust == "trusted" else " (runs sandboxed)"),
        f"  status        {status.status}",
        f"  distribution  {status.distribution} {status.distribution_version}",
        f"  manifest      {status.manifest_path or '-'}",
    ]
    if status.cause:
        lines.append(f"  cause         {_cause_line(status)}")
        if status.cause.get("hint"):
            lines.append(f"  hint          {status.cause['hint']}")
    if manifest is not None:
        lines += _manifest_lines(manifest)
    click.echo("\n".join(lines))


def _manifest_lines(manifest: dict[str, Any]) -> list[str]:
    extension = manifest["extension"]
    lines = [
        f"  entry         {extension['entry']}",
        f"  host API      {extension['host-api']}",
    ]
    if extension.get("description"):
        lines.append(f"  description   {extension['description']}")
    if manifest.get("dependencies"):
        deps = ", ".join(f"{k} {v}" for k, v in sorted(manifest["dependencies"].items()))
        lines.append(f"  depends on    {deps}")
    permissions = manifest.get("permissions") or {}
    lines.append(
        f"  permissions   network={permissions.get('network', 'none')}"
        f" subprocess={'yes' if permissions.get('subprocess') else 'no'}"
    )
    for node in manifest.get("nodes", []):
        ins = ", ".join(f"{p['name']}: {p['type']}" for p in node.get("inputs", []))
        outs = ", ".join(f"{p['name']}: {p['type']}" for p in node.get("outputs", []))
        lines.append(f"  node          {node['type']}({ins}) -> {outs}")
    for template in manifest.get("templates", []):
        lines.append(f"  template      {template['name']} ({template['path']})")
    return lines


def _assignments(values: tuple[str, ...], what: str) -> dict[str, Any]:
    """Parse ``NAME=VALUE`` pairs; VALUE is JSON, ``@FILE`` (its text) or a plain string."""
    out: dict[str, Any] = {}
    for item in values:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint=what)
        if raw.startswith("@"):
            try:
                out[name] = Path(raw[1:]).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise click.BadParameter(
                    f"cannot read {raw[1:]!r}: {exc}", param_hint=what
                ) from None
            continue
        try:
            out[name] = json.loads(raw)
        except json.JSONDecodeError:
            out[name] = raw
    return out


@ext.command("call")
@click.argument("node")
@click.option(
    "-i",
    "--input",
    "inputs",
    multiple=True,
    metavar="NAME=VALUE",
    help="An input port's value: JSON, @FILE for a file's text, or a plain string.",
)
@click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A parameter's value: JSON, @FILE for a file's text, or a plain string.",
)
@json_option
@pass_state
def call(
    state: CliState, node: str, inputs: tuple[str, ...], params: tuple[str, ...], as_json: bool
) -> None:
    """Run one node (EXTENSION.ID/NODE_TYPE, or a node type only one extension has).

    Trusted extensions run in-process; community extensions run in their sandbox.
    """
    in_values = _assignments(inputs, "--input")
    param_values = _assignments(params, "--param")
    with Host(state.config).start() as host:
        outputs = dict(host.call_node(node, in_values, param_values))
    if as_json:
        emit_json({"node": node, "outputs": outputs})
        return
    for name, value in outputs.items():
        click.echo(f"{name}: {json.dumps(value, ensure_ascii=False, default=str)}")


for _command in ext_manifest.COMMANDS:
    ext.add_command(_command)
