"""Errors of the permission policy: each names the file and key, or the extension, at fault."""

from __future__ import annotations

from symphony_core.errors import ConfigError, UserError

__all__ = ["PolicyEditError", "PolicyError"]


class PolicyError(ConfigError):
    """The policy file cannot be read or holds an invalid key or value."""

    code = "policy.invalid"


class PolicyEditError(UserError):
    """A requested change to the policy makes no sense (revoking what was never granted...)."""

    code = "policy.edit_invalid"
