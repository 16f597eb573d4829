"""One concrete version of one extension that resolution may choose."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from symphony_core.extension import ExtensionRecord
from symphony_core.manifest.model import Manifest
from symphony_core.resolution.errors import InvalidRequirementError
from symphony_core.resolution.requirement import Requirement, parse_specifier, parse_version

__all__ = ["Candidate", "Origin"]

Origin = Literal["installed", "registry"]
"""Where a candidate comes from: installed here, or only known to the registry."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """One version of one extension, with what it needs.

    Two candidates are equal when id, version and origin are equal; the manifest and
    record ride along for whoever loads or installs the chosen ones.

    Attributes:
        id: The extension id.
        version: Its version.
        host_api: Host API versions it works with.
        dependencies: What it requires from other extensions, sorted by id.
        origin: ``installed`` or ``registry``.
        host_api_text: ``host_api`` as written, kept for messages.
        manifest: The full manifest, when the source has it.
        record: The installed record, for installed candidates.
    """

    id: str
    version: Version
    host_api: SpecifierSet = field(compare=False)
    dependencies: tuple[Requirement, ...] = field(compare=False)
    origin: Origin = "registry"
    host_api_text: str = field(default="", compare=False)
    manifest: Manifest | None = field(default=None, compare=False, repr=False)
    record: ExtensionRecord | None = field(default=None, compare=False, repr=False)

    @classmethod
    def create(
        cls,
        ext_id: str,
        version: str,
        *,
        host_api: str = "",
        dependencies: Mapping[str, str] | None = None,
        origin: Origin = "registry",
        manifest: Manifest | None = None,
        record: ExtensionRecord | None = None,
    ) -> Candidate:
        """Build a candidate from the strings a manifest or a registry index holds.

        Args:
            ext_id: The extension id.
            version: Its PEP 440 version.
            host_api: PEP 440 specifier of the host API versions it supports (empty: any).
            dependencies: Required extension id -> PEP 440 specifier.
            origin: ``installed`` or ``registry``.
            manifest: The manifest, if there is one.
            record: The installed record, if installed.

        Returns:
            The candidate.

        Raises:
            InvalidRequirementError: The id, version, host-API range or a dependency
                is malformed; the message names the extension and the field.
        """
        head = Requirement.of(ext_id)
        parsed_version = parse_version(version, what=f"{head.id}'s version")
        where = f"{head.id} {version}"
        host = parse_specifier(host_api, what=f"{where}: host-api")
        deps = tuple(
            sorted(
                (_dependency(where, dep_id, spec) for dep_id, spec in (dependencies or {}).items()),
                key=lambda r: r.id,
            )
        )
        return cls(
            id=head.id,
            version=parsed_version,
            host_api=host,
            dependencies=deps,
            origin=origin,
            host_api_text=host_api.strip(),
            manifest=manifest,
            record=record,
        )

    @classmethod
    def from_manifest(cls, manifest: Manifest, *, origin: Origin = "registry") -> Candidate:
        """Build a candidate from a manifest.

        Args:
            manifest: A validated manifest.
            origin: ``installed`` or ``registry``.

        Returns:
            The candidate.

        Raises:
            InvalidRequirementError: A version or specifier in it is malformed.
        """
        return cls.create(
            manifest.extension.id,
            manifest.extension.version,
            host_api=manifest.extension.host_api,
            dependencies=manifest.dependencies,
            origin=origin,
            manifest=manifest,
        )

    @classmethod
    def from_record(cls, record: ExtensionRecord) -> Candidate:
        """Build an ``installed`` candidate from an installed extension's record.

        Args:
            record: The installed extension.

        Returns:
            The candidate, carrying the record and its manifest.

        Raises:
            InvalidRequirementError: A version or specifier in its manifest is malformed.
        """
        manifest = record.manifest
        return cls.create(
            manifest.extension.id,
            manifest.extension.version,
            host_api=manifest.extension.host_api,
            dependencies=manifest.dependencies,
            origin="installed",
            manifest=manifest,
            record=record,
        )

    def supports_host(self, host_api: Version) -> bool:
        """Whether this candidate works with the given host API version.

        Args:
            host_api: The host's API version.

        Returns:
            ``True`` if ``host_api`` is inside the candidate's ``host_api`` range.
        """
        return self.host_api.contains(host_api, prereleases=True)

    @property
    def host_api_display(self) -> str:
        """The host-API range as written, or ``any`` when it accepts every version."""
        return self.host_api_text or str(self.host_api) or "any"

    def __str__(self) -> str:
        return f"{self.id} {self.version}"


def _dependency(where: str, dep_id: str, spec: str) -> Requirement:
    try:
        return Requirement.of(dep_id, spec)
    except InvalidRequirementError as exc:
        raise InvalidRequirementError(
            f"{where}: dependency {dep_id!r} = {spec!r}: {exc.message}", hint=exc.hint
        ) from None
