"""End to end: the policy's grant is what the kernel enforces, and refusals reach the audit log.

A real sandboxed child (the launcher's self-test ``attempt`` target) runs with a profile
from :class:`PermissionService`; every denial has a positive control — the same access
with the grant succeeds and logs nothing.
"""

from __future__ import annotations

import errno
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from permissions_helpers import config, record

from symphony_core.audit import AuditEntry, AuditLog
from symphony_core.config import Config
from symphony_core.permissions import Grant, LimitGrant, PermissionService, data_dir, grant
from symphony_core.permissions.effective import beneath
from symphony_core.runtime.sandbox import selftest
from symphony_core.runtime.sandbox.launcher import Launcher
from symphony_core.runtime.sandbox.policy import SandboxProfile
from symphony_core.runtime.sandbox.probe import probe_kernel

CAPS = probe_kernel()
pytestmark = pytest.mark.skipif(
    CAPS.landlock_abi == 0 or not CAPS.seccomp,
    reason="no Landlock or seccomp here: nothing would be enforced (see `symphony doctor`)",
)
# Whatever else this machine lacks (cgroups...) does not matter to these tests.
ACCEPT = tuple(w.value for w in CAPS.guarantees().required_weakenings)


class World:
    def __init__(self, root: Path, cfg: Config, log: AuditLog, launcher: Launcher) -> None:
        self.root = root
        self.cfg = cfg
        self.log = log
        self.launcher = launcher
        self.service = PermissionService(cfg)

    def file(self, name: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o755)
        path.write_text("a file any uid may read\n")
        path.chmod(0o644)
        return path

    def grant(self, key: str, change: Grant) -> None:
        with self.service.store.edit() as draft:
            draft.policy = grant(draft.policy, key, change)

    def probe(
        self, ext: str, name: str, params: dict[str, Any], profile: SandboxProfile
    ) -> tuple[selftest.Outcome, int]:
        session = selftest.start_probe(self.launcher, name, params, profile, extension_id=ext)
        try:
            outcome = session.outcome(30)
            pid = session.process.pid
        finally:
            session.close()
        assert outcome is not None, "the probe died"
        return outcome, pid

    def logged(self, match: Callable[[AuditEntry], bool], timeout: float = 10.0) -> AuditEntry:
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.log.query() if match(e)]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no matching audit entry in {list(self.log.query())}")
            time.sleep(0.02)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("permissions-sandbox")
    root.chmod(0o755)
    cfg = config(root / "home")
    log = AuditLog.for_config(cfg)
    launcher = Launcher(audit_sink=log.sink(), accept_weaker=ACCEPT)
    launcher.start_server()
    launcher.wait_ready()
    try:
        yield World(root, cfg, log, launcher)
    finally:
        launcher.close()
        log.close()


def test_a_read_not_granted_is_refused_and_logged(world: World) -> None:
    secret = world.file("outside/readable.txt")
    control = selftest.run_unconfined("read_file", {"path": str(secret)})
    assert control.ok, f"positive control failed, the probe proves nothing: {control}"

    rec = record(world.root, "acme.reader")
    profile = world.service.profile_for(rec)
    assert not any(beneath(str(secret), r) for r in profile.fs_read)
    outcome, pid = world.probe(rec.id, "read_file", {"path": str(secret)}, profile)
    assert outcome.errno == errno.EACCES, outcome
    entry = world.logged(lambda e: e.extension == rec.id and e.target == str(secret))
    assert entry.pid == pid
    assert (entry.action, entry.code, entry.mechanism) == ("open", "landlock.fs.read", "landlock")
    assert entry.rule == f"landlock: fs.read not granted for {secret}"

    # With the grant, the same read succeeds and nothing more is logged for it.
    world.grant(rec.id, Grant(read=(str(secret.parent),)))
    granted = world.service.profile_for(rec)
    outcome, _ = world.probe(rec.id, "read_file", {"path": str(secret)}, granted)
    assert outcome.ok, outcome
    assert outcome.value == len("a file any uid may read\n")
    # A later refusal of the same extension is the barrier: once it is logged, anything
    # the granted read had logged would be too.
    other = world.file("elsewhere/other.txt")
    outcome, _ = world.probe(rec.id, "read_file", {"path": str(other)}, granted)
    assert outcome.errno == errno.EACCES
    world.logged(lambda e: e.extension == rec.id and e.target == str(other))
    hits = [e for e in world.log.query(extension=rec.id) if e.target == str(secret)]
    assert len(hits) == 1


