"""What this kernel offers the sandbox, found out in a few milliseconds.

:func:`probe_kernel` never raises: each probe catches its own failure and reports it as
a reason. Nothing is changed in the calling process — namespaces are tried in a
short-lived child (util-linux ``unshare`` when present, else a forked child that only
makes the one syscall), and cgroup usability is proven with an empty child cgroup that
is removed at once.

:meth:`KernelCapabilities.guarantees` turns the facts into the user's terms: which
sandbox guarantees hold, which are weaker, and the names a user must accept to run
untrusted code anyway (see :mod:`symphony_core.runtime.sandbox.policy`).
"""

from __future__ import annotations

import ctypes
import os
import platform
import shutil
import subprocess
import time

import msgspec

from symphony_core.runtime.sandbox import cgroups, syscalls
from symphony_core.runtime.sandbox.policy import WEAKENINGS, Weakening

__all__ = ["Guarantee", "Guarantees", "KernelCapabilities", "probe_kernel"]

_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_PR_GET_SECCOMP = 21
_PR_GET_NO_NEW_PRIVS = 39
_SECCOMP_GET_ACTION_AVAIL = 2
_SECCOMP_RET_ERRNO = 0x00050000
_LANDLOCK_CREATE_RULESET_VERSION = 1


class Guarantee(msgspec.Struct, frozen=True, kw_only=True):
    """One promise the sandbox makes, and whether this machine can keep it.

    Attributes:
        name: Short stable name (``filesystem``, ``network``, ``memory``...).
        active: Whether the promise is kept by a kernel mechanism here.
        mechanism: What keeps it, or what stands in when it is not active.
        weakening: The weakening a user must accept when it is not active.
    """

    name: str
    active: bool
    mechanism: str
    weakening: Weakening | None = None


class Guarantees(msgspec.Struct, frozen=True, kw_only=True):
    """Summary of the sandbox this machine can give.

    Attributes:
        items: Every guarantee, active or not.
        required_weakenings: Weakenings the user must accept before untrusted code runs;
            empty when the full sandbox is available.
    """

    items: tuple[Guarantee, ...]
    required_weakenings: tuple[Weakening, ...]

    @property
    def full(self) -> bool:
        """Whether every guarantee is kept by the kernel."""
        return not self.required_weakenings

    def describe(self) -> list[str]:
        """Return one human-readable line per guarantee, then one per needed weakening."""
        lines = [f"{'ok  ' if g.active else 'WEAK'} {g.name}: {g.mechanism}" for g in self.items]
        lines += [f"needs opt-in '{w.value}': {WEAKENINGS[w]}" for w in self.required_weakenings]
        return lines


