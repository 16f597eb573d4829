"""What a sandboxed extension may do (the profile) and what the kernel lets us enforce.

A :class:`SandboxProfile` is the host's grant: the manifest asks, the host's policy
decides, and the profile is what the kernel is told to enforce. It is a msgspec struct
because it crosses to the fork server as msgpack (never pickle).

When the kernel lacks a mechanism, the sandbox is weaker than the profile says. Each way
of being weaker has a stable name (a :class:`Weakening`); :func:`plan` refuses to start
untrusted code unless the user accepted every weakening the machine needs — the host
never pretends to confine what it cannot.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

import msgspec

from symphony_core.runtime.sandbox.errors import SandboxUnavailableError

if TYPE_CHECKING:
    from symphony_core.runtime.sandbox.probe import KernelCapabilities

__all__ = [
    "WEAKENINGS",
    "EnforcementPlan",
    "Network",
    "SandboxProfile",
    "Weakening",
    "plan",
]

Network = Literal["none", "loopback", "any"]

_MIB = 1 << 20


class SandboxProfile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The limits and grants of one sandboxed extension process.

    Attributes:
        memory_bytes: Memory ceiling of the whole process tree.
        cpu_share: CPU ceiling as a fraction of one core (0.5 = half a core).
        cpu_seconds: Total CPU seconds per process (RLIMIT_CPU backstop); ``None``: none.
        pids: Processes and threads the tree may hold at once.
        open_files: Open file descriptors per process (RLIMIT_NOFILE).
        file_size_bytes: Largest file a process may write (RLIMIT_FSIZE).
        fs_read: Extra paths readable (files and directories beneath), e.g. the
            extension's own directory. The interpreter, its libraries and the system
            library directories are added by the launcher when ``runtime_read`` is true.
        fs_write: Extra paths readable and writable.
        fs_exec: Paths whose programs may be executed (needs ``subprocess``).
        scratch_dir: A private read-write directory, if the extension gets one.
        network: ``none`` (a fresh network namespace with no interface up and no socket
            families), ``loopback`` (a fresh namespace whose own loopback is up: the
            extension can talk to itself, never to the host or the world) or ``any``
            (the host's network).
        tcp_connect_ports: With ``network="any"``, restrict TCP ``connect`` to these
            ports (Landlock ABI 4+); empty means no port restriction.
        env: Names of environment variables passed through from the host.
        subprocess: Whether the extension may fork and execute programs.
        runtime_read: Grant read access to the Python runtime and system libraries.
        run_as_uid: When the host is root, run the extension as this uid instead of
            root-without-capabilities (the interpreter must be readable by that uid).
        run_as_gid: Group id used with ``run_as_uid`` (defaults to the same number).
    """

    memory_bytes: int = 512 * _MIB
    cpu_share: float = 1.0
    cpu_seconds: int | None = None
    pids: int = 64
    open_files: int = 256
    file_size_bytes: int = 1024 * _MIB
    fs_read: tuple[str, ...] = ()
    fs_write: tuple[str, ...] = ()
    fs_exec: tuple[str, ...] = ()
    scratch_dir: str | None = None
    network: Network = "none"
    tcp_connect_ports: tuple[int, ...] = ()
    env: tuple[str, ...] = ()
    subprocess: bool = False
    runtime_read: bool = True
    run_as_uid: int | None = None
    run_as_gid: int | None = None

    def __post_init__(self) -> None:
        if self.memory_bytes < 16 * _MIB:
            raise ValueError(f"memory_bytes must be at least 16 MiB, got {self.memory_bytes}")
        if not 0.01 <= self.cpu_share <= 1024:
            raise ValueError(f"cpu_share must be between 0.01 and 1024, got {self.cpu_share}")
        if self.pids < 1 or self.open_files < 16:
            raise ValueError("pids must be >= 1 and open_files >= 16")
        if self.cpu_seconds is not None and self.cpu_seconds < 1:
            raise ValueError("cpu_seconds must be >= 1 when set")
        if any(not 0 < p < 65536 for p in self.tcp_connect_ports):
            raise ValueError(f"tcp_connect_ports must be 1..65535, got {self.tcp_connect_ports}")
        if self.tcp_connect_ports and self.network != "any":
            raise ValueError('tcp_connect_ports only applies with network="any"')
        if self.fs_exec and not self.subprocess:
            raise ValueError("fs_exec needs subprocess=True")


class Weakening(enum.StrEnum):
    """A named way the sandbox is weaker than its profile, which a user can accept."""

    NO_LANDLOCK = "no-landlock"
    LANDLOCK_PARTIAL = "landlock-partial"
    NO_SECCOMP = "no-seccomp"
    NO_NETNS = "no-netns"
    NO_CGROUPS = "no-cgroups"


