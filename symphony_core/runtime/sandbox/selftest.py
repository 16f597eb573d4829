"""Self-test targets: a handshake and attack probes that prove the sandbox live.

These are the launcher's built-in allow-listed targets. :func:`handshake` answers the
host (the start-up benchmark measures launch to handshake). :func:`attempt` tries one
thing a hostile extension would try — read a file outside its grants, connect to the
host, signal it, fork without end — and reports what happened as a :class:`Outcome`
over the IPC socket. The same probes run *without* a sandbox through
:func:`run_unconfined` (``python -m symphony_core.runtime.sandbox.selftest``): that is
the positive control showing each probe would succeed were it not for the sandbox.

IPC framing: 4-byte little-endian length + msgpack.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import select
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from symphony_core.runtime.sandbox.launcher import Launcher, SandboxedProcess
    from symphony_core.runtime.sandbox.policy import SandboxProfile

__all__ = [
    "ATTEMPT",
    "HANDSHAKE",
    "PROBES",
    "Outcome",
    "ProbeRun",
    "ProbeSession",
    "attempt",
    "handshake",
    "read_frame",
    "run_sandboxed",
    "run_unconfined",
    "start_probe",
    "write_frame",
]

#: The allow-listed target that runs one probe.
ATTEMPT = "symphony_core.runtime.sandbox.selftest:attempt"
#: The allow-listed target that answers a handshake.
HANDSHAKE = "symphony_core.runtime.sandbox.selftest:handshake"


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """What one probe achieved.

    Attributes:
        probe: The probe's name.
        ok: The attempted action succeeded.
        errno: The error number when it failed with an ``OSError``.
        error: The failure, in words.
        value: What the probe learnt (bytes read, count of forks, CPU share...).
    """

    probe: str
    ok: bool
    errno: int | None = None
    error: str = ""
    value: Any = None


def write_frame(fd: int, payload: bytes) -> None:
    """Write one length-prefixed frame to ``fd``."""
    data = len(payload).to_bytes(4, "little") + payload
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def read_frame(fd: int, limit: int = 1 << 20) -> bytes | None:
    """Read one length-prefixed frame from ``fd``; ``None`` at end of file.

    Raises:
        ValueError: The frame is larger than ``limit``.
    """

    def exactly(n: int) -> bytes | None:
        chunks = b""
        while len(chunks) < n:
            chunk = os.read(fd, n - len(chunks))
            if not chunk:
                return None
            chunks += chunk
        return chunks

    header = exactly(4)
    if header is None:
        return None
    size = int.from_bytes(header, "little")
    if size > limit:
        raise ValueError(f"frame of {size} bytes exceeds {limit}")
    return exactly(size)


def handshake(ipc_fd: int | None, args: dict[str, Any]) -> int:
    """Answer the host's hello with ``ready`` and the pid, then wait for end of file."""
    if ipc_fd is None:
        return 2
    write_frame(ipc_fd, msgspec.msgpack.encode({"ready": True, "pid": os.getpid()}))
    if args.get("stay", True):
        while os.read(ipc_fd, 4096):
            pass
    return 0


def _read_file(a: dict[str, Any]) -> Any:
    with open(a["path"], "rb") as handle:
        return len(handle.read())


def _write_file(a: dict[str, Any]) -> Any:
    with open(a["path"], "wb") as handle:
        return handle.write(b"written by the sandbox self-test\n")


def _symlink_out(a: dict[str, Any]) -> Any:
    link = os.path.join(a["scratch"], "link-out")
    if not os.path.lexists(link):
        os.symlink(a["target"], link)
    with open(link, "rb") as handle:
        return len(handle.read())


def _hardlink_out(a: dict[str, Any]) -> Any:
    link = os.path.join(a["scratch"], "hardlink-out")
    os.link(a["target"], link)
    return link


def _rename_out(a: dict[str, Any]) -> Any:
    source = os.path.join(a["scratch"], "to-move")
    with open(source, "wb") as handle:
        handle.write(b"x")
    os.rename(source, a["target"])
    return a["target"]


def _tcp_connect(a: dict[str, Any]) -> Any:
    with socket.create_connection((a.get("host", "127.0.0.1"), a["port"]), timeout=2) as sock:
        return sock.recv(64).decode("utf-8", "replace")


def _unix_connect(a: dict[str, Any]) -> Any:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        address = a["path"] if "path" in a else "\0" + a["abstract"]
        sock.connect(address)
        return sock.recv(64).decode("utf-8", "replace")


