"""Naming the cause of a process's end from what the supervisor knows (properties)."""

from __future__ import annotations

import signal

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from symphony_core.runtime.crashes import (
    CrashCause,
    ExtensionCrashedError,
    classify,
    describe_returncode,
    verdict_from_close,
)
from symphony_core.runtime.sandbox.cgroups import CgroupStats
from symphony_core.runtime.sandbox.policy import SandboxProfile
from symphony_core.runtime.sandbox.watchdog import WatchdogStats

_MIB = 1 << 20
counts = st.none() | st.integers(0, 5)
cgroup_stats = st.builds(
    CgroupStats,
    memory_peak=st.none() | st.integers(0, 1 << 31),
    oom_kills=counts,
    pids_limit_hits=counts,
    cpu_usage_ns=st.none() | st.integers(0, 10**10),
)
watchdog_stats = st.builds(
    WatchdogStats,
    rss_bytes=st.integers(0, 1 << 31),
    peak_rss_bytes=st.integers(0, 1 << 31),
    cpu_seconds=st.floats(0, 10),
    throttled_seconds=st.floats(0, 10),
    killed_for=st.sampled_from([None, "memory"]),
    pids=st.just(()),
)
returncodes = st.none() | st.integers(-64, 255)
profiles = st.builds(
    SandboxProfile,
    memory_bytes=st.integers(16, 4096).map(lambda m: m * _MIB),
    cpu_seconds=st.none() | st.integers(1, 5),
    pids=st.integers(1, 256),
)
verdicts = st.none() | st.builds(
    CrashCause,
    kind=st.sampled_from(["hung", "call_timeout", "protocol", "flood", "not_reading"]),
    message=st.text(min_size=1, max_size=30),
)


@settings(max_examples=300, deadline=None)
@given(
    returncode=returncodes,
    verdict=verdicts,
    stats=st.none() | cgroup_stats | watchdog_stats,
    profile=profiles,
)
def test_the_cause_follows_the_evidence(
    returncode: int | None,
    verdict: CrashCause | None,
    stats: CgroupStats | WatchdogStats | None,
    profile: SandboxProfile,
) -> None:
    cause = classify(returncode=returncode, verdict=verdict, stats=stats, profile=profile, pid=42)
    assert cause.pid == 42
    assert cause.returncode == returncode
    assert cause.message
    oom = (isinstance(stats, CgroupStats) and bool(stats.oom_kills)) or (
        isinstance(stats, WatchdogStats) and stats.killed_for == "memory"
    )
    if verdict is not None:
        # The supervisor's own finding stays the cause; the counters only add notes.
        assert (cause.kind, cause.message) == (verdict.kind, verdict.message)
        assert any("memory limit" in n for n in cause.notes) == oom
    elif oom:
        assert cause.kind == "oom"
        assert cause.limit == f"memory {profile.memory_bytes // _MIB} MiB"
    elif returncode is None:
        assert cause.kind == "lost"
    elif profile.cpu_seconds is not None and returncode == -signal.SIGXCPU:
        assert cause.kind == "cpu_time"
        assert f"CPU time limit of {profile.cpu_seconds} s" in cause.message
    elif cause.kind == "cpu_time":
        assert returncode == -signal.SIGKILL
    elif isinstance(stats, CgroupStats) and stats.pids_limit_hits:
        assert cause.kind == "pids"
        assert f"process limit of {profile.pids}" in cause.message
    else:
        assert cause.kind == ("signal" if returncode < 0 else "exit")
        assert cause.message == describe_returncode(returncode)
    if returncode is not None and returncode < 0:
        assert cause.signal == -returncode
    # Always reportable as data.
    error = ExtensionCrashedError(cause, extension_id="a.b", during="node 'x'", outcome="next")
    assert msgspec.convert(error.to_dict()["details"]["cause"], CrashCause) == cause
    assert str(error).startswith("a.b: crashed during node 'x': ")


def test_return_codes_in_words() -> None:
    assert describe_returncode(-11) == "killed by signal 11 (SIGSEGV, segmentation fault)"
    assert describe_returncode(-9) == "killed by signal 9 (SIGKILL)"
    assert describe_returncode(-6) == "killed by signal 6 (SIGABRT, aborted)"
    assert describe_returncode(-99) == "killed by signal 99 (signal 99)"
    assert describe_returncode(3) == "exited with code 3"
    assert describe_returncode(0) == "exited with code 0 although it was not asked to stop"


def test_close_reasons_name_protocol_floods_and_readers_but_not_plain_ends() -> None:
    protocol = verdict_from_close("protocol violation by a.b#2: bad frame", "a.b")
    assert protocol is not None
    assert protocol.kind == "protocol"
    assert "a.b#2" not in protocol.message
    flood = verdict_from_close("a.b#1 is flooding: 20000 unsolicited frames dropped", "a.b")
    assert flood is not None
    assert flood.kind == "flood"
    slow = verdict_from_close("a.b#1 does not read: more than 1 bytes queued", "a.b")
    assert slow is not None
    assert slow.kind == "not_reading"
    assert verdict_from_close("peer closed the connection", "a.b") is None
    assert verdict_from_close("connection lost: [Errno 104] reset", "a.b") is None
