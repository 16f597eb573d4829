"""The policy file's model: what the user grants each extension, and to all of them.

``<home>/policy.toml`` looks like this::

    version = 1
    accept-weaker = ["no-cgroups"]

    [defaults]                      # every extension
    network = "none"
    write = ["."]                   # relative: what each one asks inside its data dir

    [defaults.limits]
    memory = "512MiB"

    [extensions."acme.*"]           # a glob: every extension of the acme publisher
    env = ["HF_*"]

    [extensions."acme.tool"]        # one extension
    read = ["/srv/corpus"]          # absolute: granted as written, asked or not
    network = "loopback"
    subprocess = true
    exec = ["/usr/bin/git"]

    [extensions."acme.tool".limits]
    memory = "1GiB"

Relative paths are relative to the extension's data directory and grant (part of)
what its manifest asks there; absolute paths are the user's own grant. Entries layer:
``[defaults]``, then the globs that match (least specific first), then the exact id.
Lists add up across the layers; a single value (network, subprocess, a limit) comes
from the most specific entry that sets it.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Annotated, Literal

import msgspec

from symphony_core.manifest.model import ID_PATTERN, SIZE_PATTERN, NetworkAccess

__all__ = [
    "ENV_PATTERN",
    "KEY_PATTERN",
    "POLICY_VERSION",
    "Grant",
    "LimitGrant",
    "Policy",
    "is_glob",
    "key_problem",
    "specificity",
]

POLICY_VERSION = 1
"""The version of the policy file format this host writes and reads."""

ENV_PATTERN = r"^[A-Za-z_*?][A-Za-z0-9_*?]*$"
"""An environment variable name, or a glob of names (``HF_*``)."""

KEY_PATTERN = r"^[a-z0-9_*?.\[\]-]+$"
"""The characters an extension id or id glob may use as an ``[extensions]`` key."""

_ID = re.compile(ID_PATTERN)
_KEY = re.compile(KEY_PATTERN)


class _Base(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="kebab", frozen=True):
    """Common options: kebab-case keys, unknown keys are errors, values are immutable."""


ByteSize = Annotated[str, msgspec.Meta(pattern=SIZE_PATTERN)]
EnvPattern = Annotated[str, msgspec.Meta(pattern=ENV_PATTERN)]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
Id = Annotated[int, msgspec.Meta(ge=0, le=2**32 - 2)]


class LimitGrant(_Base, frozen=True):
    """Resource ceilings granted (``[*.limits]``); unset keys are inherited.

    An extension asking for less gets what it asks; one asking for more, or nothing,
    gets the ceiling.

    Attributes:
        memory: Memory of the whole process tree, e.g. ``"1GiB"`` (at least 16 MiB).
        cpu_share: Fraction of one core (``0.5``: half a core).
        cpu_time: CPU seconds per process, or ``"unlimited"``.
        processes: Processes and threads at once.
        open_files: Open file descriptors per process.
        file_size: Largest file a process may write, e.g. ``"1GiB"``.
    """

    memory: ByteSize | None = None
    cpu_share: Annotated[float, msgspec.Meta(ge=0.01, le=1024)] | None = None
    cpu_time: Annotated[int, msgspec.Meta(ge=1)] | Literal["unlimited"] | None = None
    processes: Annotated[int, msgspec.Meta(ge=1, le=65536)] | None = None
    open_files: Annotated[int, msgspec.Meta(ge=16, le=1048576)] | None = None
    file_size: ByteSize | None = None


class Grant(_Base, frozen=True):
    """What one policy entry grants (``[defaults]`` or ``[extensions."<id or glob>"]``).

    Attributes:
        read: Paths readable: absolute (granted as written) or relative to the
            extension's data directory (granting what its manifest asks there).
        write: Paths readable and writable, written the same way.
        exec: Absolute paths of programs (or directories of them) that may be run;
            only with ``subprocess``.
        network: ``none``, ``loopback`` or ``any``; unset: inherited.
        ports: With network ``any``, the only TCP ports ``connect`` may reach.
        env: Environment variable names (or globs) passed through when asked for.
        subprocess: Whether the extension may start processes; unset: inherited.
        limits: Resource ceilings.
        run_as_uid: On a root host, run the extension as this uid.
        run_as_gid: Group id used with ``run_as_uid``.
    """

    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()
    exec: tuple[str, ...] = ()
    network: NetworkAccess | None = None
    ports: tuple[Port, ...] = ()
    env: tuple[EnvPattern, ...] = ()
    subprocess: bool | None = None
    limits: LimitGrant = msgspec.field(default_factory=LimitGrant)
    run_as_uid: Id | None = None
    run_as_gid: Id | None = None

    def is_empty(self) -> bool:
        """Whether the entry grants or sets nothing."""
        return self == Grant()


class Policy(_Base, frozen=True):
    """The whole policy file.

    Attributes:
        version: Format version (``1``).
        accept_weaker: Named weaker sandboxes the user accepted on this machine
            (``no-cgroups``, ``no-netns``...; see ``symphony doctor``).
        defaults: What every extension is granted.
        extensions: Per extension id, or glob of ids, what it is granted on top.
    """

    version: Literal[1] = 1
    accept_weaker: tuple[str, ...] = ()
    defaults: Grant = msgspec.field(default_factory=Grant)
    extensions: dict[str, Grant] = msgspec.field(default_factory=dict)

    def entries_for(self, extension_id: str) -> list[tuple[str, Grant]]:
        """Return the entries that apply to ``extension_id``, least specific first.

        ``("defaults", ...)`` always comes first; then every glob key that matches,
        ordered by :func:`specificity`; the exact id last.

        Args:
            extension_id: An extension id.

        Returns:
            ``(key, grant)`` pairs.
        """
        globs = [
            (key, grant)
            for key, grant in self.extensions.items()
            if is_glob(key) and fnmatch.fnmatchcase(extension_id, key)
        ]
        globs.sort(key=lambda item: (specificity(item[0]), item[0]))
        out: list[tuple[str, Grant]] = [("defaults", self.defaults), *globs]
        exact = self.extensions.get(extension_id)
        if exact is not None:
            out.append((extension_id, exact))
        return out


def is_glob(key: str) -> bool:
    """Whether an ``[extensions]`` key is a glob (holds ``*``, ``?`` or ``[``)."""
    return any(c in key for c in "*?[")


def specificity(key: str) -> int:
    """How specific a glob is: the number of literal characters it holds.

    ``acme.tool-*`` (10) is more specific than ``acme.*`` (5); the more specific
    entry's single values win.
    """
    return sum(1 for c in re.sub(r"\[[^\]]*\]", "", key) if c not in "*?")


def key_problem(key: str) -> str | None:
    """Return why ``key`` cannot be an ``[extensions]`` key, or ``None`` when it can."""
    if key == "*":
        return "'*' would match every extension: use the [defaults] table instead"
    if is_glob(key):
        if not _KEY.match(key):
            return (
                "a glob of extension ids may use lower-case letters, digits, '-', '_', '.', "
                "'*', '?' and '[...]'"
            )
        return None
    if not _ID.match(key):
        return "not an extension id (publisher.name, lower case) nor a glob of ids"
    return None
