"""What discovery returns: loadable extensions, failures and deliberately skipped ones."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from symphony_core.errors import SymphonyError
from symphony_core.extension import ExtensionRecord

__all__ = ["CacheStatus", "DiscoveryFailure", "DiscoveryResult", "SkipReason", "SkippedExtension"]

CacheStatus = Literal["hit", "miss", "off"]
"""``hit``: the on-disk index was valid; ``miss``: it was (re)built; ``off``: not used."""

SkipReason = Literal["disabled", "safe-mode"]
"""``disabled``: listed in ``Config.disabled``; ``safe-mode``: a community extension
while ``Config.safe_mode`` is on."""


class DiscoveryFailure(msgspec.Struct, frozen=True, kw_only=True):
    """One installed extension that could not be discovered, with its cause.

    Attributes:
        extension_id: The id the extension claims: its entry point's name.
        distribution: Name of the distribution that declares the entry point.
        distribution_version: Version of that distribution.
        entry_point: The entry point, as ``name = value``.
        error: Why it failed; ``error.code`` tells the kind (``discovery.manifest_missing``,
            ``manifest.invalid`` with every issue, ``discovery.duplicate_id``, ...).
    """

    extension_id: str
    distribution: str
    distribution_version: str
    entry_point: str
    error: SymphonyError

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable description of the failure and its cause."""
        return {
            "extension_id": self.extension_id,
            "distribution": self.distribution,
            "distribution_version": self.distribution_version,
            "entry_point": self.entry_point,
            "error": self.error.to_dict(),
        }

    def describe(self) -> str:
        """Return one line naming the extension, its distribution and the cause."""
        return (
            f"{self.extension_id} (from {self.distribution} {self.distribution_version}): "
            f"[{self.error.code}] {self.error}"
        )


class SkippedExtension(msgspec.Struct, frozen=True, kw_only=True):
    """An installed extension that is deliberately not loaded.

    Attributes:
        extension_id: The extension's id (its entry point's name).
        distribution: Name of the distribution that ships it.
        distribution_version: Version of that distribution.
        reason: ``disabled`` or ``safe-mode``.
        record: The discovered extension, when its manifest could be read.
        error: Why it could not be discovered, for a disabled extension that is also
            broken (disabling a broken extension silences its failure on purpose).
    """

    extension_id: str
    distribution: str
    distribution_version: str
    reason: SkipReason
    record: ExtensionRecord | None = None
    error: SymphonyError | None = None


class DiscoveryResult(msgspec.Struct, frozen=True, kw_only=True):
    """Everything discovery found on the search path.

    Attributes:
        extensions: Extensions that may be loaded, sorted by id.
        failures: Broken extensions, each with its cause (sorted by id, then distribution).
        skipped: Extensions not loaded on purpose (disabled, safe mode), sorted by id.
        cache: Whether the on-disk index was used.
        cache_detail: Why the index was rebuilt (or ``""`` on a hit).
    """

    extensions: list[ExtensionRecord]
    failures: list[DiscoveryFailure]
    skipped: list[SkippedExtension]
    cache: CacheStatus = "off"
    cache_detail: str = ""

    def get(self, extension_id: str) -> ExtensionRecord | None:
        """Return the loadable extension with this id, or ``None``."""
        for record in self.extensions:
            if record.id == extension_id:
                return record
        return None
