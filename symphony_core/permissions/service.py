"""What a host builds at start: the policy, reloaded when its file changes, and the grants.

Typical wiring::

    permissions = PermissionService(config)
    launcher = Launcher(
        allowed_targets={...},
        accept_weaker=permissions.accepted_weakenings(),
        audit_sink=audit_log.sink(),
    )
    runtime = SandboxedRuntime(
        config, launcher=launcher, profile_for=permissions.profile_for, audit_sink=audit_log.sink()
    )

:meth:`PermissionService.profile_for` is the callable the sandboxed runtime asks for
each extension it starts; a ``symphony policy grant`` made while the host runs applies
to the next start of that extension.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from symphony_core.config import Config
from symphony_core.extension import ExtensionRecord
from symphony_core.fs import ensure_dir
from symphony_core.permissions.effective import EffectiveGrant, effective_grant
from symphony_core.permissions.errors import PolicyError
from symphony_core.permissions.model import Policy
from symphony_core.permissions.store import PolicyStore
from symphony_core.runtime.sandbox.errors import SandboxUnavailableError
from symphony_core.runtime.sandbox.policy import EnforcementPlan, SandboxProfile, plan
from symphony_core.runtime.sandbox.probe import KernelCapabilities

__all__ = ["PermissionService", "check_sandbox"]


def check_sandbox(
    profile: SandboxProfile, caps: KernelCapabilities, accepted: tuple[str, ...]
) -> EnforcementPlan | SandboxUnavailableError:
    """Say whether ``profile`` can be enforced on this machine with the accepted weakenings.

    Args:
        profile: The extension's profile.
        caps: What the kernel offers.
        accepted: Weakenings the user accepted.

    Returns:
        The enforcement plan, or the refusal (returned, not raised, for reporting).
    """
    try:
        return plan(profile, caps, accepted)
    except SandboxUnavailableError as exc:
        return exc


class PermissionService:
    """The host's permission policy, kept current, and the grants derived from it.

    Args:
        config: The host's configuration.
        store: The policy file (``<home>/policy.toml`` by default).
    """

    def __init__(self, config: Config, *, store: PolicyStore | None = None) -> None:
        self.config = config
        self.store = store or PolicyStore.for_config(config)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._policy: Policy | None = None

    @property
    def policy(self) -> Policy:
        """The current policy, read again when the file changed since the last read.

        Raises:
            PolicyError: The file is invalid (no extension starts until it is fixed; the
                host never falls back to another grant silently).
        """
        with self._lock:
            stamp = self.store.stamp()
            if self._policy is None or stamp != self._stamp:
                self._policy = self.store.load()
                self._stamp = stamp
            return self._policy

    def accepted_weakenings(self) -> tuple[str, ...]:
        """Weaker sandboxes the user accepted: pass them to ``Launcher(accept_weaker=...)``."""
        return self.policy.accept_weaker

    def grant_for(self, record: ExtensionRecord) -> EffectiveGrant:
        """Return what ``record``'s extension may do (see :func:`effective_grant`)."""
        return effective_grant(record, self.policy, self.config)

    def profile_for(self, record: ExtensionRecord) -> SandboxProfile:
        """Return the sandbox profile for ``record`` and create the directories it grants.

        The scratch directory and the granted writable directories inside the data
        directory are created (mode ``0700``; owned by the dedicated uid when the grant
        names one and the host is root): Landlock can only grant paths that exist.

        Raises:
            PolicyError: The policy file is invalid, or a directory cannot be created.
        """
        grant = self.grant_for(record)
        profile = grant.profile
        for directory in (grant.scratch_dir, *grant.data_write):
            try:
                ensure_dir(Path(directory), mode=0o700)
                if profile.run_as_uid is not None and os.geteuid() == 0:
                    gid = (
                        profile.run_as_gid if profile.run_as_gid is not None else profile.run_as_uid
                    )
                    os.chown(directory, profile.run_as_uid, gid)
            except OSError as exc:
                raise PolicyError(
                    f"cannot prepare directory {directory} for {record.id}: {exc.strerror}",
                    where=str(self.store.path),
                ) from None
        return profile
