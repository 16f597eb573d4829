"""The ways one installed extension can fail discovery, each with its own stable code.

Every class here is a :class:`~symphony_core.errors.DiscoveryError` (itself a
:class:`~symphony_core.errors.UserError`): a broken extension is something its author or
the user can fix, so it is reported as one line naming the distribution, the entry point
and what to change, never as a traceback. An invalid manifest is reported with the
manifest package's own error (code ``manifest.invalid``) and every issue it found.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from symphony_core.errors import DiscoveryError

__all__ = [
    "DuplicateExtensionError",
    "EntryPointValueError",
    "ExtensionPackageNotFoundError",
    "IdMismatchError",
    "ManifestMissingError",
    "ManifestUnreadableError",
    "StrictDiscoveryError",
]


class EntryPointValueError(DiscoveryError):
    """The entry point's value is not the dotted name of a package.

    In the ``symphony.extensions`` group the value names the package whose directory
    holds ``symphony.toml`` (``"acme.textops" = "acme_textops"``); the object to import
    is named by the manifest's ``entry`` key instead.
    """

    code = "discovery.entry_point_invalid"


class ExtensionPackageNotFoundError(DiscoveryError):
    """The package named by the entry point is not on the search path (or not a directory)."""

    code = "discovery.package_not_found"


class ManifestMissingError(DiscoveryError):
    """The extension's package has no ``symphony.toml``."""

    code = "discovery.manifest_missing"


class ManifestUnreadableError(DiscoveryError):
    """``symphony.toml`` exists but cannot be read (permissions, I/O error, not a file)."""

    code = "discovery.manifest_unreadable"


class IdMismatchError(DiscoveryError):
    """The entry point's name differs from the manifest's ``[extension].id``."""

    code = "discovery.id_mismatch"


class DuplicateExtensionError(DiscoveryError):
    """Two installed distributions provide the same extension id; neither is loaded.

    Args:
        message: What is wrong.
        others: The other distributions that provide the same id.
        **kwargs: Passed to :class:`~symphony_core.errors.ExtensionError`.
    """

    code = "discovery.duplicate_id"

    def __init__(self, message: str, *, others: Sequence[str] = (), **kwargs: Any) -> None:
        self.others = list(others)
        super().__init__(message, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable description, naming the other distributions."""
        out = super().to_dict()
        out["others"] = self.others
        return out


class StrictDiscoveryError(DiscoveryError):
    """Strict mode is on and at least one extension failed discovery.

    The message lists every failure; ``details["failures"]`` holds each one's
    ``to_dict()`` and :attr:`failures` the failure records themselves.

    Args:
        message: Summary naming each failed extension.
        failures: The :class:`~symphony_core.discovery.DiscoveryFailure` records.
        **kwargs: Passed to :class:`~symphony_core.errors.ExtensionError`.
    """

    code = "discovery.strict"

    def __init__(self, message: str, *, failures: Sequence[Any] = (), **kwargs: Any) -> None:
        self.failures = list(failures)
        super().__init__(message, **kwargs)
