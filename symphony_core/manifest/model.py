"""The ``symphony.toml`` manifest, modelled once.

These structs are the single source of truth for the manifest: validation
(:mod:`symphony_core.manifest.validate`), documentation (the docstrings below, exported as
field descriptions) and the JSON Schema (``symphony ext schema``) all come from them.

A manifest looks like this::

    [extension]
    id = "acme.textops"
    version = "1.2.0"
    kind = "operator"
    entry = "acme_textops.ext:TextOps"
    host-api = ">=1.0,<2"
    description = "Tokenise and count words."
    activation = ["on-node:word_count"]

    [dependencies]
    "acme.tokenizer" = ">=1.0,<2"

    [python]
    requires = ["regex>=2023.1"]

    [permissions]
    network = "none"
    filesystem = { read = ["data"], write = [] }

    [limits]
    memory = "256MiB"
    cpu-share = 0.5

    [[nodes]]
    type = "word_count"
    inputs = [{ name = "text", type = "str" }]
    outputs = [{ name = "counts", type = "dict[str, int]" }]

    [nodes.parameters.lowercase]
    type = "bool"
    default = true
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

__all__ = [
    "ActivationEvent",
    "ExtensionInfo",
    "ExtensionKind",
    "FilesystemPermissions",
    "Limits",
    "Manifest",
    "NetworkAccess",
    "NodeType",
    "Parameter",
    "ParameterType",
    "Permissions",
    "Port",
    "PythonRequirements",
    "TemplateRef",
    "ID_PATTERN",
    "NAME_PATTERN",
    "ENTRY_PATTERN",
    "SIZE_PATTERN",
]

ID_PATTERN = r"^[a-z][a-z0-9_-]{0,62}\.[a-z][a-z0-9_-]{0,62}$"
"""``publisher.name``: lower-case letters, digits, ``-``, ``_``; parts start with a letter."""

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
"""A node type, port or parameter name: a Python-style identifier, at most 64 characters."""

_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"
ENTRY_PATTERN = rf"^{_DOTTED}:{_DOTTED}$"
"""``module.path:attribute``, as in an entry point."""

SIZE_PATTERN = r"^[0-9]+(\.[0-9]+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?$"
"""A byte size: a number with an optional unit (``512MiB``, ``2GB``, ``1048576``)."""

ExtensionKind = Literal["instrument", "operator", "addon"]
NetworkAccess = Literal["none", "loopback", "any"]
ParameterType = Literal["str", "int", "float", "bool", "list", "dict", "json", "enum", "path"]

ExtensionId = Annotated[
    str,
    msgspec.Meta(
        pattern=ID_PATTERN,
        description=(
            "an extension id, `publisher.name`: lower-case letters, digits, `-` and `_`, "
            "each part starting with a letter"
        ),
    ),
]
Name = Annotated[
    str,
    msgspec.Meta(
        pattern=NAME_PATTERN,
        description=(
            "a name: letters, digits and `_`, not starting with a digit, at most 64 characters"
        ),
    ),
]
EnvName = Annotated[
    str,
    msgspec.Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="an environment variable name"),
]
EntryPoint = Annotated[
    str, msgspec.Meta(pattern=ENTRY_PATTERN, description="`module.path:attribute`")
]


def _format(name: str) -> msgspec.Meta:
    # The JSON Schema ``format`` keyword names the semantic check
    # (symphony_core.manifest.formats) that runs once a string passed its type and pattern.
    return msgspec.Meta(extra_json_schema={"format": name})


def _unique(key: str) -> msgspec.Meta:
    # Read by the validator: no two tables of the array may share this key's value.
    return msgspec.Meta(extra={"unique": key})


Version = Annotated[str, _format("pep440-version")]
Specifier = Annotated[str, _format("pep440-specifier")]
Requirement = Annotated[str, _format("pep508-requirement")]
PortTypeExpression = Annotated[str, _format("port-type")]
RelativePath = Annotated[str, _format("relative-path")]
RegexPattern = Annotated[str, _format("regex")]
Url = Annotated[str, _format("uri")]
ByteSize = Annotated[
    str,
    msgspec.Meta(pattern=SIZE_PATTERN, description="a byte size such as `512MiB`"),
    _format("byte-size"),
]
ActivationEvent = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(on-startup|on-node:[A-Za-z_][A-Za-z0-9_]*|on-command:[a-z][a-z0-9-]*|on-hook:[a-z_][a-z0-9_]*|on-event:[a-z][a-z0-9_.-]*)$",
        description=(
            "an activation event: `on-startup`, `on-node:<type>`, "
            "`on-command:<name>`, `on-hook:<hook>` or `on-event:<topic>`"
        ),
    ),
]


class _Base(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="kebab"):
    """Common options: kebab-case keys, unknown keys are errors."""


class ExtensionInfo(_Base):
    """The ``[extension]`` table: who the extension is and how to start it.

    Attributes:
        id: Unique id, ``publisher.name``; the publisher is the registry namespace.
        version: The extension's version (PEP 440).
        kind: ``instrument`` (model-backed producer), ``operator`` (transform) or
            ``addon`` (behaviour around the work).
        entry: ``module:attribute`` of the object that implements the extension's hooks.
        host_api: Versions of the host API the extension works with (PEP 440 specifier).
        name: Human-readable name shown in listings.
        description: One paragraph about what the extension does.
        license: SPDX license expression.
        authors: Authors, as ``Name <email>``.
        homepage: Project page URL.
        order_before: Extension ids whose hook implementations should run after this one's.
        order_after: Extension ids whose hook implementations should run before this one's.
        activation: Events that activate the extension; empty means on first use.
    """

    id: ExtensionId
    version: Version
    kind: ExtensionKind
    entry: EntryPoint
    host_api: Specifier
    name: str | None = None
    description: str = ""
    license: str | None = None
    authors: list[str] = msgspec.field(default_factory=list)
    homepage: Url | None = None
    order_before: list[ExtensionId] = msgspec.field(default_factory=list)
    order_after: list[ExtensionId] = msgspec.field(default_factory=list)
    activation: list[ActivationEvent] = msgspec.field(default_factory=list)


class PythonRequirements(_Base):
    """The ``[python]`` table: what the extension needs from Python itself.

    Attributes:
        requires_python: Supported Python versions (PEP 440 specifier).
        requires: Python distributions the extension imports (PEP 508 requirements).
    """

    requires_python: Specifier | None = None
    requires: list[Requirement] = msgspec.field(default_factory=list)


class FilesystemPermissions(_Base):
    """Filesystem access the extension asks for; paths are relative to its scratch or data dir.

    Attributes:
        read: Paths to read, besides the extension's own files.
        write: Paths to write, besides its scratch directory.
    """

    read: list[RelativePath] = msgspec.field(default_factory=list)
    write: list[RelativePath] = msgspec.field(default_factory=list)


class Permissions(_Base):
    """The ``[permissions]`` table: what the extension asks for. The host's policy grants.

    Attributes:
        filesystem: Extra paths to read and write.
        network: ``none``, ``loopback`` or ``any``.
        env: Names of environment variables the extension may see.
        subprocess: Whether it may start programs.
    """

    filesystem: FilesystemPermissions = msgspec.field(default_factory=FilesystemPermissions)
    network: NetworkAccess = "none"
    env: list[EnvName] = msgspec.field(default_factory=list)
    subprocess: bool = False


class Limits(_Base):
    """The ``[limits]`` table: resources the extension asks for (the policy may lower them).

    Attributes:
        memory: Memory ceiling, e.g. ``"512MiB"``.
        cpu_share: Fraction of one core, ``0 < share <= number of cores``.
        cpu_time: CPU seconds per process lifetime.
        processes: Maximum processes and threads.
        open_files: Maximum open file descriptors.
    """

    memory: ByteSize | None = None
    cpu_share: Annotated[float, msgspec.Meta(gt=0, le=1024)] | None = None
    cpu_time: Annotated[int, msgspec.Meta(gt=0)] | None = None
    processes: Annotated[int, msgspec.Meta(ge=1, le=65536)] | None = None
    open_files: Annotated[int, msgspec.Meta(ge=16, le=1048576)] | None = None


class Port(_Base):
    """A typed input or output of a node type.

    Attributes:
        name: The port's name, unique among the node's inputs (or outputs).
        type: Port type expression, see :mod:`symphony_core.manifest.porttypes`
            (``str``, ``list[int]``, ``dict[str, float]``, ``any``, ``acme.embedding``...).
        required: For inputs: whether the node cannot run without it.
        description: What flows through the port.
    """

    name: Name
    type: PortTypeExpression = "any"
    required: bool = True
    description: str = ""


class Parameter(_Base):
    """A parameter of a node type or template, with its constraints.

    Attributes:
        type: Value type.
        default: Value used when none is given; a parameter without one is required.
        description: What the parameter controls.
        min: Smallest allowed value of an ``int``/``float``, or shortest length of a
            ``str``, ``path``, ``list`` or ``dict``.
        max: Largest allowed value, or longest length.
        choices: Allowed values (required for ``enum``).
        pattern: Regular expression searched in ``str`` and ``path`` values; anchor it
            (``^...$``) to match the whole value.
    """

    type: ParameterType
    default: Any = msgspec.UNSET
    description: str = ""
    min: float | None = None
    max: float | None = None
    choices: list[Any] | None = None
    pattern: RegexPattern | None = None


class NodeType(_Base):
    """A node type the extension contributes to workflows (``[[nodes]]``).

    Attributes:
        type: The node type's name, unique within the extension.
        description: What the node does.
        inputs: Input ports.
        outputs: Output ports.
        parameters: Parameters by name.
        cpu_bound: A trusted CPU-bound operator runs in a process pool.
    """

    type: Name
    description: str = ""
    inputs: Annotated[list[Port], _unique("name")] = msgspec.field(default_factory=list)
    outputs: Annotated[list[Port], _unique("name")] = msgspec.field(default_factory=list)
    parameters: dict[Name, Parameter] = msgspec.field(default_factory=dict)
    cpu_bound: bool = False


class TemplateRef(_Base):
    """A workflow template shipped in the extension's package (``[[templates]]``).

    Attributes:
        name: The template's name, unique within the extension.
        path: File of the template, relative to the manifest's directory (confined).
        description: What the template builds.
    """

    name: Name
    path: RelativePath
    description: str = ""


class Manifest(_Base):
    """A whole ``symphony.toml``.

    Attributes:
        extension: Identity, kind, entry point and host API range.
        dependencies: Other extensions needed, by id, with PEP 440 specifiers.
        python: Python version and distributions needed.
        permissions: Access asked for.
        limits: Resources asked for.
        nodes: Node types contributed to workflows.
        templates: Workflow templates contributed.
    """

    extension: ExtensionInfo
    dependencies: dict[ExtensionId, Specifier] = msgspec.field(default_factory=dict)
    python: PythonRequirements = msgspec.field(default_factory=PythonRequirements)
    permissions: Permissions = msgspec.field(default_factory=Permissions)
    limits: Limits = msgspec.field(default_factory=Limits)
    nodes: Annotated[list[NodeType], _unique("type")] = msgspec.field(default_factory=list)
    templates: Annotated[list[TemplateRef], _unique("name")] = msgspec.field(default_factory=list)

    @property
    def id(self) -> str:
        """The extension id (``publisher.name``)."""
        return self.extension.id

    @property
    def version(self) -> str:
        """The extension version string."""
        return self.extension.version