def test_data_directory_writes_are_the_intersection(world: World) -> None:
    rec = record(world.root, "acme.writer", permissions={"filesystem": {"write": ["out"]}})
    world.grant("acme.writer", Grant(write=(".",)))  # grants what it asks in its data dir
    profile = world.service.profile_for(rec)
    data = data_dir(world.cfg, rec.id)
    inside = data / "out" / "result.txt"
    outcome, _ = world.probe(rec.id, "write_file", {"path": str(inside)}, profile)
    assert outcome.ok, outcome
    assert inside.read_text() == "written by the sandbox self-test\n"

    beside = data / "not-asked.txt"  # in its data dir, but never asked for
    outcome, _ = world.probe(rec.id, "write_file", {"path": str(beside)}, profile)
    assert outcome.errno == errno.EACCES, outcome
    assert not beside.exists()
    entry = world.logged(lambda e: e.extension == rec.id and e.target == str(beside))
    assert entry.code == "landlock.fs.write"


def test_network_asked_but_not_granted_is_refused_and_logged(world: World) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        rec = record(world.root, "acme.net", permissions={"network": "any"})
        grant_ = world.service.grant_for(rec)
        assert [s.describe() for s in grant_.shortfalls] == ["network: asked any, granted none"]
        profile = world.service.profile_for(rec)
        outcome, _ = world.probe(rec.id, "tcp_connect", {"port": port}, profile)
        assert outcome.errno == errno.EPERM, outcome
        entry = world.logged(lambda e: e.extension == rec.id and e.action == "socket")
        assert entry.rule == "seccomp: socket family AF_INET denied"
    finally:
        listener.close()


def test_granted_env_and_limits_reach_the_child(world: World) -> None:
    os.environ["SYMPHONY_TEST_GRANTED"] = "yes"
    os.environ["SYMPHONY_TEST_HIDDEN"] = "no"
    try:
        rec = record(
            world.root,
            "acme.env",
            permissions={"env": ["SYMPHONY_TEST_GRANTED", "SYMPHONY_TEST_HIDDEN"]},
            limits={"open-files": 100, "cpu-time": 300},
        )
        world.grant(
            "acme.env",
            Grant(
                env=("SYMPHONY_TEST_GRANTED",),
                limits=LimitGrant(cpu_time=30, file_size="64MiB"),
            ),
        )
        profile = world.service.profile_for(rec)
        outcome, _ = world.probe(rec.id, "introspect", {}, profile)
        assert outcome.ok, outcome
        facts = outcome.value
        env = {k: v for k, v in facts["env"].items() if k != "PYTHONDONTWRITEBYTECODE"}
        assert env == {"SYMPHONY_TEST_GRANTED": "yes"}  # nothing else of the host's
        assert facts["rlimits"]["RLIMIT_NOFILE"] == [100, 100]  # asked less than the ceiling
        assert facts["rlimits"]["RLIMIT_CPU"][0] == 30  # asked more: the ceiling
        assert facts["rlimits"]["RLIMIT_FSIZE"] == [64 << 20, 64 << 20]
        assert facts["cwd"] == profile.scratch_dir
    finally:
        del os.environ["SYMPHONY_TEST_GRANTED"]
        del os.environ["SYMPHONY_TEST_HIDDEN"]
