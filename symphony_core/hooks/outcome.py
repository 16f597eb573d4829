"""The full answer of a hook call: every result and every isolated failure, by extension."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["HookOutcome"]


@dataclass(slots=True)
class HookOutcome:
    """What a broadcast hook call produced, extension by extension.

    Attributes:
        hook: The hook's name.
        firstresult: Whether the hook stops at the first non-``None`` result.
        results: ``(extension id, value)`` for every implementation that returned
            something other than ``None``, in call order.
        failures: ``(extension id, exception)`` for every implementation that raised
            and was isolated (policy ``isolate``), in call order.
    """

    hook: str
    firstresult: bool
    results: list[tuple[str, Any]] = field(default_factory=list)
    failures: list[tuple[str, Exception]] = field(default_factory=list)

    @property
    def value(self) -> Any:
        """What a plain call returns: the first result (or ``None``) or the list of results."""
        if self.firstresult:
            return self.results[0][1] if self.results else None
        return [value for _, value in self.results]

    @property
    def ok(self) -> bool:
        """Whether no implementation failed."""
        return not self.failures
