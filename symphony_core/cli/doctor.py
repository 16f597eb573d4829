"""``symphony doctor``: what this machine offers, and what Symphony will do with it."""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from typing import Any

import click
import msgspec

from symphony_core.cli.context import CliState, emit_json, json_option, pass_state
from symphony_core.hostapi import HOST_API_VERSION
from symphony_core.runtime.sandbox.probe import KernelCapabilities, probe_kernel

__all__ = ["doctor"]


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _report(state: CliState) -> dict[str, Any]:
    config = state.config
    caps = probe_kernel()
    guarantees = caps.guarantees()
    return {
        "symphony": _version("symphony"),
        "host_api": str(HOST_API_VERSION),
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "platform": {
            "system": platform.system(),
            "release": platform.release(),
            "machine": platform.machine(),
        },
        "home": str(config.home),
        "config_file": str(state.config_file or config.config_file),
        "config_file_exists": (state.config_file or config.config_file).exists(),
        "kernel": msgspec.to_builtins(caps),
        "sandbox": {
            "full": guarantees.full,
            "guarantees": [msgspec.to_builtins(g) for g in guarantees.items],
            "required_weakenings": [w.value for w in guarantees.required_weakenings],
        },
    }


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _render(report: dict[str, Any], caps: KernelCapabilities) -> None:
    py = report["python"]
    plat = report["platform"]
    lines = [
        f"symphony {report['symphony']} (host API {report['host_api']})",
        f"python   {py['version']} ({py['implementation']}) at {py['executable']}",
        f"platform {plat['system']} {plat['release']} {plat['machine']}",
        f"home     {report['home']}",
        f"config   {report['config_file']}"
        + ("" if report["config_file_exists"] else " (absent; defaults apply)"),
        "",
        "kernel mechanisms:",
        f"  running as root      {_yes(caps.is_root)} (uid {caps.uid})",
        "  Landlock ABI         "
        + (str(caps.landlock_abi) if caps.landlock_abi else f"none ({caps.landlock_error})"),
        f"  seccomp filter       {_yes(caps.seccomp)}"
        + (f" ({caps.seccomp_error})" if caps.seccomp_error else ""),
        f"  user namespaces      {_yes(caps.user_namespaces)}"
        + (f" ({caps.user_namespaces_error})" if caps.user_namespaces_error else ""),
        f"  network namespaces   {_yes(caps.network_namespaces)}"
        + (f" ({caps.network_namespaces_error})" if caps.network_namespaces_error else ""),
        f"  pidfd_open           {_yes(caps.pidfd_open)}",
        "  cgroup v1            " + (", ".join(caps.cgroups.v1_controllers) or "not mounted"),
        "  cgroup v2            "
        + (
            f"{caps.cgroups.v2_mount} (controllers: "
            f"{', '.join(caps.cgroups.v2_available) or 'none'}; "
            f"delegated: {', '.join(caps.cgroups.v2_delegated) or 'none'})"
            if caps.cgroups.v2_mount
            else "not mounted"
        ),
        "",
        "sandbox guarantees for community extensions:",
    ]
    lines += [f"  {line}" for line in caps.guarantees().describe()]
    if report["sandbox"]["full"]:
        lines.append("  -> full sandbox available")
    else:
        lines.append(
            "  -> community extensions are refused unless you accept: "
            + ", ".join(report["sandbox"]["required_weakenings"])
        )
    click.echo("\n".join(lines))


@click.command()
@json_option
@pass_state
def doctor(state: CliState, as_json: bool) -> None:
    """Show Python, platform and which sandbox mechanisms this kernel offers."""
    report = _report(state)
    if as_json:
        emit_json(report)
        return
    _render(report, msgspec.convert(report["kernel"], KernelCapabilities))
