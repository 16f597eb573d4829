"""The in-process runtime passes the ExtensionRuntime port's contract suite."""

from __future__ import annotations

import importlib
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from symphony_core import hookspecs
from symphony_core.config import Config
from symphony_core.extension import ExtensionRecord
from symphony_core.hooks import HookRelay, hookspec
from symphony_core.manifest.model import ExtensionInfo, Manifest
from symphony_core.runtime import InProcessRuntime
from symphony_core.testing.contracts.runtime import ExtensionRuntimeContract


class ProbeSpecs:
    """The probe hooks of the contract suite, as Symphony hook specs."""

    @hookspec()
    def probe_echo(self, value: Any) -> Any:
        """Return ``value``."""

    @hookspec()
    def probe_add(self, a: Any, b: Any) -> Any:
        """Return ``a + b``."""

    @hookspec()
    def probe_fail(self, message: str) -> None:
        """Raise with ``message``."""

    @hookspec()
    def probe_async_echo(self, value: Any) -> Any:
        """Return ``value`` from a coroutine."""


PROBE = """
from symphony_core.hooks import hookimpl
import {log} as log

FAIL_ACTIVATE = {fail_activate}
FAIL_DEACTIVATE = {fail_deactivate}

class Probe:
    @hookimpl
    def symphony_activate(self, context):
        log.EVENTS.append(("activate", context.extension_id))
        if FAIL_ACTIVATE:
            raise RuntimeError("planned activation failure")

    @hookimpl
    def symphony_deactivate(self, context):
        log.EVENTS.append(("deactivate", context.extension_id))
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


class InProcessHarness:
    """Probe extensions written as real packages and run by an InProcessRuntime."""

    def __init__(self, root: Path, home: Path) -> None:
        self.root = root
        self.log = self._write("EVENTS = []\n")
        self._events: list[tuple[str, str]] = importlib.import_module(self.log).EVENTS
        relay = HookRelay(specs=[hookspecs, ProbeSpecs])
        self._runtime = InProcessRuntime(Config(home=home), relay=relay)

    def _write(self, code: str) -> str:
        name = f"symprobe_{uuid.uuid4().hex[:12]}"
        (self.root / f"{name}.py").write_text(textwrap.dedent(code))
        importlib.invalidate_caches()
        return name

    @property
    def runtime(self) -> InProcessRuntime:
        return self._runtime

    def probe(
        self, name: str, *, fail_activate: bool = False, fail_deactivate: bool = False
    ) -> ExtensionRecord:
        module = self._write(
            PROBE.format(log=self.log, fail_activate=fail_activate, fail_deactivate=fail_deactivate)
        )
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
            trust="trusted",
        )
        self._runtime.add(record)
        return record

    def lifecycle(self) -> list[tuple[str, str]]:
        return list(self._events)


class TestInProcessRuntimeContract(ExtensionRuntimeContract):
    @pytest.fixture
    def runtime_harness(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> InProcessHarness:
        root = tmp_path / "site"
        root.mkdir()
        monkeypatch.syspath_prepend(str(root))
        return InProcessHarness(root, tmp_path / "home")
