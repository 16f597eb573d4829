"""The sandboxed runtime passes the ExtensionRuntime port's contract suite.

The probes are real extension modules on disk, imported inside sandboxed processes;
their lifecycle hooks append to a log file the sandbox lets them write.
"""

from __future__ import annotations

import contextlib
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandboxed_harness import assert_no_leftovers, make_launcher, profile_with, write_specs

from symphony_core.config import Config
from symphony_core.errors import HookCallError
from symphony_core.extension import ExtensionRecord
from symphony_core.manifest.model import ExtensionInfo, Manifest
from symphony_core.runtime.sandbox.launcher import Launcher
from symphony_core.runtime.sandboxed import SandboxedRuntime
from symphony_core.testing.contracts.runtime import ExtensionRuntimeContract

PROBE = """
import os
from symphony_core.hooks import hookimpl

LOG = {log!r}
FAIL_ACTIVATE = {fail_activate}
FAIL_DEACTIVATE = {fail_deactivate}


def _note(kind, ext):
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{{kind}} {{ext}}\\n".encode())
    finally:
        os.close(fd)


class Probe:
    @hookimpl
    def symphony_activate(self, context):
        _note("activate", context.extension_id)
        if FAIL_ACTIVATE:
            raise RuntimeError("planned activation failure")

    @hookimpl
    def symphony_deactivate(self, context):
        _note("deactivate", context.extension_id)
        if FAIL_DEACTIVATE:
            raise RuntimeError("planned deactivation failure")

    @hookimpl
    def probe_echo(self, value):
        return value

    @hookimpl
    def probe_add(self, a, b):
        return a + b

    @hookimpl
    def probe_fail(self, message):
        raise RuntimeError(message)

    @hookimpl
    async def probe_async_echo(self, value):
        return value
"""


class SandboxedHarness:
    """Probe extensions on disk, run by a SandboxedRuntime in sandboxed processes."""

    def __init__(self, root: Path, home: Path, launcher: Launcher) -> None:
        self.root = root
        logs = home / "logs"
        logs.mkdir(parents=True)
        self.log = logs / "lifecycle.log"
        config = Config(home=home)
        self._runtime = SandboxedRuntime(
            config,
            launcher=launcher,
            profile_for=profile_with(config, writable=(str(logs),)),
            hookspecs=(write_specs(root),),
        )

    @property
    def runtime(self) -> SandboxedRuntime:
        return self._runtime

    def probe(
        self, name: str, *, fail_activate: bool = False, fail_deactivate: bool = False
    ) -> ExtensionRecord:
        module = f"symprobe_{uuid.uuid4().hex[:12]}"
        code = PROBE.format(
            log=str(self.log), fail_activate=fail_activate, fail_deactivate=fail_deactivate
        )
        (self.root / f"{module}.py").write_text(textwrap.dedent(code))
        ext_id = f"probe.{name}"
        record = ExtensionRecord(
            manifest=Manifest(
                extension=ExtensionInfo(
                    id=ext_id,
                    version="1.0.0",
                    kind="addon",
                    entry=f"{module}:Probe",
                    host_api=">=1.0,<2",
                )
            ),
            manifest_path=self.root / "symphony.toml",
            distribution=module,
            distribution_version="1.0.0",
            entry_point=ext_id,
            package_dir=self.root,
            trust="community",
        )
        self._runtime.add(record)
        return record

    def lifecycle(self) -> list[tuple[str, str]]:
        if not self.log.exists():
            return []
        lines = self.log.read_text().splitlines()
        return [(kind, ext) for kind, ext in (line.split(" ", 1) for line in lines)]


@pytest.fixture(scope="module")
def launcher() -> Iterator[Launcher]:
    launcher = make_launcher()
    yield launcher
    launcher.close()


class TestSandboxedRuntimeContract(ExtensionRuntimeContract):
    @pytest.fixture
    def runtime_harness(self, tmp_path: Path, launcher: Launcher) -> Iterator[SandboxedHarness]:
        root = tmp_path / "site"
        root.mkdir()
        harness = SandboxedHarness(root, tmp_path / "home", launcher)
        yield harness
        with contextlib.suppress(HookCallError):
            harness.runtime.close()
        assert_no_leftovers(launcher)
