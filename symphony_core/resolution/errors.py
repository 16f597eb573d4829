"""The errors resolution raises, each a :class:`~symphony_core.errors.ResolutionError`.

They all carry ``conflicts``: one plain dict per requirement involved, with at least the
keys ``extension`` (the id asked for), ``requirer`` and ``requirer_version`` (``None``
for a requirement you passed in yourself), ``requirement`` (as written) and
``available`` (every known version of ``extension``, oldest first), plus ``reason``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from symphony_core.errors import HostApiError, ResolutionError

__all__ = [
    "DependencyCycleError",
    "DependencyRefusedError",
    "DuplicateExtensionError",
    "HostApiConflictError",
    "InvalidRequirementError",
    "MissingExtensionError",
    "ResolutionTooComplexError",
]


class InvalidRequirementError(ResolutionError):
    """A requirement, version or host-API range is not valid PEP 440 syntax."""

    code = "resolve.invalid_requirement"


class MissingExtensionError(ResolutionError):
    """A required extension is neither installed nor known to the registry."""

    code = "resolve.missing"


class HostApiConflictError(ResolutionError, HostApiError):
    """The only versions that would do need a host API this host does not provide.

    It is both a :class:`ResolutionError` and a :class:`HostApiError`, so a caller that
    handles either family sees it.
    """

    code = "resolve.host_api"


class DependencyCycleError(ResolutionError):
    """Extensions depend on each other in a cycle, so no load order exists.

    Args:
        message: The cycle explained.
        cycle: The ids along the cycle, the first repeated at the end
            (``("acme.a", "acme.b", "acme.a")``).
        **kwargs: Passed to :class:`ResolutionError`.
    """

    code = "resolve.cycle"

    def __init__(self, message: str, *, cycle: Sequence[str], **kwargs: Any) -> None:
        self.cycle = tuple(cycle)
        super().__init__(message, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable description including the cycle path."""
        out = super().to_dict()
        out["cycle"] = list(self.cycle)
        return out


class DependencyRefusedError(ResolutionError):
    """An installed extension cannot load because an extension it needs cannot."""

    code = "resolve.dependency_refused"


class DuplicateExtensionError(ResolutionError):
    """Two installed distributions provide the same extension id."""

    code = "resolve.duplicate"


class ResolutionTooComplexError(ResolutionError):
    """The resolver gave up after too many rounds without an answer either way."""

    code = "resolve.too_complex"
