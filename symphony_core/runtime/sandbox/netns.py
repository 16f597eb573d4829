"""Network namespaces: give a process a network stack of its own, with nothing in it.

In a fresh network namespace the only interface is a loopback that is down, so TCP to
the host's ``127.0.0.1`` fails with ``ENETUNREACH`` and nothing outside is reachable.
With ``loopback_up`` the namespace's own ``lo`` is brought up: the process can talk to
itself over TCP, still never to the host.

Root creates the namespace directly (``CLONE_NEWNET`` needs ``CAP_SYS_ADMIN``). Any
other user creates a user namespace in the same call and maps its own uid and gid to
themselves, which gives it the capability inside the new namespaces only. A non-root
child whose network is not confined still gets a user namespace of its own
(:func:`enter_new_userns`): since Linux 5.14 ``RLIMIT_NPROC`` is counted per user *per
user namespace*, so there it bounds the child's process tree alone (see
:func:`symphony_core.runtime.sandbox.limits.limit_processes_in_userns`).

Both functions can also write the new user namespace's ``projid_map`` (once and for
all, like every id map): the sweeper recognises the extension's processes by that token
(see :mod:`symphony_core.runtime.sandbox.sweeper`).

Note that a network namespace does not cover pathname UNIX sockets (they live in the
filesystem); the seccomp socket-family rule does.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct

import msgspec

from symphony_core.runtime.sandbox import syscalls

__all__ = ["NetnsResult", "enter_new_netns", "enter_new_userns"]

_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_PR_GET_DUMPABLE = 3
_PR_SET_DUMPABLE = 4
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


class NetnsResult(msgspec.Struct, frozen=True, kw_only=True):
    """What :func:`enter_new_netns` did.

    Attributes:
        user_namespace: A user namespace was created too (non-root caller).
        loopback_up: The namespace's own loopback interface was brought up.
        namespace: The new ``net:[inode]`` identifier.
    """

    user_namespace: bool
    loopback_up: bool
    namespace: str


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode("ascii"))
    finally:
        os.close(fd)


def _unshare(flags: int) -> None:
    fn = syscalls.libc().unshare
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    syscalls.check(int(fn(flags)), "unshare")


def _bring_loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock.fileno(), _SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | _IFF_UP))


def _enter_userns(extra_flags: int, projid_map: str | None) -> None:
    uid, gid = os.geteuid(), os.getegid()
    dumpable = syscalls.prctl(_PR_GET_DUMPABLE)
    _unshare(_CLONE_NEWUSER | extra_flags)
    # A non-dumpable process's /proc/self files belong to root: the maps could not
    # be written. Make it dumpable just long enough to write them.
    if dumpable != 1:
        syscalls.prctl(_PR_SET_DUMPABLE, 1)
    try:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1\n")
        _write("/proc/self/gid_map", f"{gid} {gid} 1\n")
        if projid_map is not None:
            _write("/proc/self/projid_map", projid_map)
    finally:
        if dumpable != 1:
            syscalls.prctl(_PR_SET_DUMPABLE, dumpable)


def enter_new_userns(*, projid_map: str | None = None) -> str:
    """Move this process into a new user namespace only, its uid and gid mapped to themselves.

    The process keeps the host's network; what it gains is a per-namespace count of its
    processes (and capabilities that mean nothing outside the namespace, which the
    privilege drop removes). Call it while the process still has one thread.

    Args:
        projid_map: Contents for the namespace's ``projid_map`` (the sweeper's token).

    Returns:
        The new ``user:[inode]`` identifier.

    Raises:
        OSError: The kernel refused (user namespaces disabled or exhausted).
    """
    _enter_userns(0, projid_map)
    return os.readlink("/proc/self/ns/user")


def enter_new_netns(
    *,
    user_namespace: bool | None = None,
    loopback_up: bool = False,
    projid_map: str | None = None,
) -> NetnsResult:
    """Move this process into a new, empty network namespace (irreversible).

    Call it while the process still has one thread: ``unshare`` of a user namespace
    refuses multi-threaded callers.

    Args:
        user_namespace: Create a user namespace too; by default only when not root.
        loopback_up: Bring the new namespace's own ``lo`` up.
        projid_map: With a user namespace: contents for its ``projid_map`` (the
            sweeper's token).

    Returns:
        What was done.

    Raises:
        OSError: The kernel refused (no privilege, namespaces disabled).
    """
    if user_namespace is None:
        user_namespace = os.geteuid() != 0
    if user_namespace:
        _enter_userns(_CLONE_NEWNET, projid_map)
    else:
        _unshare(_CLONE_NEWNET)
    if loopback_up:
        _bring_loopback_up()
    return NetnsResult(
        user_namespace=user_namespace,
        loopback_up=loopback_up,
        namespace=os.readlink("/proc/self/ns/net"),
    )
