"""probe_kernel: facts match the kernel, nothing changes in the host, nothing raises."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symphony_core.runtime.sandbox import cgroups, probe, syscalls
from symphony_core.runtime.sandbox.policy import Weakening
from symphony_core.runtime.sandbox.probe import KernelCapabilities, probe_kernel


def _own_namespaces() -> dict[str, str]:
    return {ns: os.readlink(f"/proc/self/ns/{ns}") for ns in ("net", "user", "mnt")}


def _status_field(name: str) -> str:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(name)


def test_facts_match_independent_checks() -> None:
    caps = probe_kernel()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    raw = libc.syscall(
        ctypes.c_long(444), ctypes.c_void_p(None), ctypes.c_long(0), ctypes.c_long(1)
    )
    assert caps.landlock_abi == max(int(raw), 0)
    assert caps.is_root == (os.geteuid() == 0)
    assert caps.uid == os.geteuid()
    assert caps.seccomp_mode == int(_status_field("Seccomp"))
    assert caps.pidfd_open == hasattr(os, "pidfd_open")
    if shutil.which("unshare"):
        expected = (
            subprocess.run(["unshare", "--user", "true"], capture_output=True).returncode == 0
        )
        assert caps.user_namespaces == expected
    for name, status in caps.cgroups.controllers.items():
        assert name in cgroups.CONTROLLERS
        if status.usable:
            assert status.directory is not None
            assert Path(status.directory).is_dir()
        else:
            assert status.reason


def test_probe_changes_nothing_in_the_host() -> None:
    before_ns = _own_namespaces()
    before_nnp, before_seccomp = _status_field("NoNewPrivs"), _status_field("Seccomp")
    caps = probe_kernel()
    assert _own_namespaces() == before_ns
    assert _status_field("NoNewPrivs") == before_nnp
    assert _status_field("Seccomp") == before_seccomp
    for status in caps.cgroups.controllers.values():
        if status.directory:
            leftovers = [p for p in Path(status.directory).iterdir() if "probe" in p.name]
            assert not [p for p in leftovers if p.name.startswith("symphony-probe")]


def test_fork_fallback_agrees_with_the_unshare_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    with_binary = probe_kernel()
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    without = probe_kernel()
    assert without.user_namespaces == with_binary.user_namespaces
    assert without.network_namespaces == with_binary.network_namespaces


def test_every_probe_failure_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(syscalls, "syscall", broken)
    monkeypatch.setattr(syscalls, "prctl", broken)
    monkeypatch.setattr(cgroups, "discover", broken)
    monkeypatch.setattr(subprocess, "Popen", broken)
    monkeypatch.setattr(os, "pidfd_open", broken)
    caps = probe_kernel()
    assert caps.landlock_abi == 0
    assert "boom" in (caps.landlock_error or "")
    assert not caps.seccomp
    assert "boom" in (caps.seccomp_error or "")
    assert not caps.user_namespaces
    assert "boom" in (caps.user_namespaces_error or "")
    assert not caps.network_namespaces
    assert "boom" in (caps.network_namespaces_error or "")
    assert not caps.pidfd_open
    assert "boom" in (caps.pidfd_open_error or "")
    assert not caps.cgroups.complete
    assert all("boom" in (c.reason or "") for c in caps.cgroups.controllers.values())
    guarantees = caps.guarantees()
    assert set(guarantees.required_weakenings) == {
        Weakening.NO_LANDLOCK,
        Weakening.NO_SECCOMP,
        Weakening.NO_NETNS,
        Weakening.NO_CGROUPS,
    }


def test_landlock_errno_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    def enosys(*_args: object) -> int:
        raise OSError(38, "nope")

    monkeypatch.setattr(syscalls, "syscall", enosys)
    abi, reason = probe._landlock()
    assert abi == 0
    assert "without Landlock" in (reason or "")


def test_capabilities_round_trip_as_json() -> None:
    caps = probe_kernel()
    again = msgspec.json.decode(msgspec.json.encode(caps), type=KernelCapabilities)
    assert again == caps


def _caps(
    *,
    abi: int,
    seccomp: bool,
    netns: bool,
    controllers: tuple[bool, bool, bool],
    root: bool = True,
) -> KernelCapabilities:
    statuses = {
        name: cgroups.ControllerStatus(
            name=name,
            version="v1" if ok else "none",
            directory="/x" if ok else None,
            usable=ok,
            reason=None if ok else "absent",
        )
        for name, ok in zip(cgroups.CONTROLLERS, controllers, strict=True)
    }
    return KernelCapabilities(
        machine="x86_64",
        kernel="6.0",
        uid=0 if root else 1000,
        is_root=root,
        landlock_abi=abi,
        landlock_error=None if abi else "absent",
        seccomp=seccomp,
        seccomp_error=None if seccomp else "absent",
        seccomp_mode=0,
        no_new_privs=False,
        user_namespaces=netns,
        user_namespaces_error=None,
        network_namespaces=netns,
        network_namespaces_error=None if netns else "absent",
        pidfd_open=True,
        pidfd_open_error=None,
        cgroups=cgroups.CgroupSupport(controllers=statuses),
        probe_ms=1.0,
    )


@settings(max_examples=200)
@given(
    abi=st.integers(0, 8),
    seccomp=st.booleans(),
    netns=st.booleans(),
    controllers=st.tuples(st.booleans(), st.booleans(), st.booleans()),
    root=st.booleans(),
)
def test_required_weakenings_are_exactly_the_missing_mechanisms(
    abi: int,
    seccomp: bool,
    netns: bool,
    controllers: tuple[bool, bool, bool],
    root: bool,
) -> None:
    caps = _caps(abi=abi, seccomp=seccomp, netns=netns, controllers=controllers, root=root)
    guarantees = caps.guarantees()
    expected = set()
    if abi == 0:
        expected.add(Weakening.NO_LANDLOCK)
    elif abi < 6:
        expected.add(Weakening.LANDLOCK_PARTIAL)
    if not seccomp:
        expected.add(Weakening.NO_SECCOMP)
    if not netns:
        expected.add(Weakening.NO_NETNS)
    if not all(controllers):
        expected.add(Weakening.NO_CGROUPS)
    assert set(guarantees.required_weakenings) == expected
    assert guarantees.full == (not expected)
    inactive = {g.name for g in guarantees.items if not g.active}
    assert ("filesystem" in inactive) == (abi == 0)
    assert ("memory" in inactive) == (not controllers[0])
    assert ("cpu-share" in inactive) == (not controllers[1])
    # A non-root host's child counts RLIMIT_NPROC in its own user namespace.
    assert ("process-count" in inactive) == (not controllers[2] and (root or not netns))
    mechanisms = {g.name: g.mechanism for g in guarantees.items}
    if not controllers[2] and not root and netns:
        assert mechanisms["process-count"] == "RLIMIT_NPROC in the child's own user namespace"
    assert ("tree-kill" in inactive) == (not controllers[2])
    lines = guarantees.describe()
    assert sum(1 for line in lines if line.startswith("needs opt-in")) == len(expected)


def _child_cgroup_errno(directory: Path) -> int | None:
    """Try what the probe tries, independently: create and remove a child cgroup."""
    child = directory / f"symphony-test-{os.getpid()}"
    try:
        child.mkdir()
    except OSError as exc:
        return exc.errno
    child.rmdir()
    return None


def test_probe_as_an_unprivileged_user_reports_cgroups_unusable() -> None:
    """Run the probe as ``nobody`` with Debian's world-readable python (if present).

    When this suite itself runs as a non-root user, the probe runs here and is checked
    against this uid's own attempt to create a child cgroup.
    """
    if os.geteuid() != 0:
        caps = probe_kernel()
        assert caps.uid == os.geteuid()
        assert not caps.is_root
        for status in caps.cgroups.controllers.values():
            if status.version != "v1" or status.directory is None:
                continue
            refused = _child_cgroup_errno(Path(status.directory))
            assert status.usable == (refused is None), status
            if refused is not None:
                assert os.strerror(refused) in (status.reason or ""), status
        required = caps.guarantees().required_weakenings
        assert (Weakening.NO_CGROUPS in required) == (not caps.cgroups.complete)
        return
    system_python = Path("/usr/bin/python3")
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None or not system_python.exists():
        pytest.skip("needs root, setpriv and /usr/bin/python3 to switch to nobody")
    site = next(p for p in sys.path if p.endswith("site-packages"))
    repo = str(Path(probe.__file__).resolve().parents[3])
    code = (
        "import msgspec;from symphony_core.runtime.sandbox import probe_kernel;"
        "print(msgspec.json.encode(probe_kernel()).decode())"
    )
    result = subprocess.run(
        [
            setpriv,
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            str(system_python),
            "-c",
            code,
        ],
        env={"PYTHONPATH": f"{repo}:{site}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        cwd="/",
        timeout=60,
    )
    if result.returncode != 0 and "No module named" in result.stderr:
        pytest.skip(f"the checkout is not readable by nobody: {result.stderr[-200:]}")
    assert result.returncode == 0, result.stderr
    caps = msgspec.json.decode(result.stdout, type=KernelCapabilities)
    assert caps.uid == 65534
    assert not caps.is_root
    root_caps = probe_kernel()
    assert caps.landlock_abi == root_caps.landlock_abi
    assert caps.seccomp == root_caps.seccomp
    # Nothing here is delegated to nobody: the probe must say so, with a reason.
    for status in caps.cgroups.controllers.values():
        if status.version == "v1":
            assert not status.usable
            assert "Permission denied" in (status.reason or "")
    assert Weakening.NO_CGROUPS in caps.guarantees().required_weakenings


def test_syscall_table_matches_libseccomp() -> None:
    try:
        lib = ctypes.CDLL("libseccomp.so.2")
    except OSError:
        pytest.skip("libseccomp is not installed")
    resolve = lib.seccomp_syscall_resolve_name_arch
    resolve.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
    resolve.restype = ctypes.c_int
    tokens = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
    newer = {"setxattrat", "removexattrat"}  # Linux 6.13; unknown to libseccomp 2.5
    for machine, table in syscalls.SYSCALLS.items():
        for name, nr in table.items():
            resolved = resolve(tokens[machine], name.encode())
            if resolved < 0 and name in newer:
                continue
            assert resolved == nr, (machine, name)
