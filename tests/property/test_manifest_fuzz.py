"""Fuzzing the manifest reader: nothing but a ManifestError or a valid Manifest comes out.

Inputs are random TOML documents (free-form, manifest-shaped, and valid manifests with
one mutation), and arbitrary bytes and text. Any other exception fails the test.
"""

from __future__ import annotations

import copy
import datetime
import math
from collections.abc import Iterator
from typing import Any

import msgspec
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symphony_core.manifest import (
    ISSUE_CODES,
    Manifest,
    ManifestError,
    dump_manifest,
    parse_manifest,
    validate_manifest_data,
)
from symphony_core.manifest.issues import format_key_path
from symphony_core.manifest.porttypes import SCALARS
from symphony_core.manifest.size import SIZE_UNITS

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Tests that draw whole valid manifests: each example is costly to generate.
MANIFEST_SETTINGS = settings(SETTINGS, max_examples=100)

# -- valid manifests -------------------------------------------------------------------

LOWER = "abcdefghijklmnopqrstuvwxyz"
ALNUM = LOWER + "0123456789"


def _word(first: str, rest: str, max_size: int) -> st.SearchStrategy[str]:
    # Built from characters rather than st.from_regex, which is much slower to draw.
    return st.builds(
        lambda a, b: a + b, st.sampled_from(first), st.text(alphabet=rest, max_size=max_size)
    )


ids = st.builds(
    lambda a, b: f"{a}.{b}", _word(LOWER, ALNUM + "_-", 6), _word(LOWER, ALNUM + "_-", 6)
)
names = _word(LOWER + LOWER.upper() + "_", ALNUM + LOWER.upper() + "_", 8)
versions = st.builds(
    lambda a, b, c, tail: f"{a}.{b}.{c}{tail}",
    st.integers(0, 30),
    st.integers(0, 30),
    st.integers(0, 30),
    st.sampled_from(["", "rc1", ".dev2", ".post1", "a3", "+local.7"]),
)
specifiers = st.sampled_from(["", ">=1.0", ">=1.0,<2", "~=1.2", "==1.*", "!=1.5,>0.1", "<3"])
requirements = st.sampled_from(
    ["regex>=2023.1", "numpy", "a-b[c]>=1; python_version >= '3.11'", "pkg @ https://e.org/p.whl"]
)
port_types = st.recursive(
    st.sampled_from([*sorted(SCALARS), "any", "acme.embedding"]),
    lambda inner: inner.map(lambda t: f"list[{t}]") | inner.map(lambda t: f"dict[str, {t}]"),
    max_leaves=4,
)
rel_paths = st.lists(
    st.text(alphabet=ALNUM + "_", min_size=1, max_size=5), min_size=1, max_size=3
).map("/".join)
sizes = st.builds(lambda n, u: f"{n}{u}", st.integers(1, 4096), st.sampled_from(sorted(SIZE_UNITS)))
short_text = st.text(max_size=12)
json_values = st.recursive(
    st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | short_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(short_text, inner, max_size=3),
    max_leaves=6,
)


@st.composite
def parameters(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(["int", "float", "bool", "str", "enum", "list", "dict", "json", "path"])
    )
    out: dict[str, Any] = {"type": kind}
    if draw(st.booleans()):
        out["description"] = draw(short_text)
    with_default = draw(st.booleans())
    if kind == "int":
        ilow, ihigh = sorted(draw(st.lists(st.integers(-1000, 1000), min_size=2, max_size=2)))
        out.update(min=ilow, max=ihigh)
        if with_default:
            out["default"] = draw(st.integers(ilow, ihigh))
    elif kind == "float":
        low, high = sorted(
            draw(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=2))
        )
        out.update(min=low, max=high)
        if with_default:
            out["default"] = draw(st.floats(low, high))
    elif kind == "bool" and with_default:
        out["default"] = draw(st.booleans())
    elif kind == "str":
        out["pattern"] = "^[a-z]*$"
        if with_default:
            out["default"] = draw(st.text(alphabet=LOWER, max_size=6))
    elif kind == "enum":
        choices = draw(st.lists(short_text, min_size=1, max_size=4, unique=True))
        out["choices"] = choices
        if with_default:
            out["default"] = draw(st.sampled_from(choices))
    elif kind == "list" and with_default:
        out["default"] = draw(st.lists(st.integers(-5, 5), max_size=3))
    elif kind == "dict" and with_default:
        out["default"] = draw(st.dictionaries(short_text, st.integers(), max_size=3))
    elif kind == "json" and with_default:
        out["default"] = draw(json_values)
    elif kind == "path" and with_default:
        out["default"] = draw(rel_paths)
    return out


