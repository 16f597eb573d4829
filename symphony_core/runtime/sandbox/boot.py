"""The child side of the sandbox: one fixed sequence of restrictions, then the target.

A freshly forked child of the fork server runs :func:`boot`, which applies, in this
order and no other:

1. ``session`` — ``setsid()`` (its own session and process group, so a group kill
   never reaches the host or the test runner), ``PR_SET_PDEATHSIG(SIGKILL)`` (dies with
   the fork server), and a check that the fork server is still its parent.
2. ``sweeper`` — when the child may start processes (the ``subprocess`` grant, or no
   seccomp to refuse ``fork``) and something marks them (a user namespace of its own,
   or a cgroup): the :mod:`.sweeper` is forked, a detached process that, once this
   process has ended for whatever reason, SIGKILLs every process left with its mark —
   orphans and ``setsid`` escapees included, cgroup or not. It is forked first so that
   it stays outside the child's cgroup, user namespace, rlimits, Landlock domain and
   seccomp filter, and is armed at the end of ``netns``, once the mark exists. Its pid
   and the mark go to the host in the ``ready`` report, so that closing the process
   waits until the sweep is done (see :class:`BootReport`).
3. ``cgroup`` — writes its own pid into the sandbox cgroup made by the host, before
   it allocates anything worth charging.
4. ``rlimits`` — the per-process backstops (:mod:`.limits`).
5. ``netns`` — a fresh network namespace (with a user namespace when not root). Must
   come before the privilege drop: root needs ``CAP_SYS_ADMIN`` for it. A non-root
   host's child gets a user namespace of its own even when its network is the host's,
   writes the sweeper's token into its ``projid_map``, and then sets ``RLIMIT_NPROC`` to
   the profile's ``pids``: counted per user namespace, it bounds the child's tree
   without a cgroup. It is set only now, once the namespace exists (earlier it would
   count the uid's processes outside too), and before the privilege drop and seccomp
   forbid ``setrlimit``. The sweeper is armed last (namespace token, cgroup).
6. ``privileges`` — every capability dropped (or the uid switched), securebits locked,
   ``no_new_privs`` set, not dumpable; the parent-death signal is set again because a
   uid change clears it.
7. ``fds`` — stdin from ``/dev/null``, stdout/stderr to the host's choice, the IPC
   socket on fd 3, the audit pipe on fd 4, the boot status pipe on fd 5, every other
   inherited descriptor closed; environment replaced by the granted variables; working
   directory set; no bytecode writing.
8. ``imports`` — the target callable is imported (it is one of ours, from the
   launcher's allow-list) while imports still work without restriction.
9. ``landlock`` — filesystem, TCP and scope rules (the scope also keeps signals away
   from the sweeper, which is outside the domain).
10. ``seccomp`` — the syscall filter, last of the kernel restrictions because it also
    forbids things the steps above needed; the sweeper's pid is among its protected
    pids.
11. ``witness`` — the audit hook that reports refused attempts to the host.

No PID namespace is used for the orphans: after ``unshare(CLONE_NEWPID)`` a process can
no longer create threads, and the extension process must keep its pid, its signals and
its threads (see :mod:`.sweeper`).

Then the child reports ``ready`` on the status pipe, closes it and calls the target with
the IPC fd and its arguments; the target's return value is the exit code. A failing step
is reported on the status pipe by name and the child exits with code 121 — the launcher
turns that into a :class:`~symphony_core.runtime.sandbox.errors.SandboxSetupError`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import importlib
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import msgspec

from symphony_core.runtime.sandbox import (
    landlock,
    limits,
    netns,
    privileges,
    seccomp,
    sweeper,
    syscalls,
)
from symphony_core.runtime.sandbox import witness as witness_mod
from symphony_core.runtime.sandbox.policy import EnforcementPlan, SandboxProfile

__all__ = [
    "AUDIT_FD",
    "BOOT_FAILED",
    "IPC_FD",
    "STATUS_FD",
    "STEPS",
    "BootReport",
    "BootSpec",
    "boot",
    "resolve_target",
]

#: The order of the boot steps (see the module docstring).
STEPS: tuple[str, ...] = (
    "session",
    "sweeper",
    "cgroup",
    "rlimits",
    "netns",
    "privileges",
    "fds",
    "imports",
    "landlock",
    "seccomp",
    "witness",
)

IPC_FD = 3
AUDIT_FD = 4
STATUS_FD = 5
#: Exit code of a child whose boot failed.
BOOT_FAILED = 121

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_MAX_FD = 1 << 20


class BootSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a child needs to confine itself, sent by the host as msgpack.

    Attributes:
        extension_id: The extension this process runs (for messages).
        target: ``module:function`` to call after boot, from the launcher's allow-list.
        args: Arguments for the target (msgpack-native values only).
        profile: The grant.
        plan: Which mechanisms enforce it here.
        cgroup_procs: ``cgroup.procs`` files to join.
        rlimits: The rlimits to set.
        read_paths: Resolved readable paths (runtime paths included).
        write_paths: Resolved writable paths (scratch included).
        exec_paths: Resolved executable paths.
        env: The environment of the child.
        cwd: Working directory.
        protected_pids: Pids the child may not signal (host, fork server).
        seccomp_log: Ask the kernel to log refused syscalls to its audit log.
    """

    extension_id: str
    target: str
    args: dict[str, Any] = msgspec.field(default_factory=dict)
    profile: SandboxProfile
    plan: EnforcementPlan
    cgroup_procs: tuple[str, ...] = ()
    rlimits: limits.RlimitPlan
    read_paths: tuple[str, ...] = ()
    write_paths: tuple[str, ...] = ()
    exec_paths: tuple[str, ...] = ()
    env: dict[str, str] = msgspec.field(default_factory=dict)
    cwd: str = "/"
    protected_pids: tuple[int, ...] = ()
    seccomp_log: bool = False


