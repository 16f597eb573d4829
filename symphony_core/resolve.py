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
from symphony_core.resolution.installed import InstalledResolution, resolve_installed
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
