"""Per-extension control groups: memory, CPU share and process-count limits for a tree.

Rlimits bound one process; a cgroup bounds the whole tree an extension starts, and is
the only thing that reliably finds and kills every process of it (``setsid`` escapes
process-group kills, grandchildren outlive a killed parent).

Each controller (``memory``, ``cpu``, ``pids``) lives either on a cgroup v1 hierarchy or
on the unified v2 hierarchy, never both, so the choice is made per controller:

* v2 when the controller is enabled in the ``cgroup.subtree_control`` of the cgroup this
  process is in (delegated to us) and we may create a child there;
* otherwise v1 when that controller's hierarchy is mounted and we may create a child in
  our own cgroup of it;
* otherwise unavailable, with the reason — the host then falls back to rlimits plus the
  psutil watchdog and says so.

A sandbox cgroup is created as a child of this process's own cgroup in each hierarchy,
named ``symphony-<host pid>-<sequence>-<label>``, so :func:`sweep_stale` can find and
remove the ones a crashed host left behind.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import re
import secrets
import signal
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

import msgspec

from symphony_core.runtime.sandbox.errors import MechanismUnavailableError

__all__ = [
    "CONTROLLERS",
    "Cgroup",
    "CgroupStats",
    "CgroupSupport",
    "ControllerStatus",
    "discover",
    "sweep_stale",
]

#: The controllers a sandbox cgroup needs, in the order they are reported.
CONTROLLERS: tuple[str, ...] = ("memory", "cpu", "pids")

CgroupVersion = Literal["v1", "v2", "none"]

_PREFIX = "symphony-"
_NAME = re.compile(r"^symphony-(?:probe-)?(\d+)-")
_CPU_PERIOD_US = 100_000
_V1_CONTROLLERS = frozenset(
    {"blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "hugetlb", "memory"}
    | {"misc", "net_cls", "net_prio", "perf_event", "pids", "rdma"}
)
_sequence = itertools.count(1)


class ControllerStatus(msgspec.Struct, frozen=True, kw_only=True):
    """Where one controller lives and whether this process may use it.

    Attributes:
        name: ``memory``, ``cpu`` or ``pids``.
        version: The hierarchy that holds it, or ``none`` when it is not mounted.
        directory: This process's own cgroup in that hierarchy (children go there).
        usable: A child cgroup can be created there by this process.
        reason: Why it is not usable, in plain words; ``None`` when usable.
    """

    name: str
    version: CgroupVersion
    directory: str | None
    usable: bool
    reason: str | None = None


class CgroupSupport(msgspec.Struct, frozen=True, kw_only=True):
    """What the cgroup filesystem offers this process.

    Attributes:
        v1_controllers: Controllers mounted as cgroup v1 hierarchies.
        v2_mount: Mount point of the unified (v2) hierarchy, if mounted.
        v2_available: Controllers listed in our own v2 cgroup's ``cgroup.controllers``.
        v2_delegated: Controllers enabled for our children (``cgroup.subtree_control``).
        controllers: Placement and usability of ``memory``, ``cpu`` and ``pids``.
        accounting_dir: A v1 ``cpuacct`` directory for CPU usage, when mounted apart.
    """

    v1_controllers: tuple[str, ...] = ()
    v2_mount: str | None = None
    v2_available: tuple[str, ...] = ()
    v2_delegated: tuple[str, ...] = ()
    controllers: dict[str, ControllerStatus] = msgspec.field(default_factory=dict)
    accounting_dir: str | None = None

    @property
    def usable(self) -> tuple[str, ...]:
        """The controllers a sandbox cgroup can use here."""
        return tuple(n for n in CONTROLLERS if (c := self.controllers.get(n)) and c.usable)

    @property
    def complete(self) -> bool:
        """Whether memory, CPU and pids limits can all be enforced by cgroups."""
        return len(self.usable) == len(CONTROLLERS)

    @property
    def versions(self) -> tuple[str, ...]:
        """The cgroup versions mounted here (``v1``, ``v2``)."""
        out = []
        if self.v1_controllers:
            out.append("v1")
        if self.v2_mount:
            out.append("v2")
        return tuple(out)


class CgroupStats(msgspec.Struct, frozen=True, kw_only=True):
    """Resource figures of one sandbox cgroup; ``None`` where the controller is absent.

    Attributes:
        memory_current: Bytes charged now.
        memory_peak: Highest bytes charged since creation.
        memory_limit: The memory limit in bytes.
        oom_kills: Processes the kernel killed for exceeding the memory limit.
        memory_limit_hits: Times an allocation hit the limit (v1 ``failcnt``,
            v2 ``max`` events).
        pids_current: Processes (and threads) in the cgroup now.
        pids_limit_hits: Forks refused by the pids limit (v2, and v1 where the kernel
            has ``pids.events``).
        cpu_usage_ns: CPU time used by the whole tree.
        cpu_throttled_ns: Time the tree spent throttled by the CPU quota.
    """

    memory_current: int | None = None
    memory_peak: int | None = None
    memory_limit: int | None = None
    oom_kills: int | None = None
    memory_limit_hits: int | None = None
    pids_current: int | None = None
    pids_limit_hits: int | None = None
    cpu_usage_ns: int | None = None
    cpu_throttled_ns: int | None = None


class _Mount(msgspec.Struct, frozen=True):
    root: str
    mountpoint: str
    fstype: str
    options: frozenset[str]


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _mounts(mountinfo: str) -> list[_Mount]:
    out = []
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        out.append(
            _Mount(
                root=_unescape(fields[3]),
                mountpoint=_unescape(fields[4]),
                fstype=tail[0],
                options=frozenset(tail[2].split(",")),
            )
        )
    return out


def _own_paths(proc_cgroup: str) -> tuple[dict[str, str], str | None]:
    """Map each v1 controller to our path in it, and return our v2 path."""
    v1: dict[str, str] = {}
    v2: str | None = None
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, names, path = parts
        if names == "":
            v2 = path
        else:
            for name in names.split(","):
                v1[name] = path
    return v1, v2


def _join(mount: _Mount, path: str) -> Path:
    if mount.root != "/" and (path == mount.root or path.startswith(mount.root + "/")):
        path = path[len(mount.root) :]
    return Path(mount.mountpoint) / path.lstrip("/")


def _read(path: Path) -> str:
    return path.read_text(encoding="ascii")


def _try_child(directory: Path) -> str | None:
    """Create and remove an empty child cgroup; return why it failed, or ``None``."""
    probe = directory / f"{_PREFIX}probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        probe.mkdir()
    except OSError as exc:
        return f"cannot create a child cgroup in {directory}: {exc.strerror}"
    try:
        probe.rmdir()
    except OSError as exc:
        return f"created but cannot remove {probe}: {exc.strerror}"
    return None


def discover(
    *,
    mountinfo: str | None = None,
    proc_cgroup: str | None = None,
    try_create: bool = True,
) -> CgroupSupport:
    """Find where memory, cpu and pids live and whether this process may use them.

    Never raises: an unreadable file or a refused directory becomes a ``reason``.

    Args:
        mountinfo: Content of ``/proc/self/mountinfo`` (read when ``None``).
        proc_cgroup: Content of ``/proc/self/cgroup`` (read when ``None``).
        try_create: Prove usability by creating and removing an empty child cgroup;
            without it, writability of the directory is taken as usability.

    Returns:
        The placement and usability of every needed controller.
    """
    try:
        mounts = _mounts(
            mountinfo
            if mountinfo is not None
            else Path("/proc/self/mountinfo").read_text(encoding="utf-8")
        )
        v1_paths, v2_path = _own_paths(
            proc_cgroup
            if proc_cgroup is not None
            else Path("/proc/self/cgroup").read_text(encoding="utf-8")
        )
    except OSError as exc:
        unreadable = f"cannot read the process's cgroup information: {exc.strerror}"
        return CgroupSupport(
            controllers={
                n: ControllerStatus(
                    name=n, version="none", directory=None, usable=False, reason=unreadable
                )
                for n in CONTROLLERS
            }
        )

    v1_mounts: dict[str, _Mount] = {}
    for mount in mounts:
        if mount.fstype == "cgroup":
            for option in mount.options & _V1_CONTROLLERS:
                v1_mounts.setdefault(option, mount)
    v2_mount = next((m for m in mounts if m.fstype == "cgroup2"), None)

    v2_dir: Path | None = None
    v2_available: tuple[str, ...] = ()
    v2_delegated: tuple[str, ...] = ()
    v2_error: str | None = None
    if v2_mount is not None and v2_path is not None:
        v2_dir = _join(v2_mount, v2_path)
        try:
            v2_available = tuple(_read(v2_dir / "cgroup.controllers").split())
            v2_delegated = tuple(_read(v2_dir / "cgroup.subtree_control").split())
        except OSError as exc:
            v2_error = f"cannot read {v2_dir}: {exc.strerror}"

    tried: dict[Path, str | None] = {}

    def usable(directory: Path) -> str | None:
        if directory not in tried:
            if try_create:
                tried[directory] = _try_child(directory)
            elif os.access(directory, os.W_OK):
                tried[directory] = None
            else:
                tried[directory] = f"{directory} is not writable by uid {os.geteuid()}"
        return tried[directory]

    statuses: dict[str, ControllerStatus] = {}
    for name in CONTROLLERS:
        v1_mount = v1_mounts.get(name)
        reason: str | None
        if v1_mount is not None:
            own = v1_paths.get(name)
            if own is None:
                statuses[name] = ControllerStatus(
                    name=name,
                    version="v1",
                    directory=None,
                    usable=False,
                    reason=f"v1 {name} is mounted but /proc/self/cgroup has no path for it",
                )
                continue
            directory = _join(v1_mount, own)
            reason = usable(directory)
            statuses[name] = ControllerStatus(
                name=name,
                version="v1",
                directory=str(directory),
                usable=reason is None,
                reason=reason,
            )
        elif v2_dir is not None and name in v2_available:
            if name not in v2_delegated:
                reason = (
                    f"v2 {name} is available in {v2_dir} but not enabled for child cgroups "
                    "(cgroup.subtree_control); run the host in a delegated cgroup, e.g. "
                    "`systemd-run --user --scope -p Delegate=yes`"
                )
            else:
                reason = usable(v2_dir)
            statuses[name] = ControllerStatus(
                name=name,
                version="v2",
                directory=str(v2_dir),
                usable=reason is None,
                reason=reason,
            )
        else:
            statuses[name] = ControllerStatus(
                name=name,
                version="none",
                directory=None,
                usable=False,
                reason=v2_error or f"the {name} controller is not mounted (neither v1 nor v2)",
            )

    accounting: str | None = None
    acct = v1_mounts.get("cpuacct")
    if acct is not None and "cpuacct" in v1_paths:
        directory = _join(acct, v1_paths["cpuacct"])
        cpu_status = statuses.get("cpu")
        if cpu_status is not None and cpu_status.directory == str(directory):
            accounting = None  # cpu,cpuacct co-mounted: the cpu directory already has it.
        elif usable(directory) is None:
            accounting = str(directory)

    return CgroupSupport(
        v1_controllers=tuple(sorted(v1_mounts)),
        v2_mount=v2_mount.mountpoint if v2_mount else None,
        v2_available=v2_available,
        v2_delegated=v2_delegated,
        controllers=statuses,
        accounting_dir=accounting,
    )


def _write(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode("ascii"))
    finally:
        os.close(fd)


def _int_field(text: str, key: str) -> int | None:
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key:
            return int(parts[1])
    return None


def _safe_label(label: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.]+", "_", label)[:48]
    return cleaned or "x"


class Cgroup:
    """One sandbox cgroup spread over the hierarchies that hold its controllers.

    Create it with :meth:`create`, let the child join it (it writes its own pid into
    each of :attr:`procs_files`), and when done call :meth:`kill` then :meth:`remove`
    (or use it as a context manager, which does both).

    Args:
        name: Directory name used in every hierarchy.
        directories: Controller name to the directory of this cgroup for it.
        versions: Controller name to the hierarchy version holding it.
        accounting: A v1 ``cpuacct`` directory of this cgroup, if one was made.
    """

    def __init__(
        self,
        name: str,
        directories: Mapping[str, Path],
        versions: Mapping[str, CgroupVersion],
        accounting: Path | None = None,
    ) -> None:
        self.name = name
        self.directories = dict(directories)
        self.versions = dict(versions)
        self.accounting = accounting
        self._removed = False

    @classmethod
    def create(
        cls,
        label: str,
        *,
        memory_bytes: int | None = None,
        cpu_share: float | None = None,
        pids: int | None = None,
        support: CgroupSupport | None = None,
        require: Iterable[str] = CONTROLLERS,
    ) -> Cgroup:
        """Create a sandbox cgroup and set its limits.

        Args:
            label: Readable part of the name, e.g. the extension id.
            memory_bytes: Memory limit (swap included where swap is accounted).
            cpu_share: CPU ceiling as a fraction of one core (0.5 = half a core).
            pids: Maximum number of processes and threads.
            support: Result of :func:`discover` (discovered now when ``None``).
            require: Controllers that must be usable; the others are used when usable.

        Returns:
            The new cgroup; every directory already exists with its limits set.

        Raises:
            MechanismUnavailableError: A required controller is not usable here, or a
                limit could not be written (nothing is left behind).
        """
        support = support if support is not None else discover()
        needed = set(require)
        missing = [
            f"{n}: {support.controllers[n].reason}"
            for n in CONTROLLERS
            if n in needed and not support.controllers[n].usable
        ]
        if missing:
            raise MechanismUnavailableError(
                "cgroup controllers needed by the sandbox are not usable: " + "; ".join(missing),
                hint="run the host as root, or in a cgroup delegated to its user, or accept "
                "the weaker profile that limits memory and CPU with rlimits and the watchdog",
            )
        name = f"{_PREFIX}{os.getpid()}-{next(_sequence)}-{_safe_label(label)}"
        directories: dict[str, Path] = {}
        versions: dict[str, CgroupVersion] = {}
        for controller in CONTROLLERS:
            status = support.controllers.get(controller)
            if status is None or not status.usable or status.directory is None:
                continue
            directories[controller] = Path(status.directory) / name
            versions[controller] = status.version
        accounting = Path(support.accounting_dir) / name if support.accounting_dir else None
        group = cls(name, directories, versions, accounting)
        try:
            for directory in group._unique_dirs():
                directory.mkdir()
            group._set_limits(memory_bytes, cpu_share, pids)
        except OSError as exc:
            group.remove()
            raise MechanismUnavailableError(
                f"cannot set up cgroup {name}: {exc}",
                hint="check that the cgroup hierarchy is writable by this user",
            ) from exc
        return group

    def _unique_dirs(self) -> list[Path]:
        seen: list[Path] = []
        for directory in [*self.directories.values(), self.accounting]:
            if directory is not None and directory not in seen:
                seen.append(directory)
        return seen

    def _set_limits(
        self, memory_bytes: int | None, cpu_share: float | None, pids: int | None
    ) -> None:
        memory = self.directories.get("memory")
        if memory is not None and memory_bytes is not None:
            if self.versions["memory"] == "v1":
                _write(memory / "memory.limit_in_bytes", str(memory_bytes))
                memsw = memory / "memory.memsw.limit_in_bytes"
                if memsw.exists():
                    _write(memsw, str(memory_bytes))
            else:
                _write(memory / "memory.max", str(memory_bytes))
                swap = memory / "memory.swap.max"
                if swap.exists():
                    _write(swap, "0")
        cpu = self.directories.get("cpu")
        if cpu is not None and cpu_share is not None:
            quota = max(1000, int(cpu_share * _CPU_PERIOD_US))
            if self.versions["cpu"] == "v1":
                _write(cpu / "cpu.cfs_period_us", str(_CPU_PERIOD_US))
                _write(cpu / "cpu.cfs_quota_us", str(quota))
            else:
                _write(cpu / "cpu.max", f"{quota} {_CPU_PERIOD_US}")
        pid_dir = self.directories.get("pids")
        if pid_dir is not None and pids is not None:
            _write(pid_dir / "pids.max", str(pids))

    @property
    def procs_files(self) -> list[str]:
        """The ``cgroup.procs`` files a process writes its pid into to join."""
        return [str(d / "cgroup.procs") for d in self._unique_dirs()]

    def add(self, pid: int) -> None:
        """Move process ``pid`` (all its threads) into this cgroup.

        Raises:
            OSError: The kernel refused (no such process, no permission).
        """
        for procs in self.procs_files:
            _write(Path(procs), str(pid))

    def pids(self) -> set[int]:
        """Return the processes in this cgroup now (empty once it is removed)."""
        found: set[int] = set()
        for directory in self._unique_dirs():
            with contextlib.suppress(FileNotFoundError):
                found.update(int(p) for p in _read(directory / "cgroup.procs").split())
        return found

    def kill(self, timeout: float = 5.0) -> int:
        """Kill every process in the cgroup, grandchildren and ``setsid`` escapees included.

        On v2 this is one write to ``cgroup.kill``. On v1 the pids limit is first set to
        0 so nothing can fork while the members are being killed, then members are
        SIGKILLed until none is left.

        Args:
            timeout: Seconds to wait for the cgroup to become empty.

        Returns:
            The number of distinct processes that were signalled.

        Raises:
            TimeoutError: Processes were still there after ``timeout``.
        """
        killed: set[int] = set()
        any_v2 = next((d for c, d in self.directories.items() if self.versions[c] == "v2"), None)
        if any_v2 is not None and (any_v2 / "cgroup.kill").exists():
            killed |= self.pids()
            with contextlib.suppress(FileNotFoundError):
                _write(any_v2 / "cgroup.kill", "1")
        pid_dir = self.directories.get("pids")
        if pid_dir is not None and self.versions["pids"] == "v1":
            with contextlib.suppress(FileNotFoundError):
                _write(pid_dir / "pids.max", "0")
        deadline = time.monotonic() + timeout
        while True:
            members = self.pids()
            if not members:
                return len(killed)
            for pid in members:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            killed |= members
            if time.monotonic() > deadline:
                raise TimeoutError(f"cgroup {self.name} still has processes {sorted(members)}")
            time.sleep(0.001)

    def stats(self) -> CgroupStats:
        """Read the cgroup's memory, CPU and process figures."""
        values: dict[str, int | None] = {}
        memory = self.directories.get("memory")
        with contextlib.suppress(OSError, ValueError):
            if memory is not None and self.versions["memory"] == "v1":
                values["memory_current"] = int(_read(memory / "memory.usage_in_bytes"))
                values["memory_peak"] = int(_read(memory / "memory.max_usage_in_bytes"))
                values["memory_limit"] = int(_read(memory / "memory.limit_in_bytes"))
                values["memory_limit_hits"] = int(_read(memory / "memory.failcnt"))
                values["oom_kills"] = _int_field(_read(memory / "memory.oom_control"), "oom_kill")
            elif memory is not None:
                values["memory_current"] = int(_read(memory / "memory.current"))
                peak = memory / "memory.peak"
                if peak.exists():
                    values["memory_peak"] = int(_read(peak))
                limit = _read(memory / "memory.max").strip()
                values["memory_limit"] = None if limit == "max" else int(limit)
                events = _read(memory / "memory.events")
                values["oom_kills"] = _int_field(events, "oom_kill")
                values["memory_limit_hits"] = _int_field(events, "max")
        pid_dir = self.directories.get("pids")
        with contextlib.suppress(OSError, ValueError):
            if pid_dir is not None:
                values["pids_current"] = int(_read(pid_dir / "pids.current"))
                pid_events = pid_dir / "pids.events"
                # v2 always has it; v1 too on recent kernels (4.x and later).
                if self.versions["pids"] == "v2" or pid_events.exists():
                    values["pids_limit_hits"] = _int_field(_read(pid_events), "max")
        cpu = self.directories.get("cpu")
        with contextlib.suppress(OSError, ValueError):
            if cpu is not None and self.versions["cpu"] == "v2":
                stat = _read(cpu / "cpu.stat")
                usage = _int_field(stat, "usage_usec")
                throttled = _int_field(stat, "throttled_usec")
                values["cpu_usage_ns"] = usage * 1000 if usage is not None else None
                values["cpu_throttled_ns"] = throttled * 1000 if throttled is not None else None
            elif cpu is not None:
                values["cpu_throttled_ns"] = _int_field(_read(cpu / "cpu.stat"), "throttled_time")
                acct = self.accounting or cpu
                if (acct / "cpuacct.usage").exists():
                    values["cpu_usage_ns"] = int(_read(acct / "cpuacct.usage"))
        return CgroupStats(**values)

    def remove(self, timeout: float = 2.0) -> None:
        """Remove the cgroup's directories (call :meth:`kill` first).

        Args:
            timeout: Seconds to keep retrying while exiting members still hold it.

        Raises:
            OSError: A directory could not be removed within ``timeout``.
        """
        deadline = time.monotonic() + timeout
        for directory in self._unique_dirs():
            while True:
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                        raise
                    time.sleep(0.002)
        self._removed = True

    def close(self) -> None:
        """Kill every member and remove the cgroup; safe to call twice."""
        if self._removed:
            return
        self.kill()
        self.remove()

    def __enter__(self) -> Cgroup:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Cgroup({self.name!r}, {sorted(self.directories)})"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(support: CgroupSupport | None = None, *, include_own: bool = False) -> list[str]:
    """Kill and remove sandbox cgroups left by hosts that are no longer running.

    Args:
        support: Result of :func:`discover` (discovered now when ``None``).
        include_own: Also remove the cgroups of this very process (for tests).

    Returns:
        The directories removed.
    """
    support = support if support is not None else discover(try_create=False)
    parents = {Path(c.directory) for c in support.controllers.values() if c.directory}
    if support.accounting_dir:
        parents.add(Path(support.accounting_dir))
    removed: list[str] = []
    for parent in parents:
        try:
            children = [p for p in parent.iterdir() if p.is_dir() and p.name.startswith(_PREFIX)]
        except OSError:
            continue
        for child in children:
            match = _NAME.match(child.name)
            if match is None:
                continue
            owner = int(match.group(1))
            if _pid_alive(owner) and not (include_own and owner == os.getpid()):
                continue
            version: CgroupVersion = "v2" if (child / "cgroup.controllers").exists() else "v1"
            group = Cgroup(child.name, {"pids": child}, {"pids": version})
            with contextlib.suppress(OSError, TimeoutError):
                group.kill(timeout=1.0)
                group.remove()
                removed.append(str(child))
    return removed
