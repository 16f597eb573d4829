"""Resource limits (rlimits): per-process backstops behind the cgroup limits.

An rlimit bounds one process, not a tree, so it is never the main limit when a cgroup
is there; it catches what a cgroup does not (file size, open files, core dumps) and
stands in, per process, where cgroups are unavailable:

* ``RLIMIT_DATA``: with a memory cgroup, twice the limit plus 64 MiB (a backstop that
  never fires before the cgroup does); without one, the limit itself, so an allocation
  past it raises a catchable ``MemoryError``. It counts virtual data, thread stacks
  included, so very small limits hurt thread-heavy code. ``RLIMIT_AS`` is never used:
  it breaks threads.
* ``RLIMIT_CPU``: total CPU seconds (SIGXCPU at the soft limit, SIGKILL one second
  later); one-second granularity, a backstop only.
* ``RLIMIT_NOFILE``, ``RLIMIT_FSIZE`` (Python ignores SIGXFSZ, so an oversized write
  fails with ``EFBIG``), ``RLIMIT_CORE`` = 0 (no core dumps of extension memory).
* ``RLIMIT_NPROC``, where it counts only the extension's processes:

  - for a dedicated uid (root host, ``run_as_uid``), planned here: it counts every
    process of that uid;
  - on a non-root host, by :func:`limit_processes_in_userns` once the child is in a user
    namespace of its own. Since Linux 5.14 the count is kept per user *per user
    namespace* (ucounts), and only the uid's processes in that namespace count against
    it, so it bounds the child's tree (threads included) and nothing else. It must be
    set *after* the namespace exists: the new namespace records its creator's limit as
    the ceiling for the whole uid outside it, so a low limit set earlier would count
    the host's processes too (measured: no fork at all with 40 other processes of the
    uid around). The kernel bypasses it only for global root or a task holding
    ``CAP_SYS_RESOURCE``/``CAP_SYS_ADMIN`` in the initial namespace, which such a child
    never has, and raising the hard limit back needs the same capability.

  It does nothing for root, and in the host's own namespace would count the host's
  processes: it is never set there.
"""

from __future__ import annotations

import os
import resource

import msgspec

from symphony_core.runtime.sandbox.policy import SandboxProfile

__all__ = ["RlimitPlan", "apply", "limit_processes_in_userns", "plan_limits"]

_MIB = 1 << 20


class RlimitPlan(msgspec.Struct, frozen=True, kw_only=True):
    """The rlimits to set, as ``name -> (soft, hard)``; ``-1`` means unlimited.

    Attributes:
        limits: Resource name (``RLIMIT_DATA``...) to its soft and hard values.
    """

    limits: dict[str, tuple[int, int]]


def plan_limits(profile: SandboxProfile, *, memory_cgroup: bool, dedicated_uid: bool) -> RlimitPlan:
    """Compute the rlimits for ``profile``.

    Args:
        profile: The grant.
        memory_cgroup: A memory cgroup bounds the tree (RLIMIT_DATA is then a backstop).
        dedicated_uid: The process runs as a uid of its own (RLIMIT_NPROC is meaningful).

    Returns:
        The plan; apply it in the child with :func:`apply`.
    """
    data = 2 * profile.memory_bytes + 64 * _MIB if memory_cgroup else profile.memory_bytes
    limits: dict[str, tuple[int, int]] = {
        "RLIMIT_DATA": (data, data),
        "RLIMIT_NOFILE": (profile.open_files, profile.open_files),
        "RLIMIT_FSIZE": (profile.file_size_bytes, profile.file_size_bytes),
        "RLIMIT_CORE": (0, 0),
    }
    if profile.cpu_seconds is not None:
        limits["RLIMIT_CPU"] = (profile.cpu_seconds, profile.cpu_seconds + 1)
    if dedicated_uid:
        limits["RLIMIT_NPROC"] = (profile.pids, profile.pids)
    return RlimitPlan(limits=limits)


def apply(plan: RlimitPlan) -> dict[str, tuple[int, int]]:
    """Set the planned limits on this process, never raising a hard limit.

    A limit already lower than planned stays as it is (an unprivileged process may not
    raise its hard limit, and the stricter value is what we want anyway).

    Returns:
        The limits in force afterwards.

    Raises:
        OSError: The kernel refused a limit.
        ValueError: Unknown resource name.
    """
    applied: dict[str, tuple[int, int]] = {}
    for name, (soft, hard) in plan.limits.items():
        resource_id = getattr(resource, name, None)
        if not isinstance(resource_id, int):
            raise ValueError(f"unknown rlimit {name}")
        _, cur_hard = resource.getrlimit(resource_id)
        if cur_hard != resource.RLIM_INFINITY:
            hard = min(hard, cur_hard)
        soft = min(soft, hard)
        resource.setrlimit(resource_id, (soft, hard))
        applied[name] = resource.getrlimit(resource_id)
    return applied


def limit_processes_in_userns(count: int, *, host_namespace: str) -> tuple[int, int]:
    """Bound this process's tree to ``count`` tasks with ``RLIMIT_NPROC``, in its own userns.

    Call it right after the process entered a user namespace of its own (and before the
    privilege drop and seccomp, which forbid ``setrlimit``). The process itself counts.

    Args:
        count: Processes and threads the tree may hold at once (the profile's ``pids``).
        host_namespace: The ``user:[inode]`` the process was in before; the limit is
            refused there, where it would count every process of the uid.

    Returns:
        The ``RLIMIT_NPROC`` in force afterwards.

    Raises:
        RuntimeError: The process is still in ``host_namespace``, or runs as root.
        OSError: The kernel refused the limit.
    """
    if os.readlink("/proc/self/ns/user") == host_namespace:
        raise RuntimeError(
            "RLIMIT_NPROC is only set in a user namespace of the child's own: here it "
            "would count every process of the uid"
        )
    if os.getuid() == 0:
        raise RuntimeError("RLIMIT_NPROC does not bind a process mapped to root")
    return apply(RlimitPlan(limits={"RLIMIT_NPROC": (count, count)}))["RLIMIT_NPROC"]
