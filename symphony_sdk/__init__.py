"""The Symphony SDK: what an extension author imports.

Subclass :class:`Operator`, :class:`Instrument` or :class:`Addon`, decorate one method
per node type with :func:`node`, and describe the extension in ``symphony.toml``; the
base classes implement the hooks of :mod:`symphony_core.hookspecs`, so you never touch
pluggy. :mod:`symphony_sdk.testing` builds an in-process runtime for your tests.
"""

from __future__ import annotations

from symphony_core import HOST_API_VERSION, InstrumentHealth, NodeOutputError, hookimpl
from symphony_core import ExtensionContext as Context
from symphony_sdk.addon import Addon
from symphony_sdk.errors import NodeDefinitionError, NodeInputError, NodeManifestMismatchError
from symphony_sdk.extension import Extension
from symphony_sdk.instrument import Instrument
from symphony_sdk.nodes import node
from symphony_sdk.operator import Operator

__all__ = [
    "HOST_API_VERSION",
    "Addon",
    "Context",
    "Extension",
    "Instrument",
    "InstrumentHealth",
    "NodeDefinitionError",
    "NodeInputError",
    "NodeManifestMismatchError",
    "NodeOutputError",
    "Operator",
    "hookimpl",
    "node",
]
