"""Attacks on the sandbox boundary: files, network, other processes, inherited descriptors.

Every denial has a positive control: the same probe, run without the sandbox
(``selftest.run_unconfined``), must succeed — otherwise a silently inactive sandbox
would pass. Denials the audit witness can see must also be logged.
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from attack_harness import Recorder, sandbox_unavailable

from symphony_core.runtime.sandbox import selftest
from symphony_core.runtime.sandbox.launcher import Launcher
from symphony_core.runtime.sandbox.policy import SandboxProfile
from symphony_core.runtime.sandbox.probe import probe_kernel

CAPS = probe_kernel()
UNAVAILABLE = sandbox_unavailable(CAPS)  # `no-cgroups` is accepted: nothing here needs cgroups
pytestmark = pytest.mark.skipif(UNAVAILABLE is not None, reason=UNAVAILABLE or "")


def control(name: str, params: dict[str, object], **kw: object) -> selftest.Outcome:
    outcome = selftest.run_unconfined(name, params, **kw)  # type: ignore[arg-type]
    assert outcome.ok, f"positive control failed, the probe proves nothing: {outcome}"
    return outcome


def sandboxed(
    launcher: Launcher,
    name: str,
    params: dict[str, object],
    profile: SandboxProfile | None = None,
    ext: str = "attacker.ext",
) -> selftest.Outcome:
    run = selftest.run_sandboxed(
        launcher, name, params, profile or SandboxProfile(), extension_id=ext
    )
    assert run.outcome is not None, f"the probe died: {run}"
    return run.outcome


@pytest.fixture
def area(tmp_path: Path) -> dict[str, Path]:
    tmp_path.chmod(0o755)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "readable.txt"
    secret.write_text("a file any uid may read\n")
    secret.chmod(0o644)
    return {"scratch": scratch, "outside": outside, "secret": secret}


def logged(recorder: Recorder, ext: str, rule: str, target: str | None = None) -> None:
    recorder.wait_for(
        lambda r: (
            r.extension_id == ext
            and r.event.rule == rule
            and (target is None or r.event.target == target)
        )
    )


def test_read_a_readable_file_outside(
    launcher: Launcher, recorder: Recorder, area: dict[str, Path]
) -> None:
    for path in (str(area["secret"]), "/etc/passwd"):
        control("read_file", {"path": path})
        got = sandboxed(launcher, "read_file", {"path": path}, ext="attacker.read")
        assert got.errno == errno.EACCES
        logged(recorder, "attacker.read", "landlock.fs.read", os.path.realpath(path))


def test_write_outside_scratch(
    launcher: Launcher, recorder: Recorder, area: dict[str, Path]
) -> None:
    target = area["outside"] / "dropped.txt"
    control("write_file", {"path": str(target)})
    target.unlink()
    profile = SandboxProfile(scratch_dir=str(area["scratch"]))
    got = sandboxed(launcher, "write_file", {"path": str(target)}, profile, ext="attacker.write")
    assert got.errno == errno.EACCES
    assert not target.exists()
    logged(recorder, "attacker.write", "landlock.fs.write", str(target))
    inside = sandboxed(launcher, "write_file", {"path": str(area["scratch"] / "ok.txt")}, profile)
    assert inside.ok
    assert (area["scratch"] / "ok.txt").exists()


@pytest.mark.parametrize(
    ("probe", "denied"),
    [
        ("symlink_out", {errno.EACCES}),
        ("hardlink_out", {errno.EXDEV, errno.EACCES}),
        ("rename_out", {errno.EXDEV, errno.EACCES}),
    ],
)
def test_link_and_rename_out_of_scratch(
    launcher: Launcher, area: dict[str, Path], probe: str, denied: set[int]
) -> None:
    target = area["secret"] if probe != "rename_out" else area["outside"] / "moved.txt"
    control_scratch = area["scratch"].parent / "control-scratch"
    control_scratch.mkdir()
    control(probe, {"scratch": str(control_scratch), "target": str(target)})
    if probe == "rename_out":
        target.unlink()
    profile = SandboxProfile(scratch_dir=str(area["scratch"]))
    got = sandboxed(
        launcher, probe, {"scratch": str(area["scratch"]), "target": str(target)}, profile
    )
    assert got.errno in denied, got
    assert area["secret"].read_text() == "a file any uid may read\n"
    if probe == "rename_out":
        assert not target.exists()


@pytest.fixture
def tcp_listener() -> Iterator[tuple[int, list[str]]]:
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, peer = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(str(peer))
            with conn:
                conn.sendall(b"hello from the host")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join(2)
    server.close()


def test_tcp_connect_to_a_host_listener(
    launcher: Launcher, recorder: Recorder, tcp_listener: tuple[int, list[str]]
) -> None:
    port, accepted = tcp_listener
    assert control("tcp_connect", {"port": port}).value == "hello from the host"
    assert len(accepted) == 1
    none = sandboxed(
        launcher, "tcp_connect", {"port": port}, SandboxProfile(network="none"), ext="attacker.tcp"
    )
    assert none.errno == errno.EPERM  # no AF_INET socket at all
    logged(recorder, "attacker.tcp", "seccomp.socket", "AF_INET")
    loopback = sandboxed(
        launcher, "tcp_connect", {"port": port}, SandboxProfile(network="loopback")
    )
    assert loopback.errno in (errno.ECONNREFUSED, errno.ENETUNREACH)  # its own, empty loopback
    if CAPS.landlock_abi >= 4:
        other_port = (port % 60000) + 1024
        ports = SandboxProfile(network="any", tcp_connect_ports=(other_port,))
        restricted = sandboxed(launcher, "tcp_connect", {"port": port}, ports)
        assert restricted.errno == errno.EACCES
    assert len(accepted) == 1  # the host saw no connection from any sandbox


@pytest.fixture
def unix_listeners(tmp_path: Path) -> Iterator[tuple[str, str]]:
    path = str(tmp_path / "host.sock")
    abstract = f"symphony-attack-{os.getpid()}-{id(tmp_path)}"
    servers = []
    for address in (path, "\0" + abstract):
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(address)
        server.listen()
        servers.append(server)
    stop = threading.Event()

    def serve(server: socket.socket) -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.sendall(b"docker.sock says hi")

    threads = [threading.Thread(target=serve, args=(s,), daemon=True) for s in servers]
    for t in threads:
        t.start()
    yield path, abstract
    stop.set()
    for t in threads:
        t.join(2)
    for s in servers:
        s.close()


def test_connect_to_unix_sockets(
    launcher: Launcher, recorder: Recorder, unix_listeners: tuple[str, str]
) -> None:
    path, abstract = unix_listeners
    assert control("unix_connect", {"path": path}).value == "docker.sock says hi"
    assert control("unix_connect", {"abstract": abstract}).value == "docker.sock says hi"
    control("raw_unix_socket", {})
    for network in ("none", "any"):
        profile = SandboxProfile(network=network)
        assert (
            sandboxed(launcher, "unix_connect", {"path": path}, profile, ext="attacker.unix").errno
            == errno.EPERM
        )
        assert (
            sandboxed(launcher, "unix_connect", {"abstract": abstract}, profile).errno
            == errno.EPERM
        )
        # Through libc directly: no audit event, the kernel still refuses.
        assert sandboxed(launcher, "raw_unix_socket", {}, profile).errno == errno.EPERM
    logged(recorder, "attacker.unix", "seccomp.socket", "AF_UNIX")


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def test_signal_and_ptrace_other_processes(
    launcher: Launcher, recorder: Recorder, bystander: subprocess.Popen[bytes]
) -> None:
    host = os.getpid()
    control("kill", {"pid": host, "signal": 0})
    control("kill", {"pid": bystander.pid, "signal": 0})
    control("ptrace", {"pid": bystander.pid})
    assert (
        sandboxed(launcher, "kill", {"pid": host, "signal": 15}, ext="attacker.kill").errno
        == errno.EPERM
    )
    logged(recorder, "attacker.kill", "seccomp.kill", str(host))
    assert launcher.server_pid is not None
    assert (
        sandboxed(launcher, "kill", {"pid": launcher.server_pid, "signal": 9}).errno == errno.EPERM
    )
    assert sandboxed(launcher, "kill", {"pid": bystander.pid, "signal": 15}).errno == errno.EPERM
    assert sandboxed(launcher, "kill", {"pid": -1, "signal": 15}).errno == errno.EPERM
    assert sandboxed(launcher, "ptrace", {"pid": bystander.pid}).errno == errno.EPERM
    assert sandboxed(launcher, "ptrace", {"pid": host}).errno == errno.EPERM
    assert bystander.poll() is None  # alive and untraced


def test_read_the_host_through_proc(launcher: Launcher) -> None:
    control("read_proc", {"pid": os.getpid(), "file": "environ"})
    got = sandboxed(launcher, "read_proc", {"pid": os.getpid(), "file": "environ"})
    assert got.errno == errno.EACCES
    own = sandboxed(launcher, "read_proc", {"pid": "self", "file": "status"})
    assert own.ok  # its own /proc entry stays readable


def test_use_an_inherited_descriptor(launcher: Launcher) -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, b"host secret in a pipe")
    os.set_inheritable(read_end, True)
    try:
        got = control("use_fd", {"fd": read_end}, pass_fds=(read_end,))
        assert got.value == "host secret in a pipe"
        os.write(write_end, b"host secret in a pipe")
        denied = sandboxed(launcher, "use_fd", {"fd": read_end})
        assert denied.errno == errno.EBADF
    finally:
        os.close(read_end)
        os.close(write_end)


def test_metadata_of_files_outside(
    launcher: Launcher, recorder: Recorder, area: dict[str, Path]
) -> None:
    control("chmod", {"path": str(area["secret"]), "mode": 0o644})
    got = sandboxed(
        launcher, "chmod", {"path": str(area["secret"]), "mode": 0o666}, ext="attacker.chmod"
    )
    assert got.errno == errno.EPERM
    assert area["secret"].stat().st_mode & 0o777 == 0o644
    logged(recorder, "attacker.chmod", "seccomp.metadata")


@pytest.mark.parametrize(
    ("probe", "params"),
    [
        ("setrlimit", {}),
        ("unshare", {"flags": 0x10000000}),
        ("exec", {"path": "/bin/true"}),
        ("socket", {"family": socket.AF_NETLINK, "stream": False}),
        ("socket", {"family": socket.AF_PACKET, "stream": False}),
    ],
)
def test_kernel_surface(launcher: Launcher, probe: str, params: dict[str, object]) -> None:
    needs_root = probe == "socket" and params["family"] == socket.AF_PACKET  # CAP_NET_RAW
    if os.geteuid() == 0 or not needs_root:
        control(probe, params)
    assert sandboxed(launcher, probe, params).errno == errno.EPERM
