"""Permissions: the manifest asks, the host's policy grants, the kernel enforces the grant.

* :mod:`.model` — the policy file (``<home>/policy.toml``): per extension id or glob,
  and for every extension, the granted paths, network, environment, subprocesses,
  limits, and the weaker sandboxes the user accepted.
* :mod:`.store` — reading and checking it (errors name the file and key), atomic
  writes under a lock.
* :mod:`.edit` — grant, revoke, accept or refuse a weaker sandbox.
* :mod:`.effective` — asked ∩ granted: the :class:`SandboxProfile` the launcher takes,
  and what was asked but not granted.
* :mod:`.service` — :class:`PermissionService`, what a host builds at start.
"""

from symphony_core.permissions.edit import (
    DEFAULTS_KEY,
    Revocation,
    accept_weaker,
    grant,
    refuse_weaker,
    revoke,
)
from symphony_core.permissions.effective import (
    DEFAULT_LIMITS,
    Asked,
    EffectiveGrant,
    ResolvedGrant,
    Shortfall,
    asked_of,
    data_dir,
    effective_grant,
    effective_profile,
    resolve_grant,
    scratch_dir,
)
from symphony_core.permissions.errors import PolicyEditError, PolicyError
from symphony_core.permissions.model import Grant, LimitGrant, Policy
from symphony_core.permissions.service import PermissionService, check_sandbox
from symphony_core.permissions.store import PolicyStore, dump_policy, parse_policy, policy_path

__all__ = [
    "DEFAULTS_KEY",
    "DEFAULT_LIMITS",
    "Asked",
    "EffectiveGrant",
    "Grant",
    "LimitGrant",
    "PermissionService",
    "Policy",
    "PolicyEditError",
    "PolicyError",
    "PolicyStore",
    "ResolvedGrant",
    "Revocation",
    "Shortfall",
    "accept_weaker",
    "asked_of",
    "check_sandbox",
    "data_dir",
    "dump_policy",
    "effective_grant",
    "effective_profile",
    "grant",
    "parse_policy",
    "policy_path",
    "refuse_weaker",
    "resolve_grant",
    "revoke",
    "scratch_dir",
]
