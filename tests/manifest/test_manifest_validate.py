"""Validation of decoded manifests: each kind of problem, and all of them at once."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from symphony_core.manifest import (
    ISSUE_CODES,
    Issue,
    Manifest,
    ManifestError,
    parse_manifest,
    validate_manifest_data,
)
from symphony_core.manifest.structure import MAX_VALUE_DEPTH

Doc = dict[str, Any]


def issues_of(data: Doc) -> list[Issue]:
    return validate_manifest_data(data, source="symphony.toml")


def only_issue(data: Doc) -> Issue:
    issues = issues_of(data)
    assert len(issues) == 1, [str(i) for i in issues]
    return issues[0]


def test_full_manifest_is_valid_and_converts(full_data: Doc) -> None:
    assert issues_of(full_data) == []
    manifest = msgspec.convert(full_data, Manifest)
    assert manifest.id == "acme.textops"
    assert manifest.nodes[0].parameters["top"].default == 10


def test_minimal_manifest_is_valid() -> None:
    data = {
        "extension": {
            "id": "a.b",
            "version": "0.1",
            "kind": "addon",
            "entry": "m:f",
            "host-api": ">=1",
        }
    }
    assert issues_of(data) == []


def _set(path: tuple[Any, ...], value: Any) -> Callable[[Doc], None]:
    def apply(doc: Doc) -> None:
        target: Any = doc
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return apply


def _delete(path: tuple[Any, ...]) -> Callable[[Doc], None]:
    def apply(doc: Doc) -> None:
        target: Any = doc
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]

    return apply


def _deep(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


CASES: list[tuple[str, Callable[[Doc], None], str, str]] = [
    # (id, mutation, expected path, expected code)
    ("missing", _delete(("extension", "entry")), "extension.entry", "manifest.missing"),
    (
        "missing-table",
        _delete(("extension",)),
        "extension",
        "manifest.missing",
    ),
    ("unknown", _set(("extension", "colour"), "red"), "extension.colour", "manifest.unknown_key"),
    ("unknown-root", _set(("extra",), {}), "extra", "manifest.unknown_key"),
    ("type-str", _set(("extension", "description"), 3), "extension.description", "manifest.type"),
    (
        "type-bool",
        _set(("permissions", "subprocess"), "yes"),
        "permissions.subprocess",
        "manifest.type",
    ),
    ("type-int-bool", _set(("limits", "processes"), True), "limits.processes", "manifest.type"),
    ("type-int-float", _set(("limits", "processes"), 2.0), "limits.processes", "manifest.type"),
    ("type-float-bool", _set(("limits", "cpu-share"), False), "limits.cpu-share", "manifest.type"),
    (
        "type-datetime",
        _set(("extension", "name"), datetime.datetime(2024, 1, 1, 12, 0)),
        "extension.name",
        "manifest.type",
    ),
    ("type-table", _set(("python",), ["x"]), "python", "manifest.type"),
    ("type-array", _set(("nodes",), {"type": "x"}), "nodes", "manifest.type"),
    (
        "type-item",
        _set(("extension", "authors"), ["ok", 1]),
        "extension.authors[1]",
        "manifest.type",
    ),
    ("choice", _set(("extension", "kind"), "plugin"), "extension.kind", "manifest.choice"),
    (
        "choice-network",
        _set(("permissions", "network"), "all"),
        "permissions.network",
        "manifest.choice",
    ),
    ("pattern-id", _set(("extension", "id"), "acme"), "extension.id", "manifest.pattern"),
    (
        "pattern-entry",
        _set(("extension", "entry"), "acme.ext"),
        "extension.entry",
        "manifest.pattern",
    ),
    (
        "pattern-env",
        _set(("permissions", "env"), ["A-B"]),
        "permissions.env[0]",
        "manifest.pattern",
    ),
    (
        "pattern-activation",
        _set(("extension", "activation"), ["on-boot"]),
        "extension.activation[0]",
        "manifest.pattern",
    ),
    (
        "pattern-dict-key",
        _set(("dependencies", "Not An Id"), ">=1"),
        'dependencies."Not An Id"',
        "manifest.pattern",
    ),
    (
        "pattern-param-name",
        _set(("nodes", 0, "parameters", "9lives"), {"type": "int"}),
        "nodes[0].parameters.9lives",
        "manifest.pattern",
    ),
    ("range-gt", _set(("limits", "cpu-share"), 0), "limits.cpu-share", "manifest.range"),
    ("range-le", _set(("limits", "cpu-share"), 2000.0), "limits.cpu-share", "manifest.range"),
    (
        "range-nan",
        _set(("limits", "cpu-share"), float("nan")),
        "limits.cpu-share",
        "manifest.range",
    ),
    ("range-ge", _set(("limits", "open-files"), 3), "limits.open-files", "manifest.range"),
    (
        "version",
        _set(("extension", "version"), "1.0-beta.x"),
        "extension.version",
        "manifest.version",
    ),
    (
        "host-api",
        _set(("extension", "host-api"), ">=1.0<2"),
        "extension.host-api",
        "manifest.specifier",
    ),
    (
        "dependency-spec",
        _set(("dependencies", "acme.tokenizer"), "~=1"),
        'dependencies."acme.tokenizer"',
        "manifest.specifier",
    ),
    (
        "requires-python",
        _set(("python", "requires-python"), "3.11+"),
        "python.requires-python",
        "manifest.specifier",
    ),
    (
        "requirement",
        _set(("python", "requires"), ["numpy >= "]),
        "python.requires[0]",
        "manifest.requirement",
    ),
    (
        "port-type",
        _set(("nodes", 0, "inputs", 0, "type"), "list[str"),
        "nodes[0].inputs[0].type",
        "manifest.port_type",
    ),
    (
        "port-type-dict-key",
        _set(("nodes", 1, "outputs", 0, "type"), "dict[int, str]"),
        "nodes[1].outputs[0].type",
        "manifest.port_type",
    ),
    (
        "template-abs",
        _set(("templates", 0, "path"), "/etc/passwd"),
        "templates[0].path",
        "manifest.path",
    ),
    (
        "template-escape",
        _set(("templates", 0, "path"), "a/../../x"),
        "templates[0].path",
        "manifest.path",
    ),
    ("template-empty", _set(("templates", 0, "path"), ""), "templates[0].path", "manifest.path"),
    (
        "fs-backslash",
        _set(("permissions", "filesystem", "read"), ["a\\b"]),
        "permissions.filesystem.read[0]",
        "manifest.path",
    ),
    (
        "fs-home",
        _set(("permissions", "filesystem", "write"), ["~/x"]),
        "permissions.filesystem.write[0]",
        "manifest.path",
    ),
    ("size-pattern", _set(("limits", "memory"), "lots"), "limits.memory", "manifest.pattern"),
    ("size-zero", _set(("limits", "memory"), "0MiB"), "limits.memory", "manifest.size"),
    ("url", _set(("extension", "homepage"), "example.org"), "extension.homepage", "manifest.url"),
    (
        "regex",
        _set(("nodes", 0, "parameters", "lang", "pattern"), "([a-z"),
        "nodes[0].parameters.lang.pattern",
        "manifest.regex",
    ),
    (
        "duplicate-node",
        _set(("nodes", 1, "type"), "word_count"),
        "nodes[1].type",
        "manifest.duplicate",
    ),
    (
        "duplicate-port",
        _set(("nodes", 0, "outputs", 1, "name"), "counts"),
        "nodes[0].outputs[1].name",
        "manifest.duplicate",
    ),
    (
        "duplicate-template",
        lambda doc: doc["templates"].append({"name": "count_words", "path": "t2.json"}),
        "templates[1].name",
        "manifest.duplicate",
    ),
    (
        "default-type",
        _set(("nodes", 0, "parameters", "top", "default"), "ten"),
        "nodes[0].parameters.top.default",
        "manifest.default",
    ),
    (
        "default-bool-for-int",
        _set(("nodes", 0, "parameters", "top", "default"), True),
        "nodes[0].parameters.top.default",
        "manifest.default",
    ),
    (
        "default-max",
        _set(("nodes", 0, "parameters", "top", "default"), 101),
        "nodes[0].parameters.top.default",
        "manifest.default",
    ),
    (
        "default-min-float",
        _set(("nodes", 0, "parameters", "ratio", "default"), -0.1),
        "nodes[0].parameters.ratio.default",
        "manifest.default",
    ),
    (
        "default-choice",
        _set(("nodes", 0, "parameters", "mode", "default"), "slow"),
        "nodes[0].parameters.mode.default",
        "manifest.default",
    ),
    (
        "default-pattern",
        _set(("nodes", 0, "parameters", "lang", "default"), "EN"),
        "nodes[0].parameters.lang.default",
        "manifest.default",
    ),
    (
        "default-length",
        _set(("nodes", 0, "parameters", "lang", "default"), "eng"),
        "nodes[0].parameters.lang.default",
        "manifest.default",
    ),
    (
        "default-json",
        _set(("nodes", 0, "parameters", "extra", "default"), {"when": datetime.date(2024, 1, 1)}),
        "nodes[0].parameters.extra.default",
        "manifest.default",
    ),
    (
        "enum-without-choices",
        _delete(("nodes", 0, "parameters", "mode", "choices")),
        "nodes[0].parameters.mode.choices",
        "manifest.missing",
    ),
    (
        "empty-choices",
        _set(("nodes", 0, "parameters", "out", "choices"), []),
        "nodes[0].parameters.out.choices",
        "manifest.range",
    ),
    (
        "duplicate-choice",
        _set(("nodes", 0, "parameters", "mode", "choices"), ["fast", "accurate", "fast"]),
        "nodes[0].parameters.mode.choices[2]",
        "manifest.duplicate",
    ),
    (
        "choice-of-wrong-type",
        _set(("nodes", 0, "parameters", "top", "choices"), [10, "six"]),
        "nodes[0].parameters.top.choices[1]",
        "manifest.parameter",
    ),
    (
        "min-above-max",
        _set(("nodes", 0, "parameters", "top", "min"), 200),
        "nodes[0].parameters.top.max",
        "manifest.range",
    ),
    (
        "min-on-bool",
        _set(("nodes", 0, "parameters", "lowercase", "min"), 1),
        "nodes[0].parameters.lowercase.min",
        "manifest.parameter",
    ),
    (
        "fractional-length",
        _set(("nodes", 0, "parameters", "stop", "max"), 2.5),
        "nodes[0].parameters.stop.max",
        "manifest.parameter",
    ),
    (
        "pattern-on-int",
        _set(("nodes", 0, "parameters", "top", "pattern"), "^1"),
        "nodes[0].parameters.top.pattern",
        "manifest.parameter",
    ),
    (
        "infinite-bound",
        _set(("nodes", 0, "parameters", "ratio", "max"), float("inf")),
        "nodes[0].parameters.ratio.max",
        "manifest.range",
    ),
    (
        "self-dependency",
        _set(("dependencies", "acme.textops"), ">=1"),
        'dependencies."acme.textops"',
        "manifest.self_reference",
    ),
    (
        "self-order",
        _set(("extension", "order-before"), ["acme.textops"]),
        "extension.order-before[0]",
        "manifest.self_reference",
    ),
    (
        "order-conflict",
        _set(("extension", "order-after"), ["acme.later"]),
        "extension.order-after[0]",
        "manifest.order_conflict",
    ),
    (
        "activation-unknown-node",
        _set(("extension", "activation"), ["on-node:word_cont"]),
        "extension.activation[0]",
        "manifest.activation",
    ),
    (
        "too-deep",
        _set(("nodes", 0, "parameters", "extra", "default"), _deep(MAX_VALUE_DEPTH + 5)),
        "nodes[0].parameters.extra.default",
        "manifest.too_deep",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "path", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_problem_is_reported_at_its_path(
    full_data: Doc, mutate: Callable[[Doc], None], path: str, code: str
) -> None:
    mutate(full_data)
    issue = only_issue(full_data)
    assert (issue.path, issue.code) == (path, code), str(issue)
    assert issue.file == "symphony.toml"
    assert issue.code in ISSUE_CODES
    assert issue.message
    assert issue.expected


def test_five_mistakes_give_five_issues_with_their_paths(full_data: Doc) -> None:
    full_data["extension"]["version"] = "one"
    full_data["extension"]["host_api"] = full_data["extension"].pop("host-api")
    full_data["nodes"][0]["inputs"][0]["type"] = "strng"
    full_data["nodes"][1]["type"] = "word_count"
    full_data["limits"]["processes"] = 0
    issues = issues_of(full_data)
    found = {(i.path, i.code) for i in issues}
    assert found == {
        ("extension.version", "manifest.version"),
        ("extension.host_api", "manifest.unknown_key"),
        ("extension.host-api", "manifest.missing"),
        ("nodes[0].inputs[0].type", "manifest.port_type"),
        ("nodes[1].type", "manifest.duplicate"),
        ("limits.processes", "manifest.range"),
    }
    assert len(issues) == 6


def test_parse_raises_one_error_listing_every_issue(full_text: str) -> None:
    text = (
        full_text.replace('version = "1.2.0rc1"', 'version = "x"')
        .replace('kind = "operator"', 'kind = "op"')
        .replace('network = "loopback"', 'network = "wan"')
    )
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, source="pkg/symphony.toml")
    error = caught.value
    assert error.code == "manifest.invalid"
    assert [i.path for i in error.issues] == [
        "extension.version",
        "extension.kind",
        "permissions.network",
    ]
    lines = str(error).splitlines()
    assert lines == [str(i) for i in error.issues]
    assert lines[0] == (
        "pkg/symphony.toml: extension.version: not a valid PEP 440 version "
        '(found the string "x", expected a PEP 440 version such as "1.2.0")'
    )
    as_dict = error.to_dict()
    assert as_dict["code"] == "manifest.invalid"
    assert [i["path"] for i in as_dict["issues"]] == [i.path for i in error.issues]


def test_unknown_key_suggests_the_kebab_spelling(full_data: Doc) -> None:
    full_data["limits"]["open_files"] = full_data["limits"].pop("open-files")
    issue = only_issue(full_data)
    assert issue.path == "limits.open_files"
    assert 'did you mean "open-files"' in issue.message


def test_unknown_key_suggests_a_close_spelling(full_data: Doc) -> None:
    full_data["extension"]["descripton"] = full_data["extension"].pop("description")
    issue = only_issue(full_data)
    assert 'did you mean "description"' in issue.message


def test_wrong_type_of_a_whole_table_is_one_issue(full_data: Doc) -> None:
    full_data["extension"] = "acme.textops"
    issues = issues_of(full_data)
    # The table is wrong as a whole; its keys are not reported one by one.
    assert [(i.path, i.code) for i in issues] == [("extension", "manifest.type")]


def test_root_that_is_not_a_table() -> None:
    issues = validate_manifest_data([], source="x")  # type: ignore[arg-type]
    assert [(i.path, i.code) for i in issues] == [("", "manifest.type")]


def test_mistakes_in_every_node_are_all_reported(full_data: Doc) -> None:
    for node in full_data["nodes"]:
        for port in node["inputs"] + node["outputs"]:
            port["type"] = "nope"
    issues = issues_of(full_data)
    assert sorted(i.path for i in issues) == [
        "nodes[0].inputs[0].type",
        "nodes[0].outputs[0].type",
        "nodes[0].outputs[1].type",
        "nodes[1].inputs[0].type",
        "nodes[1].outputs[0].type",
    ]


def test_activation_for_a_node_type_that_is_declared_is_fine(full_data: Doc) -> None:
    full_data["extension"]["activation"] = ["on-node:ngrams", "on-node:word_count"]
    assert issues_of(full_data) == []


def test_self_dependency_needs_a_valid_id_to_compare(full_data: Doc) -> None:
    full_data["dependencies"]["acme.textops"] = ">=1"
    full_data["extension"]["id"] = 7
    codes = sorted(i.code for i in issues_of(full_data))
    assert codes == ["manifest.type"]


def test_enum_default_checked_against_choices_with_strict_types(full_data: Doc) -> None:
    full_data["nodes"][0]["parameters"]["level"] = {
        "type": "enum",
        "choices": [1, 2, 3],
        "default": True,
    }
    issue = only_issue(full_data)
    assert issue.path == "nodes[0].parameters.level.default"
    assert issue.expected == "one of 1, 2, 3"


def test_length_bounds_apply_to_lists(full_data: Doc) -> None:
    full_data["nodes"][0]["parameters"]["stop"]["max"] = 1
    issue = only_issue(full_data)
    assert issue.path == "nodes[0].parameters.stop.default"
    assert "length 2 is above the maximum 1" in issue.message


def test_default_and_other_problems_of_one_parameter_are_all_reported(full_data: Doc) -> None:
    full_data["nodes"][0]["parameters"]["top"] = {
        "type": "int",
        "default": "x",
        "pattern": "a",
        "description": 5,
    }
    issues = issues_of(full_data)
    assert sorted((i.path, i.code) for i in issues) == [
        ("nodes[0].parameters.top.default", "manifest.default"),
        ("nodes[0].parameters.top.description", "manifest.type"),
        ("nodes[0].parameters.top.pattern", "manifest.parameter"),
    ]


def test_huge_integers_do_not_break_checks(full_data: Doc) -> None:
    full_data["nodes"][0]["parameters"]["top"]["default"] = 10**400
    full_data["limits"]["processes"] = 10**400
    paths = sorted(i.path for i in issues_of(full_data))
    assert paths == ["limits.processes", "nodes[0].parameters.top.default"]
