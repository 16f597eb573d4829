"""The example Operator, found by discovery, runs sandboxed exactly as it runs in-process.

The extension is written only against symphony_sdk and is not changed in any way: the
same record (trust aside) goes to the in-process runtime and to the sandboxed one, and
both must give identical outputs and equivalent errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sandboxed_harness import AuditLog, assert_no_leftovers, make_launcher

from symphony_core.config import Config
from symphony_core.discovery import discover
from symphony_core.errors import HookCallError
from symphony_core.extension import ExtensionRecord
from symphony_core.runtime import InProcessRuntime
from symphony_core.runtime.crashes import ExtensionCrashedError
from symphony_core.runtime.crossing import RemoteFailure
from symphony_core.runtime.sandboxed import SandboxedRuntime, default_profile, import_root

EXT = "examples.textops"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def record(home: Path) -> ExtensionRecord:
    found = discover(Config(home=home, discovery_cache=False)).get(EXT)
    assert found is not None, "the example extension is not installed"
    assert found.trust == "community"  # what the sandbox is for
    return found


@pytest.fixture(scope="module")
def audit() -> AuditLog:
    return AuditLog()


@pytest.fixture(scope="module")
def runtimes(
    home: Path, record: ExtensionRecord, audit: AuditLog
) -> Iterator[tuple[InProcessRuntime, SandboxedRuntime]]:
    config = Config(home=home)
    launcher = make_launcher(audit)
    sandboxed = SandboxedRuntime(config, launcher=launcher, audit_sink=audit)
    sandboxed.start()
    sandboxed.add(record)
    inprocess = InProcessRuntime(config)
    inprocess.add(msgspec.structs.replace(record, trust="trusted"))
    yield inprocess, sandboxed
    inprocess.close()
    sandboxed.close()
    assert_no_leftovers(launcher)
    launcher.close()


def test_the_default_profile_grants_only_the_extensions_own_files(
    home: Path, record: ExtensionRecord
) -> None:
    profile = default_profile(record, Config(home=home))
    assert profile.fs_read == (str(record.package_dir.parent),)
    assert import_root(record) == record.package_dir.parent
    assert profile.network == "none"
    assert not profile.subprocess
    assert profile.env == ()
    assert profile.scratch_dir == str(home / "cache" / "scratch" / EXT)
    assert profile.fs_write == (str(home / "extensions" / EXT),)


def test_the_example_runs_sandboxed_end_to_end(
    runtimes: tuple[InProcessRuntime, SandboxedRuntime], audit: AuditLog
) -> None:
    _, sandboxed = runtimes
    tokens = sandboxed.call_node(
        "tokenize", {"text": "The quick brown fox. THE FOX \uff32\uff35\uff2e\uff33"}
    )
    assert tokens == {"tokens": ["the", "quick", "brown", "fox", "the", "fox", "runs"]}
    counts = sandboxed.call_node("word_count", tokens, {"top": 2})
    assert list(counts["counts"].items()) == [("fox", 2), ("the", 2)]
    assert sandboxed.call_node("ngrams", {"tokens": ["a", "b", "c"]}, {"n": 2}) == {
        "ngrams": ["a b", "b c"]
    }
    status = sandboxed.status(EXT)
    assert status.state == "running"
    assert status.pid is not None
    assert sandboxed.active_ids() == [EXT]
    # Starting the extension host refused nothing: no false alarms in the audit log.
    assert audit.rules(EXT) == []


texts = st.text(max_size=300)
patterns = st.sampled_from([r"\w+", r"[a-z]+", r"\S+", r"\d+", r"[^\W\d_]+", r"."])


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=texts,
    lowercase=st.booleans(),
    pattern=patterns,
    normalize=st.sampled_from(["NFC", "NFKC", "none"]),
    min_length=st.integers(1, 4),
    top=st.integers(1, 20),
    n=st.integers(1, 5),
    separator=st.text(max_size=3),
)
def test_sandboxed_outputs_equal_in_process_outputs(
    runtimes: tuple[InProcessRuntime, SandboxedRuntime],
    text: str,
    lowercase: bool,
    pattern: str,
    normalize: str,
    min_length: int,
    top: int,
    n: int,
    separator: str,
) -> None:
    inprocess, sandboxed = runtimes
    calls: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        (
            "tokenize",
            {"text": text},
            {
                "lowercase": lowercase,
                "pattern": pattern,
                "normalize": normalize,
                "min_length": min_length,
            },
        ),
    ]
    tokens = inprocess.call_node(*calls[0])
    calls.append(("word_count", dict(tokens), {"top": top}))
    calls.append(("ngrams", dict(tokens), {"n": n, "separator": separator}))
    for node_type, inputs, params in calls:
        expected = inprocess.call_node(node_type, inputs, params)
        got = sandboxed.call_node(node_type, inputs, params)
        assert got == expected
        # Same order too (word_count ranks its counts).
        assert [list(v.items()) if isinstance(v, dict) else v for v in got.values()] == [
            list(v.items()) if isinstance(v, dict) else v for v in expected.values()
        ]


@pytest.mark.parametrize(
    ("node_type", "inputs", "params"),
    [
        ("tokenize", {"text": "x"}, {"pattern": "(unclosed"}),
        ("tokenize", {}, {}),
        ("word_count", {"tokens": ["a"]}, {"top": 0}),
        ("ngrams", {"tokens": ["a"]}, {"n": 9}),
        ("tokenize", {"text": "x"}, {"no_such_param": 1}),
    ],
)
def test_errors_arrive_as_the_same_errors_with_the_extension_id(
    runtimes: tuple[InProcessRuntime, SandboxedRuntime],
    node_type: str,
    inputs: dict[str, Any],
    params: dict[str, Any],
) -> None:
    inprocess, sandboxed = runtimes
    with pytest.raises(HookCallError) as local:
        inprocess.call_node(node_type, inputs, params)
    with pytest.raises(HookCallError) as remote:
        sandboxed.call_node(node_type, inputs, params)
    expected, got = local.value, remote.value
    assert str(got) == str(expected)
    assert (got.code, got.hook, got.extension_id) == (expected.code, expected.hook, EXT)
    ((ext, failure),) = got.failures
    ((_, original),) = expected.failures
    assert ext == EXT
    # The exception object stays in the sandbox: its type, code and words come across.
    assert isinstance(failure, RemoteFailure)
    assert failure.type_name == type(original).__name__ == "NodeInputError"
    assert failure.error_code == "sdk.node_input"
    assert str(failure) == str(original)
    assert got.to_dict()["failures"] == [
        {"extension_id": EXT, "error": "RemoteFailure", "message": str(original)}
    ]


def test_a_catastrophic_pattern_hangs_the_process_and_it_is_restarted(
    runtimes: tuple[InProcessRuntime, SandboxedRuntime], audit: AuditLog
) -> None:
    """A ReDoS holds the GIL inside the regex engine: the heartbeat catches it."""
    _, sandboxed = runtimes
    before = sandboxed.status(EXT).pid
    with pytest.raises(ExtensionCrashedError) as info:
        sandboxed.call_node(
            "tokenize",
            {"text": "a" * 40 + "!"},
            {"pattern": "(a+)+$", "normalize": "none"},
        )
    assert info.value.cause.kind == "hung"
    assert info.value.extension_id == EXT
    assert "during node 'tokenize'" in str(info.value)
    assert "supervisor.heartbeat" in audit.rules(EXT)
    # The next call is served by a fresh process.
    assert sandboxed.call_node("ngrams", {"tokens": ["x", "y"]}, {"n": 1}) == {"ngrams": ["x", "y"]}
    assert sandboxed.status(EXT).pid != before
    assert sandboxed.status(EXT).restarts >= 1