class KernelCapabilities(msgspec.Struct, frozen=True, kw_only=True):
    """The sandbox mechanisms this kernel and this user can use.

    Every ``*_error`` field says why its mechanism is unavailable (``None`` when it is).

    Attributes:
        machine: CPU architecture (``uname -m``).
        kernel: Kernel release.
        uid: Effective uid of the probing process.
        is_root: Whether it runs as root.
        landlock_abi: Highest Landlock ABI the kernel supports; 0 when absent.
        seccomp: seccomp filter mode is available and this module knows the
            architecture's syscall numbers.
        seccomp_mode: The probing process's current seccomp mode (0 none, 2 filtered).
        no_new_privs: Whether the probing process already has ``no_new_privs``.
        user_namespaces: An unprivileged-style ``unshare(CLONE_NEWUSER)`` works.
        network_namespaces: A network namespace can be created by this uid (with a user
            namespace when not root).
        pidfd_open: ``os.pidfd_open`` works (exit detection without polling).
        cgroups: Placement and usability of memory, cpu and pids controllers.
        probe_ms: How long probing took.
    """

    machine: str
    kernel: str
    uid: int
    is_root: bool
    landlock_abi: int
    landlock_error: str | None
    seccomp: bool
    seccomp_error: str | None
    seccomp_mode: int
    no_new_privs: bool
    user_namespaces: bool
    user_namespaces_error: str | None
    network_namespaces: bool
    network_namespaces_error: str | None
    pidfd_open: bool
    pidfd_open_error: str | None
    cgroups: cgroups.CgroupSupport
    probe_ms: float

    def guarantees(self) -> Guarantees:
        """Summarise which sandbox guarantees hold here and which weakenings are needed."""
        items: list[Guarantee] = []
        abi = self.landlock_abi
        if abi >= 1:
            items.append(Guarantee(name="filesystem", active=True, mechanism=f"Landlock ABI {abi}"))
        else:
            items.append(
                Guarantee(
                    name="filesystem",
                    active=False,
                    mechanism=f"file permissions only ({self.landlock_error})",
                    weakening=Weakening.NO_LANDLOCK,
                )
            )
        if abi >= 1:
            missing = []
            if abi < 3:
                missing.append("truncate (ABI 3)")
            if abi < 5:
                missing.append("device ioctl (ABI 5)")
            if abi < 6:
                missing.append("signal and abstract-socket scoping (ABI 6)")
            items.append(
                Guarantee(
                    name="landlock-scopes",
                    active=not missing,
                    mechanism="Landlock scopes signals and abstract UNIX sockets"
                    if not missing
                    else "missing: " + ", ".join(missing),
                    weakening=Weakening.LANDLOCK_PARTIAL if missing else None,
                )
            )
        items.append(
            Guarantee(
                name="syscall-filter",
                active=self.seccomp,
                mechanism="seccomp BPF filter (socket families, ptrace, mount, bpf, ...)"
                if self.seccomp
                else f"capabilities dropped only ({self.seccomp_error})",
                weakening=None if self.seccomp else Weakening.NO_SECCOMP,
            )
        )
        items.append(
            Guarantee(
                name="network",
                active=self.network_namespaces,
                mechanism=(
                    "fresh network namespace" + ("" if self.is_root else " inside a user namespace")
                    if self.network_namespaces
                    else f"seccomp socket-family rule only ({self.network_namespaces_error})"
                ),
                weakening=None if self.network_namespaces else Weakening.NO_NETNS,
            )
        )
        usable = set(self.cgroups.usable)
        # A non-root host's child has a user namespace of its own (see policy.plan), where
        # RLIMIT_NPROC counts only its tree: the process count holds without a cgroup.
        own_userns = not self.is_root and (self.user_namespaces or self.network_namespaces)
        if self.is_root:
            nproc_fallback = "RLIMIT_NPROC for a dedicated uid only"
        else:
            nproc_fallback = "no limit: user namespaces are unavailable"
        for name, controller, fallback in (
            (
                "memory",
                "memory",
                "RLIMIT_DATA per process + watchdog for the tree (PSS-confirmed kill)",
            ),
            ("cpu-share", "cpu", "SIGSTOP/SIGCONT watchdog"),
            ("process-count", "pids", nproc_fallback),
            ("tree-kill", "pids", "watchdog-tracked descendants (best effort)"),
        ):
            status = self.cgroups.controllers.get(controller)
            active = controller in usable and status is not None
            if active and status is not None:
                mechanism = f"cgroup {status.version} {controller} controller"
            elif name == "process-count" and own_userns:
                active = True
                mechanism = "RLIMIT_NPROC in the child's own user namespace"
            else:
                mechanism = f"{fallback} ({status.reason if status else 'not mounted'})"
            items.append(
                Guarantee(
                    name=name,
                    active=active,
                    mechanism=mechanism,
                    weakening=None if active else Weakening.NO_CGROUPS,
                )
            )
        items.append(self._orphans(own_userns))
        items.append(
            Guarantee(
                name="exit-detection",
                active=self.pidfd_open,
                mechanism="pidfd" if self.pidfd_open else f"polling ({self.pidfd_open_error})",
            )
        )
        required = sorted({g.weakening for g in items if g.weakening is not None})
        return Guarantees(items=tuple(items), required_weakenings=tuple(required))

    def _orphans(self, own_userns: bool) -> Guarantee:
        # The sweeper (see .sweeper) kills what an extension process leaves behind once it
        # has ended; it finds the processes by a mark they cannot shed, and needs a pidfd.
        marks = []
        if self.cgroups.complete:
            marks.append("its cgroup")
        if own_userns and self.seccomp:
            # Without seccomp a process could move on into a nested user namespace.
            marks.append("its own user namespace")
        elif own_userns and not marks:
            return Guarantee(
                name="orphans",
                active=False,
                mechanism="the sweeper finds orphans by the extension's user namespace, but "
                "without seccomp a process can create a nested one and escape it",
                weakening=Weakening.NO_SECCOMP,
            )
        if marks and self.pidfd_open:
            return Guarantee(
                name="orphans",
                active=True,
                mechanism="orphans die with the extension: when its process ends, a sweeper "
                f"kills every process left in {' and '.join(marks)}, setsid escapees included",
            )
        if self.cgroups.complete:
            return Guarantee(
                name="orphans",
                active=False,
                mechanism="orphans die when the host closes the extension's cgroup, not when "
                f"its process ends (no sweeper without pidfd_open: {self.pidfd_open_error})",
            )
        why = (
            f"pidfd_open unavailable ({self.pidfd_open_error})"
            if marks
            else "no cgroup and no user namespace of its own to find them by"
        )
        return Guarantee(
            name="orphans",
            active=False,
            mechanism="a process that calls setsid() and is orphaned between two watchdog "
            f"polls can outlive the extension ({why})",
            weakening=Weakening.NO_CGROUPS,
        )


