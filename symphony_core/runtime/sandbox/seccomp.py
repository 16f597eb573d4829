"""seccomp: a hand-built BPF filter that refuses the syscalls a sandboxed extension never needs.

The filter answers ``EPERM`` (never kills), so a refused call is an ordinary
``PermissionError`` in Python. It refuses:

* syscalls that reach outside the sandbox or into the kernel: ``ptrace``,
  ``process_vm_*``, ``mount`` and the new mount API, ``unshare``, ``setns``, ``bpf``,
  ``io_uring_*``, ``userfaultfd``, ``perf_event_open``, ``kexec_*``, module loading,
  ``keyctl``, ``pidfd_getfd``, ``kcmp``, clock setting, ``reboot``, ``swapon``...;
* ``socket()`` of every address family not granted — so ``connect()`` to a pathname
  UNIX socket (which Landlock does not cover) is impossible, while ``socketpair`` and
  pipes keep working for IPC;
* ``clone`` with any namespace flag, and ``clone3`` (its flags live in memory a filter
  cannot read: it answers ``ENOSYS`` so the C library falls back to ``clone``);
* raising resource limits: ``setrlimit`` always, ``prlimit64`` only when a new limit is
  passed (``getrlimit`` is ``prlimit64`` with a NULL new limit and must keep working);
* ``kill(-1)`` and signals or pidfds aimed at given pids (the host, the fork server);
* unless the ``metadata`` grant is given: ``chmod``, ``chown``, ``utime`` and xattr
  changes, which Landlock does not cover and which uid 0 (or the host's own uid) could
  otherwise make to any file it owns;
* without the ``subprocess`` grant: ``execve``, ``execveat``, ``fork``, ``vfork`` and
  ``clone`` without ``CLONE_THREAD`` (threads keep working).

A call made for another architecture (e.g. the x32 ABI on x86_64) kills the process:
the syscall numbers would not mean what the filter thinks.
"""

from __future__ import annotations

import ctypes
import socket
import struct
from collections.abc import Iterable, Sequence

import msgspec

from symphony_core.runtime.sandbox import syscalls
from symphony_core.runtime.sandbox.errors import MechanismUnavailableError

__all__ = [
    "DENIED",
    "FAMILIES",
    "METADATA",
    "SeccompResult",
    "build_filter",
    "denied_syscalls",
    "install",
]

#: Syscalls always refused, whatever the profile grants.
DENIED: tuple[str, ...] = (
    "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root",
    "chroot", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree",
    "mount_setattr", "unshare", "setns", "bpf", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "userfaultfd", "perf_event_open", "kexec_load", "kexec_file_load",
    "init_module", "finit_module", "delete_module", "add_key", "request_key", "keyctl",
    "pidfd_getfd", "kcmp", "open_by_handle_at", "name_to_handle_at", "lookup_dcookie",
    "quotactl", "acct", "swapon", "swapoff", "reboot", "sethostname", "setdomainname",
    "settimeofday", "clock_settime", "adjtimex", "clock_adjtime", "syslog", "vhangup",
    "iopl", "ioperm", "uselib", "nfsservctl", "setrlimit",
)  # fmt: skip

#: Metadata changes Landlock does not cover; refused while the child keeps the host's uid
#: (which owns the host's files, or all system files for root).
METADATA: tuple[str, ...] = (
    "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat",
    "utime", "utimes", "utimensat", "futimesat", "setxattr", "lsetxattr", "fsetxattr",
    "removexattr", "lremovexattr", "fremovexattr", "setxattrat", "removexattrat",
)  # fmt: skip

_SUBPROCESS = ("execve", "execveat", "fork", "vfork")

_SECCOMP_SET_MODE_FILTER = 1
_FILTER_FLAG_TSYNC = 1
_FILTER_FLAG_LOG = 2
_PR_SET_NO_NEW_PRIVS = 38

_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000
_EPERM = 1
_ENOSYS = 38

_LD_W_ABS = 0x20
_JEQ = 0x15
_JGE = 0x35
_JSET = 0x45
_JA = 0x05
_RET = 0x06

_X32_SYSCALL_BIT = 0x40000000
_CLONE_THREAD = 0x00010000
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
_CLONE_NAMESPACES = 0x7E020000


