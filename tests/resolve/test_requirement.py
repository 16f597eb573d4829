from __future__ import annotations

import pytest
from packaging.version import Version

from symphony_core.errors import UserError
from symphony_core.resolve import Candidate, InvalidRequirementError, Requirement


@pytest.mark.parametrize(
    ("text", "ext_id", "spec"),
    [
        ("acme.a", "acme.a", ""),
        ("acme.a>=1", "acme.a", ">=1"),
        ("  acme.tok >=1.0, <2 ", "acme.tok", ">=1.0,<2"),
        ("acme.a==1.2.*", "acme.a", "==1.2.*"),
        ("my-pub.my_ext~=2.1", "my-pub.my_ext", "~=2.1"),
    ],
)
def test_parse(text: str, ext_id: str, spec: str) -> None:
    req = Requirement.parse(text)
    assert req.id == ext_id
    assert str(req) == f"{ext_id}{spec}"


@pytest.mark.parametrize(
    "text", ["acme", "Acme.a>=1", "acme.a 1.0", "acme.a>=one", "acme.a>>1", ""]
)
def test_parse_refuses_malformed_requirements(text: str) -> None:
    with pytest.raises(InvalidRequirementError) as info:
        Requirement.parse(text)
    assert isinstance(info.value, UserError)
    assert info.value.code == "resolve.invalid_requirement"
    assert info.value.hint


def test_star_and_empty_accept_everything() -> None:
    for spec in ("", "*", " * "):
        req = Requirement.of("acme.a", spec)
        assert str(req) == "acme.a"
        assert req.contains(Version("0.0.1"))
        assert req.contains(Version("99.0b1"))


def test_equal_requirements_compare_equal_whatever_the_spacing() -> None:
    assert Requirement.parse("acme.a>=1,<2") == Requirement.parse("acme.a <2, >=1")
    assert Requirement.parse("acme.a>=1") != Requirement.parse("acme.b>=1")


@pytest.mark.parametrize(
    ("spec", "names"),
    [
        (">=2.0b1", True),
        ("==3.0rc2", True),
        (">1.0.dev1", True),
        ("<2.0a1", True),
        (">=1.0,<2", False),
        ("!=2.0b1", False),
        ("==1.*", False),
        ("", False),
    ],
)
def test_names_prerelease(spec: str, names: bool) -> None:
    assert Requirement.of("acme.a", spec).names_prerelease is names


def test_candidate_errors_name_the_extension_and_field() -> None:
    with pytest.raises(InvalidRequirementError, match=r"acme\.a's version 'one'"):
        Candidate.create("acme.a", "one")
    with pytest.raises(InvalidRequirementError, match=r"acme\.a 1\.0: host-api '>>1'"):
        Candidate.create("acme.a", "1.0", host_api=">>1")
    with pytest.raises(InvalidRequirementError, match=r"acme\.a 1\.0: dependency 'acme\.b' = 'x'"):
        Candidate.create("acme.a", "1.0", dependencies={"acme.b": "x"})
    with pytest.raises(InvalidRequirementError, match="'Nope' is not an extension id"):
        Candidate.create("acme.a", "1.0", dependencies={"Nope": ">=1"})


def test_candidate_dependencies_are_sorted_and_identity_ignores_manifest() -> None:
    c = Candidate.create("acme.a", "1.0", dependencies={"acme.z": "", "acme.b": ">=1"})
    assert [r.id for r in c.dependencies] == ["acme.b", "acme.z"]
    assert c == Candidate.create("acme.a", "1.0.0", dependencies={"acme.z": ""})
    assert c != Candidate.create("acme.a", "1.0", origin="installed")
    assert str(c) == "acme.a 1.0"
    assert c.host_api_display == "any"
