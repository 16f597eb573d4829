"""Contract suite of the ``DataAccess`` port (the registry client)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import msgspec
import pytest

from symphony_core.errors import AuthoritativeValidationError, PreValidationError
from symphony_core.ports.data import (
    DataAccess,
    PublishReceipt,
    RegistryConflictError,
    RegistryForbiddenError,
    RegistryNotFoundError,
    RegistryUnauthorizedError,
    SearchHit,
)
from symphony_core.testing.harnesses import RegistryHarness
from symphony_core.testing.records import make_manifest

__all__ = ["DataAccessContract"]


def _archive(ext_id: str, version: str) -> bytes:
    return f"archive of {ext_id} {version}".encode() * 8


def _publish(
    client: DataAccess,
    ext_id: str,
    version: str = "1.0.0",
    *,
    dependencies: Mapping[str, str] | None = None,
    description: str = "",
    name: str | None = None,
    archive: bytes | None = None,
) -> PublishReceipt:
    manifest = make_manifest(
        ext_id, version, dependencies=dependencies, description=description, name=name
    )
    dist = ext_id.replace(".", "_").replace("-", "_")
    return client.publish(
        manifest,
        archive if archive is not None else _archive(ext_id, version),
        filename=f"{dist}-{version}-py3-none-any.whl",
    )


def _all_hits(client: DataAccess, query: str, limit: int) -> list[SearchHit]:
    hits: list[SearchHit] = []
    cursor: str | None = None
    for _ in range(1000):
        page = client.search(query, limit=limit, cursor=cursor)
        assert len(page.items) <= limit
        hits.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return hits
    raise AssertionError("paging never ended")


class DataAccessContract:
    """Behaviour every registry client shows against a fresh registry.

    Subclass it and supply ``registry_harness``: a fresh
    :class:`~symphony_core.testing.harnesses.RegistryHarness` per test (an empty
    registry and three clients: ``owner``, ``other``, ``anonymous``).
    """

    @pytest.fixture
    def registry_harness(self) -> RegistryHarness:
        """Return a fresh harness; adapters' test classes override this."""
        raise NotImplementedError("supply a registry_harness fixture")

    @pytest.fixture
    def owner(self, registry_harness: RegistryHarness) -> DataAccess:
        """The client of the first user."""
        return registry_harness.owner

    # -- publishing and reading -------------------------------------------------------

    def test_satisfies_the_protocol(self, registry_harness: RegistryHarness) -> None:
        """Every client is a DataAccess."""
        for client in (registry_harness.owner, registry_harness.other, registry_harness.anonymous):
            assert isinstance(client, DataAccess)

    def test_publish_then_versions_describe_what_was_published(self, owner: DataAccess) -> None:
        """The receipt and versions() carry the manifest's facts and the archive digest."""
        _publish(owner, "acme.base", "1.0.0")
        archive = b"wheel bytes \x00\xff" * 100
        receipt = _publish(
            owner, "acme.tool", "2.1.0", dependencies={"acme.base": ">=1,<2"}, archive=archive
        )
        assert receipt.extension_id == "acme.tool"
        assert receipt.version == "2.1.0"
        assert receipt.sha256 == hashlib.sha256(archive).hexdigest()
        assert receipt.size == len(archive)
        assert receipt.filename == "acme_tool-2.1.0-py3-none-any.whl"
        [info] = owner.versions("acme.tool")
        assert info.extension_id == "acme.tool"
        assert info.version == "2.1.0"
        assert info.dependencies == {"acme.base": ">=1,<2"}
        assert info.host_api == ">=1.0,<2"
        assert info.kind == "operator"
        assert (info.sha256, info.size, info.filename) == (
            receipt.sha256,
            receipt.size,
            receipt.filename,
        )
        assert info.yanked is False

    def test_versions_are_in_pep440_order(self, owner: DataAccess) -> None:
        """versions() sorts by PEP 440, not as strings nor by publish time."""
        for version in ("1.10.0", "1.2.0", "2.0.0rc1", "1.9.0", "0.9"):
            _publish(owner, "acme.tool", version)
        assert [v.version for v in owner.versions("acme.tool")] == [
            "0.9",
            "1.2.0",
            "1.9.0",
            "1.10.0",
            "2.0.0rc1",
        ]

    def test_download_returns_the_published_bytes(self, owner: DataAccess) -> None:
        """download() gives back exactly the archive, with its digest."""
        archive = bytes(range(256)) * 40
        _publish(owner, "acme.tool", "1.0.0", archive=archive)
        download = owner.download("acme.tool", "1.0.0")
        assert download.data == archive
        assert download.sha256 == hashlib.sha256(archive).hexdigest()
        assert download.version == "1.0.0"

    def test_reads_need_no_token(
        self, owner: DataAccess, registry_harness: RegistryHarness
    ) -> None:
        """Anonymous clients can read versions, search and download."""
        _publish(owner, "acme.tool", "1.0.0", description="word counter")
        anonymous = registry_harness.anonymous
        assert [v.version for v in anonymous.versions("acme.tool")] == ["1.0.0"]
        assert [h.extension_id for h in anonymous.search("counter").items] == ["acme.tool"]
        assert anonymous.download("acme.tool", "1.0.0").data == _archive("acme.tool", "1.0.0")

    # -- business rules ---------------------------------------------------------------

    def test_versions_are_immutable(self, owner: DataAccess) -> None:
        """Publishing a version again is version.exists (409) and changes nothing."""
        _publish(owner, "acme.tool", "1.0.0", archive=b"first")
        with pytest.raises(RegistryConflictError) as info:
            _publish(owner, "acme.tool", "1.0.0", archive=b"second")
        assert info.value.registry_code == "version.exists"
        assert info.value.status == 409
        assert info.value.code == "registry.conflict"
        assert owner.download("acme.tool", "1.0.0").data == b"first"

    def test_equivalent_spellings_are_the_same_version(self, owner: DataAccess) -> None:
        """1.0 and 1.0.0 are one PEP 440 version."""
        _publish(owner, "acme.tool", "1.0.0")
        with pytest.raises(RegistryConflictError) as info:
            _publish(owner, "acme.tool", "1.0")
        assert info.value.registry_code == "version.exists"

    def test_publishing_needs_a_token(
        self, owner: DataAccess, registry_harness: RegistryHarness
    ) -> None:
        """An anonymous publish is auth.required (401) and stores nothing."""
        with pytest.raises(RegistryUnauthorizedError) as info:
            _publish(registry_harness.anonymous, "acme.tool")
        assert info.value.registry_code == "auth.required"
        assert info.value.status == 401
        with pytest.raises(RegistryNotFoundError):
            owner.versions("acme.tool")

    def test_a_namespace_belongs_to_its_first_publisher(
        self, owner: DataAccess, registry_harness: RegistryHarness
    ) -> None:
        """Nobody else may publish in it (403); everyone has their own."""
        _publish(owner, "acme.tool")
        other = registry_harness.other
        with pytest.raises(RegistryForbiddenError) as info:
            _publish(other, "acme.other-tool")
        assert info.value.registry_code == "namespace.forbidden"
        assert info.value.status == 403
        assert _publish(other, "bobco.tool").extension_id == "bobco.tool"
        with pytest.raises(RegistryForbiddenError):
            _publish(owner, "bobco.more")
        _publish(owner, "acme.tool", "1.1.0")

    def test_a_failed_publish_claims_no_namespace(
        self, owner: DataAccess, registry_harness: RegistryHarness
    ) -> None:
        """A refused publish leaves the namespace free for someone else."""
        with pytest.raises(AuthoritativeValidationError):
            _publish(registry_harness.other, "acme.tool", dependencies={"acme.missing": ">=1"})
        assert _publish(owner, "acme.tool").extension_id == "acme.tool"

    def test_dependencies_must_exist(self, owner: DataAccess) -> None:
        """A dependency nobody published is dependency.missing (422) on its field."""
        with pytest.raises(AuthoritativeValidationError) as info:
            _publish(owner, "acme.tool", dependencies={"acme.missing": ">=1"})
        assert info.value.registry_code == "dependency.missing"
        assert info.value.status == 422
        assert info.value.field is not None
        assert "acme.missing" in info.value.field

    def test_dependencies_must_be_satisfiable(self, owner: DataAccess) -> None:
        """The specifier must match a published version."""
        _publish(owner, "acme.base", "1.0.0")
        with pytest.raises(AuthoritativeValidationError) as info:
            _publish(owner, "acme.tool", dependencies={"acme.base": ">=2"})
        assert info.value.registry_code == "dependency.missing"
        _publish(owner, "acme.base", "2.0.0")
        assert _publish(owner, "acme.tool", dependencies={"acme.base": ">=2"}).version == "1.0.0"

    def test_a_yanked_version_does_not_satisfy_a_dependency(self, owner: DataAccess) -> None:
        """Only unyanked versions count."""
        _publish(owner, "acme.base", "1.0.0")
        owner.yank("acme.base", "1.0.0", reason="broken")
        with pytest.raises(AuthoritativeValidationError) as info:
            _publish(owner, "acme.tool", dependencies={"acme.base": ">=1"})
        assert info.value.registry_code == "dependency.missing"

    def test_an_extension_cannot_depend_on_itself(self, owner: DataAccess) -> None:
        """A self-dependency is dependency.self (422)."""
        _publish(owner, "acme.tool", "1.0.0")
        with pytest.raises(AuthoritativeValidationError) as info:
            _publish(owner, "acme.tool", "2.0.0", dependencies={"acme.tool": ">=1"})
        assert info.value.registry_code == "dependency.self"
        assert info.value.status == 422

    # -- yank -------------------------------------------------------------------------

    def test_yank_hides_from_resolution_but_keeps_the_download(self, owner: DataAccess) -> None:
        """A yanked version leaves versions() but can still be downloaded."""
        _publish(owner, "acme.tool", "1.0.0")
        _publish(owner, "acme.tool", "1.1.0")
        yanked = owner.yank("acme.tool", "1.1.0", reason="corrupts data")
        assert yanked.yanked is True
        assert yanked.yank_reason == "corrupts data"
        assert [v.version for v in owner.versions("acme.tool")] == ["1.0.0"]
        every = owner.versions("acme.tool", include_yanked=True)
        assert [(v.version, v.yanked) for v in every] == [("1.0.0", False), ("1.1.0", True)]
        assert owner.download("acme.tool", "1.1.0").data == _archive("acme.tool", "1.1.0")

    def test_yank_is_idempotent(self, owner: DataAccess) -> None:
        """Yanking twice leaves the version yanked."""
        _publish(owner, "acme.tool", "1.0.0")
        owner.yank("acme.tool", "1.0.0")
        again = owner.yank("acme.tool", "1.0.0", reason="still broken")
        assert again.yanked is True
        assert owner.versions("acme.tool") == []

    def test_only_the_owner_may_yank(
        self, owner: DataAccess, registry_harness: RegistryHarness
    ) -> None:
        """Another user gets namespace.forbidden, an anonymous one auth.required."""
        _publish(owner, "acme.tool", "1.0.0")
        with pytest.raises(RegistryForbiddenError) as forbidden:
            registry_harness.other.yank("acme.tool", "1.0.0")
        assert forbidden.value.registry_code == "namespace.forbidden"
        with pytest.raises(RegistryUnauthorizedError):
            registry_harness.anonymous.yank("acme.tool", "1.0.0")
        assert [v.version for v in owner.versions("acme.tool")] == ["1.0.0"]

    def test_missing_things_are_404_with_their_code(self, owner: DataAccess) -> None:
        """Unknown extensions and versions answer extension.not_found / version.not_found."""
        _publish(owner, "acme.tool", "1.0.0")
        cases: list[tuple[Callable[[], Any], str]] = [
            (lambda: owner.versions("acme.nothing"), "extension.not_found"),
            (lambda: owner.download("acme.nothing", "1.0.0"), "extension.not_found"),
            (lambda: owner.download("acme.tool", "9.9.9"), "version.not_found"),
            (lambda: owner.yank("acme.tool", "9.9.9"), "version.not_found"),
            (lambda: owner.yank("acme.nothing", "1.0.0"), "extension.not_found"),
        ]
        for call, code in cases:
            with pytest.raises(RegistryNotFoundError) as info:
                call()
            assert info.value.registry_code == code
            assert info.value.status == 404

    # -- search -----------------------------------------------------------------------

    def test_search_matches_every_word_as_a_prefix(self, owner: DataAccess) -> None:
        """All query words must start words of the id, name or description."""
        _publish(owner, "acme.embedder", description="Sentence embeddings for search")
        _publish(owner, "acme.tokenizer", description="Splits sentences into tokens")
        _publish(owner, "acme.viz", name="Vector Viewer", description="Plots embeddings")
        found = {h.extension_id for h in owner.search("embed").items}
        assert found == {"acme.embedder", "acme.viz"}
        assert {h.extension_id for h in owner.search("SENT emb").items} == {"acme.embedder"}
        assert {h.extension_id for h in owner.search("vector").items} == {"acme.viz"}
        assert owner.search("zebra").items == []

    def test_search_describes_the_latest_unyanked_version(self, owner: DataAccess) -> None:
        """A hit shows the highest unyanked version; all yanked means no hit."""
        _publish(owner, "acme.tool", "1.0.0", description="counts words")
        _publish(owner, "acme.tool", "2.0.0", description="counts words fast")
        [hit] = owner.search("counts").items
        assert hit.latest_version == "2.0.0"
        assert hit.description == "counts words fast"
        assert hit.kind == "operator"
        owner.yank("acme.tool", "2.0.0")
        [hit] = owner.search("counts").items
        assert hit.latest_version == "1.0.0"
        owner.yank("acme.tool", "1.0.0")
        assert owner.search("counts").items == []

    def test_search_pages_visit_each_hit_once(self, owner: DataAccess) -> None:
        """Paging with next_cursor returns every hit exactly once, in a stable order."""
        ids = [f"acme.tool-{i:02d}" for i in range(11)]
        for ext_id in ids:
            _publish(owner, ext_id, description="shared keyword")
        hits = _all_hits(owner, "shared", limit=3)
        assert sorted(h.extension_id for h in hits) == ids
        assert len({h.extension_id for h in hits}) == len(ids)
        assert [h.extension_id for h in _all_hits(owner, "shared", limit=3)] == [
            h.extension_id for h in hits
        ]

    def test_an_empty_query_lists_everything(self, owner: DataAccess) -> None:
        """Every extension with an unyanked version is listed."""
        for ext_id in ("acme.a", "acme.b", "acme.c"):
            _publish(owner, ext_id)
        assert sorted(h.extension_id for h in _all_hits(owner, "", limit=2)) == [
            "acme.a",
            "acme.b",
            "acme.c",
        ]

    def test_a_forged_cursor_is_refused_by_the_registry(self, owner: DataAccess) -> None:
        """A well-formed cursor the registry never issued is cursor.invalid (400)."""
        _publish(owner, "acme.tool")
        with pytest.raises(AuthoritativeValidationError) as info:
            owner.search("", cursor="not-a-cursor-we-issued")
        assert info.value.registry_code == "cursor.invalid"
        assert info.value.status == 400

    # -- workflows ----------------------------------------------------------------------

    def test_save_and_get_a_workflow(self, owner: DataAccess) -> None:
        """A saved document comes back byte for byte, as revision 1."""
        document = b'{"schema": 1, "nodes": [], "name": "caf\xc3\xa9"}'
        info = owner.save_workflow("acme.flow", document, description="demo")
        assert (info.name, info.revision, info.size) == ("acme.flow", 1, len(document))
        assert info.sha256 == hashlib.sha256(document).hexdigest()
        assert info.description == "demo"
        saved = owner.get_workflow("acme.flow")
        assert saved.document == document
        assert saved.info == info

    def test_workflow_revisions(self, owner: DataAccess) -> None:
        """Each different save is the next revision; old revisions stay readable."""
        first, second = b'{"v": 1}', b'{"v": 2}'
        assert owner.save_workflow("acme.flow", first).revision == 1
        assert owner.save_workflow("acme.flow", second).revision == 2
        assert owner.get_workflow("acme.flow").document == second
        assert owner.get_workflow("acme.flow", revision=1).document == first
        with pytest.raises(RegistryNotFoundError) as info:
            owner.get_workflow("acme.flow", revision=3)
        assert info.value.registry_code == "workflow.not_found"

    def test_saving_the_same_workflow_again_is_idempotent(self, owner: DataAccess) -> None:
        """The same document and description return the latest revision unchanged."""
        first = owner.save_workflow("acme.flow", b'{"v": 1}', description="d")
        assert owner.save_workflow("acme.flow", b'{"v": 1}', description="d") == first
        assert owner.save_workflow("acme.flow", b'{"v": 1}', description="new").revision == 2

    def test_workflows_share_namespace_ownership(
        self, owner: DataAccess, registry_harness: RegistryHarness
    ) -> None:
        """Saving needs a token and the namespace, whoever claimed it first."""
        _publish(owner, "acme.tool")
        with pytest.raises(RegistryForbiddenError) as info:
            registry_harness.other.save_workflow("acme.flow", b"{}")
        assert info.value.registry_code == "namespace.forbidden"
        with pytest.raises(RegistryUnauthorizedError):
            registry_harness.anonymous.save_workflow("acme.flow", b"{}")
        registry_harness.other.save_workflow("bobco.flow", b"{}")
        with pytest.raises(RegistryForbiddenError):
            _publish(owner, "bobco.tool")

    def test_a_workflow_document_must_be_a_json_object(self, owner: DataAccess) -> None:
        """Valid JSON that is not a workflow is workflow.invalid (422)."""
        with pytest.raises(AuthoritativeValidationError) as info:
            owner.save_workflow("acme.flow", b"[1, 2, 3]")
        assert info.value.registry_code == "workflow.invalid"
        assert info.value.status == 422

    def test_list_workflows_pages_and_filters(
        self, owner: DataAccess, registry_harness: RegistryHarness
    ) -> None:
        """Listing shows each workflow's latest revision, by name, per namespace."""
        for name in ("acme.c", "acme.a", "acme.b"):
            owner.save_workflow(name, b'{"v": 1}')
        owner.save_workflow("acme.a", b'{"v": 2}')
        registry_harness.other.save_workflow("bobco.z", b"{}")
        page = owner.list_workflows(namespace="acme", limit=2)
        assert [w.name for w in page.items] == ["acme.a", "acme.b"]
        assert page.items[0].revision == 2
        assert page.next_cursor is not None
        rest = owner.list_workflows(namespace="acme", limit=2, cursor=page.next_cursor)
        assert [w.name for w in rest.items] == ["acme.c"]
        assert rest.next_cursor is None
        everything = registry_harness.anonymous.list_workflows()
        assert [w.name for w in everything.items] == ["acme.a", "acme.b", "acme.c", "bobco.z"]

    def test_an_unknown_workflow_is_404(self, owner: DataAccess) -> None:
        """get_workflow of a name nobody saved is workflow.not_found."""
        with pytest.raises(RegistryNotFoundError) as info:
            owner.get_workflow("acme.nothing")
        assert info.value.registry_code == "workflow.not_found"

    # -- pre-validation and one request per operation ---------------------------------

    @pytest.mark.parametrize(
        ("field", "call"),
        [
            ("limit", lambda c: c.search("x", limit=0)),
            ("limit", lambda c: c.search("x", limit=101)),
            ("query", lambda c: c.search("x\x00y")),
            ("cursor", lambda c: c.search("x", cursor="has space")),
            ("extension_id", lambda c: c.versions("NotAnId")),
            ("extension_id", lambda c: c.download("acme", "1.0")),
            ("version", lambda c: c.download("acme.tool", "not.a.version!")),
            ("version", lambda c: c.yank("acme.tool", "")),
            ("name", lambda c: c.get_workflow("flow")),
            ("revision", lambda c: c.get_workflow("acme.flow", revision=0)),
            ("document", lambda c: c.save_workflow("acme.flow", b"{not json")),
            ("document", lambda c: c.save_workflow("acme.flow", b"")),
            ("namespace", lambda c: c.list_workflows(namespace="Bad NS")),
            (
                "archive",
                lambda c: c.publish(make_manifest("acme.tool"), b"", filename="t-1.0.tar.gz"),
            ),
            (
                "filename",
                lambda c: c.publish(make_manifest("acme.tool"), b"x", filename="../evil.zip"),
            ),
            (
                "manifest.extension.id",
                lambda c: c.publish(make_manifest("Acme Tool"), b"x", filename="t-1.0.tar.gz"),
            ),
            (
                "manifest.extension.version",
                lambda c: c.publish(
                    make_manifest("acme.tool", "one"), b"x", filename="t-1.0.tar.gz"
                ),
            ),
            (
                "manifest.dependencies.acme.base",
                lambda c: c.publish(
                    make_manifest("acme.tool", dependencies={"acme.base": "~~1"}),
                    b"x",
                    filename="t-1.0.tar.gz",
                ),
            ),
        ],
    )
    def test_prevalidation_fails_locally_and_sends_nothing(
        self,
        registry_harness: RegistryHarness,
        field: str,
        call: Callable[[DataAccess], Any],
    ) -> None:
        """Shape and syntax errors are PreValidationError on the right field, unsent."""
        before = registry_harness.requests()
        with pytest.raises(PreValidationError) as info:
            call(registry_harness.owner)
        assert info.value.field == field
        assert info.value.code == "prevalidation.failed"
        assert info.value.to_dict()["sent"] is False
        assert registry_harness.requests() == before

    def test_every_operation_is_exactly_one_request(
        self, owner: DataAccess, registry_harness: RegistryHarness
    ) -> None:
        """Each call that passes pre-validation makes one request, refused or not."""
        operations: list[Callable[[], Any]] = [
            lambda: _publish(owner, "acme.tool", "1.0.0"),
            lambda: owner.versions("acme.tool"),
            lambda: owner.download("acme.tool", "1.0.0"),
            lambda: owner.search("tool", limit=5),
            lambda: owner.yank("acme.tool", "1.0.0"),
            lambda: owner.save_workflow("acme.flow", b"{}"),
            lambda: owner.get_workflow("acme.flow"),
            lambda: owner.list_workflows(),
        ]
        refused: list[Callable[[], Any]] = [
            lambda: _publish(owner, "acme.tool", "1.0.0"),
            lambda: owner.versions("acme.nothing"),
            lambda: registry_harness.anonymous.save_workflow("acme.x", b"{}"),
        ]
        for operation in operations:
            before = registry_harness.requests()
            operation()
            assert registry_harness.requests() == before + 1
        for operation in refused:
            before = registry_harness.requests()
            with pytest.raises(AuthoritativeValidationError) as info:
                operation()
            assert info.value.to_dict()["sent"] is True
            assert registry_harness.requests() == before + 1

    def test_results_are_plain_values(self, owner: DataAccess) -> None:
        """Answers are msgspec structs that survive an encode/decode round trip."""
        receipt = _publish(owner, "acme.tool")
        [info] = owner.versions("acme.tool")
        for value in (receipt, info, owner.search("").items[0]):
            again = msgspec.json.decode(msgspec.json.encode(value), type=type(value))
            assert again == value
