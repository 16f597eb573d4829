"""An in-memory registry that applies the registry's rules: the double of ``DataAccess``.

:class:`RegistryState` plays the server: tokens, namespace owners, published versions
and saved workflows. :class:`InMemoryRegistry` plays the client of one token: it
pre-validates exactly like a real client, counts one request per operation that passes
pre-validation, and answers with the refusals a real registry gives (same error classes,
``registry_code``, ``field`` and HTTP ``status``).

Rules applied, as the real registry does:

* writes need a known token; the first user to publish or save in a namespace owns it,
  and nobody else may write there;
* versions are immutable (``1.0`` and ``1.0.0`` are the same version);
* every dependency must be satisfied by a published, unyanked version;
* yanking hides a version from resolution and search but keeps it downloadable.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import msgspec
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from symphony_core.errors import PreValidationError
from symphony_core.manifest.model import Manifest
from symphony_core.ports import data_prevalidate as pre
from symphony_core.ports.data import (
    Download,
    DownloadIntegrityError,
    Page,
    PublishReceipt,
    SavedWorkflow,
    SearchHit,
    VersionInfo,
    WorkflowInfo,
    refusal,
)
from symphony_core.testing.wordmatch import query_words, text_words, words_match

__all__ = ["InMemoryRegistry", "RegistryState"]

_T = TypeVar("_T")
_CURSOR_PREFIX = "c1."


@dataclass(slots=True)
class _StoredVersion:
    manifest: Manifest
    info: VersionInfo
    archive: bytes


class RegistryState:
    """The server side of the in-memory registry, shared by its clients.

    Attributes:
        requests: Operations received so far (pre-validation failures never arrive).
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.requests = 0
        self.tokens: dict[str, str] = {}
        self.owners: dict[str, str] = {}
        self.extensions: dict[str, dict[Version, _StoredVersion]] = {}
        self.workflows: dict[str, list[SavedWorkflow]] = {}

    def add_token(self, token: str, user: str) -> None:
        """Accept ``token`` as authenticating ``user``.

        Args:
            token: The secret the client sends.
            user: The user it authenticates.
        """
        with self.lock:
            self.tokens[token] = user

    def grant_namespace(self, namespace: str, user: str) -> None:
        """Make ``user`` the owner of ``namespace`` (an administrator's act).

        Args:
            namespace: The namespace (the part of ids before the dot).
            user: The new owner.
        """
        with self.lock:
            self.owners[namespace] = user


def _encode_cursor(last_key: str) -> str:
    return _CURSOR_PREFIX + base64.urlsafe_b64encode(last_key.encode()).decode()


def _decode_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    if cursor.startswith(_CURSOR_PREFIX):
        try:
            return base64.urlsafe_b64decode(cursor[len(_CURSOR_PREFIX) :]).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            pass
    raise refusal(
        400, "cursor.invalid", "this cursor was not issued by the registry", field="cursor"
    )


def _page(items: list[_T], key: Callable[[_T], str], after: str | None, limit: int) -> Page[_T]:
    remaining = [item for item in items if after is None or key(item) > after]
    chunk = remaining[:limit]
    more = len(remaining) > limit
    return Page(items=chunk, next_cursor=_encode_cursor(key(chunk[-1])) if more else None)


