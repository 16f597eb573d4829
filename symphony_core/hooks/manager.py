"""pluggy's plugin manager with a cheap first look at each attribute of a plugin.

pluggy inspects every name in ``dir(plugin)`` with :func:`inspect.getattr_static`, which
walks the class hierarchy several times per name; for an SDK-based extension that is
most of the cost of registering it. Hook implementations carry a marker attribute, so a
plain look through the plugin's own ``__dict__`` and its classes' ``__dict__`` finds
the names that can possibly be implementations; only those go through pluggy's own
(authoritative) parsing. ``parse_hookimpl_opts`` is pluggy's documented hook for this.
"""

from __future__ import annotations

import inspect
import types
from typing import Final

import pluggy

from symphony_core.hooks.markers import PROJECT_NAME

__all__ = ["SymphonyPluginManager"]

_MARKER: Final = PROJECT_NAME + "_impl"
_MISSING: Final = object()


def _raw_attribute(plugin: object, name: str) -> object:
    if inspect.ismodule(plugin):
        return vars(plugin).get(name, _MISSING)
    if not inspect.isclass(plugin):
        own = getattr(plugin, "__dict__", None)
        if isinstance(own, dict) and name in own:
            return own[name]
    owner = plugin if inspect.isclass(plugin) else type(plugin)
    for klass in owner.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name]
    return _MISSING


def _may_be_marked(plugin: object, name: str) -> bool:
    value = _raw_attribute(plugin, name)
    if value is _MISSING:
        return False
    if isinstance(value, types.MemberDescriptorType):
        return True  # a slot: let pluggy read it
    if hasattr(value, _MARKER):
        return True
    return hasattr(getattr(value, "__func__", None), _MARKER)


class SymphonyPluginManager(pluggy.PluginManager):
    """A :class:`pluggy.PluginManager` for project ``symphony`` that skips unmarked names fast."""

    def __init__(self) -> None:
        super().__init__(PROJECT_NAME)

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        """Return the hookimpl options of ``plugin.name``, or ``None`` if it is not one."""
        if not _may_be_marked(plugin, name):
            return None
        return super().parse_hookimpl_opts(plugin, name)
