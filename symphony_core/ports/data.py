"""The data access port: the registry's client side (extensions and saved workflows).

Two kinds of failure are kept apart (SPEC §7):

* :class:`~symphony_core.errors.PreValidationError` — the client found a shape or syntax
  problem locally (see :mod:`symphony_core.ports.data_prevalidate`) and sent nothing.
* :class:`~symphony_core.errors.AuthoritativeValidationError` and its subclasses below —
  the registry refused; ``registry_code`` is the registry's code (table below), ``field``
  the part of the request it blamed, ``status`` the HTTP status.

Roles, namespace ownership and business rules are judged by the registry alone; every
operation is exactly one request to it.

=========================  ======  =======================================================
``registry_code``          status  meaning
=========================  ======  =======================================================
``auth.required``          401     the operation needs a valid token
``namespace.forbidden``    403     the namespace belongs to someone else
``extension.not_found``    404     no extension with that id
``version.not_found``      404     the extension has no such version
``workflow.not_found``     404     no saved workflow (or revision) with that name
``version.exists``         409     versions are immutable: this one was published already
``dependency.missing``     422     no published, unyanked version satisfies a dependency
``dependency.self``        422     an extension cannot depend on itself
``manifest.invalid``       422     the manifest breaks the schema
``workflow.invalid``       422     the workflow document is not a workflow
``cursor.invalid``         400     the paging cursor is not one the registry issued
=========================  ======  =======================================================
"""

from __future__ import annotations

from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import msgspec

from symphony_core.errors import AuthoritativeValidationError, SymphonyError
from symphony_core.manifest.model import Manifest

__all__ = [
    "DataAccess",
    "Download",
    "DownloadIntegrityError",
    "Page",
    "PublishReceipt",
    "RegistryConflictError",
    "RegistryForbiddenError",
    "RegistryNotFoundError",
    "RegistryUnauthorizedError",
    "RegistryUnavailableError",
    "SavedWorkflow",
    "SearchHit",
    "VersionInfo",
    "WorkflowInfo",
    "refusal",
]

ItemT = TypeVar("ItemT")


class VersionInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One published version of an extension, as the resolver and installers need it.

    Attributes:
        extension_id: The extension id.
        version: The version (PEP 440).
        dependencies: Other extensions it needs: id to PEP 440 specifier.
        host_api: Host API versions it works with (PEP 440 specifier).
        kind: ``instrument``, ``operator`` or ``addon``.
        filename: The archive's file name (a wheel or an sdist).
        sha256: Hex SHA-256 of the archive.
        size: Archive size in bytes.
        yanked: Whether the version is hidden from resolution (still downloadable).
        yank_reason: Why it was yanked.
    """

    extension_id: str
    version: str
    dependencies: dict[str, str]
    host_api: str
    kind: str
    filename: str
    sha256: str
    size: int
    yanked: bool = False
    yank_reason: str = ""


class PublishReceipt(msgspec.Struct, frozen=True, kw_only=True):
    """What the registry stored for a publish.

    Attributes:
        extension_id: The extension id.
        version: The published version.
        filename: The archive's file name.
        sha256: Hex SHA-256 of the archive, computed by the registry.
        size: Archive size in bytes.
    """

    extension_id: str
    version: str
    filename: str
    sha256: str
    size: int


class SearchHit(msgspec.Struct, frozen=True, kw_only=True):
    """One extension found by a search, described by its latest unyanked version.

    Attributes:
        extension_id: The extension id.
        latest_version: Its highest unyanked version.
        kind: ``instrument``, ``operator`` or ``addon``.
        name: Human-readable name (the id when the manifest gives none).
        description: The manifest's description.
    """

    extension_id: str
    latest_version: str
    kind: str
    name: str
    description: str


class Page(msgspec.Struct, Generic[ItemT], frozen=True, kw_only=True):
    """One page of a listing.

    Attributes:
        items: The items of this page.
        next_cursor: Pass it back to get the next page; ``None`` on the last page.
    """

    items: list[ItemT]
    next_cursor: str | None = None


class Download(msgspec.Struct, frozen=True, kw_only=True):
    """A downloaded archive, already checked against its SHA-256.

    Attributes:
        extension_id: The extension id.
        version: The version.
        filename: The archive's file name.
        sha256: Hex SHA-256 of ``data``.
        data: The archive's bytes.
    """

    extension_id: str
    version: str
    filename: str
    sha256: str
    data: bytes


class WorkflowInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One revision of a saved workflow.

    Attributes:
        name: The workflow's name, ``namespace.name``.
        revision: Its revision number, from 1.
        sha256: Hex SHA-256 of the document.
        size: Document size in bytes.
        description: What the workflow does.
    """

    name: str
    revision: int
    sha256: str
    size: int
    description: str = ""


