"""A requirement on an extension: its id and the versions that will do."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from packaging.specifiers import InvalidSpecifier, Specifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from symphony_core.manifest.model import ID_PATTERN
from symphony_core.resolution.errors import InvalidRequirementError

__all__ = ["Requirement", "parse_specifier", "parse_version"]

_ID = ID_PATTERN.removeprefix("^").removesuffix("$")
_REQUIREMENT = re.compile(rf"^\s*(?P<id>{_ID})\s*(?P<spec>.*?)\s*$")
_ID_ONLY = re.compile(ID_PATTERN)


@functools.lru_cache(maxsize=4096)
def _specifier_set(text: str) -> SpecifierSet:
    # The same few ranges (">=1,<2") recur across many manifests; sharing one parsed
    # object also shares packaging's per-specifier caches. Never mutated after this.
    return SpecifierSet(text)


@functools.lru_cache(maxsize=4096)
def _version(text: str) -> Version:
    return Version(text)


def parse_version(text: str, *, what: str) -> Version:
    """Parse a PEP 440 version, or raise an error that says whose version it is.

    Args:
        text: The version as written, e.g. ``"1.2.0"``.
        what: Whose version it is, for the message (``"acme.a's version"``).

    Returns:
        The parsed version.

    Raises:
        InvalidRequirementError: ``text`` is not a PEP 440 version.
    """
    try:
        return _version(text)
    except InvalidVersion:
        raise InvalidRequirementError(
            f"{what} {text!r} is not a PEP 440 version",
            hint="write it like 1.0, 2.1.3 or 2.0b1",
        ) from None


def parse_specifier(text: str, *, what: str) -> SpecifierSet:
    """Parse a PEP 440 version specifier; an empty string or ``*`` accepts every version.

    Args:
        text: The specifier as written, e.g. ``">=1.0,<2"``.
        what: Whose specifier it is, for the message.

    Returns:
        The parsed specifier set.

    Raises:
        InvalidRequirementError: ``text`` is not a PEP 440 specifier.
    """
    stripped = text.strip()
    if stripped == "*":
        stripped = ""
    try:
        return _specifier_set(stripped)
    except InvalidSpecifier:
        raise InvalidRequirementError(
            f"{what} {text!r} is not a PEP 440 version specifier",
            hint="write it like >=1.0,<2 or ==1.4.* (an empty string accepts any version)",
        ) from None


def _names_prerelease(spec: Specifier) -> bool:
    # Same rule as pip (via packaging): any operator except != that mentions a
    # pre-release opts that requirement in to pre-releases. Wildcards cannot.
    if spec.operator == "!=" or spec.version.endswith(".*"):
        return False
    try:
        return Version(spec.version).is_prerelease
    except InvalidVersion:
        return False


@dataclass(frozen=True, slots=True)
class Requirement:
    """A requirement on one extension: its id and a PEP 440 specifier.

    Build one with :meth:`parse` (``"acme.tok>=1,<2"``) or :meth:`of`
    (id and specifier apart, as in a manifest's ``[dependencies]`` table).

    Attributes:
        id: The extension id, ``publisher.name``.
        specifier: The versions that satisfy the requirement (empty: any version).
        text: The specifier as written, kept for messages.
    """

    id: str
    specifier: SpecifierSet
    text: str = field(default="", compare=False)

    @classmethod
    def parse(cls, text: str) -> Requirement:
        """Parse ``"<id><specifier>"``, e.g. ``"acme.a"``, ``"acme.a>=1"``, ``"acme.a==1.2"``.

        Args:
            text: The requirement as written.

        Returns:
            The requirement.

        Raises:
            InvalidRequirementError: ``text`` is not an id followed by an optional
                PEP 440 specifier.
        """
        match = _REQUIREMENT.match(text)
        if match is None:
            raise InvalidRequirementError(
                f"{text!r} is not a requirement on an extension",
                hint="write publisher.name followed by an optional specifier, e.g. acme.tok>=1.0",
            )
        return cls.of(match["id"], match["spec"])

    @classmethod
    def of(cls, ext_id: str, specifier: str = "") -> Requirement:
        """Build a requirement from an id and a specifier string.

        Args:
            ext_id: The extension id.
            specifier: A PEP 440 specifier; empty or ``*`` accepts any version.

        Returns:
            The requirement.

        Raises:
            InvalidRequirementError: The id or the specifier is malformed.
        """
        if not _ID_ONLY.match(ext_id):
            raise InvalidRequirementError(
                f"{ext_id!r} is not an extension id",
                hint="ids look like publisher.name: lower-case letters, digits, - and _",
            )
        text = specifier.strip()
        parsed = parse_specifier(text, what=f"the requirement on {ext_id}")
        return cls(ext_id, parsed, "" if text == "*" else text.replace(" ", ""))

    @property
    def names_prerelease(self) -> bool:
        """Whether the specifier explicitly names a pre-release (e.g. ``>=2.0b1``)."""
        return any(_names_prerelease(spec) for spec in self.specifier)

    def contains(self, version: Version) -> bool:
        """Whether ``version`` is inside the specifier, pre-releases included.

        Whether a pre-release may be *chosen* is decided across all requirements on the
        same extension (see :func:`symphony_core.resolution.rules.admissible`).

        Args:
            version: The version to test.

        Returns:
            ``True`` if the specifier accepts ``version``.
        """
        return self.specifier.contains(version, prereleases=True)

    def __str__(self) -> str:
        return f"{self.id}{self.text or self.specifier}"