#: What each weakening loses, and what (if anything) stands in for it.
WEAKENINGS: dict[Weakening, str] = {
    Weakening.NO_LANDLOCK: (
        "no Landlock: the extension can read and write every file its uid can; only "
        "ordinary file permissions stand in the way"
    ),
    Weakening.LANDLOCK_PARTIAL: (
        "old Landlock ABI: some of truncate outside the write paths (ABI < 3), device "
        "ioctls (ABI < 5), signals to and abstract UNIX sockets of other processes "
        "(ABI < 6) are not confined; seccomp still refuses kill(-1) and socket families"
    ),
    Weakening.NO_SECCOMP: (
        "no seccomp: dangerous syscalls (ptrace, mount, bpf, io_uring, unshare...) are "
        "only limited by dropped capabilities, and pathname UNIX sockets (e.g. "
        "docker.sock) stay reachable"
    ),
    Weakening.NO_NETNS: (
        "no network namespace: network 'none' relies on the seccomp socket-family rule "
        "alone, and 'loopback' cannot be offered"
    ),
    Weakening.NO_CGROUPS: (
        "no usable cgroups: memory is bounded per process by RLIMIT_DATA and for the tree "
        "by a polling watchdog (overshoot of a few %), CPU share by SIGSTOP/SIGCONT, and "
        "a process that leaves the tree (setsid and orphaned between two polls) escapes "
        "them while the extension runs; the process count stays bounded by RLIMIT_NPROC "
        "in the child's own user namespace on a non-root host, and for a dedicated uid on "
        "a root host (a root host's child keeping uid 0 then has no process limit); on a "
        "non-root host the sweeper still kills every process left in the child's user "
        "namespace when the extension process ends, on a root host nothing does"
    ),
}


class EnforcementPlan(msgspec.Struct, frozen=True, kw_only=True):
    """Which mechanism enforces each part of a profile on this machine.

    Attributes:
        landlock_abi: Landlock ABI to use (0: none).
        seccomp: Load the seccomp filter.
        netns: Give the child a fresh network namespace.
        userns: Give the child a user namespace of its own (non-root hosts): it lets the
            child create its network namespace, and bounds its process tree by
            ``RLIMIT_NPROC`` (counted per user namespace) whatever the network grant.
        cgroup: Put the child in a per-extension cgroup (memory, cpu, pids).
        watchdog: Bound memory and CPU share of the tree with the psutil watchdog.
        weakenings: The accepted weakenings this plan relies on.
    """

    landlock_abi: int
    seccomp: bool
    netns: bool
    userns: bool
    cgroup: bool
    watchdog: bool
    weakenings: tuple[Weakening, ...] = ()


def plan(
    profile: SandboxProfile,
    caps: KernelCapabilities,
    accepted: Iterable[str] = (),
    *,
    limits: Literal["auto", "cgroup", "watchdog"] = "auto",
) -> EnforcementPlan:
    """Decide how ``profile`` is enforced here, refusing when that would be a pretence.

    Args:
        profile: The grant for the extension.
        caps: What the kernel offers (:func:`~symphony_core.runtime.sandbox.probe.probe_kernel`).
        accepted: Weakening names the user explicitly accepted.
        limits: Force the resource-limit backend (``watchdog`` is for hosts that want
            no cgroups, and for testing the fallback); ``auto`` prefers cgroups.

    Returns:
        The mechanisms to use.

    Raises:
        SandboxUnavailableError: A needed mechanism is missing and its weakening was not
            accepted; the message names every missing one and how to accept it.
        ValueError: ``accepted`` holds an unknown weakening name.
    """
    accepted_set = set()
    for name in accepted:
        try:
            accepted_set.add(Weakening(name))
        except ValueError:
            known = ", ".join(w.value for w in Weakening)
            raise ValueError(f"unknown sandbox weakening {name!r}; known: {known}") from None
    needed = set(caps.guarantees().required_weakenings)
    if profile.network == "loopback" and not caps.network_namespaces:
        needed.add(Weakening.NO_NETNS)
    if limits == "watchdog" or (limits == "auto" and not caps.cgroups.complete):
        needed.add(Weakening.NO_CGROUPS)
    if limits == "cgroup" and not caps.cgroups.complete:
        raise SandboxUnavailableError(
            "cgroup limits were required but cgroups are not usable here: "
            + "; ".join(
                f"{c.name}: {c.reason}" for c in caps.cgroups.controllers.values() if not c.usable
            ),
            hint='use limits="auto" and accept the weakening "no-cgroups"',
        )
    refused = sorted(needed - accepted_set)
    if refused:
        lines = "; ".join(f"{w.value} ({WEAKENINGS[w]})" for w in refused)
        raise SandboxUnavailableError(
            f"this machine cannot give untrusted code the full sandbox: {lines}",
            hint="fix the kernel or cgroup setup (`symphony doctor` says how), or accept "
            "the weaker sandbox explicitly: " + ", ".join(w.value for w in refused),
        )
    if profile.network == "loopback" and not caps.network_namespaces:
        raise SandboxUnavailableError(
            'network "loopback" needs a network namespace, which this machine cannot create',
            hint='grant network "none" or "any" instead',
        )
    use_cgroup = limits != "watchdog" and caps.cgroups.complete
    use_netns = profile.network != "any" and caps.network_namespaces
    return EnforcementPlan(
        landlock_abi=caps.landlock_abi,
        seccomp=caps.seccomp,
        netns=use_netns,
        userns=not caps.is_root and (use_netns or caps.user_namespaces),
        cgroup=use_cgroup,
        watchdog=not use_cgroup,
        weakenings=tuple(sorted(needed)),
    )
