"""Kernel sandbox for untrusted extensions: probe, mechanisms, boot order, launcher.

The public surface a host needs is re-exported here: :func:`probe_kernel` (what the
kernel offers, for ``symphony doctor``), :class:`SandboxProfile` (what an extension may
do), :func:`plan` (how a profile is enforced here, or a refusal), and the errors.
"""

from symphony_core.runtime.sandbox.errors import (
    ForkServerCrashLoopError,
    ForkServerDiedError,
    LauncherError,
    MechanismUnavailableError,
    SandboxSetupError,
    SandboxUnavailableError,
    TargetNotAllowedError,
)
from symphony_core.runtime.sandbox.policy import (
    WEAKENINGS,
    EnforcementPlan,
    SandboxProfile,
    Weakening,
    plan,
)
from symphony_core.runtime.sandbox.probe import (
    Guarantee,
    Guarantees,
    KernelCapabilities,
    probe_kernel,
)

__all__ = [
    "WEAKENINGS",
    "EnforcementPlan",
    "Guarantee",
    "Guarantees",
    "ForkServerCrashLoopError",
    "ForkServerDiedError",
    "KernelCapabilities",
    "LauncherError",
    "MechanismUnavailableError",
    "SandboxProfile",
    "SandboxSetupError",
    "SandboxUnavailableError",
    "TargetNotAllowedError",
    "Weakening",
    "plan",
    "probe_kernel",
]
