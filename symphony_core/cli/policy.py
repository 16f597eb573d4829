"""``symphony policy``: see and change what each extension is granted.

The manifest asks, the policy grants; ``show`` puts the two side by side for every
installed extension, ``grant``/``revoke`` change an entry, ``accept-weaker`` /
``refuse-weaker`` record the user's explicit consent to a weaker sandbox where the
kernel lacks a mechanism.
"""

from __future__ import annotations

import fnmatch
import os
from typing import Any

import click
import msgspec

from symphony_core.cli.context import CliState, emit_json, json_option, pass_state
from symphony_core.discovery import discover
from symphony_core.extension import ExtensionRecord
from symphony_core.manifest.size import InvalidSizeError, format_size, parse_size
from symphony_core.permissions.edit import (
    DEFAULTS_KEY,
    Revocation,
    accept_weaker,
    check_key,
    entry_of,
    grant,
    merge_grants,
    refuse_weaker,
    revoke,
)
from symphony_core.permissions.effective import (
    EffectiveGrant,
    asked_of,
    effective_grant,
    resolve_grant,
)
from symphony_core.permissions.errors import PolicyEditError
from symphony_core.permissions.model import Grant, LimitGrant, Policy, is_glob
from symphony_core.permissions.service import check_sandbox
from symphony_core.permissions.store import MIN_MEMORY, PolicyStore, check_grant, grant_data
from symphony_core.runtime.sandbox.errors import SandboxUnavailableError
from symphony_core.runtime.sandbox.policy import WEAKENINGS, Weakening
from symphony_core.runtime.sandbox.probe import KernelCapabilities, probe_kernel

__all__ = ["policy"]

_WEAKENING_NAMES = [w.value for w in Weakening]


@click.group()
def policy() -> None:
    """See and change what extensions are granted (network, files, env, limits...)."""


def _store(state: CliState) -> PolicyStore:
    return PolicyStore.for_config(state.config)


def _installed(state: CliState) -> tuple[list[ExtensionRecord], dict[str, str]]:
    """Return the installed records by id, and why those not loaded are not (``disabled``...)."""
    result = discover(state.config)
    skipped: dict[str, str] = {
        s.extension_id: s.reason for s in result.skipped if s.record is not None
    }
    extra = [s.record for s in result.skipped if s.record is not None]
    records = sorted([*result.extensions, *extra], key=lambda r: r.id)
    return records, skipped


# -- show -----------------------------------------------------------------------------


def _limits_text(grant: EffectiveGrant) -> str:
    p = grant.profile
    cpu_time = "unlimited" if p.cpu_seconds is None else f"{p.cpu_seconds}s"
    return (
        f"memory {format_size(p.memory_bytes)}, cpu-share {p.cpu_share:g}, cpu-time {cpu_time}, "
        f"processes {p.pids}, open-files {p.open_files}, file-size {format_size(p.file_size_bytes)}"
    )


def _asked_note(permission: str, grant: EffectiveGrant) -> str:
    notes = [s for s in grant.shortfalls if s.permission == permission]
    return f"  (asked {notes[0].asked})" if notes else ""


def _sandbox_status(
    grant: EffectiveGrant, caps: KernelCapabilities, policy: Policy
) -> dict[str, Any]:
    outcome = check_sandbox(grant.profile, caps, policy.accept_weaker)
    if isinstance(outcome, SandboxUnavailableError):
        return {"ok": False, "error": outcome.to_dict()}
    return {"ok": True, "plan": msgspec.to_builtins(outcome)}


def _grant_lines(
    grant: EffectiveGrant, record: ExtensionRecord, sandbox: dict[str, Any]
) -> list[str]:
    p = grant.profile
    own = set(grant.package_dirs)
    reads = [f"{path} (own files)" if path in own else path for path in p.fs_read]
    writes = [f"{grant.scratch_dir} (scratch)", *p.fs_write]
    network = p.network + (
        f" (ports {', '.join(map(str, p.tcp_connect_ports))})" if p.tcp_connect_ports else ""
    )
    lines = [
        f"{record.id} {record.version} ({record.trust})",
        f"  entries     {', '.join(grant.sources)}",
        f"  network     {network}{_asked_note('network', grant)}",
        f"  read        {reads[0] if reads else '-'}",
        *(f"              {path}" for path in reads[1:]),
        f"  write       {writes[0]}",
        *(f"              {path}" for path in writes[1:]),
        f"  env         {', '.join(p.env) or '-'}",
        f"  subprocess  {'yes' if p.subprocess else 'no'}{_asked_note('subprocess', grant)}"
        + (f"; programs: {', '.join(p.fs_exec)}" if p.fs_exec else ""),
        f"  limits      {_limits_text(grant)}",
    ]
    if p.run_as_uid is not None:
        lines.append(
            f"  run as      uid {p.run_as_uid}"
            + (f" gid {p.run_as_gid}" if p.run_as_gid is not None else "")
        )
    if grant.shortfalls:
        lines.append(f"  not granted {grant.shortfalls[0].describe()}")
        lines += [f"              {s.describe()}" for s in grant.shortfalls[1:]]
    if sandbox["ok"]:
        weaker = sandbox["plan"]["weakenings"]
        lines.append(
            "  sandbox     ready" + (f" (weaker, accepted: {', '.join(weaker)})" if weaker else "")
        )
    else:
        lines.append(f"  sandbox     refused here: {sandbox['error']['message']}")
    return lines


