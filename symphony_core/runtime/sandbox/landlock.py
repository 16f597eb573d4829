"""Landlock: confine the filesystem, TCP ports, signals and abstract sockets of this process.

A Landlock ruleset lists the access rights the process *handles* (everything the
kernel's ABI knows) and rules that grant some of them beneath given paths or for given
TCP ports. After :func:`restrict_self`, every handled access not granted by a rule is
refused by the kernel (EACCES, EXDEV for cross-directory links and renames), for this
process and every process it starts. It cannot be undone.

The rights requested are the best the running kernel has:

====  ===============================================================
ABI   adds
====  ===============================================================
1     read/write/execute files, read directories, create and remove entries
2     ``refer`` (links and renames between directories)
3     ``truncate``
4     TCP ``bind`` and ``connect`` by port
5     ``ioctl`` on device files
6     scopes: abstract UNIX sockets and signals to processes outside the domain
====  ===============================================================

Landlock does not cover metadata (``stat`` works everywhere), UDP, or ``connect`` to
pathname UNIX sockets; the seccomp socket-family rule covers the last.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterable
from pathlib import Path

import msgspec

from symphony_core.runtime.sandbox import syscalls
from symphony_core.runtime.sandbox.errors import MechanismUnavailableError

__all__ = [
    "ACCESS_FS_EXECUTE",
    "ACCESS_FS_READ_DIR",
    "ACCESS_FS_READ_FILE",
    "ACCESS_FS_WRITE_FILE",
    "LandlockResult",
    "abi_version",
    "existing",
    "fs_rights",
    "restrict_self",
]

ACCESS_FS_EXECUTE = 1 << 0
ACCESS_FS_WRITE_FILE = 1 << 1
ACCESS_FS_READ_FILE = 1 << 2
ACCESS_FS_READ_DIR = 1 << 3
_REMOVE_DIR = 1 << 4
_REMOVE_FILE = 1 << 5
_MAKE_CHAR = 1 << 6
_MAKE_DIR = 1 << 7
_MAKE_REG = 1 << 8
_MAKE_SOCK = 1 << 9
_MAKE_FIFO = 1 << 10
_MAKE_BLOCK = 1 << 11
_MAKE_SYM = 1 << 12
_REFER = 1 << 13
_TRUNCATE = 1 << 14
_IOCTL_DEV = 1 << 15

_NET_BIND_TCP = 1 << 0
_NET_CONNECT_TCP = 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
_SCOPE_SIGNAL = 1 << 1

_RULE_PATH_BENEATH = 1
_RULE_NET_PORT = 2
_CREATE_RULESET_VERSION = 1
_PR_SET_NO_NEW_PRIVS = 38

# Rights that make sense on a file (not a directory); others give EINVAL on a file rule.
_FILE_RIGHTS = (
    ACCESS_FS_EXECUTE | ACCESS_FS_WRITE_FILE | ACCESS_FS_READ_FILE | _TRUNCATE | _IOCTL_DEV
)


class _RulesetAttr(ctypes.Structure):
    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    )


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


class _NetPortAttr(ctypes.Structure):
    _fields_ = (("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64))


class LandlockResult(msgspec.Struct, frozen=True, kw_only=True):
    """What :func:`restrict_self` enforced.

    Attributes:
        abi: The ABI whose rights were handled.
        handled_fs: Filesystem rights the kernel now refuses unless granted.
        handled_net: TCP rights refused unless granted (0: network not handled).
        scoped: Scopes applied (abstract UNIX sockets, signals).
        skipped: Paths that were asked for but do not exist (no rule was added).
    """

    abi: int
    handled_fs: int
    handled_net: int
    scoped: int
    skipped: tuple[str, ...] = ()


def abi_version() -> int:
    """Return the Landlock ABI of the running kernel, 0 when Landlock is unavailable."""
    try:
        return syscalls.syscall("landlock_create_ruleset", None, 0, _CREATE_RULESET_VERSION)
    except OSError:
        return 0


def fs_rights(abi: int) -> dict[str, int]:
    """Return the filesystem right sets for ``abi``: ``all``, ``read``, ``write``, ``execute``.

    ``write`` includes reading, creating, removing, renaming and truncating beneath a
    path, but never creating device nodes.
    """
    if abi < 1:
        return {"all": 0, "read": 0, "write": 0, "execute": 0}
    every = (1 << 13) - 1
    if abi >= 2:
        every |= _REFER
    if abi >= 3:
        every |= _TRUNCATE
    if abi >= 5:
        every |= _IOCTL_DEV
    read = ACCESS_FS_READ_FILE | ACCESS_FS_READ_DIR
    write = every & ~(_MAKE_CHAR | _MAKE_BLOCK | ACCESS_FS_EXECUTE | _IOCTL_DEV)
    return {"all": every, "read": read, "write": write, "execute": ACCESS_FS_EXECUTE | read}


def _add_path_rule(ruleset_fd: int, path: str, access: int) -> bool:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        if not os.path.isdir(f"/proc/self/fd/{fd}"):
            access &= _FILE_RIGHTS
        if access == 0:
            return True
        attr = _PathBeneathAttr(allowed_access=access, parent_fd=fd)
        syscalls.syscall("landlock_add_rule", ruleset_fd, _RULE_PATH_BENEATH, ctypes.byref(attr), 0)
    finally:
        os.close(fd)
    return True


def restrict_self(
    *,
    read: Iterable[str] = (),
    write: Iterable[str] = (),
    execute: Iterable[str] = (),
    tcp_bind: Iterable[int] | None = None,
    tcp_connect: Iterable[int] | None = None,
    scope: bool = True,
    abi: int | None = None,
) -> LandlockResult:
    """Confine this process (and its future children) with Landlock, irreversibly.

    Sets ``no_new_privs`` first, as Landlock requires for an unprivileged caller.

    Args:
        read: Paths readable (directories: everything beneath, listing included).
        write: Paths readable and writable (create, remove, rename, truncate).
        execute: Paths whose programs may be executed (read included).
        tcp_bind: Ports TCP ``bind`` may use; ``None`` leaves TCP bind unhandled.
            Needs ABI 4; an empty iterable refuses every bind.
        tcp_connect: Ports TCP ``connect`` may reach; ``None`` leaves it unhandled.
        scope: Refuse signals to, and abstract UNIX socket connections with, processes
            outside this domain (ABI 6; silently absent on older kernels).
        abi: Use at most this ABI (defaults to the kernel's).

    Returns:
        What was enforced.

    Raises:
        MechanismUnavailableError: Landlock is missing, or network rules were asked of
            a kernel older than ABI 4.
        OSError: A ruleset, rule or restriction call failed.
    """
    kernel_abi = abi_version()
    abi = kernel_abi if abi is None else min(abi, kernel_abi)
    if abi < 1:
        raise MechanismUnavailableError(
            "Landlock is not available in this kernel",
            hint="boot a kernel with CONFIG_SECURITY_LANDLOCK and landlock in lsm=",
        )
    want_net = tcp_bind is not None or tcp_connect is not None
    if want_net and abi < 4:
        raise MechanismUnavailableError(
            f"TCP port rules need Landlock ABI 4, this kernel has ABI {abi}",
            hint="use a network namespace instead, or a newer kernel",
        )
    rights = fs_rights(abi)
    handled_net = 0
    if tcp_bind is not None:
        handled_net |= _NET_BIND_TCP
    if tcp_connect is not None:
        handled_net |= _NET_CONNECT_TCP
    scoped = (_SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL) if scope and abi >= 6 else 0
    attr = _RulesetAttr(
        handled_access_fs=rights["all"], handled_access_net=handled_net, scoped=scoped
    )
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset_fd = syscalls.syscall("landlock_create_ruleset", ctypes.byref(attr), size, 0)
    skipped: list[str] = []
    try:
        for paths, access in (
            (read, rights["read"]),
            (write, rights["write"]),
            (execute, rights["execute"]),
        ):
            for path in paths:
                if not _add_path_rule(ruleset_fd, path, access):
                    skipped.append(path)
        for ports, access in ((tcp_bind, _NET_BIND_TCP), (tcp_connect, _NET_CONNECT_TCP)):
            for port in ports or ():
                net = _NetPortAttr(allowed_access=access, port=port)
                syscalls.syscall(
                    "landlock_add_rule", ruleset_fd, _RULE_NET_PORT, ctypes.byref(net), 0
                )
        syscalls.prctl(_PR_SET_NO_NEW_PRIVS, 1)
        syscalls.syscall("landlock_restrict_self", ruleset_fd, 0)
    finally:
        with contextlib.suppress(OSError):
            os.close(ruleset_fd)
    return LandlockResult(
        abi=abi,
        handled_fs=rights["all"],
        handled_net=handled_net,
        scoped=scoped,
        skipped=tuple(skipped),
    )


def existing(paths: Iterable[str]) -> list[str]:
    """Return the paths that exist, resolved, without duplicates, in order."""
    seen: list[str] = []
    for path in paths:
        with contextlib.suppress(OSError):
            real = str(Path(path).resolve(strict=True))
            if real not in seen:
                seen.append(real)
    return seen
