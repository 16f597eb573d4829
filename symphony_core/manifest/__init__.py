"""The ``symphony.toml`` manifest: model, loading, validation, schema and reference.

The msgspec structs in :mod:`symphony_core.manifest.model` are the single source:
validation (every problem reported at once), the JSON Schema and ``docs/manifest.md``
are all derived from them.

The names below are imported on first access (PEP 562): importing the model, or any
one submodule, does not import the validator, the TOML reader, ``packaging`` or the
schema generator. A warm start reads validated manifests from the discovery index and
never needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from symphony_core.lazy import lazy_exports

if TYPE_CHECKING:
    from symphony_core.manifest.dump import dump_manifest, manifest_to_dict
    from symphony_core.manifest.files import check_manifest_files
    from symphony_core.manifest.find import MANIFEST_NAME, find_manifest
    from symphony_core.manifest.issues import (
        ISSUE_CODES,
        Issue,
        ManifestError,
        ManifestNotFoundError,
    )
    from symphony_core.manifest.load import MAX_MANIFEST_BYTES, load_manifest, parse_manifest
    from symphony_core.manifest.model import (
        ExtensionInfo,
        FilesystemPermissions,
        Limits,
        Manifest,
        NodeType,
        Parameter,
        Permissions,
        Port,
        PythonRequirements,
        TemplateRef,
    )
    from symphony_core.manifest.parameters import describe_parameter, parameter_value_problems
    from symphony_core.manifest.porttypes import (
        PortType,
        PortTypeError,
        is_assignable,
        parse_port_type,
    )
    from symphony_core.manifest.reference import manifest_reference_markdown
    from symphony_core.manifest.schema import MANIFEST_SCHEMA_ID, manifest_json_schema
    from symphony_core.manifest.size import InvalidSizeError, format_size, parse_size
    from symphony_core.manifest.validate import validate_manifest_data

# name -> submodule that defines it
_EXPORTS: dict[str, str] = {
    "dump_manifest": "dump",
    "manifest_to_dict": "dump",
    "check_manifest_files": "files",
    "MANIFEST_NAME": "find",
    "find_manifest": "find",
    "ISSUE_CODES": "issues",
    "Issue": "issues",
    "ManifestError": "issues",
    "ManifestNotFoundError": "issues",
    "MAX_MANIFEST_BYTES": "load",
    "load_manifest": "load",
    "parse_manifest": "load",
    "ExtensionInfo": "model",
    "FilesystemPermissions": "model",
    "Limits": "model",
    "Manifest": "model",
    "NodeType": "model",
    "Parameter": "model",
    "Permissions": "model",
    "Port": "model",
    "PythonRequirements": "model",
    "TemplateRef": "model",
    "describe_parameter": "parameters",
    "parameter_value_problems": "parameters",
    "PortType": "porttypes",
    "PortTypeError": "porttypes",
    "is_assignable": "porttypes",
    "parse_port_type": "porttypes",
    "manifest_reference_markdown": "reference",
    "MANIFEST_SCHEMA_ID": "schema",
    "manifest_json_schema": "schema",
    "InvalidSizeError": "size",
    "format_size": "size",
    "parse_size": "size",
    "validate_manifest_data": "validate",
}

__all__ = [
    "ISSUE_CODES",
    "MANIFEST_NAME",
    "MANIFEST_SCHEMA_ID",
    "MAX_MANIFEST_BYTES",
    "ExtensionInfo",
    "FilesystemPermissions",
    "InvalidSizeError",
    "Issue",
    "Limits",
    "Manifest",
    "ManifestError",
    "ManifestNotFoundError",
    "NodeType",
    "Parameter",
    "Permissions",
    "Port",
    "PortType",
    "PortTypeError",
    "PythonRequirements",
    "TemplateRef",
    "check_manifest_files",
    "describe_parameter",
    "dump_manifest",
    "find_manifest",
    "format_size",
    "is_assignable",
    "load_manifest",
    "manifest_json_schema",
    "manifest_reference_markdown",
    "manifest_to_dict",
    "parameter_value_problems",
    "parse_manifest",
    "parse_port_type",
    "parse_size",
    "validate_manifest_data",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
