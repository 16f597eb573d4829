"""Helpers for the end-to-end attack tests: the hostile extension and a healthy bystander."""

from __future__ import annotations

import textwrap
import threading
import uuid
from pathlib import Path
from typing import Any

import msgspec

from symphony_core.config import Config
from symphony_core.extension import ExtensionRecord
from symphony_core.manifest import load_manifest
from symphony_core.manifest.model import ExtensionInfo, Manifest
from symphony_core.runtime.sandbox.launcher import AuditRecord
from symphony_core.runtime.sandbox.policy import SandboxProfile
from symphony_core.runtime.sandboxed import default_profile

HOSTILE_PACKAGE = Path(__file__).parent / "hostile" / "symphony_hostile"
HOSTILE = "hostile.attacker"
BYSTANDER = "hostile.bystander"
SPECS = "symphony_hostile.specs:HostileSpecs"

BYSTANDER_CODE = """
from symphony_core.hooks import hookimpl


class Bystander:
    @hookimpl
    def hostile_attack(self, action, arg):
        return ["still here", arg]
"""


def hostile_record() -> ExtensionRecord:
    """The hostile extension's record, read from its manifest like discovery does."""
    manifest_path = HOSTILE_PACKAGE / "symphony.toml"
    return ExtensionRecord(
        manifest=load_manifest(manifest_path),
        manifest_path=manifest_path,
        distribution="symphony-hostile",
        distribution_version="1.0.0",
        entry_point=HOSTILE,
        package_dir=HOSTILE_PACKAGE,
        trust="community",
    )


def bystander_record(root: Path) -> ExtensionRecord:
    """A healthy extension that must keep working whatever the hostile one does."""
    module = f"symbystander_{uuid.uuid4().hex[:10]}"
    (root / f"{module}.py").write_text(textwrap.dedent(BYSTANDER_CODE))
    return ExtensionRecord(
        manifest=Manifest(
            extension=ExtensionInfo(
                id=BYSTANDER,
                version="1.0.0",
                kind="addon",
                entry=f"{module}:Bystander",
                host_api=">=1.0,<2",
            )
        ),
        manifest_path=root / "symphony.toml",
        distribution=module,
        distribution_version="1.0.0",
        entry_point=BYSTANDER,
        package_dir=root,
        trust="community",
    )


def profiles(config: Config, **changes: Any) -> Any:
    """A ``profile_for`` applying ``changes`` to the hostile extension's default profile."""

    def profile_for(record: ExtensionRecord) -> SandboxProfile:
        base = default_profile(record, config)
        if record.id != HOSTILE or not changes:
            return base
        return msgspec.structs.replace(base, **changes)

    return profile_for


class AuditLog:
    """Audit records from the launcher's witness and from the supervisor."""

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []
        self._lock = threading.Lock()

    def __call__(self, record: AuditRecord) -> None:
        with self._lock:
            self.records.append(record)

    def clear(self) -> None:
        with self._lock:
            self.records.clear()

    def of(self, extension_id: str) -> list[AuditRecord]:
        with self._lock:
            return [r for r in self.records if r.extension_id == extension_id]

    def rules(self, extension_id: str) -> list[str]:
        return [r.event.rule for r in self.of(extension_id)]
