"""Raw Linux system calls the sandbox needs, reached through ctypes.

Python 3.11 has no ``os.unshare``, no Landlock and no seccomp bindings, so the sandbox
calls the kernel directly. Every wrapper checks the *return value* (``-1`` means
failure) and only then reads ``errno``; reading ``errno`` alone is how other bindings
mistake a stale error for a failure.

Syscall numbers are per architecture. Only x86_64 and aarch64 are known; on any other
machine :func:`number` returns ``None`` and the mechanisms that need a number report
themselves unavailable instead of guessing.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform

__all__ = [
    "AUDIT_ARCH",
    "CapData",
    "CapHeader",
    "MACHINE",
    "SYSCALLS",
    "check",
    "libc",
    "number",
    "prctl",
    "syscall",
]

MACHINE = platform.machine()


class CapHeader(ctypes.Structure):
    """``struct __user_cap_header_struct`` of ``capget``/``capset``."""

    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class CapData(ctypes.Structure):
    """``struct __user_cap_data_struct``: one 32-bit word of each capability set."""

    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


#: ``AUDIT_ARCH_*`` value the kernel puts in ``seccomp_data.arch`` for this machine.
AUDIT_ARCH: int | None = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}.get(MACHINE)

# Verified against libseccomp 2.5.4 (seccomp_syscall_resolve_name_arch); a test repeats
# the check whenever libseccomp is installed (setxattrat and removexattrat, new in Linux
# 6.13, are newer than it). aarch64 has no fork/vfork/iopl/ioperm/uselib/chmod/chown/utime.
_X86_64: dict[str, int] = {
    "ptrace": 101, "mount": 165, "umount2": 166, "bpf": 321, "io_uring_setup": 425,
    "io_uring_enter": 426, "io_uring_register": 427, "unshare": 272, "setns": 308,
    "kexec_load": 246, "kexec_file_load": 320, "init_module": 175, "finit_module": 313,
    "delete_module": 176, "pivot_root": 155, "chroot": 161, "swapon": 167, "swapoff": 168,
    "reboot": 169, "sethostname": 170, "setdomainname": 171, "acct": 163, "add_key": 248,
    "request_key": 249, "keyctl": 250, "perf_event_open": 298, "process_vm_readv": 310,
    "process_vm_writev": 311, "userfaultfd": 323, "open_by_handle_at": 304,
    "name_to_handle_at": 303, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
    "move_mount": 429, "open_tree": 428, "mount_setattr": 442, "quotactl": 179,
    "vhangup": 153, "syslog": 103, "settimeofday": 164, "clock_settime": 227,
    "adjtimex": 159, "clock_adjtime": 305, "pidfd_getfd": 438, "kcmp": 312, "setrlimit": 160,
    "prlimit64": 302, "socket": 41, "clone": 56, "clone3": 435, "execve": 59,
    "execveat": 322, "fork": 57, "vfork": 58, "kill": 62, "tkill": 200, "tgkill": 234,
    "pidfd_send_signal": 424, "landlock_create_ruleset": 444, "landlock_add_rule": 445,
    "landlock_restrict_self": 446, "seccomp": 317, "pidfd_open": 434, "iopl": 172,
    "ioperm": 173, "lookup_dcookie": 212, "uselib": 134, "nfsservctl": 180,
    "chmod": 90, "fchmod": 91, "fchmodat": 268, "fchmodat2": 452, "chown": 92, "fchown": 93,
    "lchown": 94, "fchownat": 260, "utime": 132, "utimes": 235, "utimensat": 280,
    "futimesat": 261, "setxattr": 188, "lsetxattr": 189, "fsetxattr": 190,
    "removexattr": 197, "lremovexattr": 198, "fremovexattr": 199, "setxattrat": 463,
    "removexattrat": 466,
}  # fmt: skip

_AARCH64: dict[str, int] = {
    "ptrace": 117, "mount": 40, "umount2": 39, "bpf": 280, "io_uring_setup": 425,
    "io_uring_enter": 426, "io_uring_register": 427, "unshare": 97, "setns": 268,
    "kexec_load": 104, "kexec_file_load": 294, "init_module": 105, "finit_module": 273,
    "delete_module": 106, "pivot_root": 41, "chroot": 51, "swapon": 224, "swapoff": 225,
    "reboot": 142, "sethostname": 161, "setdomainname": 162, "acct": 89, "add_key": 217,
    "request_key": 218, "keyctl": 219, "perf_event_open": 241, "process_vm_readv": 270,
    "process_vm_writev": 271, "userfaultfd": 282, "open_by_handle_at": 265,
    "name_to_handle_at": 264, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
    "move_mount": 429, "open_tree": 428, "mount_setattr": 442, "quotactl": 60,
    "vhangup": 58, "syslog": 116, "settimeofday": 170, "clock_settime": 112,
    "adjtimex": 171, "clock_adjtime": 266, "pidfd_getfd": 438, "kcmp": 272, "setrlimit": 164,
    "prlimit64": 261, "socket": 198, "clone": 220, "clone3": 435, "execve": 221,
    "execveat": 281, "kill": 129, "tkill": 130, "tgkill": 131, "pidfd_send_signal": 424,
    "landlock_create_ruleset": 444, "landlock_add_rule": 445, "landlock_restrict_self": 446,
    "seccomp": 277, "pidfd_open": 434, "lookup_dcookie": 18, "nfsservctl": 42,
    "fchmod": 52, "fchmodat": 53, "fchmodat2": 452, "fchown": 55, "fchownat": 54,
    "utimensat": 88, "setxattr": 5, "lsetxattr": 6, "fsetxattr": 7, "removexattr": 14,
    "lremovexattr": 15, "fremovexattr": 16, "setxattrat": 463, "removexattrat": 466,
}  # fmt: skip

#: Syscall name to number, for every architecture this module knows.
SYSCALLS: dict[str, dict[str, int]] = {"x86_64": _X86_64, "aarch64": _AARCH64}


def number(name: str, machine: str = MACHINE) -> int | None:
    """Return the number of syscall ``name`` on ``machine``, or ``None`` if it has none."""
    return SYSCALLS.get(machine, {}).get(name)


@functools.cache
def libc() -> ctypes.CDLL:
    """Return the C library of this process, with ``errno`` captured after each call."""
    return ctypes.CDLL(None, use_errno=True)


def check(result: int, what: str) -> int:
    """Return ``result`` unless it is ``-1``, in which case raise ``OSError`` from ``errno``.

    Args:
        result: The value a libc function returned.
        what: The call, named in the error message.

    Raises:
        OSError: The call failed; ``errno`` and ``strerror`` are set.
    """
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def _arg(value: object) -> object:
    # A bare Python int goes through varargs as a C int (32 bits): widen it.
    if value is None:
        return ctypes.c_void_p(None)
    if isinstance(value, int):
        return ctypes.c_long(value)
    return value


def syscall(
    name: str,
    *args: object,
) -> int:
    """Call the raw system call ``name`` with ``args`` and return its result.

    Args:
        name: Syscall name as in :data:`SYSCALLS`.
        *args: Integers (passed as C ``long``), ``None`` (NULL) or ctypes objects.

    Raises:
        OSError: The syscall failed (``errno`` set), or has no number on this machine
            (``ENOSYS``).
    """
    nr = number(name)
    if nr is None:
        raise OSError(38, f"{name}: no syscall number known for {MACHINE}")
    fn = libc().syscall
    fn.restype = ctypes.c_long
    return check(int(fn(ctypes.c_long(nr), *(_arg(a) for a in args))), name)


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """Call ``prctl(2)`` and return its result.

    Raises:
        OSError: The call failed.
    """
    fn = libc().prctl
    fn.restype = ctypes.c_int
    return check(
        int(
            fn(
                ctypes.c_int(option),
                ctypes.c_ulong(arg2),
                ctypes.c_ulong(arg3),
                ctypes.c_ulong(arg4),
                ctypes.c_ulong(arg5),
            )
        ),
        f"prctl({option})",
    )