def _arg_lo(index: int) -> int:
    # struct seccomp_data { int nr; u32 arch; u64 ip; u64 args[6]; }, little endian.
    return 16 + 8 * index


class SeccompResult(msgspec.Struct, frozen=True, kw_only=True):
    """What :func:`install` loaded.

    Attributes:
        instructions: Length of the BPF program.
        denied: Syscalls refused outright.
        socket_families: Address families ``socket()`` may still create.
        subprocess: Whether fork and exec stay allowed.
        protected_pids: Pids that cannot be signalled or opened as pidfds.
    """

    instructions: int
    denied: tuple[str, ...]
    socket_families: tuple[int, ...]
    subprocess: bool
    protected_pids: tuple[int, ...]


class _Program:
    """A tiny BPF assembler with forward labels."""

    def __init__(self) -> None:
        self.code: list[tuple[int, int | str, int | str, int]] = []
        self.labels: dict[str, int] = {}

    def emit(self, op: int, k: int, jt: int | str = 0, jf: int | str = 0) -> None:
        self.code.append((op, jt, jf, k & 0xFFFFFFFF))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def _offset(self, index: int, target: int | str) -> int:
        if isinstance(target, int):
            return target
        offset = self.labels[target] - index - 1
        if not 0 <= offset <= 255:
            raise ValueError(f"BPF jump to {target} out of range ({offset})")
        return offset

    def assemble(self) -> bytes:
        out = bytearray()
        for index, (op, jt, jf, k) in enumerate(self.code):
            if op == _JA and isinstance(jt, str):
                out += struct.pack("<HBBI", op, 0, 0, self.labels[jt] - index - 1)
                continue
            out += struct.pack("<HBBI", op, self._offset(index, jt), self._offset(index, jf), k)
        return bytes(out)


def build_filter(
    *,
    socket_families: Iterable[int] = (),
    subprocess: bool = False,
    protected_pids: Iterable[int] = (),
    metadata: bool = False,
    machine: str = syscalls.MACHINE,
) -> bytes:
    """Build the BPF program (an array of ``struct sock_filter``) for ``machine``.

    Args:
        socket_families: Address families ``socket()`` may create (e.g.
            ``socket.AF_INET``); every other family gets ``EPERM``.
        subprocess: Keep ``fork``/``exec`` allowed.
        protected_pids: Pids that may not be signalled (``kill``, ``tkill``,
            ``tgkill``, nor their process groups) or opened with ``pidfd_open``.
        metadata: Keep ``chmod``/``chown``/``utime``/xattr changes allowed (only safe
            when the child runs as a uid of its own).
        machine: Target architecture (``x86_64`` or ``aarch64``).

    Returns:
        The program's bytes, ready for :func:`install`.

    Raises:
        MechanismUnavailableError: ``machine`` has no known syscall table.
    """
    arch = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}.get(machine)
    table = syscalls.SYSCALLS.get(machine)
    if arch is None or table is None:
        raise MechanismUnavailableError(f"no seccomp syscall table for {machine}")
    families = sorted(set(socket_families))
    pids = sorted(set(protected_pids))
    p = _Program()
    p.emit(_LD_W_ABS, 4)
    p.emit(_JEQ, arch, 1, 0)
    p.emit(_RET, _RET_KILL_PROCESS)
    p.emit(_LD_W_ABS, 0)
    if machine == "x86_64":
        p.emit(_JGE, _X32_SYSCALL_BIT, "kill_process", 0)
    for name in denied_syscalls(subprocess=subprocess, metadata=metadata, machine=machine):
        p.emit(_JEQ, table[name], "deny", 0)
    p.emit(_JEQ, table["socket"], "socket", 0)
    p.emit(_JEQ, table["prlimit64"], "prlimit", 0)
    p.emit(_JEQ, table["clone"], "clone", 0)
    p.emit(_JEQ, table["clone3"], "enosys", 0)
    p.emit(_JEQ, table["kill"], "kill", 0)
    p.emit(_JEQ, table["tkill"], "kill", 0)
    p.emit(_JEQ, table["tgkill"], "kill", 0)
    p.emit(_JEQ, table["pidfd_open"], "pidfd_open", 0)
    p.emit(_RET, _RET_ALLOW)

    p.label("socket")
    p.emit(_LD_W_ABS, _arg_lo(0))
    for family in families:
        p.emit(_JEQ, family, "allow", 0)
    p.emit(_JA, 0, "deny")

    p.label("prlimit")
    p.emit(_LD_W_ABS, _arg_lo(2))
    p.emit(_JEQ, 0, 0, "deny")
    p.emit(_LD_W_ABS, _arg_lo(2) + 4)
    p.emit(_JEQ, 0, "allow", "deny")

    p.label("clone")
    p.emit(_LD_W_ABS, _arg_lo(0))
    p.emit(_JSET, _CLONE_NAMESPACES, "deny", 0)
    if not subprocess:
        p.emit(_JSET, _CLONE_THREAD, "allow", "deny")
    p.emit(_RET, _RET_ALLOW)

    p.label("kill")
    p.emit(_LD_W_ABS, _arg_lo(0))
    p.emit(_JEQ, -1, "deny", 0)
    for pid in pids:
        p.emit(_JEQ, pid, "deny", 0)
        p.emit(_JEQ, -pid, "deny", 0)
    p.emit(_RET, _RET_ALLOW)

    p.label("pidfd_open")
    p.emit(_LD_W_ABS, _arg_lo(0))
    for pid in pids:
        p.emit(_JEQ, pid, "deny", 0)
    p.emit(_RET, _RET_ALLOW)

    p.label("allow")
    p.emit(_RET, _RET_ALLOW)
    p.label("deny")
    p.emit(_RET, _RET_ERRNO | _EPERM)
    p.label("enosys")
    p.emit(_RET, _RET_ERRNO | _ENOSYS)
    p.label("kill_process")
    p.emit(_RET, _RET_KILL_PROCESS)
    return p.assemble()


