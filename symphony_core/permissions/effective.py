"""The manifest asks, the policy grants: the effective grant is what both allow.

For each permission:

* **network** — the lesser of asked and granted (``none`` < ``loopback`` < ``any``);
  granted ports restrict ``any``.
* **environment** — the asked names that a granted name or glob matches.
* **subprocess** — only when asked and granted; granted programs (``exec``) only then.
* **filesystem** — the manifest names paths inside the extension's data directory
  (confined: ``..`` and symlinks cannot lead out). A relative policy path grants the
  part of those asks beneath it; an asked path beneath a granted one is granted whole,
  a granted path beneath an asked one is granted alone (the intersection of the two
  trees). Absolute policy paths are the user's own grant and apply as written — the
  manifest cannot name them. Writing implies reading. Always granted: the extension's
  own package directory (read) and its scratch directory (read and write).
* **limits** — the lesser of asked and the granted ceiling; the ceiling when nothing is
  asked.

Whatever was asked and not (fully) granted is listed as a :class:`Shortfall`, so
``symphony policy show`` can say *asked for network any, granted none*.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from symphony_core.config import Config
from symphony_core.errors import PathConfinementError
from symphony_core.extension import ExtensionRecord
from symphony_core.fs import confine
from symphony_core.manifest.model import Manifest
from symphony_core.manifest.size import format_size, parse_size
from symphony_core.permissions.model import Grant, LimitGrant, Policy
from symphony_core.permissions.store import MIN_MEMORY
from symphony_core.runtime.sandbox.policy import Network, SandboxProfile

__all__ = [
    "DEFAULT_LIMITS",
    "NETWORK_ORDER",
    "Asked",
    "EffectiveGrant",
    "ResolvedGrant",
    "Shortfall",
    "asked_of",
    "beneath",
    "data_dir",
    "effective_grant",
    "effective_profile",
    "intersect_trees",
    "minimal_trees",
    "resolve_grant",
    "scratch_dir",
]

NETWORK_ORDER: dict[str, int] = {"none": 0, "loopback": 1, "any": 2}
"""Network levels from least to most access."""

DEFAULT_LIMITS = LimitGrant(
    memory="512MiB",
    cpu_share=1.0,
    cpu_time="unlimited",
    processes=64,
    open_files=256,
    file_size="1GiB",
)
"""The built-in ceilings, used where neither ``[defaults.limits]`` nor an entry sets one."""

_MIN_CPU_SHARE = 0.01


def scratch_dir(config: Config, extension_id: str) -> Path:
    """Return an extension's scratch directory (the same the in-process runtime gives it)."""
    return config.cache_dir / "scratch" / extension_id


def data_dir(config: Config, extension_id: str) -> Path:
    """Return an extension's data directory, which its manifest's paths are relative to."""
    return config.home / "extensions" / extension_id


class Asked(msgspec.Struct, frozen=True, kw_only=True):
    """What a manifest asks for, normalised.

    Attributes:
        read: Paths to read, relative to the data directory, as written.
        write: Paths to write, as written.
        network: Network level.
        env: Environment variable names.
        subprocess: Whether it wants to start programs.
        memory_bytes: Memory ceiling asked for, if any.
        cpu_share: CPU share asked for, if any.
        cpu_seconds: CPU seconds asked for, if any.
        processes: Processes asked for, if any.
        open_files: Open files asked for, if any.
    """

    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()
    network: Network = "none"
    env: tuple[str, ...] = ()
    subprocess: bool = False
    memory_bytes: int | None = None
    cpu_share: float | None = None
    cpu_seconds: int | None = None
    processes: int | None = None
    open_files: int | None = None


def asked_of(manifest: Manifest) -> Asked:
    """Return what ``manifest``'s ``[permissions]`` and ``[limits]`` ask for."""
    permissions, limits = manifest.permissions, manifest.limits
    return Asked(
        read=tuple(permissions.filesystem.read),
        write=tuple(permissions.filesystem.write),
        network=permissions.network,
        env=tuple(dict.fromkeys(permissions.env)),
        subprocess=permissions.subprocess,
        memory_bytes=parse_size(limits.memory) if limits.memory is not None else None,
        cpu_share=limits.cpu_share,
        cpu_seconds=limits.cpu_time,
        processes=limits.processes,
        open_files=limits.open_files,
    )