def _landlock() -> tuple[int, str | None]:
    try:
        abi = syscalls.syscall("landlock_create_ruleset", None, 0, _LANDLOCK_CREATE_RULESET_VERSION)
    except OSError as exc:
        if exc.errno == 38:  # ENOSYS
            return 0, "the kernel was built without Landlock (ENOSYS)"
        if exc.errno == 95:  # EOPNOTSUPP
            return 0, "Landlock is built in but not enabled (add landlock to the lsm= boot list)"
        return 0, f"landlock_create_ruleset failed: {exc.strerror}"
    return abi, None


def _seccomp() -> tuple[bool, str | None, int, bool]:
    mode, no_new_privs = 0, False
    try:
        mode = syscalls.prctl(_PR_GET_SECCOMP)
        no_new_privs = bool(syscalls.prctl(_PR_GET_NO_NEW_PRIVS))
    except OSError as exc:
        return False, f"prctl(PR_GET_SECCOMP) failed: {exc.strerror}", mode, no_new_privs
    if syscalls.AUDIT_ARCH is None:
        return False, f"no syscall table for architecture {syscalls.MACHINE}", mode, no_new_privs
    action = ctypes.c_uint32(_SECCOMP_RET_ERRNO)
    try:
        syscalls.syscall("seccomp", _SECCOMP_GET_ACTION_AVAIL, 0, ctypes.byref(action))
    except OSError as exc:
        return False, f"seccomp filter mode unavailable: {exc.strerror}", mode, no_new_privs
    return True, None, mode, no_new_privs