def _raw_unix_connect(a: dict[str, Any]) -> Any:
    # socket()+connect() through libc, bypassing Python's audit events.
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0)
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    os.close(fd)
    return fd


def _kill(a: dict[str, Any]) -> Any:
    os.kill(a["pid"], a.get("signal", 0))
    return a["pid"]


def _kill_named(a: dict[str, Any]) -> Any:
    # The pid is named by the host after the start (e.g. the sweeper's, which the
    # extension process cannot find out by itself): one msgpack int frame on the socket.
    frame = read_frame(int(a["_ipc_fd"]))
    if frame is None:
        raise ValueError("the host closed the socket before naming a pid")
    return _kill({**a, "pid": msgspec.msgpack.decode(frame, type=int)})


def _ptrace(a: dict[str, Any]) -> Any:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.restype = ctypes.c_long
    attach, detach = 16, 17
    if libc.ptrace(ctypes.c_long(attach), ctypes.c_long(a["pid"]), None, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    os.waitpid(a["pid"], getattr(os, "__WALL", 0x40000000))
    libc.ptrace(ctypes.c_long(detach), ctypes.c_long(a["pid"]), None, None)
    return a["pid"]


def _read_proc(a: dict[str, Any]) -> Any:
    with open(f"/proc/{a['pid']}/{a.get('file', 'environ')}", "rb") as handle:
        return len(handle.read())


def _use_fd(a: dict[str, Any]) -> Any:
    fd = a["fd"]
    os.fstat(fd)
    return os.read(fd, 64).decode("utf-8", "replace")


def _fork_bomb(a: dict[str, Any]) -> Any:
    count, limit = 0, a.get("limit", 10_000)
    children = []
    failure: OSError | None = None
    while count < limit:
        try:
            pid = os.fork()
        except OSError as exc:
            failure = exc
            break
        if pid == 0:
            time.sleep(a.get("sleep", 30))
            os._exit(0)
        children.append(pid)
        count += 1
    for pid in children:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    if failure is not None and count < limit:
        raise OSError(failure.errno, f"fork refused after {count} children: {failure.strerror}")
    return count


def _resident(size: int) -> bytearray:
    block = bytearray(size)
    for offset in range(0, size, 4096):
        block[offset] = 1
    return block


def _memory(a: dict[str, Any]) -> Any:
    size = int(a["bytes"])
    _resident(size)
    return size


def _tree_memory(a: dict[str, Any]) -> Any:
    # Several processes, each under any per-process limit, together over the tree's.
    children = []
    for _ in range(int(a.get("count", 3))):
        pid = os.fork()
        if pid == 0:
            # Keep the block while holding: freed at once, the children would only
            # overlap for the few milliseconds each takes to touch its pages.
            held = _resident(int(a["bytes"]))
            time.sleep(float(a.get("hold", 10)))
            del held
            os._exit(0)
        children.append(pid)
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
    return codes


def _cpu(a: dict[str, Any]) -> Any:
    seconds = float(a.get("seconds", 1.0))
    start, cpu0 = time.monotonic(), time.process_time()
    while time.monotonic() - start < seconds:
        pass
    return (time.process_time() - cpu0) / (time.monotonic() - start)


def _segfault(a: dict[str, Any]) -> Any:
    return ctypes.string_at(0)


def _exit(a: dict[str, Any]) -> Any:
    os._exit(int(a.get("code", 3)))


def _abort(a: dict[str, Any]) -> Any:
    os.abort()


def _hang(a: dict[str, Any]) -> Any:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    fd = a.get("_ipc_fd")
    if fd is not None:  # tell the host SIGTERM is ignored from now on
        write_frame(fd, msgspec.msgpack.encode(Outcome(probe="hang", ok=True, value="looping")))
    while True:
        pass


def _grandchildren(a: dict[str, Any]) -> Any:
    # Each grandchild is in a session of its own and orphaned: neither a group kill nor
    # a walk of the tree from the extension process finds it. With ``hold`` the probe
    # reports the pids at once and the extension process lives on until the host closes
    # the IPC socket, so the host can kill it (or close it) while they run.
    pids = []
    for _ in range(int(a.get("count", 3))):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.setsid()
            grandchild = os.fork()
            if grandchild == 0:
                # Let go of every inherited descriptor (stdio pipes, the IPC socket) so
                # nobody waits for this process to close them.
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
                os.closerange(3, write_end)
                os.closerange(write_end + 1, 1 << 16)
                os.write(write_end, f"{os.getpid()}\n".encode())
                time.sleep(300)
                os._exit(0)
            os._exit(0)  # orphan the grandchild
        os.waitpid(pid, 0)
        os.close(write_end)
        pids.append(int(os.read(read_end, 32).decode().strip()))
        os.close(read_end)
    ipc = a.get("_ipc_fd")
    if a.get("hold") and ipc is not None:
        outcome = Outcome(probe="grandchildren", ok=True, value=pids)
        write_frame(ipc, msgspec.msgpack.encode(outcome))
        while os.read(ipc, 4096):
            pass
        os._exit(0)
    return pids


def _chmod(a: dict[str, Any]) -> Any:
    os.chmod(a["path"], a.get("mode", 0o644))
    return a["path"]


def _exec(a: dict[str, Any]) -> Any:
    pid = os.posix_spawn(a.get("path", "/bin/true"), [a.get("path", "/bin/true")], {})
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _socket(a: dict[str, Any]) -> Any:
    socket.socket(
        int(a["family"]), socket.SOCK_STREAM if a.get("stream", True) else socket.SOCK_DGRAM
    ).close()
    return a["family"]


def _setrlimit(a: dict[str, Any]) -> Any:
    # Through libc for the errno (Python turns EPERM into ValueError); setting the
    # current values again is always allowed by the kernel, so only a filter refuses it.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    libc = ctypes.CDLL(None, use_errno=True)
    limit = (ctypes.c_ulong * 2)(hard, hard)
    if libc.setrlimit(resource.RLIMIT_NOFILE, limit) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return hard


def _unshare(a: dict[str, Any]) -> Any:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(int(a.get("flags", 0x10000000))) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return True


def _listdir(a: dict[str, Any]) -> Any:
    return len(os.listdir(a["path"]))


def _write_fd(a: dict[str, Any]) -> Any:
    return os.write(int(a["fd"]), bytes.fromhex(a["hex"]))


def _is_open(fd: int) -> bool:
    # The listing's own descriptor is closed again by the time this runs.
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _introspect(a: dict[str, Any]) -> Any:
    status: dict[str, str] = {}
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            status[key] = value.strip()
    libc = ctypes.CDLL(None, use_errno=True)
    with open("/proc/self/cgroup", encoding="ascii") as handle:
        cgroup = handle.read()
    limits = {
        name: list(resource.getrlimit(getattr(resource, name)))
        for name in ("RLIMIT_DATA", "RLIMIT_NOFILE", "RLIMIT_FSIZE", "RLIMIT_CORE", "RLIMIT_CPU")
    }
    return {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "sid": os.getsid(0),
        "pgid": os.getpgid(0),
        "uid": os.getuid(),
        "gid": os.getgid(),
        "groups": os.getgroups(),
        "fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd") if _is_open(int(fd))),
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "netns": os.readlink("/proc/self/ns/net"),
        "cgroup": cgroup,
        "cap_eff": int(status["CapEff"], 16),
        "cap_prm": int(status["CapPrm"], 16),
        "cap_bnd": int(status["CapBnd"], 16),
        "no_new_privs": int(status["NoNewPrivs"]),
        "seccomp": int(status["Seccomp"]),
        "dumpable": libc.prctl(3, 0, 0, 0, 0),
        "rlimits": limits,
        "dont_write_bytecode": sys.dont_write_bytecode,
        "sigpipe_ignored": signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN,
    }


