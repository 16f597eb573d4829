"""Where each struct of the model appears in a TOML document, as table headers."""

from __future__ import annotations

import msgspec
import msgspec.inspect as mi

__all__ = ["struct_tables", "unwrap"]


def unwrap(info: mi.Type) -> mi.Type:
    """Strip ``Metadata`` wrappers and ``| None`` from a type, returning what is left.

    Args:
        info: A type from :func:`msgspec.inspect.type_info`.

    Returns:
        The inner type; a union of several non-``None`` types is returned as is.
    """
    while True:
        if isinstance(info, mi.Metadata):
            info = info.type
            continue
        if isinstance(info, mi.UnionType):
            members = [m for m in info.types if not isinstance(m, mi.NoneType)]
            if len(members) == 1:
                info = members[0]
                continue
        return info


def struct_tables(root: type[msgspec.Struct]) -> dict[type[msgspec.Struct], list[str]]:
    """Map each struct reachable from ``root`` to the TOML headers it is written under.

    ``root`` itself maps to ``[]`` (the top level). A struct in an array is an array of
    tables (``[[nodes]]``); one in a table of named entries gets a ``<name>`` placeholder
    (``[nodes.parameters.<name>]``).

    Args:
        root: The document's struct, e.g. ``Manifest``.

    Returns:
        Structs in the order first met (depth first, fields in declaration order).
    """
    found: dict[type[msgspec.Struct], list[str]] = {root: []}

    def visit(info: mi.StructType, prefix: str) -> None:
        for field in info.fields:
            key = f"{prefix}.{field.encode_name}" if prefix else field.encode_name
            inner = unwrap(field.type)
            header: str | None = None
            if isinstance(inner, mi.StructType):
                header = f"[{key}]"
            elif isinstance(inner, mi.ListType) and isinstance(
                unwrap(inner.item_type), mi.StructType
            ):
                inner = unwrap(inner.item_type)
                header = f"[[{key}]]"
            elif isinstance(inner, mi.DictType) and isinstance(
                unwrap(inner.value_type), mi.StructType
            ):
                inner = unwrap(inner.value_type)
                key = f"{key}.<name>"
                header = f"[{key}]"
            if header is None or not isinstance(inner, mi.StructType):
                continue
            headers = found.setdefault(inner.cls, [])
            if header not in headers:
                headers.append(header)
            visit(inner, key)

    visit(mi.type_info(root), "")  # type: ignore[arg-type]
    return found
