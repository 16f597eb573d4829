"""cgroups: discovery on synthetic layouts, and real limits, kill and stats on this machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from symphony_core.runtime.sandbox import cgroups
from symphony_core.runtime.sandbox.errors import MechanismUnavailableError


def _line(mountpoint: Path, fstype: str, options: str, root: str = "/") -> str:
    return f"30 25 0:26 {root} {mountpoint} rw,nosuid - {fstype} {fstype} {options}"


def test_discover_v1_layout(tmp_path: Path) -> None:
    for name in ("memory", "cpu,cpuacct", "pids"):
        (tmp_path / name / "me").mkdir(parents=True)
    mountinfo = "\n".join(
        [
            _line(tmp_path / "memory", "cgroup", "rw,memory"),
            _line(tmp_path / "cpu,cpuacct", "cgroup", "rw,cpu,cpuacct"),
            _line(tmp_path / "pids", "cgroup", "rw,pids"),
            "22 1 8:1 / / rw - ext4 /dev/sda rw",
        ]
    )
    proc = "4:memory:/me\n3:cpu,cpuacct:/me\n2:pids:/me\n0::/\n"
    support = cgroups.discover(mountinfo=mountinfo, proc_cgroup=proc)
    assert support.v1_controllers == ("cpu", "cpuacct", "memory", "pids")
    assert support.versions == ("v1",)
    assert support.complete
    assert support.controllers["cpu"].directory == str(tmp_path / "cpu,cpuacct" / "me")
    # cpu,cpuacct co-mounted: accounting lives in the cpu directory, no extra one.
    assert support.accounting_dir is None
    # The usability probe left nothing behind.
    assert not list((tmp_path / "memory" / "me").iterdir())


def test_discover_v2_delegated_and_not(tmp_path: Path) -> None:
    own = tmp_path / "unified" / "user.slice" / "app"
    own.mkdir(parents=True)
    (own / "cgroup.controllers").write_text("cpu memory pids io\n")
    (own / "cgroup.subtree_control").write_text("memory pids\n")
    mountinfo = _line(tmp_path / "unified", "cgroup2", "rw,nsdelegate")
    support = cgroups.discover(mountinfo=mountinfo, proc_cgroup="0::/user.slice/app\n")
    assert support.versions == ("v2",)
    assert support.v2_delegated == ("memory", "pids")
    assert support.usable == ("memory", "pids")
    cpu = support.controllers["cpu"]
    assert not cpu.usable
    assert "subtree_control" in (cpu.reason or "")
    assert not support.complete


def test_discover_mount_root_is_stripped(tmp_path: Path) -> None:
    # Inside a container the mount root is the container's own cgroup.
    (tmp_path / "pids" / "inner").mkdir(parents=True)
    mountinfo = _line(tmp_path / "pids", "cgroup", "rw,pids", root="/docker/abc")
    support = cgroups.discover(mountinfo=mountinfo, proc_cgroup="2:pids:/docker/abc/inner\n")
    assert support.controllers["pids"].directory == str(tmp_path / "pids" / "inner")


def test_discover_nothing_mounted_says_why() -> None:
    support = cgroups.discover(mountinfo="", proc_cgroup="")
    assert support.versions == ()
    for status in support.controllers.values():
        assert not status.usable
        assert "not mounted" in (status.reason or "")


def test_discover_refused_directory(tmp_path: Path) -> None:
    (tmp_path / "pids").mkdir()
    support = cgroups.discover(
        mountinfo=_line(tmp_path / "pids", "cgroup", "rw,pids"),
        proc_cgroup="2:pids:/missing\n",
    )
    status = support.controllers["pids"]
    assert not status.usable
    assert "cannot create a child cgroup" in (status.reason or "")


def test_create_refuses_when_required_controller_missing() -> None:
    support = cgroups.discover(mountinfo="", proc_cgroup="")
    with pytest.raises(MechanismUnavailableError, match="memory"):
        cgroups.Cgroup.create("x", support=support)


@pytest.fixture(scope="module")
def real_support() -> cgroups.CgroupSupport:
    support = cgroups.discover()
    if not support.complete:
        refused = "; ".join(
            f"{c.name}: {c.reason}" for c in support.controllers.values() if not c.usable
        )
        pytest.skip(f"cgroups not delegated to uid {os.geteuid()}: {refused}")
    return support


def test_limits_are_written(real_support: cgroups.CgroupSupport) -> None:
    with cgroups.Cgroup.create(
        "limits", memory_bytes=64 << 20, cpu_share=0.25, pids=7, support=real_support
    ) as group:
        memory = group.directories["memory"]
        if group.versions["memory"] == "v1":
            assert int((memory / "memory.limit_in_bytes").read_text()) == 64 << 20
            assert int((group.directories["cpu"] / "cpu.cfs_quota_us").read_text()) == 25_000
        else:
            assert int((memory / "memory.max").read_text()) == 64 << 20
        assert (group.directories["pids"] / "pids.max").read_text().strip() == "7"
        stats = group.stats()
        assert stats.memory_limit == 64 << 20
        assert stats.pids_current == 0
    for directory in group.directories.values():
        assert not directory.exists()


def test_kill_reaches_setsid_grandchildren(real_support: cgroups.CgroupSupport) -> None:
    group = cgroups.Cgroup.create("kill", pids=32, support=real_support)
    script = (
        "import os,time\n"
        "for _ in range(3):\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(60)\n"
        "        time.sleep(60)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    procs = ",".join(group.procs_files)
    joiner = f"for f in {procs!r}.split(','): open(f,'w').write(str(__import__('os').getpid()))\n"
    child = subprocess.Popen(
        [sys.executable, "-c", joiner + script], stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"ready"
        deadline = time.monotonic() + 5
        while len(group.pids()) < 7 and time.monotonic() < deadline:
            time.sleep(0.01)
        members = group.pids()
        assert len(members) == 7  # the child, 3 setsid children, 3 grandchildren
        killed = group.kill()
        assert killed == 7
        child.wait(timeout=5)
        assert child.returncode == -signal.SIGKILL
        for pid in members - {child.pid}:
            assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        group.remove()


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"
    except OSError:
        return True


def test_sweep_stale_removes_cgroups_of_dead_hosts(real_support: cgroups.CgroupSupport) -> None:
    # A pid that is certainly not alive: a finished child we reaped.
    proc = subprocess.Popen(["true"])
    proc.wait()
    directory = Path(real_support.controllers["pids"].directory or "") / (
        f"symphony-{proc.pid}-1-stale"
    )
    directory.mkdir()
    try:
        removed = cgroups.sweep_stale(real_support)
        assert str(directory) in removed
        assert not directory.exists()
    finally:
        if directory.exists():
            directory.rmdir()
    own = cgroups.Cgroup.create("mine", support=real_support)
    try:
        assert not [r for r in cgroups.sweep_stale(real_support) if own.name in r]
        assert own.directories["pids"].exists()
    finally:
        own.close()


def test_add_moves_a_process(real_support: cgroups.CgroupSupport) -> None:
    with cgroups.Cgroup.create("add", support=real_support) as group:
        child = subprocess.Popen(["sleep", "30"], start_new_session=True)
        try:
            group.add(child.pid)
            assert group.pids() == {child.pid}
            own = Path(f"/proc/{child.pid}/cgroup").read_text()
            assert group.name in own
        finally:
            group.kill()
            child.wait()
    assert os.path.exists("/proc/self")
