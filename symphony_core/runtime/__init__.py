"""How extension code runs: in-process for trusted extensions, sandboxed for the others.

:class:`InProcessRuntime` is imported on first access, so importing this package (for
example for the sandbox) does not import pluggy and the hook layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from symphony_core.runtime.inprocess import (
        AmbiguousNodeTypeError,
        ExtensionDisabledError,
        InProcessRuntime,
        NodeOutputError,
        UnknownNodeTypeError,
        UntrustedExtensionError,
    )

__all__ = [
    "AmbiguousNodeTypeError",
    "ExtensionDisabledError",
    "InProcessRuntime",
    "NodeOutputError",
    "UnknownNodeTypeError",
    "UntrustedExtensionError",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from symphony_core.runtime import inprocess

        return getattr(inprocess, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