class SavedWorkflow(msgspec.Struct, frozen=True, kw_only=True):
    """A saved workflow revision with its document.

    Attributes:
        info: Name, revision and digest.
        document: The workflow document (JSON bytes, as the workflow codec writes it).
    """

    info: WorkflowInfo
    document: bytes


class RegistryUnauthorizedError(AuthoritativeValidationError):
    """The registry wants a valid token for this operation (HTTP 401)."""

    code = "registry.unauthorized"


class RegistryForbiddenError(AuthoritativeValidationError):
    """The token is valid but may not do this, e.g. publish in another's namespace (403)."""

    code = "registry.forbidden"


class RegistryNotFoundError(AuthoritativeValidationError):
    """The registry has no such extension, version or workflow (HTTP 404)."""

    code = "registry.not_found"


class RegistryConflictError(AuthoritativeValidationError):
    """The request conflicts with what is stored, e.g. republishing a version (HTTP 409)."""

    code = "registry.conflict"


class RegistryUnavailableError(SymphonyError):
    """The registry could not be reached or failed (network error, HTTP 5xx)."""

    code = "registry.unavailable"


class DownloadIntegrityError(SymphonyError):
    """A downloaded archive does not match the SHA-256 the registry announced."""

    code = "registry.integrity"


_BY_STATUS: dict[int, type[AuthoritativeValidationError]] = {
    401: RegistryUnauthorizedError,
    403: RegistryForbiddenError,
    404: RegistryNotFoundError,
    409: RegistryConflictError,
}


def refusal(
    status: int, registry_code: str, message: str, *, field: str | None = None, **kwargs: Any
) -> AuthoritativeValidationError:
    """Build the error for a registry refusal, of the class its HTTP status calls for.

    Every data access adapter maps the registry's answer through this function, so a
    refusal has the same class whichever adapter reported it.

    Args:
        status: The HTTP status of the answer.
        registry_code: The registry's own code (e.g. ``version.exists``).
        message: The registry's explanation.
        field: The field the registry blamed.
        **kwargs: Passed to the error (``hint``, ``details``).

    Returns:
        The error, ready to raise.
    """
    cls = _BY_STATUS.get(status, AuthoritativeValidationError)
    return cls(message, registry_code=registry_code, field=field, status=status, **kwargs)