def _missing_paths(grant: EffectiveGrant) -> list[str]:
    p = grant.profile
    return [path for path in (*p.fs_read, *p.fs_write, *p.fs_exec) if not os.path.exists(path)]


def _describe_extension(
    record: ExtensionRecord,
    policy: Policy,
    state: CliState,
    caps: KernelCapabilities,
    not_loaded: str | None,
) -> tuple[dict[str, Any], list[str]]:
    data, lines = _describe_trust(record, policy, state, caps)
    data["not_loaded"] = not_loaded
    if not_loaded is not None:
        lines[0] += f" -- not loaded: {not_loaded}"
    return data, lines


def _describe_trust(
    record: ExtensionRecord, policy: Policy, state: CliState, caps: KernelCapabilities
) -> tuple[dict[str, Any], list[str]]:
    if record.trust == "trusted":
        note = "trusted: runs in-process, the sandbox policy does not apply"
        data: dict[str, Any] = {
            "extension_id": record.id,
            "version": record.version,
            "trust": "trusted",
            "note": note,
        }
        return data, [f"{record.id} {record.version} (trusted)", f"  {note}"]
    grant = effective_grant(record, policy, state.config)
    sandbox = _sandbox_status(grant, caps, policy)
    missing = _missing_paths(grant)
    data = {
        **grant.to_dict(),
        "version": record.version,
        "trust": record.trust,
        "sandbox": sandbox,
        "missing_paths": missing,
    }
    lines = _grant_lines(grant, record, sandbox)
    for path in missing:
        lines.append(f"  warning     {path} does not exist: nothing is granted there until it does")
    return data, lines


def _entry_dict(key: str, entry: Grant) -> dict[str, Any]:
    return {"entry": key, "grant": grant_data(entry)}


@policy.command("show")
@click.argument("extension_id", required=False)
@json_option
@pass_state
def show(state: CliState, extension_id: str | None, as_json: bool) -> None:
    """Show the effective grant of each installed extension (or one): asked vs granted."""
    store = _store(state)
    current = store.load()
    records, skipped = _installed(state)
    caps = probe_kernel()
    if extension_id is not None:
        _show_one(state, store, current, (records, skipped), caps, extension_id, as_json)
        return
    needed = [w.value for w in caps.guarantees().required_weakenings]
    missing_consent = [w for w in needed if w not in current.accept_weaker]
    described = [_describe_extension(r, current, state, caps, skipped.get(r.id)) for r in records]
    installed_ids = {r.id for r in records}
    unmatched = sorted(
        key
        for key in current.extensions
        if not any(fnmatch.fnmatchcase(i, key) for i in installed_ids)
    )
    if as_json:
        emit_json(
            {
                "policy_file": str(store.path),
                "exists": store.exists(),
                "accept_weaker": list(current.accept_weaker),
                "machine": {"required_weakenings": needed, "not_accepted": missing_consent},
                "defaults": grant_data(current.defaults),
                "extensions": [data for data, _ in described],
                "unmatched_entries": unmatched,
            }
        )
        return
    lines = [
        f"policy file  {store.path}"
        + ("" if store.exists() else " (absent: built-in defaults apply)"),
        f"weaker sandboxes accepted: {', '.join(current.accept_weaker) or 'none'}",
    ]
    if not needed:
        lines.append("this machine: full sandbox")
    elif missing_consent:
        lines.append(
            f"this machine lacks: {', '.join(needed)}; community extensions are refused until "
            f"you accept it: symphony policy accept-weaker {' '.join(missing_consent)}"
        )
    else:
        lines.append(f"this machine lacks: {', '.join(needed)} (accepted)")
    for _, block in described:
        lines += ["", *block]
    if not records:
        lines += ["", "no extensions installed (entry-point group 'symphony.extensions')"]
    if unmatched:
        lines += ["", f"entries for no installed extension: {', '.join(unmatched)}"]
    click.echo("\n".join(lines))


