"""Which extension runs a node type or takes an activation event; shared by both runtimes.

The in-process and the sandboxed runtime route work the same way, from the manifests
alone: a node type goes to the one extension that declares it (or the one the caller
names), and an activation event reaches the extensions that declare it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from symphony_core.errors import UserError
from symphony_core.extension import ExtensionRecord

__all__ = ["AmbiguousNodeTypeError", "UnknownNodeTypeError", "event_matches", "route_node"]


class UnknownNodeTypeError(UserError):
    """No added extension declares the node type."""

    code = "runtime.unknown_node_type"


class AmbiguousNodeTypeError(UserError):
    """Several added extensions declare the node type; the caller must choose one."""

    code = "runtime.ambiguous_node_type"


def route_node(
    node_type: str,
    extension_id: str | None,
    *,
    owners: Mapping[str, Sequence[str]],
    record_of: Callable[[str], ExtensionRecord],
) -> ExtensionRecord:
    """Return the record of the extension that runs ``node_type``.

    Args:
        node_type: The node type asked for.
        extension_id: The extension the caller chose, or ``None`` to pick the only owner.
        owners: Node type -> ids of the added extensions that declare it.
        record_of: The record of an added extension (raises for an unknown id).

    Raises:
        UnknownNodeTypeError: No added extension (or not ``extension_id``) declares it.
        AmbiguousNodeTypeError: Several do and ``extension_id`` was not given.
    """
    declared_by = owners.get(node_type, ())
    if extension_id is not None:
        record = record_of(extension_id)
        if extension_id not in declared_by:
            known = [node.type for node in record.manifest.nodes]
            raise UnknownNodeTypeError(
                f"extension {extension_id} declares no node type {node_type!r}",
                where=str(record.manifest_path),
                hint=f"its node types: {', '.join(known) or 'none'}",
            )
        return record
    if not declared_by:
        import difflib  # only on this error path: keeps it off every start

        close = difflib.get_close_matches(node_type, list(owners), n=1)
        raise UnknownNodeTypeError(
            f"no added extension declares node type {node_type!r}"
            + (f" (did you mean {close[0]}?)" if close else ""),
            hint="is the extension that provides it installed and added?",
        )
    if len(declared_by) > 1:
        raise AmbiguousNodeTypeError(
            f"node type {node_type!r} is declared by several extensions: {', '.join(declared_by)}",
            hint="choose one with extension_id=...",
        )
    return record_of(declared_by[0])


def event_matches(event: str, declared: str) -> bool:
    """Tell whether an activation event reaches an extension that declared ``declared``.

    ``on-event:run`` also matches ``on-event:run.started``: topics are dotted hierarchies.
    """
    if event == declared:
        return True
    prefix = "on-event:"
    return (
        event.startswith(prefix)
        and declared.startswith(prefix)
        and event.startswith(declared + ".")
    )