class _NamespaceProbe:
    """Try ``unshare`` with some flags in a short-lived child, without blocking."""

    def __init__(self, flags: int) -> None:
        self.flags = flags
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None
        self.error: str | None = None
        binary = shutil.which("unshare")
        try:
            if binary is not None:
                argv = [binary]
                if flags & _CLONE_NEWUSER:
                    argv.append("--user")
                if flags & _CLONE_NEWNET:
                    argv.append("--net")
                self.proc = subprocess.Popen(
                    [*argv, "true"],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    close_fds=True,
                )
            else:
                self.pid = self._fork()
        except OSError as exc:
            self.error = f"could not start the probe: {exc.strerror}"

    def _fork(self) -> int:
        unshare = syscalls.libc().unshare
        unshare.argtypes = [ctypes.c_int]
        flags = self.flags
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child: one syscall, then exit
            code = 0 if unshare(flags) == 0 else min(ctypes.get_errno(), 255) or 255
            os._exit(code)
        return pid

    def result(self) -> tuple[bool, str | None]:
        if self.error is not None:
            return False, self.error
        try:
            if self.proc is not None:
                _, err = self.proc.communicate(timeout=5)
                if self.proc.returncode == 0:
                    return True, None
                text = err.decode("utf-8", "replace").strip().splitlines()
                return False, (text[-1] if text else f"unshare exited {self.proc.returncode}")
            if self.pid is not None:
                _, status = os.waitpid(self.pid, 0)
                code = os.waitstatus_to_exitcode(status)
                if code == 0:
                    return True, None
                return False, f"unshare: {os.strerror(code) if code > 0 else f'signal {-code}'}"
        except (OSError, subprocess.TimeoutExpired) as exc:
            if self.proc is not None:
                self.proc.kill()
                self.proc.wait()
            return False, f"probe failed: {exc}"
        return False, "probe did not run"


def _start(flags: int) -> _NamespaceProbe:
    try:
        return _NamespaceProbe(flags)
    except Exception as exc:
        failed = _NamespaceProbe.__new__(_NamespaceProbe)
        failed.flags, failed.proc, failed.pid = flags, None, None
        failed.error = f"could not start the probe: {exc!r}"
        return failed


def _pidfd() -> tuple[bool, str | None]:
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return False, "os.pidfd_open is missing (Python built without it)"
    try:
        os.close(opener(os.getpid()))
    except OSError as exc:
        return False, f"pidfd_open failed: {exc.strerror}"
    return True, None


def probe_kernel(*, cgroup_try_create: bool = True) -> KernelCapabilities:
    """Find out which sandbox mechanisms this kernel offers to this process.

    Takes a few milliseconds; never raises.

    Args:
        cgroup_try_create: Prove cgroup usability by creating and removing an empty
            child cgroup (otherwise directory writability is trusted).

    Returns:
        The capabilities, each with the reason when unavailable.
    """
    start = time.perf_counter()
    is_root = os.geteuid() == 0
    # Start both namespace probes first: they run while the in-process probes do.
    userns_probe = _start(_CLONE_NEWUSER)
    netns_probe = _start(_CLONE_NEWNET if is_root else _CLONE_NEWUSER | _CLONE_NEWNET)
    try:
        landlock_abi, landlock_error = _landlock()
    except Exception as exc:  # a probe must never take the host down
        landlock_abi, landlock_error = 0, f"probe failed: {exc!r}"
    try:
        seccomp, seccomp_error, mode, nnp = _seccomp()
    except Exception as exc:
        seccomp, seccomp_error, mode, nnp = False, f"probe failed: {exc!r}", 0, False
    try:
        pidfd, pidfd_error = _pidfd()
    except Exception as exc:
        pidfd, pidfd_error = False, f"probe failed: {exc!r}"
    try:
        support = cgroups.discover(try_create=cgroup_try_create)
    except Exception as exc:
        reason = f"probe failed: {exc!r}"
        support = cgroups.CgroupSupport(
            controllers={
                n: cgroups.ControllerStatus(
                    name=n, version="none", directory=None, usable=False, reason=reason
                )
                for n in cgroups.CONTROLLERS
            }
        )
    userns, userns_error = userns_probe.result()
    netns, netns_error = netns_probe.result()
    return KernelCapabilities(
        machine=syscalls.MACHINE,
        kernel=platform.release(),
        uid=os.geteuid(),
        is_root=is_root,
        landlock_abi=landlock_abi,
        landlock_error=landlock_error,
        seccomp=seccomp,
        seccomp_error=seccomp_error,
        seccomp_mode=mode,
        no_new_privs=nnp,
        user_namespaces=userns,
        user_namespaces_error=userns_error,
        network_namespaces=netns,
        network_namespaces_error=netns_error,
        pidfd_open=pidfd,
        pidfd_open_error=pidfd_error,
        cgroups=support,
        probe_ms=(time.perf_counter() - start) * 1000,
    )