@runtime_checkable
class DataAccess(Protocol):
    """The registry client: every method is one request (see the module documentation).

    Methods pre-validate their arguments locally first and raise
    :class:`~symphony_core.errors.PreValidationError` without sending anything when the
    shape or syntax is wrong. Reads need no token; writes need a token whose user owns
    the namespace (the first publisher in a namespace becomes its owner).
    """

    def publish(self, manifest: Manifest, archive: bytes, *, filename: str) -> PublishReceipt:
        """Publish one version of an extension.

        Args:
            manifest: The extension's manifest (id, version, dependencies, host API).
            archive: The wheel or sdist bytes.
            filename: The archive's file name (``*.whl`` or ``*.tar.gz``).

        Returns:
            What the registry stored.

        Raises:
            PreValidationError: The manifest, archive or file name is malformed.
            RegistryUnauthorizedError: ``auth.required``.
            RegistryForbiddenError: ``namespace.forbidden``.
            RegistryConflictError: ``version.exists`` (versions are immutable).
            AuthoritativeValidationError: ``dependency.missing``, ``dependency.self``,
                ``manifest.invalid``.
        """
        ...

    def yank(self, extension_id: str, version: str, *, reason: str = "") -> VersionInfo:
        """Hide a version from resolution; it stays downloadable. Idempotent.

        Args:
            extension_id: The extension id.
            version: The version to yank.
            reason: Why, shown to people who still use it.

        Returns:
            The version as now stored (``yanked`` is true).

        Raises:
            PreValidationError: The id or version is malformed.
            RegistryUnauthorizedError: ``auth.required``.
            RegistryForbiddenError: ``namespace.forbidden``.
            RegistryNotFoundError: ``extension.not_found`` or ``version.not_found``.
        """
        ...

    def search(self, query: str, *, limit: int = 20, cursor: str | None = None) -> Page[SearchHit]:
        """Find extensions whose id, name or description match every word of ``query``.

        A query word matches a word of the text that starts with it, ignoring case; an
        empty query lists every extension. Extensions whose versions are all yanked are
        not listed. Results are in a stable order, so paging with ``cursor`` visits each
        hit exactly once.

        Args:
            query: Words to look for.
            limit: Hits per page, 1 to 100.
            cursor: ``next_cursor`` of the previous page.

        Returns:
            One page of hits.

        Raises:
            PreValidationError: ``limit`` is out of range, or the query or cursor is
                malformed.
            AuthoritativeValidationError: ``cursor.invalid``.
        """
        ...

    def versions(self, extension_id: str, *, include_yanked: bool = False) -> list[VersionInfo]:
        """Return the published versions of an extension, lowest first (PEP 440 order).

        Args:
            extension_id: The extension id.
            include_yanked: Also return yanked versions (marked ``yanked``).

        Returns:
            The versions; empty when every version is yanked and ``include_yanked`` is
            false.

        Raises:
            PreValidationError: The id is malformed.
            RegistryNotFoundError: ``extension.not_found``.
        """
        ...

    def download(self, extension_id: str, version: str) -> Download:
        """Download the archive of one version (yanked versions included).

        Args:
            extension_id: The extension id.
            version: The version.

        Returns:
            The archive, checked against its SHA-256.

        Raises:
            PreValidationError: The id or version is malformed.
            RegistryNotFoundError: ``extension.not_found`` or ``version.not_found``.
            DownloadIntegrityError: The bytes do not match the announced SHA-256.
        """
        ...

    def save_workflow(self, name: str, document: bytes, *, description: str = "") -> WorkflowInfo:
        """Save a workflow document as the next revision of ``name``.

        Saving the same document and description as the latest revision is idempotent:
        it returns that revision and creates none.

        Args:
            name: ``namespace.name``; the namespace must be the token user's.
            document: The workflow as JSON bytes.
            description: What the workflow does.

        Returns:
            The stored revision.

        Raises:
            PreValidationError: The name is malformed or the document is not JSON.
            RegistryUnauthorizedError: ``auth.required``.
            RegistryForbiddenError: ``namespace.forbidden``.
            AuthoritativeValidationError: ``workflow.invalid``.
        """
        ...

    def get_workflow(self, name: str, *, revision: int | None = None) -> SavedWorkflow:
        """Return a saved workflow: the latest revision, or the one asked for.

        Args:
            name: The workflow's name.
            revision: A revision number; ``None`` for the latest.

        Returns:
            The revision and its document.

        Raises:
            PreValidationError: The name or revision is malformed.
            RegistryNotFoundError: ``workflow.not_found``.
        """
        ...

    def list_workflows(
        self, *, namespace: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> Page[WorkflowInfo]:
        """List saved workflows (latest revision of each), ordered by name.

        Args:
            namespace: Only this namespace's workflows; ``None`` for all.
            limit: Items per page, 1 to 100.
            cursor: ``next_cursor`` of the previous page.

        Returns:
            One page of workflows.

        Raises:
            PreValidationError: An argument is malformed.
            AuthoritativeValidationError: ``cursor.invalid``.
        """
        ...
