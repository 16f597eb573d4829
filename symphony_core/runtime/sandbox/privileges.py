"""Dropping privileges in a sandboxed child: capabilities, uid, ``no_new_privs``.

Two ways, chosen per profile:

**Keep the uid, drop every capability** (the default). The bounding set is emptied,
the ambient set cleared, the securebits that make uid 0 special are set and locked
(``NOROOT``, ``NO_SETUID_FIXUP``, ``KEEP_CAPS_LOCKED``, ``NO_CAP_AMBIENT_RAISE``), the
permitted/effective/inheritable sets zeroed, and ``no_new_privs`` set: nothing the
process executes can regain a capability. This is the default because the interpreter
must stay readable after the switch: on this kind of machine Python lives under
``/root`` (mode 0700), which no other uid can read, so a child switched to ``nobody``
could not import a single stdlib module it had not imported yet.

Keeping uid 0 leaves one class of access that Landlock does not cover: *metadata* of
files uid 0 owns (``chmod``, ``utime``, user xattrs). The seccomp filter refuses those
syscalls whenever the child keeps the host's uid (see ``seccomp.METADATA``).

**Switch to a dedicated uid** (``SandboxProfile.run_as_uid``) when the host is root and
the interpreter is world-readable (e.g. a virtual environment made with a system Python
in a world-readable directory). Supplementary groups are cleared, then gid and uid are
set (real, effective and saved), which clears every capability. :func:`readable_by`
checks beforehand that the uid can read the paths it needs.
"""

from __future__ import annotations

import ctypes
import os
import stat
from collections.abc import Iterable
from pathlib import Path

import msgspec

from symphony_core.runtime.sandbox import syscalls

__all__ = ["PrivilegeResult", "drop", "readable_by"]

_PR_CAPBSET_DROP = 24
_PR_SET_SECUREBITS = 28
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAPABILITY_VERSION_3 = 0x20080522
# NOROOT | NOROOT_LOCKED | NO_SETUID_FIXUP | NO_SETUID_FIXUP_LOCKED | KEEP_CAPS_LOCKED
# | NO_CAP_AMBIENT_RAISE | NO_CAP_AMBIENT_RAISE_LOCKED
_SECUREBITS = 0b1110_1111
_EPERM = 1


class PrivilegeResult(msgspec.Struct, frozen=True, kw_only=True):
    """The privileges a process has after :func:`drop`.

    Attributes:
        uid: Real, effective and saved uid (all equal).
        gid: Real, effective and saved gid (all equal).
        switched_uid: The uid was changed (dedicated uid mode).
        effective_caps: ``CapEff`` from ``/proc/self/status`` (0 expected).
        bounding_caps: ``CapBnd`` (0 when the bounding set could be emptied).
        no_new_privs: ``no_new_privs`` is set.
    """

    uid: int
    gid: int
    switched_uid: bool
    effective_caps: int
    bounding_caps: int
    no_new_privs: bool


def _status() -> dict[str, str]:
    out = {}
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def _last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as handle:
            return int(handle.read())
    except OSError:
        return 40


def _drop_capabilities() -> None:
    # Bounding set and securebits need CAP_SETPCAP, so they go before capset.
    for cap in range(_last_cap() + 1):
        try:
            syscalls.prctl(_PR_CAPBSET_DROP, cap)
        except OSError as exc:
            if exc.errno != _EPERM:  # EPERM: no CAP_SETPCAP (unprivileged): nothing to drop
                raise
            break
    try:
        syscalls.prctl(_PR_SET_SECUREBITS, _SECUREBITS)
    except OSError as exc:
        if exc.errno != _EPERM:
            raise
    syscalls.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL)
    header = syscalls.CapHeader(version=_CAPABILITY_VERSION_3, pid=0)
    data = (syscalls.CapData * 2)()
    capset = syscalls.libc().capset
    capset.restype = ctypes.c_int
    syscalls.check(int(capset(ctypes.byref(header), ctypes.byref(data))), "capset")


def drop(*, run_as_uid: int | None = None, run_as_gid: int | None = None) -> PrivilegeResult:
    """Drop every privilege this process has, irreversibly.

    Args:
        run_as_uid: Switch to this uid (needs root); ``None`` keeps the uid and drops
            the capabilities instead.
        run_as_gid: Group for ``run_as_uid`` (defaults to the same number).

    Returns:
        The privileges left, read back from the kernel.

    Raises:
        OSError: A step was refused.
        RuntimeError: The kernel still reports capabilities after the drop.
    """
    switched = False
    if run_as_uid is not None:
        gid = run_as_uid if run_as_gid is None else run_as_gid
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(run_as_uid, run_as_uid, run_as_uid)
        switched = True
    _drop_capabilities()
    syscalls.prctl(_PR_SET_NO_NEW_PRIVS, 1)
    status = _status()
    result = PrivilegeResult(
        uid=os.getuid(),
        gid=os.getgid(),
        switched_uid=switched,
        effective_caps=int(status.get("CapEff", "0"), 16),
        bounding_caps=int(status.get("CapBnd", "0"), 16),
        no_new_privs=status.get("NoNewPrivs") == "1",
    )
    if result.effective_caps or int(status.get("CapPrm", "0"), 16):
        raise RuntimeError(f"capabilities remain after the drop: {status.get('CapEff')}")
    if set(os.getresuid()) != {result.uid}:
        raise RuntimeError(f"uids differ after the drop: {os.getresuid()}")
    return result


def readable_by(paths: Iterable[str], uid: int, gid: int) -> list[str]:
    """Return the paths that ``uid``/``gid`` (no supplementary groups) cannot read.

    Every ancestor directory must be searchable and the path itself readable (and
    listable for a directory), judged from the mode bits and owners.

    Args:
        paths: Paths to check.
        uid: The uid that will read them.
        gid: Its group.
    """

    def allowed(st: os.stat_result, need: int) -> bool:
        if uid == 0:
            return True
        shift = 6 if st.st_uid == uid else 3 if st.st_gid == gid else 0
        return (st.st_mode >> shift) & need == need

    refused: list[str] = []
    for raw in paths:
        path = Path(raw)
        try:
            resolved = path.resolve(strict=True)
            chain = [*reversed(resolved.parents)]
            if not all(allowed(p.stat(), 1) for p in chain):
                refused.append(raw)
                continue
            st = resolved.stat()
            need = 5 if stat.S_ISDIR(st.st_mode) else 4
            if not allowed(st, need):
                refused.append(raw)
        except OSError:
            refused.append(raw)
    return refused
