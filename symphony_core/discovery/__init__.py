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
"""

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
from symphony_core.discovery.pipeline import discover
from symphony_core.discovery.policy import trust_of
from symphony_core.discovery.result import (
    CacheStatus,
    DiscoveryFailure,
    DiscoveryResult,
    SkippedExtension,
    SkipReason,
)
from symphony_core.discovery.scan import ENTRY_POINT_GROUP

__all__ = [
    "ENTRY_POINT_GROUP",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "MAX_INDEX_FILES",
    "CacheStatus",
    "DiscoveryFailure",
    "DiscoveryResult",
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
    "index_path",
    "trust_of",
]
