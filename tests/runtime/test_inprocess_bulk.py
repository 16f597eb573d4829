"""Registering many extensions: linear bookkeeping, the same routing, a relay built late."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symphony_core.config import Config
from symphony_core.errors import ConfigError, ExtensionLoadError, HostApiError
from symphony_core.extension import ExtensionRecord
from symphony_core.hooks import HookRelay
from symphony_core.manifest.model import ExtensionInfo, Manifest, NodeType
from symphony_core.runtime import (
    AmbiguousNodeTypeError,
    ExtensionDisabledError,
    InProcessRuntime,
    UntrustedExtensionError,
)

HOME = Path("/nonexistent/symphony-home")
NODES = ["n1", "n2", "n3", "n4"]


def _record(
    ext_id: str, nodes: list[str], *, version: str = "1.0", trust: str = "trusted"
) -> ExtensionRecord:
    module = ext_id.replace(".", "_")
    manifest = Manifest(
        extension=ExtensionInfo(
            id=ext_id, version=version, kind="operator", entry=f"{module}:Ext", host_api=">=1"
        ),
        nodes=[NodeType(type=node) for node in nodes],
    )
    root = Path("/site") / module
    return ExtensionRecord(
        manifest=manifest,
        manifest_path=root / "symphony.toml",
        distribution=module,
        distribution_version=version,
        entry_point=ext_id,
        package_dir=root,
        trust=trust,  # type: ignore[arg-type]
    )


def _expected_owners(records: dict[str, ExtensionRecord]) -> dict[str, list[str]]:
    # The routing table from scratch: owners of each node type in the order added.
    owners: dict[str, list[str]] = {}
    for ext, record in records.items():
        for node in record.manifest.nodes:
            owners.setdefault(node.type, []).append(ext)
    return dict(sorted(owners.items()))


adds = st.lists(
    st.tuples(
        st.sampled_from(["t.a", "t.b", "t.c", "t.d", "t.e"]),
        st.lists(st.sampled_from(NODES), max_size=3, unique=True),
        st.sampled_from(["1.0", "2.0"]),
    ),
    max_size=25,
)


@settings(max_examples=250, deadline=None)
@given(adds, st.integers(1, 5))
def test_routing_matches_a_rebuild_from_scratch(
    steps: list[tuple[str, list[str], str]], batch: int
) -> None:
    runtime = InProcessRuntime(Config(home=HOME))
    known: dict[str, ExtensionRecord] = {}
    records = [_record(ext, nodes, version=version) for ext, nodes, version in steps]
    for start in range(0, len(records), batch):
        chunk = records[start : start + batch]
        if batch == 1:
            runtime.add(chunk[0])
        else:
            runtime.add_all(chunk)
        for record in chunk:
            known[record.id] = record  # a replacement keeps its place

    assert runtime.node_types() == _expected_owners(known)
    assert runtime.records() == list(known.values())
    for node, owners in _expected_owners(known).items():
        if len(owners) > 1:
            with pytest.raises(AmbiguousNodeTypeError, match=", ".join(owners)):
                runtime.call_node(node, {})


def test_a_refused_record_stops_the_batch_after_the_ones_before() -> None:
    runtime = InProcessRuntime(Config(home=HOME, disabled=("t.off",)))
    good = _record("t.good", ["n1"])
    with pytest.raises(UntrustedExtensionError):
        runtime.add_all(
            [good, _record("t.community", ["n2"], trust="community"), _record("t.x", [])]
        )
    assert [r.id for r in runtime.records()] == ["t.good"]
    assert runtime.node_types() == {"n1": ["t.good"]}
    with pytest.raises(ExtensionDisabledError):
        runtime.add_all([_record("t.off", ["n3"])])
    assert "n3" not in runtime.node_types()


def test_the_relay_is_built_on_first_use_only(tmp_path: Path) -> None:
    runtime = InProcessRuntime(Config(home=tmp_path))
    runtime.add_all([_record("t.a", ["n1"]), _record("t.b", ["n2"])])
    assert runtime._built_relay is None  # registering needs no hook layer

    relay = runtime.relay
    assert isinstance(relay, HookRelay)
    assert runtime.relay is relay


def test_a_given_relay_is_used(tmp_path: Path) -> None:
    relay = HookRelay()
    runtime = InProcessRuntime(Config(home=tmp_path), relay=relay)
    assert runtime.relay is relay


def test_hook_settings_are_still_checked_when_the_runtime_is_built(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="symphony_no_such_hook"):
        InProcessRuntime(Config(home=tmp_path, hook_policy={"symphony_no_such_hook": "stop"}))
    with pytest.raises(ConfigError, match="twice"):
        InProcessRuntime(Config(home=tmp_path, hook_order={"*": ("t.a", "t.a")}))


def _future_record(version: str = "1.0") -> ExtensionRecord:
    record = _record("t.future", ["n1"], version=version)
    info = msgspec.structs.replace(record.manifest.extension, host_api=">=2")
    manifest = msgspec.structs.replace(record.manifest, extension=info)
    return msgspec.structs.replace(record, manifest=manifest)


def test_host_api_is_checked_at_activation_unless_the_caller_did(tmp_path: Path) -> None:
    unchecked = InProcessRuntime(Config(home=tmp_path))
    unchecked.add_all([_future_record()])
    with pytest.raises(HostApiError, match="needs host API >=2"):
        unchecked.activate("t.future")

    # A caller that resolved the records vouches for their ranges (here falsely, to
    # show the check is skipped: the import is what fails then).
    vouched = InProcessRuntime(Config(home=tmp_path))
    vouched.add_all([_future_record()], host_api_checked=True)
    with pytest.raises(ExtensionLoadError) as info:
        vouched.activate("t.future")
    assert not isinstance(info.value, HostApiError)
    assert "cannot import" in info.value.message

    # Re-adding an equal record keeps what was checked; a different one is checked again.
    vouched.add(_future_record())
    with pytest.raises(ExtensionLoadError) as info:
        vouched.activate("t.future")
    assert not isinstance(info.value, HostApiError)
    vouched.add(_future_record(version="1.1"))
    with pytest.raises(HostApiError):
        vouched.activate("t.future")
