"""Reading, checking and writing ``<home>/policy.toml``, one writer at a time.

Every error names the file and the key at fault (``extensions."acme.tool".network``)
and what was expected; unknown keys are errors, so a typo never silently grants or
denies something. Writes are atomic (readers see the old or the new policy, never
half) and serialised by a lock file, so two ``symphony policy grant`` commands at the
same time both land.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import posixpath
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import msgspec
import tomli_w

from symphony_core.config import Config
from symphony_core.fs import atomic_write, ensure_dir
from symphony_core.manifest.size import InvalidSizeError, format_size, parse_size
from symphony_core.permissions.errors import PolicyError
from symphony_core.permissions.model import Grant, LimitGrant, Policy, key_problem
from symphony_core.runtime.sandbox.policy import Weakening

__all__ = [
    "MIN_MEMORY",
    "PolicyDraft",
    "PolicyStore",
    "check_grant",
    "dump_policy",
    "grant_data",
    "parse_policy",
    "path_problem",
    "policy_path",
]

MIN_MEMORY = 16 << 20
"""The smallest memory ceiling the sandbox can run a Python process under."""

_HEADER = """\
# Symphony sandbox policy: what each extension is granted (see docs/permissions.md).
# The manifest asks, this file grants; edit it with `symphony policy grant/revoke`.
"""

_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_CHOICES = {
    "network": "none, loopback or any",
    "version": "1",
    "cpu-time": "a number of seconds or 'unlimited'",
}
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<field>[^`]*)`$")


def policy_path(config: Config) -> Path:
    """Return where the policy file of ``config``'s host lives: ``<home>/policy.toml``."""
    return config.home / "policy.toml"


