"""A non-root host: user + network namespaces, Landlock, seccomp, watchdog limits.

As root, runs a whole host as ``nobody`` with Debian's world-readable ``python3`` (the
default interpreter lives under ``/root``, mode 0700); skipped where that is not possible.
When the suite itself runs as a non-root user (``.ci/unprivileged``), the same host runs
as that user with this interpreter.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from symphony_core.runtime.sandbox import launcher as launcher_module

SYSTEM_PYTHON = Path("/usr/bin/python3")

HOST = textwrap.dedent(
    """
    import json, os, sys
    from symphony_core.runtime.sandbox import selftest
    from symphony_core.runtime.sandbox.launcher import Launcher
    from symphony_core.runtime.sandbox.policy import SandboxProfile
    from symphony_core.runtime.sandbox.errors import SandboxUnavailableError
    from symphony_core.runtime.sandbox.probe import probe_kernel
    records = []
    out = {"uid": os.getuid()}
    out["needs"] = [w.value for w in probe_kernel().guarantees().required_weakenings]
    try:  # without the opt-in: refused, or the full sandbox where cgroups are delegated
        with Launcher() as plain:
            run = selftest.run_sandboxed(plain, "exit", {"code": 0}, SandboxProfile())
            out["plain"] = run.returncode
    except SandboxUnavailableError as exc:
        out["plain"] = exc.hint
    with Launcher(accept_weaker=["no-cgroups"], audit_sink=records.append) as launcher:
        facts = selftest.run_sandboxed(launcher, "introspect", {}, SandboxProfile()).outcome.value
        out["child"] = {k: facts[k] for k in ("uid", "cap_eff", "cap_bnd", "no_new_privs",
                                              "seccomp", "netns", "fds")}
        for probe, params, network in (
            ("read_file", {"path": sys.argv[1]}, "none"),
            ("socket", {"family": 2}, "none"),
            ("tcp_connect", {"port": 1}, "loopback"),
        ):
            run = selftest.run_sandboxed(launcher, probe, params, SandboxProfile(network=network))
            out[probe] = [run.outcome.ok, run.outcome.errno]
        control = selftest.run_unconfined("read_file", {"path": sys.argv[1]})
        out["control"] = control.ok
    out["rules"] = sorted({r.event.rule for r in records})
    out["host_netns"] = os.readlink("/proc/self/ns/net")
    print(json.dumps(out))
    """
)


@pytest.fixture
def public_dir() -> Iterator[Path]:
    # pytest's tmp_path lives under a 0700 directory that nobody cannot enter.
    path = Path(tempfile.mkdtemp(prefix="symphony-nobody-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _non_root_host(script: Path, secret: Path) -> tuple[list[str], dict[str, str], int]:
    """The command running ``script`` as a non-root host, its environment, its uid."""
    if os.geteuid() != 0:
        # This test process already is a non-root host: the host runs as its uid.
        return [sys.executable, str(script), str(secret)], {"PATH": "/usr/bin:/bin"}, os.geteuid()
    setpriv = shutil.which("setpriv")
    if setpriv is None or not SYSTEM_PYTHON.exists():
        pytest.skip("needs setpriv and /usr/bin/python3 to run a host as nobody")
    repo = str(Path(launcher_module.__file__).resolve().parents[3])
    site = next(p for p in sys.path if p.endswith("site-packages"))
    command = [
        setpriv,
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        str(SYSTEM_PYTHON),
        str(script),
        str(secret),
    ]
    return command, {"PYTHONPATH": f"{repo}:{site}", "PATH": "/usr/bin:/bin"}, 65534


def test_non_root_host(public_dir: Path) -> None:
    tmp_path = public_dir
    secret = tmp_path / "readable.txt"
    secret.write_text("any uid may read this")
    secret.chmod(0o644)
    script = tmp_path / "host.py"
    script.write_text(HOST)
    script.chmod(0o644)
    command, env, uid = _non_root_host(script, secret)
    result = subprocess.run(command, env=env, capture_output=True, cwd=str(tmp_path), timeout=120)
    if result.returncode != 0 and b"No module named" in result.stderr and os.geteuid() == 0:
        pytest.skip(f"the checkout is not readable by nobody: {result.stderr[-300:]!r}")
    assert result.returncode == 0, result.stderr.decode()
    out = msgspec.json.decode(result.stdout.splitlines()[-1])
    assert out["uid"] == uid
    if "no-cgroups" in out["needs"]:  # no delegation: refused without the named opt-in
        assert "no-cgroups" in out["plain"]
    else:
        assert out["plain"] == 0
    child = out["child"]
    assert child["uid"] == uid
    assert child["cap_eff"] == 0
    assert child["cap_bnd"] == 0  # emptied inside its user namespace
    assert child["no_new_privs"] == 1
    assert child["seccomp"] == 2
    assert child["netns"] != out["host_netns"]
    assert child["fds"] == [0, 1, 2, 3, 4]
    assert out["control"] is True
    assert out["read_file"] == [False, 13]
    assert out["socket"] == [False, 1]
    assert out["tcp_connect"][0] is False
    assert out["tcp_connect"][1] in (111, 101)  # refused or unreachable: never the host
    assert {"landlock.fs.read", "seccomp.socket"} <= set(out["rules"])
