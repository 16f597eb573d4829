"""The audit witness (hook logic and the host-side reader) and the policy planner."""

from __future__ import annotations

import os
import socket
import struct

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symphony_core.runtime.sandbox import cgroups, policy, witness
from symphony_core.runtime.sandbox.errors import SandboxUnavailableError
from symphony_core.runtime.sandbox.policy import SandboxProfile, Weakening, plan
from symphony_core.runtime.sandbox.probe import KernelCapabilities

events = st.builds(
    witness.AuditEvent,
    action=st.text(max_size=20),
    target=st.text(max_size=200),
    rule=st.text(max_size=30),
    detail=st.text(max_size=50),
    pid=st.integers(0, 1 << 22),
    time=st.floats(0, 2e9),
)


def _frame(event: witness.AuditEvent) -> bytes:
    body = msgspec.msgpack.encode(event)
    return struct.pack("<I", len(body)) + body


@settings(max_examples=200)
@given(batch=st.lists(events, max_size=8), cuts=st.lists(st.integers(0, 4000), max_size=6))
def test_reader_reassembles_records_split_anywhere(
    batch: list[witness.AuditEvent], cuts: list[int]
) -> None:
    stream = b"".join(_frame(e) for e in batch)
    reader = witness.AuditReader()
    got: list[witness.AuditEvent] = []
    start = 0
    for cut in [*sorted(c % (len(stream) + 1) for c in cuts), len(stream)]:
        got += reader.feed(stream[start:cut])
        start = max(start, cut)
    assert reader.corrupt is None
    assert got == batch


@settings(max_examples=300)
@given(garbage=st.binary(max_size=5000))
def test_reader_never_raises_on_garbage(garbage: bytes) -> None:
    reader = witness.AuditReader()
    result = reader.feed(garbage)
    assert isinstance(result, list)
    assert all(isinstance(e, witness.AuditEvent) for e in result)
    # Once corrupt, it stays corrupt and yields nothing more.
    if reader.corrupt is not None:
        assert reader.feed(_frame(witness.AuditEvent(action="a", target="b", rule="c"))) == []


def test_reader_flags_oversized_and_wrong_shape() -> None:
    reader = witness.AuditReader()
    assert reader.feed(struct.pack("<I", 1 << 20)) == []
    assert "out of bounds" in (reader.corrupt or "")
    reader = witness.AuditReader()
    body = msgspec.msgpack.encode({"not": "an event"})
    assert reader.feed(struct.pack("<I", len(body)) + body) == []
    assert "malformed" in (reader.corrupt or "")


def _hook(tmp: str, **grants: object) -> tuple[witness._Witness, int]:
    read_end, write_end = os.pipe()
    params = {"read": (tmp + "/read",), "write": (tmp + "/write",)} | grants
    return witness._Witness(witness.WitnessPolicy(**params), write_end), read_end  # type: ignore[arg-type]


def _drain(fd: int) -> list[witness.AuditEvent]:
    os.set_blocking(fd, False)
    data = b""
    try:
        while chunk := os.read(fd, 65536):
            data += chunk
    except BlockingIOError:
        pass
    reader = witness.AuditReader()
    out = reader.feed(data)
    assert reader.corrupt is None
    return out


def test_hook_reports_only_what_the_grants_refuse(tmp_path: object) -> None:
    tmp = os.path.realpath(str(tmp_path))
    hook, fd = _hook(tmp, socket_families=(socket.AF_INET,), protected_pids=(4242,))
    calls = [
        ("open", (tmp + "/read/a.txt", "r", os.O_RDONLY)),  # allowed
        ("open", (tmp + "/write/b.txt", "w", os.O_WRONLY | os.O_CREAT)),  # allowed
        ("open", (tmp + "/read/c.txt", "w", 0)),  # write in a read-only path
        ("open", ("/etc/passwd", "r", 0)),  # read outside
        ("open", (3, "r", 0)),  # a descriptor: nothing to check
        ("os.rename", (tmp + "/write/x", tmp + "/elsewhere/x", -1, -1)),
        ("os.symlink", ("/etc/passwd", tmp + "/write/link", -1)),  # link inside: allowed
        ("os.symlink", ("/etc/passwd", tmp + "/read/link", -1)),
        ("os.chmod", (tmp + "/write/b.txt", 0o777, -1)),
        ("socket.__new__", (None, socket.AF_UNIX, socket.SOCK_STREAM, 0)),
        ("socket.__new__", (None, socket.AF_INET, socket.SOCK_STREAM, 0)),  # granted
        ("os.kill", (4242, 9)),
        ("os.kill", (-1, 9)),
        ("os.kill", (os.getpid(), 0)),  # allowed
        ("subprocess.Popen", ("/bin/sh", ["sh"], None, None)),
        ("os.listdir", ("/root",)),
        ("something.else", ("ignored",)),
    ]
    for event, args in calls:
        hook(event, args)
    seen = [(e.action, e.target, e.rule) for e in _drain(fd)]
    assert seen == [
        ("open", tmp + "/read/c.txt", "landlock.fs.write"),
        ("open", "/etc/passwd", "landlock.fs.read"),
        ("rename", tmp + "/elsewhere/x", "landlock.fs.write"),
        ("symlink", tmp + "/read/link", "landlock.fs.write"),
        ("chmod", tmp + "/write/b.txt", "seccomp.metadata"),
        ("socket", "AF_UNIX", "seccomp.socket"),
        ("kill", "4242", "seccomp.kill"),
        ("kill", "-1", "seccomp.kill"),
        ("exec", "/bin/sh", "seccomp.subprocess"),
        ("listdir", "/root", "landlock.fs.read"),
    ]
    os.close(fd)


