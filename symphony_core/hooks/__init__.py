"""Symphony's layer over pluggy: the hook relay, its markers, ordering and policies.

Hosts build a :class:`HookRelay` (usually through the in-process runtime); authors mark
implementations with :func:`hookimpl` (or, better, use the SDK's base classes). The hooks
themselves are specified in :mod:`symphony_core.hookspecs`.
"""

from __future__ import annotations

from symphony_core.hooks.bridge import run_coroutine_sync
from symphony_core.hooks.context import ExtensionContext, ExtensionLogger
from symphony_core.hooks.errors import HookOrderError, HookUsageError
from symphony_core.hooks.health import InstrumentHealth
from symphony_core.hooks.markers import (
    PROJECT_NAME,
    HookContract,
    ImplOrder,
    contract_of,
    hookimpl,
    hookspec,
    order_of,
)
from symphony_core.hooks.ordering import REST_MARKER, Constraint, order_extensions
from symphony_core.hooks.outcome import HookOutcome
from symphony_core.hooks.relay import FailureCallback, HookRelay

__all__ = [
    "PROJECT_NAME",
    "REST_MARKER",
    "Constraint",
    "ExtensionContext",
    "ExtensionLogger",
    "FailureCallback",
    "HookContract",
    "HookOrderError",
    "HookOutcome",
    "HookRelay",
    "HookUsageError",
    "ImplOrder",
    "InstrumentHealth",
    "contract_of",
    "hookimpl",
    "hookspec",
    "order_extensions",
    "order_of",
    "run_coroutine_sync",
]