class BootReport(msgspec.Struct, frozen=True, kw_only=True):
    """What a child writes on its status pipe: ``ready``, or the step that failed.

    Attributes:
        ok: Every step succeeded.
        step: The failing step (or ``ready``).
        error: The failure, in words.
        step_ms: Milliseconds each completed step took.
        sweeper_pid: The child's sweeper, if it has one. Written before any untrusted
            code runs, so the fork server may rely on it: the sweeper is the fork
            server's own child by then (a subreaper inherits it when the intermediate
            process exits), not reaped yet, so its pid cannot have been reused.
        sweep_target: What marks the child's processes (for the host's reports).
    """

    ok: bool
    step: str
    error: str = ""
    step_ms: dict[str, float] = msgspec.field(default_factory=dict)
    sweeper_pid: int | None = None
    sweep_target: sweeper.SweepTarget | None = None


def resolve_target(target: str) -> Callable[..., Any]:
    """Import ``module:function`` and return the callable.

    Raises:
        ValueError: ``target`` is not of the form ``module:function``.
        ImportError: The module cannot be imported.
        AttributeError: The function is missing.
        TypeError: The attribute is not callable.
    """
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"target must be 'module:function', got {target!r}")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"{target} is not callable")
    return obj  # type: ignore[no-any-return]


def _report(fd: int, report: BootReport) -> None:
    data = msgspec.msgpack.encode(report)
    os.write(fd, len(data).to_bytes(4, "little") + data)


def _session(parent: int) -> None:
    os.setsid()
    syscalls.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        raise RuntimeError("the fork server died while the child was starting")


def _needs_sweeper(plan: EnforcementPlan, profile: SandboxProfile) -> bool:
    # Without the grant seccomp refuses fork; without a mark there is nothing to find by.
    may_fork = profile.subprocess or not plan.seccomp
    return may_fork and (plan.userns or plan.cgroup)


def _start_sweeper() -> sweeper.Sweeper | None:
    try:
        return sweeper.start()
    except OSError as exc:
        if exc.errno == errno.ENOSYS:  # no pidfd_open: the probe reports orphans unswept
            return None
        raise


def _join_cgroup(procs_files: tuple[str, ...]) -> None:
    pid = str(os.getpid()).encode("ascii")
    for path in procs_files:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, pid)
        finally:
            os.close(fd)


def _fds(ipc_fd: int | None, audit_fd: int | None, stderr_fd: int | None, status_fd: int) -> None:
    # Park the keepers above the target numbers (F_DUPFD never clobbers an open fd, and
    # stays under RLIMIT_NOFILE, already lowered) before giving them their numbers.
    keep = {IPC_FD: ipc_fd, AUDIT_FD: audit_fd, STATUS_FD: status_fd}
    parked = {
        t: fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, STATUS_FD + 1)
        for t, fd in keep.items()
        if fd is not None
    }
    err = (
        fcntl.fcntl(stderr_fd, fcntl.F_DUPFD_CLOEXEC, STATUS_FD + 1)
        if stderr_fd is not None
        else None
    )
    devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    os.dup2(devnull, 0)
    os.dup2(devnull if err is None else err, 1)
    os.dup2(devnull if err is None else err, 2)
    for target, fd in parked.items():
        os.dup2(fd, target, inheritable=False)
    for target in keep:
        if target not in parked:
            os.closerange(target, target + 1)
    os.closerange(STATUS_FD + 1, _MAX_FD)


def _environment(env: dict[str, str], cwd: str) -> None:
    os.environ.clear()
    os.environ.update(env)
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    sys.dont_write_bytecode = True
    os.chdir(cwd)


