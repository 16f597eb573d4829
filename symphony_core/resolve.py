"""Resolve requirements between extensions, explain conflicts, and order loading.

Two entry points:

* :func:`resolve` — choose one version of every extension a set of requirements needs,
  from a :class:`CandidateSource` (:class:`InstalledSource`, :class:`RegistrySource`
  over the data-access port, or both through :class:`ChainedSource`), and give the
  load order.
* :func:`resolve_installed` — at start-up, check every installed extension against the
  others: which can load (in order) and which cannot (each with its own reason).

The rules authors need are in ``docs/resolution.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from symphony_core.resolution.candidate import Candidate, Origin
    from symphony_core.resolution.errors import (
        DependencyCycleError,
        DependencyRefusedError,
        DuplicateExtensionError,
        HostApiConflictError,
        InvalidRequirementError,
        MissingExtensionError,
        ResolutionTooComplexError,
    )
    from symphony_core.resolution.installed import resolve_installed
    from symphony_core.resolution.outcome import InstalledResolution
    from symphony_core.resolution.registry import RegistrySource, VersionIndex
    from symphony_core.resolution.requirement import Requirement
    from symphony_core.resolution.resolver import DEFAULT_MAX_ROUNDS, Resolution, resolve
    from symphony_core.resolution.rules import VersionPool
    from symphony_core.resolution.sources import (
        CandidateSource,
        ChainedSource,
        InstalledSource,
        MemorySource,
    )

# name -> module that defines it; imported on first access (PEP 562), so a warm start
# that finds its resolution in the discovery index imports neither packaging nor resolvelib.
_EXPORTS: dict[str, str] = {
    "Candidate": "symphony_core.resolution.candidate",
    "Origin": "symphony_core.resolution.candidate",
    "DependencyCycleError": "symphony_core.resolution.errors",
    "DependencyRefusedError": "symphony_core.resolution.errors",
    "DuplicateExtensionError": "symphony_core.resolution.errors",
    "HostApiConflictError": "symphony_core.resolution.errors",
    "InvalidRequirementError": "symphony_core.resolution.errors",
    "MissingExtensionError": "symphony_core.resolution.errors",
    "ResolutionTooComplexError": "symphony_core.resolution.errors",
    "InstalledResolution": "symphony_core.resolution.outcome",
    "resolve_installed": "symphony_core.resolution.installed",
    "RegistrySource": "symphony_core.resolution.registry",
    "VersionIndex": "symphony_core.resolution.registry",
    "Requirement": "symphony_core.resolution.requirement",
    "DEFAULT_MAX_ROUNDS": "symphony_core.resolution.resolver",
    "Resolution": "symphony_core.resolution.resolver",
    "resolve": "symphony_core.resolution.resolver",
    "VersionPool": "symphony_core.resolution.rules",
    "CandidateSource": "symphony_core.resolution.sources",
    "ChainedSource": "symphony_core.resolution.sources",
    "InstalledSource": "symphony_core.resolution.sources",
    "MemorySource": "symphony_core.resolution.sources",
}

__all__ = [
    "DEFAULT_MAX_ROUNDS",
    "Candidate",
    "CandidateSource",
    "ChainedSource",
    "DependencyCycleError",
    "DependencyRefusedError",
    "DuplicateExtensionError",
    "HostApiConflictError",
    "InstalledResolution",
    "InstalledSource",
    "InvalidRequirementError",
    "MemorySource",
    "MissingExtensionError",
    "Origin",
    "RegistrySource",
    "Requirement",
    "Resolution",
    "ResolutionTooComplexError",
    "VersionIndex",
    "VersionPool",
    "resolve",
    "resolve_installed",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
