"""Contract suite of the ``ArtifactStore`` port."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from symphony_core.ports.artifacts import (
    DIGEST_PATTERN,
    ArtifactCorruptedError,
    ArtifactMeta,
    ArtifactNotFoundError,
    ArtifactStore,
    InvalidDigestError,
    LineageError,
)
from symphony_core.testing.harnesses import StoreHarness

__all__ = ["ArtifactStoreContract", "StoreFactory"]

StoreFactory = Callable[[], StoreHarness]
"""Builds a harness over a fresh, empty store."""

_UNKNOWN = "sha256:" + "0" * 64


class ArtifactStoreContract:
    """Behaviour every artifact store shows.

    Subclass it and supply ``store_factory``: a callable returning a harness over a
    fresh, empty store each time it is called (the stateful test calls it many times).
    """

    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        """Return a store harness factory; adapters' test classes override this."""
        raise NotImplementedError("supply a store_factory fixture")

    @pytest.fixture
    def harness(self, store_factory: StoreFactory) -> StoreHarness:
        """A harness over a fresh store."""
        return store_factory()

    @pytest.fixture
    def store(self, harness: StoreHarness) -> ArtifactStore:
        """The store under test."""
        return harness.store

    def test_satisfies_the_protocol(self, store: ArtifactStore) -> None:
        """The adapter is an ArtifactStore."""
        assert isinstance(store, ArtifactStore)

    @pytest.mark.parametrize("size", [0, 1, 4096, 65536, 1 << 20 | 3])
    def test_put_get_round_trip(self, store: ArtifactStore, size: int) -> None:
        """What goes in comes out, whatever the size."""
        data = bytes((i * 31 + 7) % 256 for i in range(size))
        digest = store.put(data)
        assert re.match(DIGEST_PATTERN, digest)
        assert store.get(digest) == data
        assert store.exists(digest)
        assert store.info(digest).size == size

    def test_the_same_bytes_get_the_same_digest(
        self, store: ArtifactStore, store_factory: StoreFactory
    ) -> None:
        """Content addressing: the digest depends on the bytes only, in any store."""
        first = store.put(b"hello")
        assert store.put(b"hello") == first
        assert store_factory().store.put(b"hello") == first
        assert store.put(b"hello!") != first
        assert store.put(b"Hello") != first

    def test_every_source_form_stores_the_same_bytes(self, store: ArtifactStore) -> None:
        """Bytes, bytearray, memoryview, a file object and chunks are equivalent."""
        data = b"chunked " * 20000
        digest = store.put(data)
        sources: list[Any] = [
            bytearray(data),
            memoryview(data),
            io.BytesIO(data),
            iter([data[:5], data[5:70000], b"", data[70000:]]),
            [data[i : i + 1000] for i in range(0, len(data), 1000)],
        ]
        for source in sources:
            assert store.put(source) == digest
        assert store.get(digest) == data

    def test_metadata_round_trip(self, store: ArtifactStore) -> None:
        """Metadata given with the bytes is returned by info()."""
        parent = store.put(b"input")
        meta = ArtifactMeta(
            name="summary.json",
            media_type="application/json",
            text="weekly sales summary",
            labels={"team": "finance", "week": "12"},
            parents=[parent],
            producer="acme.summariser",
        )
        digest = store.put(b'{"total": 3}', meta)
        info = store.info(digest)
        assert info.digest == digest
        assert info.meta == meta

    def test_metadata_defaults_and_replacement(self, store: ArtifactStore) -> None:
        """No metadata means defaults; new metadata replaces; none keeps the current."""
        digest = store.put(b"x")
        assert store.info(digest).meta == ArtifactMeta()
        store.put(b"x", ArtifactMeta(name="first"))
        store.put(b"x")
        assert store.info(digest).meta.name == "first"
        store.put(b"x", ArtifactMeta(name="second", labels={"k": "v"}))
        assert store.info(digest).meta == ArtifactMeta(name="second", labels={"k": "v"})

    def test_unknown_artifacts(self, store: ArtifactStore) -> None:
        """An unknown digest is store.not_found for get/info/lineage and False elsewhere."""
        assert store.exists(_UNKNOWN) is False
        for call in (store.get, store.info, store.lineage):
            with pytest.raises(ArtifactNotFoundError) as info:
                call(_UNKNOWN)
            assert info.value.code == "store.not_found"
        assert store.delete(_UNKNOWN) is False

    @pytest.mark.parametrize(
        "digest", ["nope", "sha256:XYZ", "sha256:" + "a" * 10, "SHA256:" + "a" * 64, 42, ""]
    )
    def test_malformed_digests_are_refused(self, store: ArtifactStore, digest: Any) -> None:
        """Anything that is not ``algorithm:hex`` is store.invalid_digest."""
        calls: list[Callable[[Any], Any]] = [
            store.get,
            store.exists,
            store.info,
            store.lineage,
            store.delete,
        ]
        for call in calls:
            with pytest.raises(InvalidDigestError) as info:
                call(digest)
            assert info.value.code == "store.invalid_digest"

    def test_damaged_bytes_are_never_returned(
        self, store: ArtifactStore, harness: StoreHarness
    ) -> None:
        """A read re-hashes: damaged bytes are store.corrupted; other artifacts are fine."""
        damaged = store.put(b"precious data" * 100)
        fine = store.put(b"other data")
        harness.damage(damaged)
        with pytest.raises(ArtifactCorruptedError) as info:
            store.get(damaged)
        assert info.value.code == "store.corrupted"
        assert store.get(fine) == b"other data"

    def test_vanished_bytes_are_reported(self, store: ArtifactStore, harness: StoreHarness) -> None:
        """Bytes gone from storage are store.corrupted on read and ``missing`` in check()."""
        gone = store.put(b"soon gone")
        harness.damage(gone, remove=True)
        with pytest.raises(ArtifactCorruptedError):
            store.get(gone)
        assert [(c.digest, c.problem) for c in store.check()] == [(gone, "missing")]

    def test_check_finds_every_damaged_artifact(
        self, store: ArtifactStore, harness: StoreHarness
    ) -> None:
        """check() lists the damaged ones, by digest, and nothing on a healthy store."""
        digests = [store.put(f"artifact {i}".encode() * (i + 1)) for i in range(6)]
        assert store.check() == []
        broken = sorted([digests[1], digests[4]])
        for digest in broken:
            harness.damage(digest)
        assert [(c.digest, c.problem) for c in store.check()] == [
            (digest, "mismatch") for digest in broken
        ]

    def test_putting_the_bytes_again_repairs_damage(
        self, store: ArtifactStore, harness: StoreHarness
    ) -> None:
        """Storing the original bytes again leaves a readable artifact."""
        digest = store.put(b"restore me")
        harness.damage(digest)
        assert store.put(b"restore me") == digest
        assert store.get(digest) == b"restore me"
        assert store.check() == []

    def test_search_matches_every_word_as_a_prefix(self, store: ArtifactStore) -> None:
        """Name, text and label values are searched; every word must match a word start."""
        sales = store.put(b"1", ArtifactMeta(name="sales-report", text="Quarterly revenue"))
        costs = store.put(b"2", ArtifactMeta(name="cost report", labels={"dept": "finance"}))
        store.put(b"3", ArtifactMeta(name="image", text="a photo of a cat"))
        assert {i.digest for i in store.search("report")} == {sales, costs}
        assert {i.digest for i in store.search("REP quart")} == {sales}
        assert {i.digest for i in store.search("financ")} == {costs}
        assert store.search("dog") == []
        assert store.search("") == []

    def test_search_respects_the_limit(self, store: ArtifactStore) -> None:
        """No more results than asked for, each a distinct match."""
        for i in range(8):
            store.put(f"{i}".encode(), ArtifactMeta(name=f"batch item {i}"))
        found = store.search("batch", limit=3)
        assert len(found) == 3
        assert len({i.digest for i in found}) == 3
        assert len(store.search("batch", limit=100)) == 8

    def test_lineage_walks_both_ways(self, store: ArtifactStore) -> None:
        """Parents, children, ancestors (nearest first) and descendants are reported."""
        a = store.put(b"a")
        b = store.put(b"b")
        c = store.put(b"c", ArtifactMeta(parents=[a, b]))
        d = store.put(b"d", ArtifactMeta(parents=[c]))
        e = store.put(b"e", ArtifactMeta(parents=[a]))
        lin = store.lineage(d)
        assert lin.parents == [c]
        assert lin.ancestors == [c, a, b]
        assert lin.descendants == []
        lin = store.lineage(a)
        assert lin.parents == []
        assert lin.ancestors == []
        assert lin.children == sorted([c, e])
        assert set(lin.descendants) == {c, d, e}
        assert lin.descendants.index(c) < lin.descendants.index(d)

    def test_parents_must_exist(self, store: ArtifactStore, store_factory: StoreFactory) -> None:
        """An unknown parent is store.lineage and nothing is stored."""
        with pytest.raises(LineageError) as info:
            store.put(b"orphan", ArtifactMeta(parents=[_UNKNOWN]))
        assert info.value.code == "store.lineage"
        assert store.exists(store_factory().store.put(b"orphan")) is False
        with pytest.raises(InvalidDigestError):
            store.put(b"orphan", ArtifactMeta(parents=["not-a-digest"]))

    def test_lineage_cannot_form_a_cycle(self, store: ArtifactStore) -> None:
        """Metadata that would make an artifact its own ancestor is refused."""
        a = store.put(b"a", ArtifactMeta(name="a"))
        b = store.put(b"b", ArtifactMeta(parents=[a]))
        with pytest.raises(LineageError):
            store.put(b"a", ArtifactMeta(name="a2", parents=[b]))
        with pytest.raises(LineageError):
            store.put(b"a", ArtifactMeta(parents=[a]))
        assert store.info(a).meta == ArtifactMeta(name="a")

    def test_delete(self, store: ArtifactStore) -> None:
        """Deleted artifacts are gone; those derived from them still name them."""
        parent = store.put(b"parent")
        child = store.put(b"child", ArtifactMeta(parents=[parent]))
        assert store.delete(parent) is True
        assert store.exists(parent) is False
        with pytest.raises(ArtifactNotFoundError):
            store.get(parent)
        assert store.delete(parent) is False
        assert store.lineage(child).parents == [parent]
        assert store.get(child) == b"child"
        assert store.check() == []

    def test_random_operations_match_a_model(self, store_factory: StoreFactory) -> None:
        """put/get/delete/damage against a dict model: reads verify, check() agrees."""

        class StoreMachine(RuleBasedStateMachine):
            digests = Bundle("digests")

            def __init__(self) -> None:
                super().__init__()
                self.h = store_factory()
                self.model: dict[str, bytes] = {}
                self.damaged: set[str] = set()

            @rule(target=digests, data=st.binary(max_size=300))
            def put(self, data: bytes) -> str:
                digest = self.h.store.put(data)
                assert self.model.get(digest, data) == data
                self.model[digest] = data
                self.damaged.discard(digest)
                return digest

            @rule(digest=digests)
            def get(self, digest: str) -> None:
                if digest not in self.model:
                    with pytest.raises(ArtifactNotFoundError):
                        self.h.store.get(digest)
                elif digest in self.damaged:
                    with pytest.raises(ArtifactCorruptedError):
                        self.h.store.get(digest)
                else:
                    assert self.h.store.get(digest) == self.model[digest]

            @rule(digest=digests)
            def delete(self, digest: str) -> None:
                assert self.h.store.delete(digest) is (digest in self.model)
                self.model.pop(digest, None)
                self.damaged.discard(digest)

            @rule(digest=digests, remove=st.booleans())
            def damage(self, digest: str, remove: bool) -> None:
                if digest in self.model:
                    self.h.damage(digest, remove=remove)
                    self.damaged.add(digest)

            @invariant()
            def agrees(self) -> None:
                for digest in self.model:
                    assert self.h.store.exists(digest)
                assert {c.digest for c in self.h.store.check()} == self.damaged

        run_state_machine_as_test(
            StoreMachine,
            settings=settings(
                max_examples=60,
                stateful_step_count=25,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