#: Every probe by name.
PROBES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "read_file": _read_file,
    "write_file": _write_file,
    "symlink_out": _symlink_out,
    "hardlink_out": _hardlink_out,
    "rename_out": _rename_out,
    "tcp_connect": _tcp_connect,
    "unix_connect": _unix_connect,
    "raw_unix_socket": _raw_unix_connect,
    "kill": _kill,
    "kill_named": _kill_named,
    "ptrace": _ptrace,
    "read_proc": _read_proc,
    "use_fd": _use_fd,
    "fork_bomb": _fork_bomb,
    "memory": _memory,
    "cpu": _cpu,
    "tree_memory": _tree_memory,
    "segfault": _segfault,
    "exit": _exit,
    "abort": _abort,
    "hang": _hang,
    "grandchildren": _grandchildren,
    "chmod": _chmod,
    "exec": _exec,
    "socket": _socket,
    "setrlimit": _setrlimit,
    "unshare": _unshare,
    "listdir": _listdir,
    "write_fd": _write_fd,
    "introspect": _introspect,
}


def run_probe(name: str, params: dict[str, Any]) -> Outcome:
    """Run probe ``name`` here and now, and describe the outcome."""
    probe = PROBES[name]
    try:
        return Outcome(probe=name, ok=True, value=probe(params))
    except OSError as exc:
        return Outcome(probe=name, ok=False, errno=exc.errno, error=str(exc))
    except (MemoryError, ValueError) as exc:
        code = errno.ENOMEM if isinstance(exc, MemoryError) else None
        return Outcome(probe=name, ok=False, errno=code, error=f"{type(exc).__name__}: {exc}")