class ResolvedGrant(msgspec.Struct, frozen=True, kw_only=True):
    """The policy's grant to one extension once its entries are layered.

    Attributes:
        sources: Keys of the entries that applied, least specific first.
        read: Readable paths as written (absolute, or relative to the data directory).
        write: Writable paths as written.
        exec: Executable paths.
        network: Network level granted.
        ports: TCP ports ``connect`` may reach with ``any`` (empty: every port).
        env: Environment names or globs granted.
        subprocess: Whether starting programs is granted.
        memory_bytes: Memory ceiling.
        cpu_share: CPU share ceiling.
        cpu_seconds: CPU seconds ceiling (``None``: unlimited).
        processes: Process ceiling.
        open_files: Open file ceiling.
        file_size_bytes: Largest file a process may write.
        run_as_uid: Dedicated uid on a root host.
        run_as_gid: Its group.
    """

    sources: tuple[str, ...]
    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()
    exec: tuple[str, ...] = ()
    network: Network = "none"
    ports: tuple[int, ...] = ()
    env: tuple[str, ...] = ()
    subprocess: bool = False
    memory_bytes: int = 512 << 20
    cpu_share: float = 1.0
    cpu_seconds: int | None = None
    processes: int = 64
    open_files: int = 256
    file_size_bytes: int = 1 << 30
    run_as_uid: int | None = None
    run_as_gid: int | None = None


def _last(entries: Sequence[Grant | LimitGrant], name: str, default: Any) -> Any:
    value = default
    for entry in entries:
        if getattr(entry, name) is not None:
            value = getattr(entry, name)
    return value


def resolve_grant(policy: Policy, extension_id: str) -> ResolvedGrant:
    """Layer the policy's entries for ``extension_id`` into one grant.

    Lists (paths, names, ports) add up over ``[defaults]``, the matching globs and the
    exact id; single values come from the most specific entry that sets them, else from
    :data:`DEFAULT_LIMITS` and the built-in ``none``/``false``.

    Args:
        policy: The policy.
        extension_id: The extension.

    Returns:
        The layered grant.
    """
    entries = policy.entries_for(extension_id)
    grants = [grant for _, grant in entries]
    limits = [DEFAULT_LIMITS, *(grant.limits for grant in grants)]

    def union(name: str) -> tuple[Any, ...]:
        return tuple(dict.fromkeys(item for grant in grants for item in getattr(grant, name)))

    cpu_time = _last(limits, "cpu_time", "unlimited")
    return ResolvedGrant(
        sources=tuple(key for key, _ in entries),
        read=union("read"),
        write=union("write"),
        exec=union("exec"),
        network=_last(grants, "network", "none"),
        ports=tuple(sorted(union("ports"))),
        env=union("env"),
        subprocess=_last(grants, "subprocess", False),
        memory_bytes=parse_size(_last(limits, "memory", None)),
        cpu_share=_last(limits, "cpu_share", None),
        cpu_seconds=None if cpu_time == "unlimited" else cpu_time,
        processes=_last(limits, "processes", None),
        open_files=_last(limits, "open_files", None),
        file_size_bytes=parse_size(_last(limits, "file_size", None)),
        run_as_uid=_last(grants, "run_as_uid", None),
        run_as_gid=_last(grants, "run_as_gid", None),
    )


class Shortfall(msgspec.Struct, frozen=True, kw_only=True):
    """Something the manifest asked for that the policy did not (fully) grant.

    Attributes:
        permission: ``network``, ``env``, ``subprocess``, ``filesystem.read``,
            ``filesystem.write`` or ``limits.<name>``.
        asked: What was asked, as the manifest says it.
        granted: What was granted instead (``none``, a lower value, a part).
        reason: Why, when it is not simply the policy (a path that leads out...).
    """

    permission: str
    asked: str
    granted: str
    reason: str = ""

    def describe(self) -> str:
        """Return one line: ``asked for network any, granted none``."""
        text = f"{self.permission}: asked {self.asked}, granted {self.granted}"
        return f"{text} ({self.reason})" if self.reason else text


