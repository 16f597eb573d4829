"""Write a :class:`~symphony_core.manifest.model.Manifest` back as ``symphony.toml`` text."""

from __future__ import annotations

from typing import Any

import msgspec
import tomli_w

from symphony_core.manifest.model import Manifest

__all__ = ["dump_manifest", "manifest_to_dict"]


def _default_of(field: msgspec.structs.FieldInfo) -> Any:
    if field.default is not msgspec.NODEFAULT:
        return field.default
    if field.default_factory is not msgspec.NODEFAULT:
        return field.default_factory()
    return msgspec.NODEFAULT


def _plain(value: Any, omit_defaults: bool) -> Any:
    if isinstance(value, msgspec.Struct):
        out: dict[str, Any] = {}
        for field in msgspec.structs.fields(value):
            item = getattr(value, field.name)
            # TOML has no null: an unset optional key is left out.
            if item is None or item is msgspec.UNSET:
                continue
            if omit_defaults and not field.required and item == _default_of(field):
                continue
            out[field.encode_name] = _plain(item, omit_defaults)
        return out
    if isinstance(value, dict):
        return {key: _plain(item, omit_defaults) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item, omit_defaults) for item in value]
    return value


def manifest_to_dict(manifest: Manifest, *, omit_defaults: bool = True) -> dict[str, Any]:
    """Return the manifest as the TOML document's table (kebab-case keys, no nulls).

    Args:
        manifest: A manifest.
        omit_defaults: Leave out keys whose value equals their default.

    Returns:
        A dict that :func:`tomli_w.dumps` can write and the validator accepts back.
    """
    result: dict[str, Any] = _plain(manifest, omit_defaults)
    return result


def dump_manifest(manifest: Manifest, *, omit_defaults: bool = True) -> str:
    """Write a manifest as ``symphony.toml`` text that parses back to an equal manifest.

    Args:
        manifest: A manifest.
        omit_defaults: Leave out keys whose value equals their default.

    Returns:
        TOML text.
    """
    return tomli_w.dumps(manifest_to_dict(manifest, omit_defaults=omit_defaults))