def attempt(ipc_fd: int | None, args: dict[str, Any]) -> int:
    """Run the probe ``args["probe"]`` with ``args["params"]`` and send the :class:`Outcome`."""
    params = dict(args.get("params", {}))
    params["_ipc_fd"] = ipc_fd
    outcome = run_probe(str(args["probe"]), params)
    if ipc_fd is not None:
        write_frame(ipc_fd, msgspec.msgpack.encode(outcome))
    return 0


def run_unconfined(name: str, params: dict[str, Any], *, pass_fds: tuple[int, ...] = ()) -> Outcome:
    """Run a probe in a plain ``python`` subprocess (no sandbox): the positive control.

    Args:
        name: The probe.
        params: Its parameters.
        pass_fds: Descriptors the subprocess inherits (for the inherited-fd control).
    """
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", "symphony_core.runtime.sandbox.selftest"],
        input=msgspec.json.encode({"probe": name, "params": params}),
        capture_output=True,
        timeout=60,
        check=False,
        pass_fds=pass_fds,
        start_new_session=True,
    )
    if result.returncode != 0 and not result.stdout:
        return Outcome(
            probe=name, ok=False, error=f"exit {result.returncode}", value=result.returncode
        )
    return msgspec.json.decode(result.stdout, type=Outcome)


class ProbeSession:
    """A sandboxed probe that is running: its process and the host's end of its socket.

    Args:
        process: The sandboxed process.
        sock: The host's end of the IPC socket pair.
    """

    def __init__(self, process: SandboxedProcess, sock: socket.socket) -> None:
        self.process = process
        self.sock = sock

    def outcome(self, timeout: float = 30.0) -> Outcome | None:
        """Wait for the probe's :class:`Outcome`; ``None`` if the child ended without one.

        Raises:
            TimeoutError: Nothing arrived within ``timeout``.
        """
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            raise TimeoutError(f"probe in pid {self.process.pid} sent nothing in {timeout} s")
        frame = read_frame(self.sock.fileno())
        if frame is None:
            return None
        return msgspec.msgpack.decode(frame, type=Outcome)

    def close(self) -> int | None:
        """Close the socket, kill the tree, remove the cgroup; return the exit code."""
        self.sock.close()
        return self.process.close()


class ProbeRun(msgspec.Struct, frozen=True, kw_only=True):
    """A finished sandboxed probe.

    Attributes:
        outcome: What the probe reported (``None`` if it died first).
        returncode: How the process ended.
    """

    outcome: Outcome | None
    returncode: int | None


def start_probe(
    launcher: Launcher,
    name: str,
    params: dict[str, Any],
    profile: SandboxProfile,
    *,
    extension_id: str = "selftest.probe",
    stderr_fd: int | None = None,
) -> ProbeSession:
    """Start probe ``name`` in a sandboxed process of ``launcher``.

    The launcher must allow :data:`ATTEMPT` (the default launcher does).
    """
    host_end, child_end = socket.socketpair()
    try:
        process = launcher.start(
            profile,
            target=ATTEMPT,
            args={"probe": name, "params": params},
            ipc_fd=child_end.fileno(),
            stderr_fd=stderr_fd,
            extension_id=extension_id,
        )
    except BaseException:
        host_end.close()
        raise
    finally:
        child_end.close()
    return ProbeSession(process, host_end)


def run_sandboxed(
    launcher: Launcher,
    name: str,
    params: dict[str, Any],
    profile: SandboxProfile,
    *,
    extension_id: str = "selftest.probe",
    timeout: float = 30.0,
) -> ProbeRun:
    """Run probe ``name`` sandboxed to its end and return what happened."""
    session = start_probe(launcher, name, params, profile, extension_id=extension_id)
    try:
        result = session.outcome(timeout)
        code = session.process.wait(timeout)
    finally:
        session.close()
    return ProbeRun(outcome=result, returncode=code)


if __name__ == "__main__":
    request = msgspec.json.decode(sys.stdin.buffer.read())
    sys.stdout.buffer.write(
        msgspec.json.encode(run_probe(request["probe"], request.get("params", {})))
    )
