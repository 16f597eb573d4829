from __future__ import annotations

import json

import pytest

from symphony_core.errors import (
    AuthoritativeValidationError,
    ExtensionLoadError,
    HookCallError,
    PreValidationError,
    ResolutionError,
    SymphonyError,
    UserError,
    error_codes,
)


def test_message_names_where_and_hint() -> None:
    err = UserError("bad value", where="config.toml: log-level", hint="use one of debug, info")
    assert str(err) == "config.toml: log-level: bad value (hint: use one of debug, info)"
    assert err.to_dict() == {
        "code": "user.error",
        "message": "bad value",
        "where": "config.toml: log-level",
        "hint": "use one of debug, info",
    }


def test_prevalidation_and_authoritative_are_told_apart() -> None:
    pre = PreValidationError("version is not PEP 440", field="extension.version")
    auth = AuthoritativeValidationError(
        "version 1.0 already published",
        registry_code="version.immutable",
        field="version",
        status=409,
    )
    assert isinstance(pre, UserError)
    assert isinstance(auth, UserError)
    assert not isinstance(pre, AuthoritativeValidationError)
    assert not isinstance(auth, PreValidationError)
    assert pre.to_dict()["sent"] is False
    d = auth.to_dict()
    assert d["sent"] is True
    assert (d["registry_code"], d["field"], d["status"]) == ("version.immutable", "version", 409)
    assert pre.code != auth.code


def test_codes_are_unique_and_stable() -> None:
    codes = error_codes()
    classes = list(codes.values())
    assert len(set(classes)) == len(classes)
    for code in codes:
        assert code == code.lower()
        assert "." in code
    assert codes["resolve.conflict"] is ResolutionError
    assert codes["extension.load_failed"] is ExtensionLoadError


def test_structured_details_serialise() -> None:
    err = HookCallError(
        "2 implementations failed",
        hook="symphony_addon_event",
        failures=[("a.b", ValueError("x")), ("c.d", KeyError("k"))],
    )
    out = json.loads(json.dumps(err.to_dict()))
    assert [f["extension_id"] for f in out["failures"]] == ["a.b", "c.d"]
    assert out["failures"][0]["error"] == "ValueError"
    res = ResolutionError(
        "cannot satisfy", conflicts=[{"requirer": "a.b", "requirement": "c.d>=2"}]
    )
    assert res.to_dict()["conflicts"][0]["requirement"] == "c.d>=2"


def test_extension_error_names_extension() -> None:
    err = ExtensionLoadError("cannot import acme_x", extension_id="acme.x")
    assert str(err).startswith("acme.x: ")
    assert err.to_dict()["extension_id"] == "acme.x"


def test_is_exception() -> None:
    with pytest.raises(SymphonyError, match="boom"):
        raise UserError("boom")
