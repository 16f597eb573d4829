"""Helpers for the sandboxed runtime's tests: extensions written to disk, leftover checks."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path
from typing import Any

import msgspec

from symphony_core.config import Config
from symphony_core.extension import ExtensionRecord
from symphony_core.manifest.model import ExtensionInfo, Limits, Manifest, NodeType, Port
from symphony_core.runtime.crossing import EXTHOST_TARGET
from symphony_core.runtime.sandbox.launcher import AuditRecord, Launcher
from symphony_core.runtime.sandbox.policy import SandboxProfile, Weakening
from symphony_core.runtime.sandbox.probe import probe_kernel
from symphony_core.runtime.sandboxed import default_profile
from symphony_core.testing.sandbox import assert_no_leftovers as assert_no_leftovers

SPECS_MODULE = "symprobe_specs"

SPECS = '''
from typing import Any
from symphony_core.hooks import hookspec


class ProbeSpecs:
    """Hooks of the runtime contract's probes and of the tests' own extensions."""

    @hookspec()
    def probe_echo(self, value: Any) -> Any:
        """Return value."""

    @hookspec()
    def probe_add(self, a: Any, b: Any) -> Any:
        """Return a + b."""

    @hookspec()
    def probe_fail(self, message: str) -> None:
        """Raise with message."""

    @hookspec()
    def probe_async_echo(self, value: Any) -> Any:
        """Return value from a coroutine."""

    @hookspec()
    def probe_do(self, action: str, arg: Any) -> Any:
        """Do something the test asks for (tests' own extensions)."""
'''


def accepted_here() -> tuple[str, ...]:
    """Weakenings the tests accept on this machine: ``no-cgroups`` when not delegated.

    Anything else missing (Landlock, seccomp, namespaces) is not accepted: the sandbox
    then refuses to start, and the tests say so.
    """
    needed = probe_kernel().guarantees().required_weakenings
    return (Weakening.NO_CGROUPS.value,) if Weakening.NO_CGROUPS in needed else ()


def make_launcher(audit: Any = None) -> Launcher:
    """A started launcher for the extension host, with this machine's accepted weakenings."""
    launcher = Launcher(
        allowed_targets={EXTHOST_TARGET}, audit_sink=audit, accept_weaker=accepted_here()
    )
    launcher.start_server()
    return launcher


def write_specs(root: Path) -> str:
    """Write the probe hook specs module into ``root``; return its ``module:attr`` name."""
    (root / f"{SPECS_MODULE}.py").write_text(SPECS)
    return f"{SPECS_MODULE}:ProbeSpecs"


def write_extension(
    root: Path,
    extension_id: str,
    code: str,
    *,
    kind: Any = "addon",
    entry_attr: str = "Ext",
    nodes: list[NodeType] | None = None,
    limits: Limits | None = None,
) -> ExtensionRecord:
    """Write ``code`` as a new top-level module in ``root``; return its community record."""
    module = f"symext_{uuid.uuid4().hex[:12]}"
    (root / f"{module}.py").write_text(textwrap.dedent(code))
    return ExtensionRecord(
        manifest=Manifest(
            extension=ExtensionInfo(
                id=extension_id,
                version="1.0.0",
                kind=kind,
                entry=f"{module}:{entry_attr}",
                host_api=">=1.0,<2",
            ),
            nodes=nodes or [],
            limits=limits or Limits(),
        ),
        manifest_path=root / "symphony.toml",
        distribution=module,
        distribution_version="1.0.0",
        entry_point=extension_id,
        package_dir=root,
        trust="community",
    )


def node(name: str, inputs: list[str], outputs: list[str]) -> NodeType:
    """Return a node type with ``any``-typed ports."""
    return NodeType(
        type=name,
        inputs=[Port(name=n, type="any") for n in inputs],
        outputs=[Port(name=n, type="any") for n in outputs],
    )


def profile_with(config: Config, writable: tuple[str, ...] = (), **changes: Any) -> Any:
    """Return a ``profile_for`` giving the default profile plus writable dirs and changes."""

    def profile_for(record: ExtensionRecord) -> SandboxProfile:
        base = default_profile(record, config)
        return msgspec.structs.replace(base, fs_write=base.fs_write + writable, **changes)

    return profile_for


class AuditLog:
    """Collects audit records (from the launcher's and the supervisor's threads)."""

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    def __call__(self, record: AuditRecord) -> None:
        self.records.append(record)

    def rules(self, extension_id: str | None = None) -> list[str]:
        return [
            r.event.rule
            for r in list(self.records)
            if extension_id is None or r.extension_id == extension_id
        ]