def _show_one(
    state: CliState,
    store: PolicyStore,
    current: Policy,
    installed: tuple[list[ExtensionRecord], dict[str, str]],
    caps: KernelCapabilities,
    key: str,
    as_json: bool,
) -> None:
    records, skipped = installed
    record = next((r for r in records if r.id == key), None)
    if record is not None:
        data, lines = _describe_extension(record, current, state, caps, skipped.get(key))
        if as_json:
            emit_json(data)
        else:
            click.echo("\n".join(lines))
        return
    entry = entry_of(current, key)
    if entry is None:
        raise PolicyEditError(
            f"{key!r} is neither an installed extension nor an entry of {store.path}",
            hint="`symphony ext list` lists the installed extensions, `symphony policy show` "
            "the entries",
        )
    if as_json:
        emit_json({**_entry_dict(key, entry), "installed": False})
        return
    label = "[defaults]" if key == DEFAULTS_KEY else f'[extensions."{key}"]'
    lines = [
        f"{label} in {store.path}"
        + ("" if is_glob(key) or key == DEFAULTS_KEY else " (not installed)")
    ]
    lines += [f"  {name:<11} {_value_text(value)}" for name, value in grant_data(entry).items()]
    if entry.is_empty():
        lines.append("  (grants nothing beyond the built-in defaults)")
    click.echo("\n".join(lines))


# -- grant / revoke -------------------------------------------------------------------


def _host_path(text: str, what: str) -> str:
    path = os.path.abspath(os.path.expanduser(text))
    if not os.path.exists(path):
        click.echo(
            f"warning: {what} {path} does not exist; nothing is granted there until it does",
            err=True,
        )
    if path == "/":
        click.echo(f"warning: {what} / grants the whole file system", err=True)
    return path


def _size(value: str | None) -> str | None:
    return value.replace(" ", "") if value is not None else None


def _cpu_time(value: str | None) -> int | str | None:
    if value is None or value == "unlimited":
        return value
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is neither a whole number of seconds nor 'unlimited'",
            param_hint="--cpu-time",
        ) from None


def _asked_grant(state: CliState, key: str, current: Policy) -> Grant:
    records, _ = _installed(state)
    record = next((r for r in records if r.id == key), None)
    if record is None:
        raise PolicyEditError(
            f"--asked grants what one installed extension's manifest asks, and {key!r} is not "
            "an installed extension",
            hint="give its exact id; `symphony ext list` lists them",
        )
    asked = asked_of(record.manifest)
    caps = resolve_grant(current, key)
    limits = LimitGrant(
        memory=format_size(asked.memory_bytes)
        if asked.memory_bytes is not None and asked.memory_bytes > caps.memory_bytes
        else None,
        cpu_share=asked.cpu_share
        if asked.cpu_share is not None and asked.cpu_share > caps.cpu_share
        else None,
        cpu_time=asked.cpu_seconds
        if asked.cpu_seconds is not None
        and caps.cpu_seconds is not None
        and asked.cpu_seconds > caps.cpu_seconds
        else None,
        processes=asked.processes
        if asked.processes is not None and asked.processes > caps.processes
        else None,
        open_files=asked.open_files
        if asked.open_files is not None and asked.open_files > caps.open_files
        else None,
    )
    return Grant(
        read=asked.read,
        write=asked.write,
        network=asked.network if asked.network != "none" else None,
        env=asked.env,
        subprocess=True if asked.subprocess else None,
        limits=limits,
    )


def _summary(entry: Grant | None) -> str:
    if entry is None or entry.is_empty():
        return "nothing"
    return "; ".join(f"{name}: {_value_text(value)}" for name, value in grant_data(entry).items())


def _value_text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)


def _option_error(exc: msgspec.ValidationError) -> click.BadParameter:
    text = str(exc)
    message, _, where = text.partition(" - at `$.")
    first = where.split("[", 1)[0].split(".")[-1 if where.startswith("limits") else 0].rstrip("`")
    return click.BadParameter(message, param_hint=f"--{first}" if first else None)


_target_argument = click.argument("target", metavar="ID")


