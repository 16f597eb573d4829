"""The hook the hostile extension implements (the host passes these specs to its sandbox)."""

from __future__ import annotations

from typing import Any

from symphony_core.hooks import hookspec


class HostileSpecs:
    """Hook specifications of the attack tests."""

    @hookspec()
    def hostile_attack(self, action: str, arg: Any) -> Any:
        """Carry out ``action`` (see :mod:`symphony_hostile.attacks`)."""
