"""Symphony's host: discover, resolve and run extensions; the API a host application embeds.

Everything listed in ``__all__`` is public and documented; every other module is
internal and may change without notice. Names are imported on first access (PEP 562),
so ``import symphony_core`` stays cheap and a host pays only for what it uses.

The entry point for a host application is :class:`Host`::

    from symphony_core import Host, load_config

    with Host(load_config()).start() as host:
        print([s.id for s in host.extensions()])
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from symphony_core.lazy import lazy_exports

if TYPE_CHECKING:
    from symphony_core.app import (
        ExtensionNotRunnableError,
        ExtensionStatus,
        Host,
        HostNotStartedError,
        UnknownExtensionError,
    )
    from symphony_core.config import Config, load_config
    from symphony_core.discovery import DiscoveryFailure, DiscoveryResult, discover
    from symphony_core.errors import (
        AuthoritativeValidationError,
        ConfigError,
        DiscoveryError,
        ExtensionError,
        ExtensionLoadError,
        HookCallError,
        HookSpecMismatchError,
        HostApiError,
        PathConfinementError,
        PreValidationError,
        ResolutionError,
        SymphonyError,
        UserError,
    )
    from symphony_core.extension import ExtensionRecord, Trust
    from symphony_core.fs import atomic_write, confine
    from symphony_core.hooks.context import ExtensionContext
    from symphony_core.hooks.errors import HookOrderError
    from symphony_core.hooks.health import InstrumentHealth
    from symphony_core.hooks.markers import hookimpl, hookspec
    from symphony_core.hooks.outcome import HookOutcome
    from symphony_core.hooks.relay import HookRelay
    from symphony_core.hostapi import HOST_API_VERSION
    from symphony_core.log import configure_logging, get_logger
    from symphony_core.manifest import (
        MANIFEST_NAME,
        ManifestError,
        load_manifest,
        manifest_json_schema,
        parameter_value_problems,
    )
    from symphony_core.manifest.model import NAME_PATTERN, Manifest, NodeType, Parameter, Port
    from symphony_core.manifest.porttypes import PortType, is_assignable, parse_port_type
    from symphony_core.ports import (
        ArbitrationEngine,
        ArtifactStore,
        DagTracker,
        DataAccess,
        EventBus,
        ExtensionRuntime,
        PoolManager,
        StaleManager,
    )
    from symphony_core.resolve import (
        InstalledResolution,
        Requirement,
        Resolution,
        resolve,
        resolve_installed,
    )
    from symphony_core.runtime.inprocess import (
        InProcessRuntime,
        NodeOutputError,
        UnknownNodeTypeError,
    )
    from symphony_core.runtime.sandbox.errors import SandboxUnavailableError

# name -> module that defines it
_EXPORTS: dict[str, str] = {
    # the host
    "Host": "symphony_core.app",
    "ExtensionStatus": "symphony_core.app",
    "ExtensionNotRunnableError": "symphony_core.app",
    "HostNotStartedError": "symphony_core.app",
    "SandboxUnavailableError": "symphony_core.runtime.sandbox.errors",
    "UnknownExtensionError": "symphony_core.app",
    "HOST_API_VERSION": "symphony_core.hostapi",
    # commons
    "Config": "symphony_core.config",
    "load_config": "symphony_core.config",
    "configure_logging": "symphony_core.log",
    "get_logger": "symphony_core.log",
    "atomic_write": "symphony_core.fs",
    "confine": "symphony_core.fs",
    # errors
    "SymphonyError": "symphony_core.errors",
    "UserError": "symphony_core.errors",
    "ConfigError": "symphony_core.errors",
    "PathConfinementError": "symphony_core.errors",
    "PreValidationError": "symphony_core.errors",
    "AuthoritativeValidationError": "symphony_core.errors",
    "ExtensionError": "symphony_core.errors",
    "DiscoveryError": "symphony_core.errors",
    "ExtensionLoadError": "symphony_core.errors",
    "HostApiError": "symphony_core.errors",
    "HookSpecMismatchError": "symphony_core.errors",
    "HookCallError": "symphony_core.errors",
    "ResolutionError": "symphony_core.errors",
    # manifests and port types
    "Manifest": "symphony_core.manifest.model",
    "NodeType": "symphony_core.manifest.model",
    "Parameter": "symphony_core.manifest.model",
    "Port": "symphony_core.manifest.model",
    "NAME_PATTERN": "symphony_core.manifest.model",
    "MANIFEST_NAME": "symphony_core.manifest",
    "ManifestError": "symphony_core.manifest",
    "load_manifest": "symphony_core.manifest",
    "manifest_json_schema": "symphony_core.manifest",
    "parameter_value_problems": "symphony_core.manifest",
    "PortType": "symphony_core.manifest.porttypes",
    "parse_port_type": "symphony_core.manifest.porttypes",
    "is_assignable": "symphony_core.manifest.porttypes",
    # discovery and resolution
    "ExtensionRecord": "symphony_core.extension",
    "Trust": "symphony_core.extension",
    "discover": "symphony_core.discovery",
    "DiscoveryResult": "symphony_core.discovery",
    "DiscoveryFailure": "symphony_core.discovery",
    "resolve": "symphony_core.resolve",
    "resolve_installed": "symphony_core.resolve",
    "Resolution": "symphony_core.resolve",
    "InstalledResolution": "symphony_core.resolve",
    "Requirement": "symphony_core.resolve",
    # the extension contract
    "hookimpl": "symphony_core.hooks.markers",
    "hookspec": "symphony_core.hooks.markers",
    "HookRelay": "symphony_core.hooks.relay",
    "HookOutcome": "symphony_core.hooks.outcome",
    "HookOrderError": "symphony_core.hooks.errors",
    "ExtensionContext": "symphony_core.hooks.context",
    "InstrumentHealth": "symphony_core.hooks.health",
    "InProcessRuntime": "symphony_core.runtime.inprocess",
    "NodeOutputError": "symphony_core.runtime.inprocess",
    "UnknownNodeTypeError": "symphony_core.runtime.inprocess",
    # ports
    "ExtensionRuntime": "symphony_core.ports",
    "DataAccess": "symphony_core.ports",
    "EventBus": "symphony_core.ports",
    "PoolManager": "symphony_core.ports",
    "DagTracker": "symphony_core.ports",
    "ArtifactStore": "symphony_core.ports",
    "ArbitrationEngine": "symphony_core.ports",
    "StaleManager": "symphony_core.ports",
}

__all__ = [
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
    "configure_logging",
    "confine",
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


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