def _quote(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else f'"{key}"'


def _join(prefix: str, rest: str) -> str:
    if not rest:
        return prefix
    if not prefix:
        return rest.lstrip(".")
    return prefix + rest if rest.startswith("[") else f"{prefix}{rest}"


def _describe(exc: msgspec.ValidationError, prefix: str) -> tuple[str, str]:
    """Turn a msgspec error into ``(key path, problem)`` in the file's own terms."""
    match = _AT.match(str(exc))
    assert match is not None  # the pattern matches every string
    message = match["message"]
    path = _join(prefix, match["path"] or "")
    unknown = _UNKNOWN.match(message)
    if unknown:
        known = ", ".join(f.encode_name for f in msgspec.structs.fields(_struct_at(path)))
        where = path or "(top level)"
        return where, f"unknown key {unknown['field']!r} (known keys: {known})"
    choices = _CHOICES.get(path.rsplit(".", 1)[-1])
    if message.startswith("Invalid enum value") and choices:
        message = f"{message} (expected {choices})"
    return path or "(top level)", message


def _struct_at(path: str) -> type[msgspec.Struct]:
    last = path.rsplit(".", 1)[-1] if path else ""
    if last == "limits":
        return LimitGrant
    if path == "defaults" or path.startswith("extensions"):
        return Grant
    return Policy


def path_problem(text: str, *, relative_ok: bool) -> str | None:
    """Return why ``text`` cannot be a granted path, or ``None`` when it can.

    Args:
        text: The path as written in the policy.
        relative_ok: Whether a path relative to the extension's data directory is allowed.
    """
    if not text or "\x00" in text:
        return "a path must not be empty nor contain a NUL byte"
    if text.startswith("~"):
        return "'~' is not expanded here: write the absolute path"
    if os.path.isabs(text):
        return None
    if not relative_ok:
        return "must be an absolute path"
    normal = posixpath.normpath(text)
    if normal == ".." or normal.startswith("../"):
        return "climbs out of the extension's data directory with '..'"
    return None


def _check_size(text: str | None, key: str, minimum: int, source: str) -> None:
    if text is None:
        return
    try:
        size = parse_size(text)
    except InvalidSizeError as exc:  # pragma: no cover - the pattern was checked first
        raise PolicyError(f"key {key}: {exc.message}", where=source) from None
    if size < minimum:
        raise PolicyError(
            f"key {key}: {text!r} is below the minimum of {format_size(minimum)}",
            where=source,
            hint="16MiB is the least a sandboxed Python process can run in"
            if minimum == MIN_MEMORY
            else None,
        )


def check_grant(grant: Grant, prefix: str, source: str) -> None:
    """Check what the struct's types cannot: paths, sizes, and values that go together.

    Args:
        grant: One policy entry.
        prefix: Its key in the file (``defaults``, ``extensions."acme.tool"``).
        source: Names the file in errors.

    Raises:
        PolicyError: A value is invalid; the message names the key.
    """
    for name, paths, relative_ok in (
        ("read", grant.read, True),
        ("write", grant.write, True),
        ("exec", grant.exec, False),
    ):
        for index, text in enumerate(paths):
            problem = path_problem(text, relative_ok=relative_ok)
            if problem:
                raise PolicyError(
                    f"key {prefix}.{name}[{index}] = {text!r}: {problem}", where=source
                )
    _check_size(grant.limits.memory, f"{prefix}.limits.memory", MIN_MEMORY, source)
    _check_size(grant.limits.file_size, f"{prefix}.limits.file-size", 1, source)
    if grant.run_as_gid is not None and grant.run_as_uid is None:
        raise PolicyError(
            f"key {prefix}.run-as-gid: needs run-as-uid in the same table", where=source
        )


def _convert(value: Any, kind: type[msgspec.Struct], prefix: str, source: str) -> Any:
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        key, problem = _describe(exc, prefix)
        raise PolicyError(f"key {key}: {problem}", where=source) from None


def parse_policy(data: bytes | str, *, source: str = "policy.toml") -> Policy:
    """Parse and check a policy file's content.

    Args:
        data: The file's bytes (UTF-8 TOML).
        source: Names the file in error messages.

    Returns:
        The validated policy.

    Raises:
        PolicyError: The content is not TOML, or a key is unknown or holds a bad value;
            the message names the key.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        raw = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise PolicyError(
            f"not valid TOML: not UTF-8 text ({exc.reason} at byte {exc.start})", where=source
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"not valid TOML: {exc}", where=source) from None
    top = {k: v for k, v in raw.items() if k not in ("defaults", "extensions")}
    policy: Policy = _convert(top, Policy, "", source)
    defaults: Grant = _convert(raw.get("defaults", {}), Grant, "defaults", source)
    check_grant(defaults, "defaults", source)
    tables = raw.get("extensions", {})
    if not isinstance(tables, Mapping):
        raise PolicyError(
            "key extensions: expected a table of extension ids (or globs) to grants",
            where=source,
        )
    extensions: dict[str, Grant] = {}
    for key, value in tables.items():
        prefix = f"extensions.{_quote(key)}"
        problem = key_problem(key)
        if problem:
            raise PolicyError(f"key {prefix}: {problem}", where=source)
        grant: Grant = _convert(value, Grant, prefix, source)
        check_grant(grant, prefix, source)
        extensions[key] = grant
    known = {w.value for w in Weakening}
    for index, name in enumerate(policy.accept_weaker):
        if name not in known:
            raise PolicyError(
                f"key accept-weaker[{index}]: unknown weaker sandbox {name!r}",
                where=source,
                hint=f"known: {', '.join(sorted(known))}",
            )
    return msgspec.structs.replace(policy, defaults=defaults, extensions=extensions)


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        out = {k: _strip(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in ({}, [], None)}
    if isinstance(value, list | tuple):
        return [_strip(v) for v in value]
    return value


def grant_data(grant: Grant) -> dict[str, Any]:
    """Return ``grant`` as the policy file holds it: kebab-case keys, unset values left out."""
    data: dict[str, Any] = _strip(msgspec.to_builtins(grant))
    return data


def dump_policy(policy: Policy) -> str:
    """Return ``policy`` as the TOML text of a policy file (a header, then the tables).

    Keys left at their default are omitted; ``parse_policy(dump_policy(p)) == p``.
    """
    data: dict[str, Any] = {"version": policy.version}
    if policy.accept_weaker:
        data["accept-weaker"] = list(policy.accept_weaker)
    defaults = grant_data(policy.defaults)
    if defaults:
        data["defaults"] = defaults
    extensions = {
        key: _strip(msgspec.to_builtins(policy.extensions[key]))
        for key in sorted(policy.extensions)
    }
    if extensions:
        data["extensions"] = extensions
    return _HEADER + "\n" + tomli_w.dumps(data)


class PolicyDraft:
    """The policy being edited inside :meth:`PolicyStore.edit`; assign :attr:`policy`."""

    def __init__(self, policy: Policy) -> None:
        self.original = policy
        self.policy = policy


class PolicyStore:
    """The policy file of one host.

    Args:
        path: The policy file (``<home>/policy.toml``).
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_config(cls, config: Config) -> PolicyStore:
        """Return the store of ``config``'s host."""
        return cls(policy_path(config))

    @property
    def lock_path(self) -> Path:
        """The lock file that serialises writers."""
        return self.path.with_name(f".{self.path.name}.lock")

    def exists(self) -> bool:
        """Whether the policy file exists (without it, the built-in defaults apply)."""
        return self.path.is_file()

    def stamp(self) -> tuple[int, int, int] | None:
        """Identity of the file's current version (inode, size, mtime), ``None`` if absent."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise PolicyError(
                f"cannot read the policy file: {exc.strerror}", where=str(self.path)
            ) from None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def load(self) -> Policy:
        """Read and check the policy file; a missing file is the empty (default) policy.

        Raises:
            PolicyError: The file is unreadable or invalid.
        """
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return Policy()
        except OSError as exc:
            raise PolicyError(
                f"cannot read the policy file: {exc.strerror}", where=str(self.path)
            ) from None
        return parse_policy(data, source=str(self.path))

    def save(self, policy: Policy) -> None:
        """Write ``policy`` atomically (callers that read first should use :meth:`edit`)."""
        text = dump_policy(policy)
        # What we write must load: a bug here must not leave a file the host refuses.
        parse_policy(text, source=str(self.path))
        try:
            atomic_write(self.path, text)
        except OSError as exc:
            raise PolicyError(
                f"cannot write the policy file: {exc.strerror}", where=str(self.path)
            ) from None

    @contextlib.contextmanager
    def edit(self) -> Iterator[PolicyDraft]:
        """Read, let the caller change, and write back the policy under an exclusive lock.

        The file is written only when the draft's policy differs from what was read,
        and not at all when the block raises.

        Yields:
            The draft: read ``draft.policy``, assign the changed one.
        """
        ensure_dir(self.path.parent)
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise PolicyError(
                f"cannot lock the policy file: {exc.strerror}", where=str(self.lock_path)
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            draft = PolicyDraft(self.load())
            yield draft
            if draft.policy != draft.original:
                self.save(draft.policy)
        finally:
            os.close(fd)  # closing releases the lock