@policy.command("grant")
@_target_argument
@click.option(
    "--read",
    multiple=True,
    metavar="PATH",
    help="A host path it may read (files and directories below).",
)
@click.option("--write", multiple=True, metavar="PATH", help="A host path it may read and write.")
@click.option(
    "--exec",
    "exec_",
    multiple=True,
    metavar="PATH",
    help="A program (or directory of programs) it may run; needs --subprocess.",
)
@click.option(
    "--data-read",
    multiple=True,
    metavar="REL",
    help="Grant the read it asks for below this path of its data directory ('.': all of it).",
)
@click.option(
    "--data-write",
    multiple=True,
    metavar="REL",
    help="Grant the write it asks for below this path of its data directory.",
)
@click.option(
    "--asked",
    is_flag=True,
    help="Grant everything its manifest asks for (an installed extension's exact id).",
)
@click.option(
    "--network", type=click.Choice(["none", "loopback", "any"]), help="Network it may use."
)
@click.option(
    "--port",
    "ports",
    multiple=True,
    type=click.IntRange(1, 65535),
    help="With --network any: a TCP port it may connect to (others are refused).",
)
@click.option(
    "--env",
    multiple=True,
    metavar="NAME",
    help="An environment variable (or glob, HF_*) passed through when asked for.",
)
@click.option("--subprocess/--no-subprocess", default=None, help="Whether it may start processes.")
@click.option("--memory", metavar="SIZE", help="Memory ceiling of its process tree, e.g. 1GiB.")
@click.option(
    "--cpu-share", type=click.FloatRange(0.01, 1024), help="CPU ceiling as a fraction of one core."
)
@click.option("--cpu-time", metavar="SECONDS", help="CPU seconds per process, or 'unlimited'.")
@click.option("--processes", type=click.IntRange(1, 65536), help="Processes and threads at once.")
@click.option("--open-files", type=click.IntRange(16, 1048576), help="Open files per process.")
@click.option("--file-size", metavar="SIZE", help="Largest file a process may write.")
@click.option(
    "--run-as-uid", type=click.IntRange(0, 2**32 - 2), help="On a root host, run it as this uid."
)
@click.option("--run-as-gid", type=click.IntRange(0, 2**32 - 2), help="Group id with --run-as-uid.")
@json_option
@pass_state
def grant_command(
    state: CliState,
    target: str,
    read: tuple[str, ...],
    write: tuple[str, ...],
    exec_: tuple[str, ...],
    data_read: tuple[str, ...],
    data_write: tuple[str, ...],
    asked: bool,
    network: str | None,
    ports: tuple[int, ...],
    env: tuple[str, ...],
    subprocess: bool | None,
    memory: str | None,
    cpu_share: float | None,
    cpu_time: str | None,
    processes: int | None,
    open_files: int | None,
    file_size: str | None,
    run_as_uid: int | None,
    run_as_gid: int | None,
    as_json: bool,
) -> None:
    """Grant ID (an extension id, a glob such as acme.*, or '*' for all) more access.

    Paths, names and ports add to what the entry grants; the other values replace it.
    """
    check_key(target)
    for option, value, minimum in (("--memory", memory, MIN_MEMORY), ("--file-size", file_size, 1)):
        try:
            size = parse_size(value) if value is not None else None
        except InvalidSizeError as exc:
            raise click.BadParameter(exc.message, param_hint=option) from None
        if size is not None and size < minimum:
            raise click.BadParameter(
                f"{value!r} is below the minimum of {format_size(minimum)}", param_hint=option
            )
    raw: dict[str, Any] = {
        "read": [_host_path(p, "--read") for p in read] + list(data_read),
        "write": [_host_path(p, "--write") for p in write] + list(data_write),
        "exec": [_host_path(p, "--exec") for p in exec_],
        "network": network,
        "ports": list(ports),
        "env": list(env),
        "subprocess": subprocess,
        "limits": {
            "memory": _size(memory),
            "cpu-share": cpu_share,
            "cpu-time": _cpu_time(cpu_time),
            "processes": processes,
            "open-files": open_files,
            "file-size": _size(file_size),
        },
        "run-as-uid": run_as_uid,
        "run-as-gid": run_as_gid,
    }
    try:
        change = msgspec.convert(raw, Grant)
    except msgspec.ValidationError as exc:
        raise _option_error(exc) from None
    check_grant(change, "grant", "command line")
    store = _store(state)
    with store.edit() as draft:
        if asked:
            change = merge_grants(_asked_grant(state, target, draft.policy), change)
            if change.is_empty():
                click.echo(f"{target} asks for nothing beyond what every extension gets")
                return
        if change.is_empty():
            raise click.UsageError("nothing to grant: give at least one option (see --help)")
        draft.policy = grant(draft.policy, target, change)
        entry = entry_of(draft.policy, target)
    if as_json:
        emit_json({"policy_file": str(store.path), **_entry_dict(target, entry or Grant())})
        return
    click.echo(f"{target} now granted: {_summary(entry)}")


