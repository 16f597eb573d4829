"""Discovery of installed extensions: entry points to manifests, without importing them.

An installed distribution declares an extension with an entry point in the
``symphony.extensions`` group, named by the extension id, whose value names the package
that holds ``symphony.toml``::

    [project.entry-points."symphony.extensions"]
    "acme.textops" = "acme_textops"

:func:`discover` finds every such entry point, locates the package through the import
system's finders without executing it, reads and validates the manifest, and applies
the host's configuration (trust globs, disabled ids, safe and strict modes). Each broken
extension is reported on its own with its cause; none is silently skipped. The outcome
is cached on disk and revalidated with a few stat calls on the next start.

:func:`open_discovery` does the same and keeps the on-disk index open, so a host can
store what it derives from the discovered extensions (its start-up resolution) in the
same index, valid exactly as long as the index is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from symphony_core.lazy import lazy_exports

if TYPE_CHECKING:
    from symphony_core.discovery.cache import FORMAT_VERSION, MAX_INDEX_FILES, index_path
    from symphony_core.discovery.errors import (
        DuplicateExtensionError,
        EntryPointValueError,
        ExtensionPackageNotFoundError,
        IdMismatchError,
        ManifestMissingError,
        ManifestUnreadableError,
        StrictDiscoveryError,
    )
    from symphony_core.discovery.locate import MANIFEST_NAME
    from symphony_core.discovery.pipeline import DiscoverySession, discover, open_discovery
    from symphony_core.discovery.policy import trust_of
    from symphony_core.discovery.result import (
        CacheStatus,
        DiscoveryFailure,
        DiscoveryResult,
        SkippedExtension,
        SkipReason,
    )
    from symphony_core.discovery.scan import ENTRY_POINT_GROUP

# name -> submodule that defines it; imported on first access (PEP 562), so a warm start
# imports only the modules it runs (not the locating and error-reporting ones).
_EXPORTS: dict[str, str] = {
    "FORMAT_VERSION": "cache",
    "MAX_INDEX_FILES": "cache",
    "index_path": "cache",
    "DuplicateExtensionError": "errors",
    "EntryPointValueError": "errors",
    "ExtensionPackageNotFoundError": "errors",
    "IdMismatchError": "errors",
    "ManifestMissingError": "errors",
    "ManifestUnreadableError": "errors",
    "StrictDiscoveryError": "errors",
    "MANIFEST_NAME": "locate",
    "DiscoverySession": "pipeline",
    "discover": "pipeline",
    "open_discovery": "pipeline",
    "trust_of": "policy",
    "CacheStatus": "result",
    "DiscoveryFailure": "result",
    "DiscoveryResult": "result",
    "SkippedExtension": "result",
    "SkipReason": "result",
    "ENTRY_POINT_GROUP": "scan",
}

__all__ = [
    "ENTRY_POINT_GROUP",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "MAX_INDEX_FILES",
    "CacheStatus",
    "DiscoveryFailure",
    "DiscoveryResult",
    "DiscoverySession",
    "DuplicateExtensionError",
    "EntryPointValueError",
    "ExtensionPackageNotFoundError",
    "IdMismatchError",
    "ManifestMissingError",
    "ManifestUnreadableError",
    "SkipReason",
    "SkippedExtension",
    "StrictDiscoveryError",
    "discover",
    "open_discovery",
    "index_path",
    "trust_of",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
