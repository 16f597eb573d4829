"""Errors raised by the sandbox: each names the mechanism, what failed and what to do."""

from __future__ import annotations

from symphony_core.errors import ExtensionError, InternalError, UserError

__all__ = [
    "ForkServerCrashLoopError",
    "ForkServerDiedError",
    "LauncherError",
    "MechanismUnavailableError",
    "SandboxSetupError",
    "SandboxUnavailableError",
    "TargetNotAllowedError",
]


class MechanismUnavailableError(InternalError):
    """A kernel mechanism (Landlock, seccomp, a cgroup controller...) cannot be used here.

    Raised by the mechanism modules themselves; the host turns a missing mechanism into a
    :class:`SandboxUnavailableError` unless the user accepted a weaker sandbox.
    """

    code = "sandbox.mechanism_unavailable"


class SandboxUnavailableError(UserError):
    """The kernel lacks a mechanism the sandbox needs and no weaker sandbox was accepted."""

    code = "sandbox.unavailable"


class SandboxSetupError(ExtensionError):
    """A sandboxed process could not be set up (its boot sequence failed)."""

    code = "sandbox.setup_failed"


class LauncherError(InternalError):
    """The sandbox launcher (the warm fork server) failed or is not running."""

    code = "sandbox.launcher_failed"


class ForkServerDiedError(LauncherError):
    """The fork server died while a process was being started for the caller.

    A new fork server is started by itself; starting the process again may succeed.
    """

    code = "sandbox.fork_server_died"


class ForkServerCrashLoopError(LauncherError):
    """The fork server died too often within a short time and is not started again for now."""

    code = "sandbox.fork_server_crash_loop"


class TargetNotAllowedError(UserError):
    """A sandboxed process was asked to run a callable that is not on the allow-list."""

    code = "sandbox.target_not_allowed"
