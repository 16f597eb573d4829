"""Pre-validation of data access requests: fuzzed, and field paths pinned."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symphony_core.errors import AuthoritativeValidationError, PreValidationError
from symphony_core.manifest.model import Manifest
from symphony_core.ports import data_prevalidate as pre
from symphony_core.ports.data import (
    RegistryConflictError,
    RegistryForbiddenError,
    RegistryNotFoundError,
    RegistryUnauthorizedError,
    refusal,
)
from symphony_core.testing import make_manifest

anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=80),
    st.binary(max_size=80),
    st.lists(st.integers(), max_size=3),
)


def _raised(call: Callable[[], Any]) -> PreValidationError | None:
    """Run ``call``; return the PreValidationError it raised (anything else propagates)."""
    try:
        call()
    except PreValidationError as exc:
        return exc
    return None


CHECKS: list[Callable[[Any], Any]] = [
    pre.prevalidate_extension_id,
    pre.prevalidate_version,
    pre.prevalidate_query,
    pre.prevalidate_limit,
    pre.prevalidate_cursor,
    pre.prevalidate_reason,
    pre.prevalidate_description,
    pre.prevalidate_workflow_name,
    pre.prevalidate_namespace,
    pre.prevalidate_revision,
    pre.prevalidate_workflow_document,
    pre.prevalidate_manifest,
]


@settings(max_examples=300)
@given(st.sampled_from(CHECKS), anything)
def test_nothing_but_prevalidation_errors_escape(check: Callable[[Any], Any], value: Any) -> None:
    error = _raised(lambda: check(value))
    if error is not None:
        assert error.field
        assert error.to_dict()["sent"] is False


@settings(max_examples=200)
@given(anything, anything)
def test_archive_checks_only_raise_prevalidation_errors(archive: Any, filename: Any) -> None:
    error = _raised(lambda: pre.prevalidate_archive(archive, filename))
    if error is not None:
        assert error.field in ("archive", "filename")


@settings(max_examples=200)
@given(
    st.dictionaries(
        st.sampled_from(["id", "version", "kind", "entry", "host-api", "name", "description"]),
        st.text(max_size=30),
    )
)
def test_fuzzed_manifests_fail_only_as_prevalidation(extension: dict[str, str]) -> None:
    # Struct constructors do not validate, so this builds arbitrary (often invalid) manifests.
    fields = {key.replace("-", "_"): value for key, value in extension.items()}
    manifest = Manifest(
        extension=msgspec.structs.replace(make_manifest("acme.tool").extension, **fields)
    )
    error = _raised(lambda: pre.prevalidate_manifest(manifest))
    if error is not None:
        assert error.field is not None
        assert error.field.startswith("manifest")


@pytest.mark.parametrize(
    ("manifest", "field"),
    [
        (make_manifest("Bad Id"), "manifest.extension.id"),
        (make_manifest("acme.tool", entry="not an entry"), "manifest.extension.entry"),
        (make_manifest("acme.tool", "x.y.z"), "manifest.extension.version"),
        (make_manifest("acme.tool", host_api="~~1"), "manifest.extension.host-api"),
        (make_manifest("acme.tool", dependencies={"Bad": ">=1"}), "manifest.dependencies"),
        (
            make_manifest("acme.tool", dependencies={"acme.b": "=>1"}),
            "manifest.dependencies.acme.b",
        ),
        ("not a manifest", "manifest"),
    ],
)
def test_manifest_errors_name_the_key_path(manifest: Any, field: str) -> None:
    with pytest.raises(PreValidationError) as info:
        pre.prevalidate_manifest(manifest)
    assert info.value.field == field


def test_valid_values_pass_unchanged() -> None:
    manifest = make_manifest("acme.tool", "1.0.0", dependencies={"acme.base": ">=1,<2"})
    assert pre.prevalidate_manifest(manifest) is manifest
    assert pre.prevalidate_extension_id("acme.tool") == "acme.tool"
    assert pre.prevalidate_limit(100) == 100
    assert pre.prevalidate_cursor(None) is None
    assert pre.prevalidate_workflow_document(bytearray(b'{"a": 1}')) == b'{"a": 1}'
    pre.prevalidate_archive(b"x", "acme_tool-1.0.0-py3-none-any.whl")
    pre.prevalidate_archive(memoryview(b"x"), "acme-tool-1.0.0.tar.gz")


def test_booleans_are_not_numbers() -> None:
    with pytest.raises(PreValidationError):
        pre.prevalidate_limit(True)
    with pytest.raises(PreValidationError):
        pre.prevalidate_revision(True)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (401, RegistryUnauthorizedError),
        (403, RegistryForbiddenError),
        (404, RegistryNotFoundError),
        (409, RegistryConflictError),
        (422, AuthoritativeValidationError),
        (400, AuthoritativeValidationError),
    ],
)
def test_refusals_map_status_to_class(status: int, cls: type[Exception]) -> None:
    error = refusal(status, "some.code", "no", field="f")
    assert type(error) is cls
    assert error.registry_code == "some.code"
    assert error.status == status
    assert error.to_dict()["sent"] is True
