"""Store a start-up resolution as bytes and bring it back, exactly.

:func:`~symphony_core.resolution.installed.resolve_installed` depends only on the
records it is given (and on Symphony's own code and host API, which the discovery
index watches), so a host keeps its result in the discovery index next to the records
it came from. The next start with the same index and the same extensions loads it back
with one msgpack call instead of parsing every version and specifier again; nothing of
``packaging`` or the resolver is imported.

Refusals are stored field by field and rebuilt as the same error classes with the same
messages, hints and structured conflicts. :func:`dump_resolution` checks the round trip
before anything is stored: a resolution it cannot represent exactly is not cached.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from symphony_core.errors import ExtensionError, ResolutionError
from symphony_core.extension import ExtensionRecord
from symphony_core.resolution.outcome import InstalledResolution

__all__ = ["SNAPSHOT_NAME", "dump_resolution", "load_resolution"]

SNAPSHOT_NAME = "installed-resolution"
"""Name under which a host keeps its start-up resolution in the discovery index."""


@functools.cache
def _classes() -> Mapping[str, type[ResolutionError]]:
    """The refusals resolve_installed produces, by code (a code names exactly one class)."""
    from symphony_core.resolution.errors import (  # only a start with refusals needs them
        DependencyCycleError,
        DependencyRefusedError,
        DuplicateExtensionError,
        HostApiConflictError,
        InvalidRequirementError,
        MissingExtensionError,
        ResolutionTooComplexError,
    )

    return {
        cls.code: cls
        for cls in (
            ResolutionError,
            InvalidRequirementError,
            MissingExtensionError,
            HostApiConflictError,
            DependencyCycleError,
            DependencyRefusedError,
            DuplicateExtensionError,
            ResolutionTooComplexError,
        )
    }


class _Refusal(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    refused_id: str
    code: str
    message: str
    where: str | None
    hint: str | None
    details: dict[str, Any]
    conflicts: list[dict[str, Any]]
    extension_id: str | None = None
    cycle: tuple[str, ...] | None = None


class _Snapshot(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    order: tuple[str, ...]
    graph: dict[str, tuple[str, ...]]
    refused: tuple[_Refusal, ...]


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(_Snapshot)


def _refusal(refused_id: str, error: ResolutionError) -> _Refusal | None:
    if _classes().get(error.code) is not type(error):
        return None  # a class this module does not know how to rebuild
    return _Refusal(
        refused_id=refused_id,
        code=error.code,
        message=error.message,
        where=error.where,
        hint=error.hint,
        details=error.details,
        conflicts=error.conflicts,
        extension_id=error.extension_id if isinstance(error, ExtensionError) else None,
        cycle=getattr(error, "cycle", None),
    )


def _rebuild(refusal: _Refusal) -> ResolutionError:
    cls = _classes()[refusal.code]
    kwargs: dict[str, Any] = {
        "where": refusal.where,
        "hint": refusal.hint,
        "details": refusal.details,
        "conflicts": refusal.conflicts,
    }
    if issubclass(cls, ExtensionError):
        kwargs["extension_id"] = refusal.extension_id
    if refusal.cycle is not None:
        kwargs["cycle"] = refusal.cycle
    return cls(refusal.message, **kwargs)


def _same(a: ResolutionError, b: ResolutionError) -> bool:
    return type(a) is type(b) and a.to_dict() == b.to_dict() and str(a) == str(b)


def dump_resolution(resolution: InstalledResolution) -> bytes | None:
    """Encode ``resolution`` for the discovery index.

    Args:
        resolution: What :func:`~symphony_core.resolution.installed.resolve_installed`
            returned.

    Returns:
        The bytes, or ``None`` when a refusal cannot be stored exactly (an error class
        or a detail msgpack cannot carry); such a resolution is computed on each start.
    """
    refusals: list[_Refusal] = []
    for refused_id, error in resolution.refused.items():
        refusal = _refusal(refused_id, error)
        if refusal is None:
            return None
        refusals.append(refusal)
    snapshot = _Snapshot(
        order=resolution.load_order,
        graph={ext: tuple(deps) for ext, deps in resolution.graph.items()},
        refused=tuple(refusals),
    )
    try:
        data = _encoder.encode(snapshot)
        again = _decoder.decode(data)
    except (TypeError, msgspec.EncodeError, msgspec.DecodeError, msgspec.ValidationError):
        return None
    if again != snapshot:
        return None
    for refusal, (_, error) in zip(again.refused, resolution.refused.items(), strict=True):
        if not _same(_rebuild(refusal), error):
            return None
    return data


def load_resolution(data: bytes, records: Sequence[ExtensionRecord]) -> InstalledResolution | None:
    """Rebuild a resolution stored by :func:`dump_resolution` over ``records``.

    Args:
        data: The stored bytes.
        records: The records the resolution was computed from (the same ids).

    Returns:
        The resolution, its loadable records taken from ``records``; ``None`` when the
        bytes are unreadable or name an extension ``records`` does not hold.
    """
    try:
        snapshot = _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    by_id = {record.id: record for record in records}
    try:
        loadable = tuple(by_id[ext] for ext in snapshot.order)
        refused = {r.refused_id: _rebuild(r) for r in snapshot.refused}
    except (KeyError, TypeError, ValueError):
        return None
    if len(loadable) + len(refused) != len(by_id) or any(ext in refused for ext in snapshot.order):
        return None
    return InstalledResolution(loadable=loadable, refused=refused, graph=snapshot.graph)
