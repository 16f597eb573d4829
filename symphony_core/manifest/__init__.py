"""The ``symphony.toml`` manifest: model, loading, validation, schema and reference.

The msgspec structs in :mod:`symphony_core.manifest.model` are the single source:
validation (every problem reported at once), the JSON Schema and ``docs/manifest.md``
are all derived from them.
"""

from __future__ import annotations

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
