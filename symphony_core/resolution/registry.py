"""Registry-known versions as a candidate source, over the data-access port.

Only one method of :class:`symphony_core.ports.data.DataAccess` is needed —
``versions()`` — so :class:`RegistrySource` asks for no more than that
(:class:`VersionIndex`), and works with the HTTP client, the in-memory double, or a
snapshot alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from symphony_core.resolution.candidate import Candidate, Origin

if TYPE_CHECKING:
    from symphony_core.ports.data import VersionInfo

__all__ = ["RegistrySource", "VersionIndex"]


class VersionIndex(Protocol):
    """The part of the data-access port resolution needs."""

    def versions(self, extension_id: str, *, include_yanked: bool = False) -> list[VersionInfo]:
        """Return the published versions of an extension (see ``DataAccess.versions``).

        Args:
            extension_id: The extension id.
            include_yanked: Also return yanked versions.

        Returns:
            The versions.
        """
        ...


class RegistrySource:
    """The versions the registry knows, fetched once per extension id.

    Yanked versions are left out: the registry hides them from resolution. An id the
    registry does not know has no versions (the resolver then says it is not known to
    the registry); any other registry error — unreachable, refused — propagates.

    Args:
        index: The data-access port (or anything with its ``versions()``).
    """

    def __init__(self, index: VersionIndex) -> None:
        self._index = index
        self._cache: dict[str, tuple[Candidate, ...]] = {}

    @property
    def origins(self) -> frozenset[Origin]:
        """Always ``{"registry"}``."""
        return frozenset({"registry"})

    def versions(self, ext_id: str) -> Sequence[Candidate]:
        """Return the registry's unyanked versions of ``ext_id`` (one request per id).

        Args:
            ext_id: The extension id.

        Returns:
            Its candidates, with ``origin="registry"``.

        Raises:
            InvalidRequirementError: The registry returned a malformed version or range.
            symphony_core.errors.SymphonyError: The registry could not be asked.
        """
        cached = self._cache.get(ext_id)
        if cached is None:
            # Imported here: the ports package is not needed at start-up, where only
            # installed extensions are resolved.
            from symphony_core.ports.data import RegistryNotFoundError

            try:
                infos = self._index.versions(ext_id)
            except RegistryNotFoundError:
                infos = []
            cached = tuple(
                Candidate.create(
                    info.extension_id,
                    info.version,
                    host_api=info.host_api,
                    dependencies=info.dependencies,
                    origin="registry",
                )
                for info in infos
                if not info.yanked and info.extension_id == ext_id
            )
            self._cache[ext_id] = cached
        return cached

    def forget(self) -> None:
        """Drop what was fetched, so the next resolution asks the registry again."""
        self._cache.clear()