def ports() -> st.SearchStrategy[list[dict[str, Any]]]:
    port = st.fixed_dictionaries(
        {"name": names}, optional={"type": port_types, "required": st.booleans()}
    )
    return st.lists(port, max_size=3, unique_by=lambda p: p["name"])


nodes = st.fixed_dictionaries(
    {"type": names},
    optional={
        "description": short_text,
        "inputs": ports(),
        "outputs": ports(),
        "parameters": st.dictionaries(names, parameters(), max_size=3),
        "cpu-bound": st.booleans(),
    },
)


@st.composite
def valid_manifests(draw: st.DrawFn) -> dict[str, Any]:
    own = draw(ids)
    node_list = draw(st.lists(nodes, max_size=3, unique_by=lambda n: n["type"]))
    events = ["on-startup", "on-command:go", "on-hook:before_run", "on-event:run.done"]
    events += [f"on-node:{n['type']}" for n in node_list]
    others = st.lists(ids.filter(lambda i: i != own), max_size=2, unique=True)
    before = draw(others)
    after = [i for i in draw(others) if i not in before]
    extension: dict[str, Any] = {
        "id": own,
        "version": draw(versions),
        "kind": draw(st.sampled_from(["instrument", "operator", "addon"])),
        "entry": "pkg.mod:Thing",
        "host-api": draw(specifiers),
        "order-before": before,
        "order-after": after,
        "activation": draw(st.lists(st.sampled_from(events), max_size=3)),
    }
    if draw(st.booleans()):
        extension["homepage"] = "https://example.org/x"
    return {
        "extension": extension,
        "dependencies": draw(
            st.dictionaries(ids.filter(lambda i: i != own), specifiers, max_size=3)
        ),
        "python": {
            "requires-python": ">=3.11",
            "requires": draw(st.lists(requirements, max_size=2)),
        },
        "permissions": {
            "network": draw(st.sampled_from(["none", "loopback", "any"])),
            "filesystem": {"read": draw(st.lists(rel_paths, max_size=2)), "write": []},
            "env": draw(st.lists(_word(LOWER.upper() + "_", ALNUM.upper() + "_", 5), max_size=2)),
        },
        "limits": {
            "memory": draw(sizes),
            "cpu-share": draw(st.floats(0.01, 8)),
            "processes": draw(st.integers(1, 64)),
        },
        "nodes": node_list,
        "templates": draw(
            st.lists(
                st.fixed_dictionaries({"name": names, "path": rel_paths}),
                max_size=2,
                unique_by=lambda t: t["name"],
            )
        ),
    }


# -- arbitrary TOML ----------------------------------------------------------------------

KNOWN_KEYS = [
    "extension", "id", "version", "kind", "entry", "host-api", "activation", "dependencies",
    "python", "requires", "requires-python", "permissions", "filesystem", "read", "write",
    "network", "env", "limits", "memory", "cpu-share", "nodes", "type", "inputs", "outputs",
    "name", "parameters", "default", "choices", "min", "max", "pattern", "templates", "path",
]  # fmt: skip