def boot(
    spec: BootSpec,
    *,
    parent: int,
    ipc_fd: int | None,
    audit_fd: int | None,
    stderr_fd: int | None,
    status_fd: int,
) -> int:
    """Confine this (freshly forked) process, then run the target; never returns.

    Args:
        spec: What to apply and run.
        parent: Pid of the fork server (the expected parent).
        ipc_fd: The IPC socket for the target (becomes fd 3).
        audit_fd: The write end of the audit pipe (becomes fd 4).
        stderr_fd: Where stdout and stderr go (``None``: ``/dev/null``).
        status_fd: The write end of the boot status pipe.

    Returns:
        Never: the process exits with the target's return value, or
        :data:`BOOT_FAILED` when a step fails.
    """
    step = "session"
    timings: dict[str, float] = {}
    plan = spec.plan
    profile = spec.profile
    func: Callable[..., Any] | None = None
    sweeper_pid: int | None = None
    sweep_target: sweeper.SweepTarget | None = None
    try:
        clock = time.perf_counter()

        def done(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[name] = round((now - clock) * 1000, 3)
            clock = now

        _session(parent)
        done(step)

        step = "sweeper"
        sweeping = _start_sweeper() if _needs_sweeper(plan, profile) else None
        protected = spec.protected_pids
        done(step)

        step = "cgroup"
        if plan.cgroup:
            _join_cgroup(spec.cgroup_procs)
        done(step)

        step = "rlimits"
        limits.apply(spec.rlimits)
        done(step)

        step = "netns"
        host_userns = os.readlink("/proc/self/ns/user")
        # Marked even without a sweeper: once written, the map can never be written by
        # the extension (with a token of another extension's, say).
        token = sweeper.new_token() if plan.userns else ()
        projid_map = sweeper.projid_map_text(token) if token else None
        if plan.netns:
            netns.enter_new_netns(
                user_namespace=plan.userns,
                loopback_up=profile.network == "loopback",
                projid_map=projid_map,
            )
        elif plan.userns:
            netns.enter_new_userns(projid_map=projid_map)
        if plan.userns:
            limits.limit_processes_in_userns(profile.pids, host_namespace=host_userns)
        if sweeping is not None:
            sweep_target = sweeper.SweepTarget(
                namespace_token=token, cgroup_procs=spec.cgroup_procs if plan.cgroup else ()
            )
            sweeper_pid = sweeping.arm(sweep_target)
            protected += (sweeper_pid,)
        done(step)

        step = "privileges"
        privileges.drop(run_as_uid=profile.run_as_uid, run_as_gid=profile.run_as_gid)
        syscalls.prctl(_PR_SET_DUMPABLE, 0)
        syscalls.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            raise RuntimeError("the fork server died while the child was starting")
        done(step)

        step = "fds"
        _fds(ipc_fd, audit_fd, stderr_fd, status_fd)
        status_fd = STATUS_FD
        _environment(spec.env, spec.cwd)
        done(step)

        step = "imports"
        func = resolve_target(spec.target)
        done(step)

        step = "landlock"
        # The child may read its own /proc entry (resolved now: /proc/self of the host
        # would be the host's). Magic links in it do not widen access: Landlock checks
        # the file reached, not the way there.
        own_proc = f"/proc/{os.getpid()}"
        read_paths = (*spec.read_paths, own_proc)
        if plan.landlock_abi:
            tcp_connect: tuple[int, ...] | None = None
            tcp_bind: tuple[int, ...] | None = None
            if plan.landlock_abi >= 4:
                if profile.network == "none":
                    tcp_connect, tcp_bind = (), ()
                elif profile.network == "any" and profile.tcp_connect_ports:
                    tcp_connect = profile.tcp_connect_ports
            landlock.restrict_self(
                read=read_paths,
                write=spec.write_paths,
                execute=spec.exec_paths,
                tcp_bind=tcp_bind,
                tcp_connect=tcp_connect,
                abi=plan.landlock_abi,
            )
        done(step)

        step = "seccomp"
        families = seccomp.FAMILIES[profile.network]
        metadata = profile.run_as_uid is not None
        if plan.seccomp:
            seccomp.install(
                socket_families=families,
                subprocess=profile.subprocess,
                protected_pids=protected,
                metadata=metadata,
                log=spec.seccomp_log,
            )
        done(step)

        step = "witness"
        if audit_fd is not None:
            witness_mod.install(
                witness_mod.WitnessPolicy(
                    read=read_paths,
                    write=spec.write_paths,
                    execute=spec.exec_paths,
                    socket_families=families,
                    tcp_connect_ports=profile.tcp_connect_ports or None,
                    subprocess=profile.subprocess,
                    metadata=metadata,
                    protected_pids=protected,
                ),
                AUDIT_FD,
            )
        done(step)

        _report(
            status_fd,
            BootReport(
                ok=True,
                step="ready",
                step_ms=timings,
                sweeper_pid=sweeper_pid,
                sweep_target=sweep_target,
            ),
        )
        os.close(status_fd)
    except BaseException as exc:
        try:
            _report(
                status_fd,
                BootReport(
                    ok=False, step=step, error=f"{type(exc).__name__}: {exc}", step_ms=timings
                ),
            )
        finally:
            os._exit(BOOT_FAILED)
    code = 1
    try:
        result = func(IPC_FD if ipc_fd is not None else None, dict(spec.args))
        code = result if isinstance(result, int) else 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code & 0xFF)