@policy.command("revoke")
@_target_argument
@click.option("--read", multiple=True, metavar="PATH", help="A readable host path to take back.")
@click.option("--write", multiple=True, metavar="PATH", help="A writable host path to take back.")
@click.option("--exec", "exec_", multiple=True, metavar="PATH", help="A program to take back.")
@click.option(
    "--data-read", multiple=True, metavar="REL", help="A data-directory read grant to take back."
)
@click.option(
    "--data-write", multiple=True, metavar="REL", help="A data-directory write grant to take back."
)
@click.option(
    "--env", multiple=True, metavar="NAME", help="An environment name (or glob) to take back."
)
@click.option(
    "--port", "ports", multiple=True, type=click.IntRange(1, 65535), help="A TCP port to take back."
)
@click.option("--network", is_flag=True, help="Set its network to none.")
@click.option("--subprocess", is_flag=True, help="Forbid starting processes.")
@click.option("--limits", is_flag=True, help="Forget its limits (inherit them again).")
@click.option("--run-as", is_flag=True, help="Forget its dedicated uid/gid.")
@click.option(
    "--all", "everything", is_flag=True, help="Remove the whole entry ('*': reset the defaults)."
)
@json_option
@pass_state
def revoke_command(
    state: CliState,
    target: str,
    read: tuple[str, ...],
    write: tuple[str, ...],
    exec_: tuple[str, ...],
    data_read: tuple[str, ...],
    data_write: tuple[str, ...],
    env: tuple[str, ...],
    ports: tuple[int, ...],
    network: bool,
    subprocess: bool,
    limits: bool,
    run_as: bool,
    everything: bool,
    as_json: bool,
) -> None:
    """Take access back from ID (an extension id, a glob, or '*' for the defaults)."""

    def absolute(paths: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(os.path.abspath(os.path.expanduser(p)) for p in paths)

    change = Revocation(
        read=absolute(read) + data_read,
        write=absolute(write) + data_write,
        exec=absolute(exec_),
        env=env,
        ports=ports,
        network=network,
        subprocess=subprocess,
        limits=limits,
        run_as=run_as,
        everything=everything,
    )
    if change.is_empty():
        raise click.UsageError("nothing to revoke: name what to take back, or --all")
    store = _store(state)
    with store.edit() as draft:
        draft.policy = revoke(draft.policy, target, change)
        entry = entry_of(draft.policy, target)
    if as_json:
        emit_json(
            {
                "policy_file": str(store.path),
                "entry": target,
                "grant": grant_data(entry) if entry is not None else None,
            }
        )
        return
    if entry is None:
        click.echo(f"{target}: entry removed")
    else:
        click.echo(f"{target} now granted: {_summary(entry)}")


# -- weaker sandboxes -----------------------------------------------------------------


_weakening_argument = click.argument(
    "names", nargs=-1, required=True, type=click.Choice(_WEAKENING_NAMES), metavar="NAME..."
)


@policy.command("accept-weaker")
@_weakening_argument
@json_option
@pass_state
def accept_weaker_command(state: CliState, names: tuple[str, ...], as_json: bool) -> None:
    """Accept a weaker sandbox where this machine lacks a mechanism (see `symphony doctor`).

    Without this consent the host refuses to start community extensions on a machine
    that cannot give them the full sandbox.
    """
    store = _store(state)
    with store.edit() as draft:
        draft.policy = accept_weaker(draft.policy, names)
        accepted = draft.policy.accept_weaker
    needed = {w.value for w in probe_kernel().guarantees().required_weakenings}
    if as_json:
        emit_json(
            {
                "policy_file": str(store.path),
                "accept_weaker": list(accepted),
                "needed_here": sorted(needed),
            }
        )
        return
    for name in names:
        here = "this machine needs it" if name in needed else "this machine does not need it now"
        click.echo(f"accepted {name} ({here}): {WEAKENINGS[Weakening(name)]}")


@policy.command("refuse-weaker")
@_weakening_argument
@json_option
@pass_state
def refuse_weaker_command(state: CliState, names: tuple[str, ...], as_json: bool) -> None:
    """Withdraw consent to a weaker sandbox: extensions needing it are refused again."""
    store = _store(state)
    with store.edit() as draft:
        before = set(draft.policy.accept_weaker)
        draft.policy = refuse_weaker(draft.policy, names)
        accepted = draft.policy.accept_weaker
    if as_json:
        emit_json({"policy_file": str(store.path), "accept_weaker": list(accepted)})
        return
    for name in names:
        click.echo(f"refused {name}" if name in before else f"{name} was not accepted")
