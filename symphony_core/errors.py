"""The error hierarchy shared by every Symphony package.

Every error carries a stable, machine-readable ``code`` (a dotted string such as
``manifest.invalid``) so scripts and front ends can branch on it without parsing prose,
and a message that says what is wrong, where, and how to fix it.

Two validation families are kept apart on purpose:

* :class:`PreValidationError` — found locally, before any request was sent. It is about
  shape and syntax only.
* :class:`AuthoritativeValidationError` — the registry looked at the request and said
  no; it carries the registry's own code, the field at fault and the HTTP status.

A user's own mistake (a bad manifest, a wrong flag, a conflicting dependency) is a
:class:`UserError`: the CLI prints it as one line and exits non-zero, never as a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

__all__ = [
    "AuthoritativeValidationError",
    "ConfigError",
    "DiscoveryError",
    "ExtensionError",
    "ExtensionLoadError",
    "HookCallError",
    "HookSpecMismatchError",
    "HostApiError",
    "InternalError",
    "PathConfinementError",
    "PreValidationError",
    "ResolutionError",
    "SymphonyError",
    "UserError",
    "error_codes",
]


class SymphonyError(Exception):
    """Base of every error Symphony raises on purpose.

    Args:
        message: What is wrong, in plain words.
        where: Where it is wrong: a file, a key path, an extension id, a URL.
        hint: How to fix it, when there is something the user can do.
        details: Extra machine-readable facts, included in ``to_dict()``.

    Attributes:
        code: Stable dotted identifier of the error kind.
    """

    code: ClassVar[str] = "symphony.error"

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        hint: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.message = message
        self.where = where
        self.hint = hint
        self.details: dict[str, Any] = dict(details or {})
        super().__init__(self.__str__())

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text = f"{text} (hint: {self.hint})"
        return text

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable description of the error."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.where is not None:
            out["where"] = self.where
        if self.hint is not None:
            out["hint"] = self.hint
        if self.details:
            out["details"] = self.details
        return out


class UserError(SymphonyError):
    """A mistake the user can fix: shown as one line, never as a traceback."""

    code = "user.error"


class InternalError(SymphonyError):
    """A bug in Symphony itself; reported with enough context to file an issue."""

    code = "internal.error"


class ConfigError(UserError):
    """Configuration (file, environment or argument) is invalid."""

    code = "config.invalid"


class PathConfinementError(UserError):
    """A path escapes the directory it must stay inside."""

    code = "fs.path_escapes"


class PreValidationError(UserError):
    """Local validation failed; no request was sent.

    Args:
        message: What is wrong.
        field: The field (dotted key path) at fault, if one is.
        **kwargs: Passed to :class:`SymphonyError`.
    """

    code = "prevalidation.failed"

    def __init__(self, message: str, *, field: str | None = None, **kwargs: Any) -> None:
        self.field = field
        kwargs.setdefault("where", field)
        super().__init__(message, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable description, with ``field`` and ``sent: false``."""
        out = super().to_dict()
        out["field"] = self.field
        out["sent"] = False
        return out


class AuthoritativeValidationError(UserError):
    """The registry refused the operation.

    Args:
        message: The registry's explanation.
        registry_code: The registry's own error code (e.g. ``version.immutable``).
        field: The field the registry blamed, if any.
        status: The HTTP status of the answer.
        **kwargs: Passed to :class:`SymphonyError`.
    """

    code = "registry.refused"

    def __init__(
        self,
        message: str,
        *,
        registry_code: str,
        field: str | None = None,
        status: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.registry_code = registry_code
        self.field = field
        self.status = status
        kwargs.setdefault("where", field)
        super().__init__(message, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable description with the registry's code and field."""
        out = super().to_dict()
        out.update(
            {"registry_code": self.registry_code, "field": self.field, "status": self.status}
        )
        out["sent"] = True
        return out


class ExtensionError(SymphonyError):
    """Something went wrong with one extension; ``extension_id`` names it.

    Args:
        message: What is wrong.
        extension_id: The id of the extension at fault, when known.
        **kwargs: Passed to :class:`SymphonyError`.
    """

    code = "extension.error"

    def __init__(self, message: str, *, extension_id: str | None = None, **kwargs: Any) -> None:
        self.extension_id = extension_id
        kwargs.setdefault("where", extension_id)
        super().__init__(message, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable description including the extension id."""
        out = super().to_dict()
        out["extension_id"] = self.extension_id
        return out


class DiscoveryError(ExtensionError, UserError):
    """An installed extension could not be discovered (bad entry point, missing manifest)."""

    code = "discovery.failed"


class ExtensionLoadError(ExtensionError, UserError):
    """An extension's code could not be imported or activated."""

    code = "extension.load_failed"


class HostApiError(ExtensionLoadError):
    """An extension needs a host API this host does not provide (so it cannot load)."""

    code = "extension.host_api_incompatible"


class HookSpecMismatchError(ExtensionError, UserError):
    """A hook implementation does not match its specification."""

    code = "hook.spec_mismatch"


class HookCallError(ExtensionError):
    """One or more hook implementations raised during a call.

    Args:
        message: Summary of the failure.
        hook: The hook's name.
        failures: ``(extension id, exception)`` pairs, one per failing implementation.
        **kwargs: Passed to :class:`ExtensionError`.
    """

    code = "hook.call_failed"

    def __init__(
        self,
        message: str,
        *,
        hook: str,
        failures: Sequence[tuple[str, BaseException]] = (),
        **kwargs: Any,
    ) -> None:
        self.hook = hook
        self.failures = list(failures)
        super().__init__(message, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable description listing each failing implementation."""
        out = super().to_dict()
        out["hook"] = self.hook
        out["failures"] = [
            {"extension_id": ext, "error": type(exc).__name__, "message": str(exc)}
            for ext, exc in self.failures
        ]
        return out


class ResolutionError(UserError):
    """The extensions' requirements cannot all be satisfied.

    Args:
        message: The conflict explained in plain words.
        conflicts: Structured facts, one per conflicting requirement.
        **kwargs: Passed to :class:`SymphonyError`.
    """

    code = "resolve.conflict"

    def __init__(
        self, message: str, *, conflicts: Sequence[Mapping[str, Any]] = (), **kwargs: Any
    ) -> None:
        self.conflicts = [dict(c) for c in conflicts]
        super().__init__(message, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable description including the structured conflicts."""
        out = super().to_dict()
        out["conflicts"] = self.conflicts
        return out


def error_codes() -> dict[str, type[SymphonyError]]:
    """Return every error code defined so far, mapped to its class.

    Subclasses defined in other modules are included once those modules are imported.
    """
    seen: dict[str, type[SymphonyError]] = {}
    stack: list[type[SymphonyError]] = [SymphonyError]
    while stack:
        cls = stack.pop()
        seen.setdefault(cls.code, cls)
        stack.extend(cls.__subclasses__())
    return seen
