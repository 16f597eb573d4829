"""The Host facade against the real installed example extension (no patched importlib)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from symphony_core.app import (
    ExtensionNotRunnableError,
    Host,
    HostNotStartedError,
    UnknownExtensionError,
)
from symphony_core.config import load_config

EXAMPLE = "examples.textops"


def _host(tmp_path: Path, **settings: object) -> Host:
    return Host(load_config(settings, env={"SYMPHONY_HOME": str(tmp_path)}))


def test_real_example_discovered_resolved_activated_invoked(tmp_path: Path) -> None:
    # A fresh interpreter, so "not imported before first use" means something.
    script = textwrap.dedent(
        f"""
        import sys, json
        from symphony_core.app import Host
        from symphony_core.config import load_config
        host = Host(load_config({{"trusted": ["examples.*"]}},
                                env={{"SYMPHONY_HOME": {str(tmp_path)!r}}})).start()
        before = "symphony_example_textops.ops" in sys.modules
        status = host.status("examples.textops").status
        out = host.call_node("examples.textops/word_count",
                             {{"tokens": ["b", "a", "b", "c", "b", "a"]}}, {{"top": 2}})
        after = "symphony_example_textops.ops" in sys.modules
        status_after = host.status("examples.textops").status
        host.close()
        print(json.dumps({{"before": before, "after": after, "status": status,
                          "status_after": status_after, "out": out}}))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    import json

    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["before"] is False
    assert result["status"] == "ready"
    assert result["after"] is True
    assert result["status_after"] == "active"
    assert result["out"]["counts"] == {"b": 3, "a": 2}
    assert result["out"]["total"] == 6
    assert result["out"]["distinct"] == 3


def test_pipeline_of_nodes(tmp_path: Path) -> None:
    with _host(tmp_path, trusted=["examples.*"]) as host:
        tokens = host.call_node(f"{EXAMPLE}/tokenize", {"text": "The cat saw THE dog"})["tokens"]
        assert tokens == ["the", "cat", "saw", "the", "dog"]
        bigrams = host.call_node(f"{EXAMPLE}/ngrams", {"tokens": tokens}, {"n": 2})["ngrams"]
        assert bigrams == ["the cat", "cat saw", "saw the", "the dog"]
        assert host.load_order() == [EXAMPLE]


def test_community_extension_runs_sandboxed_with_the_same_results(tmp_path: Path) -> None:
    text = "The cat saw THE dog"
    with _host(tmp_path / "trusted", trusted=["examples.*"]) as host:
        in_process = host.call_node(f"{EXAMPLE}/tokenize", {"text": text})
    with _host(tmp_path / "community") as host:
        status = host.status(EXAMPLE)
        assert (status.trust, status.status) == ("community", "sandboxed")
        sandboxed = host.call_node("tokenize", {"text": text})  # bare type: one owner
        assert dict(sandboxed) == dict(in_process)
        assert not host.runtime.is_active(EXAMPLE)  # never imported into the host
        assert host.status(EXAMPLE).status == "active"
        pid = host.sandbox.status(EXAMPLE).pid
        assert pid is not None
        assert pid != os.getpid()
    # close() stopped the sandboxed process.
    assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def test_disabled_and_safe_mode(tmp_path: Path) -> None:
    with _host(tmp_path, disabled=[EXAMPLE], trusted=["examples.*"]) as host:
        assert host.status(EXAMPLE).status == "disabled"
        with pytest.raises(ExtensionNotRunnableError, match="disabled"):
            host.call_node(f"{EXAMPLE}/tokenize", {"text": "x"})
    with _host(tmp_path, safe_mode=True) as host:
        assert host.status(EXAMPLE).status == "safe-mode"


def test_unknown_extension_and_not_started(tmp_path: Path) -> None:
    host = _host(tmp_path)
    with pytest.raises(HostNotStartedError):
        host.extensions()
    host.start()
    with pytest.raises(UnknownExtensionError, match=r"nope\.nope"):
        host.status("nope.nope")
    host.close()
    with pytest.raises(HostNotStartedError):
        host.extensions()