class EffectiveGrant(msgspec.Struct, frozen=True, kw_only=True):
    """What one extension may do: the sandbox profile and how it came about.

    Attributes:
        extension_id: The extension.
        profile: What the kernel is told to enforce.
        asked: What the manifest asked for.
        sources: Policy entries that applied, least specific first.
        shortfalls: What was asked and not (fully) granted.
        package_dirs: The extension's own files (readable).
        scratch_dir: Its scratch directory (read-write).
        data_dir: Its data directory, which asked paths are relative to.
        data_write: Granted writable directories inside the data directory (the host
            creates them before the extension starts).
    """

    extension_id: str
    profile: SandboxProfile
    asked: Asked
    sources: tuple[str, ...]
    shortfalls: tuple[Shortfall, ...]
    package_dirs: tuple[str, ...]
    scratch_dir: str
    data_dir: str
    data_write: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable description."""
        out: dict[str, Any] = msgspec.to_builtins(self)
        out["shortfalls"] = [
            {**msgspec.to_builtins(s), "text": s.describe()} for s in self.shortfalls
        ]
        return out


def beneath(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or inside it (both absolute and normalised)."""
    if root == "/":
        return path.startswith("/")
    return path == root or path.startswith(root + "/")


def minimal_trees(paths: Iterable[str]) -> list[str]:
    """Return the paths not inside another of them, sorted: the same set of trees."""
    out: list[str] = []
    for path in sorted(set(paths), key=lambda p: (p.count("/"), p)):
        if not any(beneath(path, kept) for kept in out):
            out.append(path)
    return sorted(out)


def intersect_trees(first: Iterable[str], second: Iterable[str]) -> list[str]:
    """Return the trees both sets of trees cover (each path standing for itself and below)."""
    a, b = list(first), list(second)
    found = [x for x in a if any(beneath(x, y) for y in b)]
    found += [y for y in b if any(beneath(y, x) for x in a)]
    return minimal_trees(found)


def _real(path: str) -> str:
    return os.path.realpath(path)


def _resolve_policy_paths(paths: Iterable[str], data: Path) -> tuple[list[str], list[str]]:
    """Split policy paths into (absolute grants, data-dir trees), both resolved."""
    absolute: list[str] = []
    relative: list[str] = []
    for text in paths:
        if os.path.isabs(text):
            absolute.append(_real(text))
        else:
            try:
                relative.append(str(confine(data, text, what="policy path")))
            except PathConfinementError:
                continue  # a symlink in the data dir leading out: grants nothing
    return absolute, relative


def _limit(
    name: str,
    asked: float | None,
    cap: float | None,
    shortfalls: list[Shortfall],
    show: Any = str,
) -> Any:
    if asked is None:
        return cap
    if cap is not None and asked > cap:
        shortfalls.append(
            Shortfall(permission=f"limits.{name}", asked=show(asked), granted=show(cap))
        )
        return cap
    return asked