toml_scalars = (
    st.text(max_size=10)
    | st.sampled_from(["operator", "a.b", "1.0", ">=1", "str", "list[int]", "1MiB", "../x"])
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats()
    | st.booleans()
    | st.datetimes(timezones=st.none() | st.just(datetime.UTC))
    | st.dates()
    | st.times()
)
toml_keys = st.sampled_from(KNOWN_KEYS) | st.text(max_size=8)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(toml_keys, inner, max_size=5),
    max_leaves=25,
)
toml_documents = st.dictionaries(toml_keys, toml_values, max_size=6)


# -- mutation ------------------------------------------------------------------------------


def _slots(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _slots(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _slots(item, (*path, index))


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def _struct_tables(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Paths of the tables that are model structs (where unknown keys are errors)."""
    found: list[tuple[Any, ...]] = [()]
    found += [(k,) for k in ("extension", "python", "permissions", "limits") if k in doc]
    if "filesystem" in doc.get("permissions", {}):
        found.append(("permissions", "filesystem"))
    for i, node in enumerate(doc.get("nodes", [])):
        found.append(("nodes", i))
        for side in ("inputs", "outputs"):
            found += [("nodes", i, side, j) for j in range(len(node.get(side, [])))]
        found += [("nodes", i, "parameters", name) for name in node.get("parameters", {})]
    found += [("templates", i) for i in range(len(doc.get("templates", [])))]
    return found


def _required_keys(path: tuple[Any, ...]) -> list[str]:
    if path == ("extension",):
        return ["id", "version", "kind", "entry", "host-api"]
    if len(path) == 2 and path[0] == "nodes":
        return ["type"]
    if len(path) == 4 and path[2] in ("inputs", "outputs"):
        return ["name"]
    if len(path) == 4 and path[2] == "parameters":
        return ["type"]
    if len(path) == 2 and path[0] == "templates":
        return ["name", "path"]
    if path == ():
        return ["extension"]
    return []


def _check_outcome(
    data: bytes | str, source: str = "fuzz/symphony.toml"
) -> Manifest | ManifestError:
    """Parse; only a Manifest or a well-formed ManifestError may come out."""
    try:
        return parse_manifest(data, source=source)
    except ManifestError as caught:
        error = caught
    assert error.issues
    assert error.code == "manifest.invalid"
    lines = str(error).split("\n")
    assert len(lines) == len(error.issues)
    for issue, line in zip(error.issues, lines, strict=True):
        assert issue.file == source
        assert issue.code in ISSUE_CODES
        assert line == str(issue)
        assert line.startswith(f"{source}: ")
    error.to_dict()
    return error


def _issue_at(error: Manifest | ManifestError, path: tuple[Any, ...], code: str) -> bool:
    assert isinstance(error, ManifestError), "the mutated manifest was accepted"
    where = format_key_path(path)
    return any(i.path == where and i.code == code for i in error.issues)


# -- properties --------------------------------------------------------------------------


@MANIFEST_SETTINGS
@given(valid_manifests())
def test_valid_manifests_are_accepted_and_round_trip(doc: dict[str, Any]) -> None:
    text = tomli_w.dumps(doc)
    manifest = _check_outcome(text)
    assert isinstance(manifest, Manifest), str(manifest)
    assert parse_manifest(dump_manifest(manifest), source="again") == manifest
    assert parse_manifest(dump_manifest(manifest, omit_defaults=False), source="again") == manifest


@SETTINGS
@given(toml_documents)
def test_arbitrary_toml_gives_a_manifest_or_a_manifest_error(doc: dict[str, Any]) -> None:
    _check_outcome(tomli_w.dumps(doc))


@MANIFEST_SETTINGS
@given(toml_documents | valid_manifests())
def test_validator_agrees_with_msgspec(doc: dict[str, Any]) -> None:
    issues = validate_manifest_data(doc, source="x")
    try:
        msgspec.convert(doc, Manifest)
    except msgspec.ValidationError:
        assert issues, "msgspec refused a document the validator passed"
    else:
        structural = {
            "manifest.type",
            "manifest.unknown_key",
            "manifest.pattern",
            "manifest.choice",
        }
        assert not [str(i) for i in issues if i.code in structural]


@MANIFEST_SETTINGS
@given(valid_manifests(), st.data())
def test_a_value_of_the_wrong_kind_is_reported_where_it_is(
    doc: dict[str, Any], data: st.DataObject
) -> None:
    leaves = [
        path
        for path, value in _slots(doc)
        if path
        and not isinstance(value, dict | list)
        and "default" not in path
        and "choices" not in path
        and path[0] != "dependencies"
    ]
    path = data.draw(st.sampled_from(leaves))
    _get(doc, path[:-1])[path[-1]] = {"x": 1}
    assert _issue_at(_check_outcome(tomli_w.dumps(doc)), path, "manifest.type")


@MANIFEST_SETTINGS
@given(valid_manifests(), st.data())
def test_an_unknown_key_is_reported_where_it_is(doc: dict[str, Any], data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(_struct_tables(doc)))
    key = data.draw(st.sampled_from(["zz-unknown", "host_api", "Type", "colour"]))
    table = _get(doc, path)
    if key in table:
        return
    table[key] = data.draw(toml_scalars)
    assert _issue_at(_check_outcome(tomli_w.dumps(doc)), (*path, key), "manifest.unknown_key")


@MANIFEST_SETTINGS
@given(valid_manifests(), st.data())
def test_a_dropped_required_key_is_reported(doc: dict[str, Any], data: st.DataObject) -> None:
    candidates = [(p, k) for p in _struct_tables(doc) for k in _required_keys(p)]
    path, key = data.draw(st.sampled_from(candidates))
    del _get(doc, path)[key]
    assert _issue_at(_check_outcome(tomli_w.dumps(doc)), (*path, key), "manifest.missing")


@MANIFEST_SETTINGS
@given(valid_manifests(), st.data())
def test_any_mutation_gives_a_manifest_or_a_manifest_error(
    doc: dict[str, Any], data: st.DataObject
) -> None:
    original = copy.deepcopy(doc)
    slots = [path for path, _ in _slots(doc) if path]
    path = data.draw(st.sampled_from(slots))
    parent = _get(doc, path[:-1])
    action = data.draw(st.sampled_from(["replace", "delete", "add"]))
    if action == "replace":
        parent[path[-1]] = data.draw(toml_values)
    elif action == "delete":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[data.draw(toml_keys)] = data.draw(toml_values)
    else:
        parent.append(data.draw(toml_values))
    outcome = _check_outcome(tomli_w.dumps(doc))
    if isinstance(outcome, Manifest) and doc == original:
        assert outcome == parse_manifest(tomli_w.dumps(original), source="x")


@SETTINGS
@given(st.binary(max_size=300))
def test_arbitrary_bytes(data: bytes) -> None:
    _check_outcome(data)


@SETTINGS
@given(st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    _check_outcome(text)


@MANIFEST_SETTINGS
@given(valid_manifests(), st.binary(min_size=1, max_size=4), st.data())
def test_corrupted_bytes_of_a_valid_manifest(
    doc: dict[str, Any], noise: bytes, data: st.DataObject
) -> None:
    raw = tomli_w.dumps(doc).encode()
    at = data.draw(st.integers(0, len(raw)))
    _check_outcome(raw[:at] + noise + raw[at + len(noise) :])


def test_nan_and_infinity_in_numbers_are_reported() -> None:
    doc = {
        "extension": {"id": "a.b", "version": "1", "kind": "addon", "entry": "m:x", "host-api": ""},
        "limits": {"cpu-share": math.inf},
    }
    outcome = _check_outcome(tomli_w.dumps(doc))
    assert _issue_at(outcome, ("limits", "cpu-share"), "manifest.range")
