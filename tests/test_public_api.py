"""The public surface is a decision: this test pins it, so a change to it is visible."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import symphony_core
import symphony_sdk

ROOT = Path(__file__).resolve().parents[1]

CORE_API = [
    "ArbitrationEngine",
    "ArtifactStore",
    "AuthoritativeValidationError",
    "Config",
    "ConfigError",
    "DagTracker",
    "DataAccess",
    "DiscoveryError",
    "DiscoveryFailure",
    "DiscoveryResult",
    "EventBus",
    "ExtensionContext",
    "ExtensionError",
    "ExtensionLoadError",
    "ExtensionNotRunnableError",
    "ExtensionRecord",
    "ExtensionRuntime",
    "ExtensionStatus",
    "HOST_API_VERSION",
    "HookCallError",
    "HookOrderError",
    "HookOutcome",
    "HookRelay",
    "HookSpecMismatchError",
    "Host",
    "HostApiError",
    "HostNotStartedError",
    "InProcessRuntime",
    "InstalledResolution",
    "InstrumentHealth",
    "MANIFEST_NAME",
    "Manifest",
    "ManifestError",
    "NAME_PATTERN",
    "NodeOutputError",
    "NodeType",
    "Parameter",
    "PathConfinementError",
    "PoolManager",
    "Port",
    "PortType",
    "PreValidationError",
    "Requirement",
    "Resolution",
    "ResolutionError",
    "SandboxUnavailableError",
    "StaleManager",
    "SymphonyError",
    "Trust",
    "UnknownExtensionError",
    "UnknownNodeTypeError",
    "UserError",
    "atomic_write",
    "confine",
    "configure_logging",
    "discover",
    "get_logger",
    "hookimpl",
    "hookspec",
    "is_assignable",
    "load_config",
    "load_manifest",
    "manifest_json_schema",
    "parameter_value_problems",
    "parse_port_type",
    "resolve",
    "resolve_installed",
]

SDK_API = [
    "Addon",
    "Context",
    "Extension",
    "HOST_API_VERSION",
    "Instrument",
    "InstrumentHealth",
    "NodeDefinitionError",
    "NodeInputError",
    "NodeManifestMismatchError",
    "NodeOutputError",
    "Operator",
    "hookimpl",
    "node",
]


def test_core_surface_is_pinned() -> None:
    assert sorted(symphony_core.__all__) == sorted(CORE_API)
    assert symphony_core.__all__ == sorted(symphony_core.__all__)


def test_sdk_surface_is_pinned() -> None:
    assert sorted(symphony_sdk.__all__) == sorted(SDK_API)


def _documented(obj: object) -> bool:
    return bool(inspect.getdoc(obj))


def test_every_public_name_resolves_and_is_documented() -> None:
    for module in (symphony_core, symphony_sdk):
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.isclass(value) or inspect.isfunction(value):
                assert _documented(value), f"{module.__name__}.{name} has no docstring"


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
        elif isinstance(node, ast.Import):
            out.extend(alias.name for alias in node.names)
    return out


def test_sdk_and_examples_use_only_the_public_core_api() -> None:
    files = list((ROOT / "symphony_sdk").rglob("*.py"))
    files += [p for p in (ROOT / "extensions/examples").rglob("*.py") if "tests" not in p.parts]
    assert files
    offenders = [
        f"{p.relative_to(ROOT)} imports {mod}"
        for p in files
        for mod in _imports(p)
        if mod.startswith("symphony_core.")
    ]
    assert offenders == []


def test_examples_use_only_the_sdk() -> None:
    files = [p for p in (ROOT / "extensions/examples").rglob("*.py") if "tests" not in p.parts]
    offenders = [
        f"{p.relative_to(ROOT)} imports {mod}"
        for p in files
        for mod in _imports(p)
        if mod.split(".")[0] == "symphony_core"
    ]
    assert offenders == []


def test_core_never_imports_the_pit_registry_or_examples() -> None:
    forbidden = ("symphony_pit", "symphony_registry", "symphony_example")
    offenders = [
        f"{p.relative_to(ROOT)} imports {mod}"
        for p in (ROOT / "symphony_core").rglob("*.py")
        for mod in _imports(p)
        if mod.split(".")[0].startswith(forbidden)
    ]
    assert offenders == []