class InMemoryRegistry:
    """A registry client of one token over an in-memory :class:`RegistryState`.

    Args:
        state: The registry to talk to; a new empty one when omitted.
        token: The client's token; ``None`` for an anonymous client.
    """

    def __init__(self, state: RegistryState | None = None, *, token: str | None = None) -> None:
        self.state = state if state is not None else RegistryState()
        self.token = token

    def with_token(self, token: str | None) -> InMemoryRegistry:
        """Return a client of another token over the same registry.

        Args:
            token: The other client's token, or ``None`` for anonymous.

        Returns:
            The client.
        """
        return InMemoryRegistry(self.state, token=token)

    # -- the "request": one per operation that passed pre-validation --------------------

    def _send(self) -> None:
        self.state.requests += 1

    def _user(self) -> str:
        user = self.state.tokens.get(self.token) if self.token is not None else None
        if user is None:
            raise refusal(
                401,
                "auth.required",
                "this operation needs a valid token",
                hint="set a registry token in the configuration",
            )
        return user

    def _check_owner(self, user: str, name: str, field: str) -> None:
        namespace = name.partition(".")[0]
        owner = self.state.owners.get(namespace)
        if owner is not None and owner != user:
            raise refusal(
                403,
                "namespace.forbidden",
                f"namespace {namespace!r} belongs to another user",
                field=field,
            )

    def _claim(self, user: str, name: str) -> None:
        self.state.owners.setdefault(name.partition(".")[0], user)

    def _versions_of(self, extension_id: str) -> dict[Version, _StoredVersion]:
        stored = self.state.extensions.get(extension_id)
        if stored is None:
            raise refusal(
                404,
                "extension.not_found",
                f"no extension {extension_id!r} is published",
                field="extension_id",
            )
        return stored

    def _version(self, extension_id: str, version: str) -> _StoredVersion:
        found = self._versions_of(extension_id).get(Version(version))
        if found is None:
            raise refusal(
                404,
                "version.not_found",
                f"{extension_id} has no version {version}",
                field="version",
            )
        return found

    # -- extensions --------------------------------------------------------------------

    def publish(self, manifest: Manifest, archive: bytes, *, filename: str) -> PublishReceipt:
        """Publish one version (see :meth:`symphony_core.ports.data.DataAccess.publish`).

        Args:
            manifest: The manifest.
            archive: The archive bytes.
            filename: The archive's file name.

        Returns:
            What the registry stored.
        """
        pre.prevalidate_manifest(manifest)
        pre.prevalidate_archive(archive, filename)
        data = bytes(archive)
        with self.state.lock:
            self._send()
            user = self._user()
            self._authoritative_manifest(manifest)
            ext_id = manifest.extension.id
            self._check_owner(user, ext_id, "manifest.extension.id")
            version = Version(manifest.extension.version)
            existing = self.state.extensions.get(ext_id, {})
            if version in existing:
                raise refusal(
                    409,
                    "version.exists",
                    f"{ext_id} {existing[version].info.version} is already published and "
                    "versions are immutable",
                    field="manifest.extension.version",
                    hint="publish a new version",
                )
            self._check_dependencies(manifest)
            info = VersionInfo(
                extension_id=ext_id,
                version=manifest.extension.version,
                dependencies=dict(manifest.dependencies),
                host_api=manifest.extension.host_api,
                kind=manifest.extension.kind,
                filename=filename,
                sha256=hashlib.sha256(data).hexdigest(),
                size=len(data),
            )
            self.state.extensions.setdefault(ext_id, {})[version] = _StoredVersion(
                manifest, info, data
            )
            self._claim(user, ext_id)
            return PublishReceipt(
                extension_id=ext_id,
                version=info.version,
                filename=filename,
                sha256=info.sha256,
                size=info.size,
            )

    @staticmethod
    def _authoritative_manifest(manifest: Manifest) -> None:
        try:
            pre.prevalidate_manifest(manifest)
        except PreValidationError as exc:
            raise refusal(422, "manifest.invalid", exc.message, field=exc.field) from None

    def _check_dependencies(self, manifest: Manifest) -> None:
        for dep_id, spec in manifest.dependencies.items():
            field = f"manifest.dependencies.{dep_id}"
            if dep_id == manifest.extension.id:
                raise refusal(
                    422, "dependency.self", "an extension cannot depend on itself", field=field
                )
            live = [
                v for v, s in self.state.extensions.get(dep_id, {}).items() if not s.info.yanked
            ]
            if not list(SpecifierSet(spec).filter(live)):
                raise refusal(
                    422,
                    "dependency.missing",
                    f"no published, unyanked version of {dep_id} satisfies {spec!r}",
                    field=field,
                    hint=f"publish {dep_id} first, or widen the specifier",
                )

    def yank(self, extension_id: str, version: str, *, reason: str = "") -> VersionInfo:
        """Hide a version from resolution (see ``DataAccess.yank``).

        Args:
            extension_id: The extension id.
            version: The version.
            reason: Why.

        Returns:
            The version as now stored.
        """
        pre.prevalidate_extension_id(extension_id)
        pre.prevalidate_version(version)
        pre.prevalidate_reason(reason)
        with self.state.lock:
            self._send()
            user = self._user()
            self._versions_of(extension_id)
            self._check_owner(user, extension_id, "extension_id")
            stored = self._version(extension_id, version)
            stored.info = msgspec.structs.replace(stored.info, yanked=True, yank_reason=reason)
            return stored.info

    def search(self, query: str, *, limit: int = 20, cursor: str | None = None) -> Page[SearchHit]:
        """Find extensions by words of their id, name and description (see ``DataAccess``).

        Args:
            query: Words to look for.
            limit: Hits per page.
            cursor: The previous page's ``next_cursor``.

        Returns:
            One page of hits, ordered by id.
        """
        pre.prevalidate_query(query)
        pre.prevalidate_limit(limit)
        pre.prevalidate_cursor(cursor)
        with self.state.lock:
            self._send()
            after = _decode_cursor(cursor)
            words = query_words(query)
            hits: list[SearchHit] = []
            for ext_id in sorted(self.state.extensions):
                live = [
                    (v, s) for v, s in self.state.extensions[ext_id].items() if not s.info.yanked
                ]
                if not live:
                    continue
                _, latest = max(live, key=lambda pair: pair[0])
                info = latest.manifest.extension
                name = info.name or ext_id
                if words_match(words, text_words((ext_id, name, info.description))):
                    hits.append(
                        SearchHit(
                            extension_id=ext_id,
                            latest_version=info.version,
                            kind=info.kind,
                            name=name,
                            description=info.description,
                        )
                    )
            return _page(hits, lambda hit: hit.extension_id, after, limit)

    def versions(self, extension_id: str, *, include_yanked: bool = False) -> list[VersionInfo]:
        """Return published versions, lowest first (see ``DataAccess.versions``).

        Args:
            extension_id: The extension id.
            include_yanked: Also return yanked versions.

        Returns:
            The versions.
        """
        pre.prevalidate_extension_id(extension_id)
        with self.state.lock:
            self._send()
            stored = self._versions_of(extension_id)
            return [
                stored[v].info
                for v in sorted(stored)
                if include_yanked or not stored[v].info.yanked
            ]

    def download(self, extension_id: str, version: str) -> Download:
        """Return a version's archive, checked against its SHA-256 (see ``DataAccess``).

        Args:
            extension_id: The extension id.
            version: The version.

        Returns:
            The archive.

        Raises:
            DownloadIntegrityError: The bytes do not match the stored digest.
        """
        pre.prevalidate_extension_id(extension_id)
        pre.prevalidate_version(version)
        with self.state.lock:
            self._send()
            stored = self._version(extension_id, version)
            info, data = stored.info, stored.archive
        if hashlib.sha256(data).hexdigest() != info.sha256:
            raise DownloadIntegrityError(
                "the downloaded archive does not match its SHA-256",
                where=f"{extension_id} {version}",
            )
        return Download(
            extension_id=extension_id,
            version=info.version,
            filename=info.filename,
            sha256=info.sha256,
            data=data,
        )

    # -- workflows ---------------------------------------------------------------------

    def save_workflow(self, name: str, document: bytes, *, description: str = "") -> WorkflowInfo:
        """Save the next revision of a workflow (see ``DataAccess.save_workflow``).

        Args:
            name: ``namespace.name``.
            document: The workflow's JSON bytes.
            description: What it does.

        Returns:
            The stored revision.
        """
        pre.prevalidate_workflow_name(name)
        data = pre.prevalidate_workflow_document(document)
        pre.prevalidate_description(description)
        with self.state.lock:
            self._send()
            user = self._user()
            self._check_owner(user, name, "name")
            if not isinstance(msgspec.json.decode(data), dict):
                raise refusal(
                    422,
                    "workflow.invalid",
                    "a workflow document is a JSON object",
                    field="document",
                )
            digest = hashlib.sha256(data).hexdigest()
            revisions = self.state.workflows.setdefault(name, [])
            if revisions:
                latest = revisions[-1].info
                if latest.sha256 == digest and latest.description == description:
                    return latest
            info = WorkflowInfo(
                name=name,
                revision=len(revisions) + 1,
                sha256=digest,
                size=len(data),
                description=description,
            )
            revisions.append(SavedWorkflow(info=info, document=data))
            self._claim(user, name)
            return info

    def get_workflow(self, name: str, *, revision: int | None = None) -> SavedWorkflow:
        """Return a saved workflow revision (see ``DataAccess.get_workflow``).

        Args:
            name: The workflow's name.
            revision: The revision; ``None`` for the latest.

        Returns:
            The revision and its document.
        """
        pre.prevalidate_workflow_name(name)
        pre.prevalidate_revision(revision)
        with self.state.lock:
            self._send()
            revisions = self.state.workflows.get(name)
            if not revisions:
                raise refusal(
                    404, "workflow.not_found", f"no saved workflow {name!r}", field="name"
                )
            if revision is None:
                return revisions[-1]
            if revision > len(revisions):
                raise refusal(
                    404,
                    "workflow.not_found",
                    f"{name} has {len(revisions)} revision(s), not {revision}",
                    field="revision",
                )
            return revisions[revision - 1]

    def list_workflows(
        self, *, namespace: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> Page[WorkflowInfo]:
        """List the latest revision of each saved workflow, by name (see ``DataAccess``).

        Args:
            namespace: Only this namespace.
            limit: Items per page.
            cursor: The previous page's ``next_cursor``.

        Returns:
            One page.
        """
        pre.prevalidate_namespace(namespace)
        pre.prevalidate_limit(limit)
        pre.prevalidate_cursor(cursor)
        with self.state.lock:
            self._send()
            after = _decode_cursor(cursor)
            items = [
                revisions[-1].info
                for name, revisions in sorted(self.state.workflows.items())
                if revisions and (namespace is None or name.partition(".")[0] == namespace)
            ]
            return _page(items, lambda info: info.name, after, limit)
