"""What crosses the sandbox boundary: the extension host's start arguments and errors.

Both sides of a sandboxed extension import this module: the host to describe what the
extension-host process must load (:class:`ExtHostArgs`) and to turn the errors it
answers with back into Symphony errors, the extension host to describe its errors as
plain data (:func:`error_record`).

Nothing here ever turns data from the sandbox into code. An error record is strings and
numbers; the host maps its ``code`` onto one of a fixed table of its own error classes
(:func:`error_from_record`) and represents the extension's original exception as a
:class:`RemoteFailure` that carries the type name and message only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import msgspec

from symphony_core.config import Config
from symphony_core.errors import (
    ExtensionError,
    ExtensionLoadError,
    HookCallError,
    HostApiError,
    SymphonyError,
    UserError,
)
from symphony_core.extension import ExtensionRecord

__all__ = [
    "EXTENSION_ERROR",
    "EXTHOST_TARGET",
    "ErrorRecord",
    "ExtHostArgs",
    "FailureRecord",
    "RemoteFailure",
    "ResultNotPortableError",
    "ValueNotPortableError",
    "decode_args",
    "encode_args",
    "error_from_record",
    "error_record",
]

#: The allow-listed callable a sandboxed extension process runs after its boot.
EXTHOST_TARGET: Final = "symphony_core.runtime.exthost:main"

#: JSON-RPC application error code of an answer that carries an :class:`ErrorRecord`.
EXTENSION_ERROR: Final = 1000

_MAX_TEXT = 2000


class ValueNotPortableError(UserError):
    """Arguments for a sandboxed extension cannot be sent to its process.

    Only msgpack-native values cross: ``None``, ``bool``, ``int``, ``float``, ``str``,
    ``bytes``, lists and dicts of them (and timestamps), within the frame-size cap.
    """

    code = "sandbox.value_not_portable"


class ResultNotPortableError(ExtensionError):
    """A sandboxed extension returned a value that cannot leave its process."""

    code = "sandbox.result_not_portable"


class ExtHostArgs(msgspec.Struct, frozen=True, kw_only=True):
    """What the extension host loads: sent by the host as the target's arguments.

    Attributes:
        record: The extension (its trust is the host's business; the child runs it).
        config: The host's configuration (home, hook order and policy).
        sys_path: Directories appended to ``sys.path`` so the extension's entry can be
            imported (its import root, when not already on the path).
        hookspecs: ``module`` or ``module:attribute`` names of extra hook
            specifications, beyond :mod:`symphony_core.hookspecs`.
    """

    record: ExtensionRecord
    config: Config
    sys_path: tuple[str, ...] = ()
    hookspecs: tuple[str, ...] = ()


def _enc_path(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    raise NotImplementedError(f"cannot encode {type(obj).__name__}")


def _dec_path(tp: type, obj: Any) -> Any:
    if tp is Path and isinstance(obj, str):
        return Path(obj)
    raise NotImplementedError(f"cannot decode {tp}")


def encode_args(args: ExtHostArgs) -> dict[str, Any]:
    """Return ``args`` as msgpack-native values (the launcher's target arguments)."""
    built: dict[str, Any] = msgspec.to_builtins(args, enc_hook=_enc_path)
    return built


def decode_args(raw: dict[str, Any]) -> ExtHostArgs:
    """Validate the target arguments back into :class:`ExtHostArgs`.

    Raises:
        msgspec.ValidationError: They do not describe an extension host.
    """
    return msgspec.convert(raw, ExtHostArgs, dec_hook=_dec_path)


class FailureRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One exception an extension's implementation raised, as plain facts.

    Attributes:
        extension_id: The extension whose implementation raised.
        type: The exception's class name.
        code: Its Symphony error code, if it was a Symphony error.
        message: ``str()`` of the exception.
    """

    extension_id: str
    type: str
    code: str | None = None
    message: str = ""


class ErrorRecord(msgspec.Struct, frozen=True, kw_only=True):
    """An error the extension host answers a request with.

    Attributes:
        code: The Symphony error code (``hook.call_failed``...), or ``internal.error``
            for an exception that is not a Symphony error.
        type: The error's class name.
        message: The error's message (without ``where`` and ``hint``).
        where: Where it is wrong, if the error says.
        hint: How to fix it, if the error says.
        hook: The hook, for hook errors.
        failures: The implementations that raised, for ``hook.call_failed``.
        details: Machine-readable facts (msgpack-native values only).
    """

    code: str
    type: str
    message: str
    where: str | None = None
    hint: str | None = None
    hook: str | None = None
    failures: tuple[FailureRecord, ...] = ()
    details: dict[str, Any] = msgspec.field(default_factory=dict)


class RemoteFailure(Exception):
    """An exception raised inside a sandboxed extension, kept as its type name and message.

    It stands in the ``failures`` of a :class:`~symphony_core.errors.HookCallError`
    where the in-process runtime puts the exception object itself: the object never
    crosses the boundary.

    Args:
        type_name: The original exception's class name (``ValueError``...).
        message: ``str()`` of the original exception.
        code: The original error's Symphony code, if it was a Symphony error.
    """

    def __init__(self, type_name: str, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.type_name = type_name
        self.message = message
        self.error_code = code

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"RemoteFailure({self.type_name}: {self.message!r})"


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "..."


def _portable(value: Any) -> Any:
    """Return ``value`` if it is small msgpack-native data, else its (clipped) repr."""
    try:
        size = len(msgspec.msgpack.encode(value))
    except Exception:
        size = -1
    if 0 <= size <= _MAX_TEXT:
        return value
    try:
        return _clip(repr(value))
    except Exception:
        return f"<{type(value).__name__}>"


def _text(exc: BaseException) -> str:
    """``str(exc)``, clipped; an exception whose ``__str__`` fails is described instead."""
    try:
        return _clip(str(exc))
    except Exception:  # extension code: its exception may be broken too
        return f"<{type(exc).__name__} whose message cannot be shown>"


def _failure(extension_id: str, exc: BaseException) -> FailureRecord:
    if isinstance(exc, RemoteFailure):
        return FailureRecord(
            extension_id=extension_id,
            type=exc.type_name,
            code=exc.error_code,
            message=_clip(exc.message),
        )
    return FailureRecord(
        extension_id=extension_id,
        type=type(exc).__name__,
        code=exc.code if isinstance(exc, SymphonyError) else None,
        message=_text(exc),
    )


def error_record(exc: BaseException) -> ErrorRecord:
    """Describe ``exc`` as plain data for the host (extension-host side).

    Args:
        exc: What a request's handling raised.

    Returns:
        The record; its ``details`` hold only msgpack-native values.
    """
    if not isinstance(exc, SymphonyError):
        text = _text(exc)
        return ErrorRecord(
            code="internal.error",
            type=type(exc).__name__,
            message=_clip(f"{type(exc).__name__}: {text}" if text else type(exc).__name__),
        )
    failures: tuple[FailureRecord, ...] = ()
    hook: str | None = None
    if isinstance(exc, HookCallError):
        hook = exc.hook
        failures = tuple(_failure(ext, failure) for ext, failure in exc.failures)
    elif isinstance(exc, ExtensionError):
        hook = getattr(exc, "hook", None)
    return ErrorRecord(
        code=exc.code,
        type=type(exc).__name__,
        message=_clip(str(exc.message)),
        where=None if exc.where is None else _clip(str(exc.where)),
        hint=None if exc.hint is None else _clip(str(exc.hint)),
        hook=hook if isinstance(hook, str) else None,
        failures=failures,
        details={str(k): _portable(v) for k, v in exc.details.items()},
    )


def _hook_call_failed(record: ErrorRecord, extension_id: str) -> SymphonyError:
    failures = [
        # The host knows which extension it called; the child's claim is not needed.
        (extension_id, RemoteFailure(f.type, f.message, f.code))
        for f in record.failures
    ]
    return HookCallError(
        record.message,
        hook=record.hook or "unknown",
        failures=failures,
        extension_id=extension_id,
        hint=record.hint,
        details=record.details,
    )


def _hook_not_implemented(record: ErrorRecord, extension_id: str) -> SymphonyError:
    from symphony_core.ports.runtime import HookNotImplementedError

    return HookNotImplementedError(
        record.message, hook=record.hook or "unknown", extension_id=extension_id
    )


def _unknown(record: ErrorRecord, extension_id: str) -> SymphonyError:
    from symphony_core.ports.runtime import UnknownExtensionError

    return UnknownExtensionError(record.message, extension_id=extension_id)


def _node_output(record: ErrorRecord, extension_id: str) -> SymphonyError:
    from symphony_core.runtime.inprocess import NodeOutputError

    return NodeOutputError(
        record.message, extension_id=extension_id, where=record.where, hint=record.hint
    )


def _load_failed(record: ErrorRecord, extension_id: str) -> SymphonyError:
    return ExtensionLoadError(
        record.message,
        extension_id=extension_id,
        where=record.where,
        hint=record.hint,
        details=record.details,
    )


def _host_api(record: ErrorRecord, extension_id: str) -> SymphonyError:
    return HostApiError(
        record.message,
        extension_id=extension_id,
        where=record.where,
        hint=record.hint,
        details=record.details,
    )


# A fixed table of the host's own classes: a record can only pick among these.
_BUILDERS: Final[dict[str, Callable[[ErrorRecord, str], SymphonyError]]] = {
    "hook.call_failed": _hook_call_failed,
    "hook.not_implemented": _hook_not_implemented,
    "extension.unknown": _unknown,
    "runtime.node_output": _node_output,
    "extension.load_failed": _load_failed,
    "extension.host_api_incompatible": _host_api,
}


def error_from_record(record: ErrorRecord, extension_id: str) -> SymphonyError:
    """Turn an error record from an extension host into the host's own error.

    Hook failures become :class:`~symphony_core.errors.HookCallError` whose failures are
    :class:`RemoteFailure` objects; load, node-output, unknown-hook errors keep their
    classes; anything else is an :class:`~symphony_core.errors.ExtensionError` that keeps
    the remote code and type in its details.

    Args:
        record: The record, already validated.
        extension_id: The extension the host called (the host's fact, not the child's).

    Returns:
        The error to raise.
    """
    builder = _BUILDERS.get(record.code)
    if builder is not None:
        return builder(record, extension_id)
    return ExtensionError(
        record.message,
        extension_id=extension_id,
        hint=record.hint,
        details={**record.details, "remote_code": record.code, "remote_type": record.type},
    )