def effective_grant(record: ExtensionRecord, policy: Policy, config: Config) -> EffectiveGrant:
    """Work out what ``record``'s extension may do under ``policy`` on ``config``'s host.

    Pure apart from resolving paths (symlinks are followed, nothing is created); see
    :meth:`~symphony_core.permissions.service.PermissionService.profile_for` for the
    version that also creates the directories.

    Args:
        record: The discovered extension (its manifest asks).
        policy: The host's policy (it grants).
        config: The host's configuration (where the data and scratch directories are).

    Returns:
        The effective grant, with its sandbox profile and shortfalls.
    """
    ext = record.id
    asked = asked_of(record.manifest)
    granted = resolve_grant(policy, ext)
    data = data_dir(config, ext)
    scratch = scratch_dir(config, ext)
    shortfalls: list[Shortfall] = []

    network: Network = (
        asked.network
        if NETWORK_ORDER[asked.network] <= NETWORK_ORDER[granted.network]
        else granted.network
    )
    if network != asked.network:
        shortfalls.append(Shortfall(permission="network", asked=asked.network, granted=network))
    ports = granted.ports if network == "any" else ()

    env = tuple(n for n in asked.env if any(fnmatch.fnmatchcase(n, g) for g in granted.env))
    for name in asked.env:
        if name not in env:
            shortfalls.append(Shortfall(permission="env", asked=name, granted="none"))

    subprocess = asked.subprocess and granted.subprocess
    if asked.subprocess and not subprocess:
        shortfalls.append(Shortfall(permission="subprocess", asked="yes", granted="no"))
    execute = tuple(minimal_trees(_real(p) for p in granted.exec)) if subprocess else ()

    read, write, data_write = _filesystem(asked, granted, data, shortfalls)

    memory = _limit("memory", asked.memory_bytes, granted.memory_bytes, shortfalls, format_size)
    cpu_share = _limit("cpu-share", asked.cpu_share, granted.cpu_share, shortfalls)
    cpu_seconds = _limit(
        "cpu-time",
        asked.cpu_seconds,
        granted.cpu_seconds,
        shortfalls,
        lambda v: "unlimited" if v is None else f"{v}s",
    )
    processes = _limit("processes", asked.processes, granted.processes, shortfalls)
    open_files = _limit("open-files", asked.open_files, granted.open_files, shortfalls)

    package_dirs = tuple(
        dict.fromkeys(_real(str(p)) for p in (record.package_dir, record.manifest_path.parent))
    )
    profile = SandboxProfile(
        # A manifest may ask for less than a Python process can run in; the floor is the
        # sandbox's, and still below every ceiling the policy accepts.
        memory_bytes=max(int(memory), MIN_MEMORY),
        cpu_share=max(float(cpu_share), _MIN_CPU_SHARE),
        cpu_seconds=cpu_seconds,
        pids=int(processes),
        open_files=int(open_files),
        file_size_bytes=granted.file_size_bytes,
        fs_read=tuple(minimal_trees([*package_dirs, *read])),
        fs_write=tuple(write),
        fs_exec=execute,
        scratch_dir=str(scratch),
        network=network,
        tcp_connect_ports=ports,
        env=env,
        subprocess=subprocess,
        runtime_read=True,
        run_as_uid=granted.run_as_uid,
        run_as_gid=granted.run_as_gid,
    )
    return EffectiveGrant(
        extension_id=ext,
        profile=profile,
        asked=asked,
        sources=granted.sources,
        shortfalls=tuple(shortfalls),
        package_dirs=package_dirs,
        scratch_dir=str(scratch),
        data_dir=str(data),
        data_write=tuple(data_write),
    )


def _filesystem(
    asked: Asked, granted: ResolvedGrant, data: Path, shortfalls: list[Shortfall]
) -> tuple[list[str], list[str], list[str]]:
    """Return (readable, writable, writable inside the data dir) and note shortfalls."""
    asked_read: dict[str, str] = {}
    asked_write: dict[str, str] = {}
    for kind, texts, into in (
        ("read", asked.read, asked_read),
        ("write", asked.write, asked_write),
    ):
        for text in texts:
            try:
                into[str(confine(data, text, what="manifest path"))] = text
            except PathConfinementError:
                shortfalls.append(
                    Shortfall(
                        permission=f"filesystem.{kind}",
                        asked=text,
                        granted="none",
                        reason="it leads outside the extension's data directory",
                    )
                )
    abs_read, rel_read = _resolve_policy_paths(granted.read, data)
    abs_write, rel_write = _resolve_policy_paths(granted.write, data)

    data_write = intersect_trees(asked_write, rel_write)
    write = minimal_trees([*data_write, *abs_write])
    readable_asks = [*asked_read, *asked_write]
    read = [
        p
        for p in minimal_trees(
            [*intersect_trees(readable_asks, [*rel_read, *rel_write]), *abs_read, *abs_write]
        )
        if not any(beneath(p, w) for w in write)
    ]

    every_write = [*rel_write, *abs_write]
    every_read = [*rel_read, *abs_read, *every_write]
    for path, text in asked_write.items():
        if any(beneath(path, g) for g in every_write):
            continue
        parts = [w for w in write if beneath(w, path)]
        if parts:
            granted_text = "only " + ", ".join(parts)
        elif any(beneath(path, g) for g in every_read):
            granted_text = "read only"
        else:
            granted_text = "none"
        shortfalls.append(
            Shortfall(permission="filesystem.write", asked=text, granted=granted_text)
        )
    for path, text in asked_read.items():
        if any(beneath(path, g) for g in every_read):
            continue
        parts = [r for r in [*read, *write] if beneath(r, path)]
        shortfalls.append(
            Shortfall(
                permission="filesystem.read",
                asked=text,
                granted="only " + ", ".join(parts) if parts else "none",
            )
        )
    return read, write, data_write


def effective_profile(record: ExtensionRecord, policy: Policy, config: Config) -> SandboxProfile:
    """Return the :class:`SandboxProfile` for ``record`` (see :func:`effective_grant`)."""
    return effective_grant(record, policy, config).profile