def denied_syscalls(
    *, subprocess: bool, metadata: bool, machine: str = syscalls.MACHINE
) -> tuple[str, ...]:
    """Return the syscalls refused outright for these grants on ``machine``.

    Args:
        subprocess: Fork and exec are granted.
        metadata: Metadata changes are granted.
        machine: Target architecture.
    """
    table = syscalls.SYSCALLS.get(machine, {})
    names = list(DENIED)
    if not subprocess:
        names += _SUBPROCESS
    if not metadata:
        names += METADATA
    return tuple(n for n in names if n in table)


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def install(
    *,
    socket_families: Sequence[int] = (),
    subprocess: bool = False,
    protected_pids: Sequence[int] = (),
    metadata: bool = False,
    log: bool = False,
) -> SeccompResult:
    """Load the filter into this process (all its threads), irreversibly.

    Sets ``no_new_privs`` first, which an unprivileged caller needs.

    Args:
        socket_families: Address families ``socket()`` may create.
        subprocess: Keep ``fork``/``exec`` allowed.
        protected_pids: Pids that may not be signalled or opened as pidfds.
        metadata: Keep metadata changes (``chmod``, ``utime``, xattrs) allowed.
        log: Ask the kernel to log refused calls to its audit log
            (``SECCOMP_FILTER_FLAG_LOG``).

    Returns:
        What was loaded.

    Raises:
        MechanismUnavailableError: No syscall table for this architecture.
        OSError: The kernel refused the filter.
    """
    program = build_filter(
        socket_families=socket_families,
        subprocess=subprocess,
        protected_pids=protected_pids,
        metadata=metadata,
    )
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len=len(program) // 8, filter=ctypes.addressof(buffer))
    syscalls.prctl(_PR_SET_NO_NEW_PRIVS, 1)
    flags = _FILTER_FLAG_TSYNC | (_FILTER_FLAG_LOG if log else 0)
    syscalls.syscall("seccomp", _SECCOMP_SET_MODE_FILTER, flags, ctypes.byref(fprog))
    return SeccompResult(
        instructions=len(program) // 8,
        denied=denied_syscalls(subprocess=subprocess, metadata=metadata),
        socket_families=tuple(sorted(set(socket_families))),
        subprocess=subprocess,
        protected_pids=tuple(sorted(set(protected_pids))),
    )


#: Address families each network grant lets ``socket()`` create.
FAMILIES: dict[str, tuple[int, ...]] = {
    "none": (),
    "loopback": (socket.AF_INET, socket.AF_INET6),
    "any": (socket.AF_INET, socket.AF_INET6),
}
