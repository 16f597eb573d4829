"""What the start-up check decided: the loadable extensions in order, and the refused.

Kept apart from :mod:`symphony_core.resolution.installed` (which computes it) so that a
host reusing a decision stored in the discovery index can build one without importing
``packaging`` or the resolver.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from symphony_core.errors import ResolutionError

if TYPE_CHECKING:
    from symphony_core.extension import ExtensionRecord

__all__ = ["InstalledResolution", "refusals_error"]


class InstalledResolution:
    """What can load at start-up, and what cannot.

    Immutable, compared by value. (A plain class rather than a dataclass: importing
    :mod:`dataclasses` costs more than a warm start spends on everything else here.)

    Attributes:
        loadable: The records that can load, in load order (dependencies first).
        refused: Extension id -> why it cannot load, sorted by id.
        graph: Extension id -> the ids it depends on, for the loadable ones.
    """

    __slots__ = ("graph", "loadable", "refused")
    __match_args__ = ("loadable", "refused", "graph")

    loadable: tuple[ExtensionRecord, ...]
    refused: Mapping[str, ResolutionError]
    graph: Mapping[str, tuple[str, ...]]

    def __init__(
        self,
        loadable: tuple[ExtensionRecord, ...],
        refused: Mapping[str, ResolutionError],
        graph: Mapping[str, tuple[str, ...]],
    ) -> None:
        object.__setattr__(self, "loadable", loadable)
        object.__setattr__(self, "refused", refused)
        object.__setattr__(self, "graph", graph)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: InstalledResolution is frozen")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: InstalledResolution is frozen")

    def _fields(self) -> tuple[object, ...]:
        return (self.loadable, self.refused, self.graph)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, InstalledResolution) or other.__class__ is not self.__class__:
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return (
            f"InstalledResolution(loadable={self.loadable!r}, refused={self.refused!r}, "
            f"graph={self.graph!r})"
        )

    @property
    def load_order(self) -> tuple[str, ...]:
        """The ids of the loadable extensions, in load order."""
        return tuple(r.id for r in self.loadable)

    @property
    def ok(self) -> bool:
        """Whether every installed extension can load."""
        return not self.refused


def refusals_error(refused: Mapping[str, ResolutionError]) -> ResolutionError:
    """Return the one error strict mode raises for every refused extension.

    Args:
        refused: Extension id -> why it cannot load (non-empty).

    Returns:
        An error whose message lists each one's reason; ``conflicts`` gathers theirs and
        ``details["refused"]`` holds each error as a dict.
    """
    lines = "; ".join(f"{ext_id}: {err.message}" for ext_id, err in refused.items())
    return ResolutionError(
        f"{len(refused)} installed extension(s) cannot be loaded: {lines}",
        conflicts=[c for err in refused.values() for c in err.conflicts],
        details={"refused": {ext_id: err.to_dict() for ext_id, err in refused.items()}},
        hint="fix or uninstall them, or start without strict mode to load the others",
    )