def test_hook_survives_a_closed_pipe_and_bad_arguments(tmp_path: object) -> None:
    hook, fd = _hook(os.path.realpath(str(tmp_path)))
    os.close(fd)
    hook("open", ("/etc/passwd", "r", 0))  # EPIPE swallowed (SIGPIPE is ignored by Python)
    hook("open", (object(), None, None))
    hook("os.kill", ("not a pid", 9))
    hook("os.rename", ())


def _caps(**overrides: object) -> KernelCapabilities:
    statuses = {
        n: cgroups.ControllerStatus(name=n, version="v1", directory="/x", usable=True)
        for n in cgroups.CONTROLLERS
    }
    base: dict[str, object] = {
        "machine": "x86_64",
        "kernel": "6.18",
        "uid": 0,
        "is_root": True,
        "landlock_abi": 7,
        "landlock_error": None,
        "seccomp": True,
        "seccomp_error": None,
        "seccomp_mode": 0,
        "no_new_privs": False,
        "user_namespaces": True,
        "user_namespaces_error": None,
        "network_namespaces": True,
        "network_namespaces_error": None,
        "pidfd_open": True,
        "pidfd_open_error": None,
        "cgroups": cgroups.CgroupSupport(controllers=statuses),
        "probe_ms": 1.0,
    }
    base.update(overrides)
    return KernelCapabilities(**base)  # type: ignore[arg-type]


def test_plan_full_machine() -> None:
    result = plan(SandboxProfile(), _caps())
    assert result == policy.EnforcementPlan(
        landlock_abi=7, seccomp=True, netns=True, userns=False, cgroup=True, watchdog=False
    )
    assert plan(SandboxProfile(network="any"), _caps()).netns is False
    assert plan(SandboxProfile(), _caps(is_root=False, uid=1000)).userns is True


def test_plan_refuses_missing_mechanisms_unless_accepted() -> None:
    caps = _caps(cgroups=cgroups.CgroupSupport(), landlock_abi=0, landlock_error="absent")
    with pytest.raises(SandboxUnavailableError) as info:
        plan(SandboxProfile(), caps)
    text = str(info.value)
    assert "no-cgroups" in text
    assert "no-landlock" in text
    with pytest.raises(SandboxUnavailableError, match="no-landlock"):
        plan(SandboxProfile(), caps, ["no-cgroups"])
    accepted = plan(SandboxProfile(), caps, ["no-cgroups", "no-landlock"])
    assert accepted.watchdog
    assert not accepted.cgroup
    assert set(accepted.weakenings) == {Weakening.NO_CGROUPS, Weakening.NO_LANDLOCK}


def test_plan_limits_backend_choice() -> None:
    with pytest.raises(SandboxUnavailableError, match="no-cgroups"):
        plan(SandboxProfile(), _caps(), limits="watchdog")
    forced = plan(SandboxProfile(), _caps(), ["no-cgroups"], limits="watchdog")
    assert forced.watchdog
    assert not forced.cgroup
    with pytest.raises(SandboxUnavailableError, match="cgroup limits were required"):
        plan(
            SandboxProfile(),
            _caps(cgroups=cgroups.CgroupSupport()),
            ["no-cgroups"],
            limits="cgroup",
        )


def test_plan_loopback_needs_a_namespace() -> None:
    caps = _caps(network_namespaces=False, network_namespaces_error="absent")
    with pytest.raises(SandboxUnavailableError, match="loopback"):
        plan(SandboxProfile(network="loopback"), caps, ["no-netns"])
    assert plan(SandboxProfile(network="none"), caps, ["no-netns"]).netns is False


def test_plan_rejects_unknown_weakening() -> None:
    with pytest.raises(ValueError, match="unknown sandbox weakening"):
        plan(SandboxProfile(), _caps(), ["no-everything"])


@pytest.mark.parametrize(
    "bad",
    [
        {"memory_bytes": 1},
        {"cpu_share": 0},
        {"pids": 0},
        {"open_files": 3},
        {"cpu_seconds": 0},
        {"tcp_connect_ports": (0,)},
        {"tcp_connect_ports": (80,)},  # needs network="any"
        {"fs_exec": ("/bin",)},  # needs subprocess
    ],
)
def test_profile_validation(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        SandboxProfile(**bad)  # type: ignore[arg-type]


def test_profile_round_trips_and_refuses_unknown_fields() -> None:
    profile = SandboxProfile(network="any", tcp_connect_ports=(443,), fs_read=("/opt/x",))
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(profile), type=SandboxProfile) == profile
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"memory_bytes": 1073741824, "root": true}', type=SandboxProfile)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"memory_bytes": 1}', type=SandboxProfile)
