"""Records and node routing of the sandboxed runtime: the in-process runtime's rules.

None of these needs a process: routing and refusals happen before anything starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from sandboxed_harness import node, write_extension

from symphony_core.config import Config
from symphony_core.errors import ExtensionLoadError
from symphony_core.manifest.model import Limits
from symphony_core.ports.runtime import (
    ExtensionRuntime,
    RuntimeClosedError,
    UnknownExtensionError,
)
from symphony_core.runtime.inprocess import (
    AmbiguousNodeTypeError,
    ExtensionDisabledError,
    UnknownNodeTypeError,
)
from symphony_core.runtime.sandbox.launcher import Launcher
from symphony_core.runtime.sandboxed import SandboxedRuntime, default_profile


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[SandboxedRuntime]:
    runtime = SandboxedRuntime(Config(home=tmp_path / "home", disabled=("x.off",)))
    yield runtime
    runtime.close()


def test_it_is_an_extension_runtime(runtime: SandboxedRuntime) -> None:
    assert isinstance(runtime, ExtensionRuntime)


def test_nodes_route_like_in_process(runtime: SandboxedRuntime, tmp_path: Path) -> None:
    a = write_extension(tmp_path, "x.a", "", kind="operator", nodes=[node("split", [], [])])
    b = write_extension(
        tmp_path, "x.b", "", kind="operator", nodes=[node("split", [], []), node("join", [], [])]
    )
    runtime.add_all([a, b])
    assert runtime.node_types() == {"join": ["x.b"], "split": ["x.a", "x.b"]}
    with pytest.raises(AmbiguousNodeTypeError, match=r"x\.a, x\.b"):
        runtime.call_node("split", {})
    with pytest.raises(UnknownNodeTypeError, match="did you mean split"):
        runtime.call_node("splt", {})
    with pytest.raises(UnknownNodeTypeError, match="its node types: split"):
        runtime.call_node("join", {}, extension_id="x.a")
    assert runtime.status("x.a").state == "stopped"  # nothing was started


def test_records_are_checked_like_in_process(runtime: SandboxedRuntime, tmp_path: Path) -> None:
    record = write_extension(tmp_path, "x.a", "")
    runtime.add(record)
    runtime.add(record)  # the same again: nothing
    assert runtime.records() == [record]
    with pytest.raises(ExtensionDisabledError):
        runtime.add(write_extension(tmp_path, "x.off", ""))
    with pytest.raises(UnknownExtensionError):
        runtime.record("x.none")
    with pytest.raises(UnknownExtensionError):
        runtime.status("x.none")
    newer = msgspec.structs.replace(
        record,
        manifest=msgspec.structs.replace(
            record.manifest,
            extension=msgspec.structs.replace(record.manifest.extension, version="2.0.0"),
        ),
    )
    runtime.add(newer)  # not active: replaced
    assert runtime.record("x.a").version == "2.0.0"


def test_a_launcher_must_allow_the_extension_host(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not allow"):
        SandboxedRuntime(Config(home=tmp_path), launcher=Launcher())


def test_manifest_limits_make_the_default_profile(tmp_path: Path) -> None:
    config = Config(home=tmp_path)
    limits = Limits(memory="64MiB", cpu_share=0.5, cpu_time=3, processes=12, open_files=64)
    profile = default_profile(write_extension(tmp_path, "x.lim", "", limits=limits), config)
    assert (profile.memory_bytes, profile.cpu_share, profile.cpu_seconds) == (64 << 20, 0.5, 3)
    assert (profile.pids, profile.open_files) == (12, 64)
    tiny = write_extension(tmp_path, "x.tiny", "", limits=Limits(memory="1MiB"))
    with pytest.raises(ExtensionLoadError, match="16 MiB"):
        default_profile(tiny, config)


def test_a_closed_runtime_refuses_everything(runtime: SandboxedRuntime, tmp_path: Path) -> None:
    record = write_extension(tmp_path, "x.a", "")
    runtime.add(record)
    runtime.close()
    runtime.close()
    with pytest.raises(RuntimeClosedError):
        runtime.activate(record)
    with pytest.raises(RuntimeClosedError):
        runtime.call("x.a", "probe_do", {})
    assert runtime.status("x.a").state == "closed"
