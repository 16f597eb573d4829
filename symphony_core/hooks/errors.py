"""Errors of the hook layer that :mod:`symphony_core.errors` does not already define."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from symphony_core.errors import ExtensionError, InternalError, UserError

__all__ = ["HookOrderError", "HookUsageError"]


class HookOrderError(ExtensionError, UserError):
    """The extensions' ordering wishes for one hook contradict each other (a cycle).

    Args:
        message: The cycle explained.
        hook: The hook whose implementations cannot be ordered.
        cycle: Extension ids along the cycle; the first id is repeated at the end.
        **kwargs: Passed to :class:`~symphony_core.errors.ExtensionError`.
    """

    code = "hook.order_cycle"

    def __init__(self, message: str, *, hook: str, cycle: Sequence[str], **kwargs: Any) -> None:
        self.hook = hook
        self.cycle = list(cycle)
        super().__init__(message, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable description including the hook and the cycle."""
        out = super().to_dict()
        out["hook"] = self.hook
        out["cycle"] = self.cycle
        return out


class HookUsageError(InternalError):
    """A hook was called wrongly by the host (unknown hook, missing or unknown arguments).

    This is a mistake in the calling code, not in an extension or in the user's setup.
    """

    code = "hook.bad_call"
