"""The extension contract: every hook a Symphony host calls, and what it expects back.

Hooks are pluggy hook specifications of the project ``symphony``, grouped by family:

* lifecycle — every extension: ``symphony_activate``, ``symphony_deactivate``;
* Instrument — model-backed producers: describe, load, invoke, unload, health;
* Operator — transforms: describe, transform;
* Addon — behaviour around the work: events, CLI commands;
* Pit services — one hook per service, each returning the service object.

Hosts call node types **by name**: the node hooks take ``node_type`` and are
``firstresult``, so each extension answers only for the node types it contributes and
returns ``None`` for the others. The in-process runtime goes further and routes a node
call straight to the extension whose manifest declares the node type, activating only it.

Each spec carries a default error policy (``stop``, ``collect`` or ``isolate``; the
configuration's ``hook-policy`` overrides it) and says whether ``async def``
implementations are accepted. Extensions normally do not implement these hooks by hand:
the SDK's base classes (:mod:`symphony_sdk`) do it for them.

Arguments are passed by name; an implementation may accept any subset of a spec's
arguments, in any order, but no argument the spec does not have.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from symphony_core.hooks.context import ExtensionContext
from symphony_core.hooks.health import InstrumentHealth
from symphony_core.hooks.markers import hookspec

if TYPE_CHECKING:
    import click

__all__ = [
    "symphony_activate",
    "symphony_addon_cli_commands",
    "symphony_addon_event",
    "symphony_deactivate",
    "symphony_instrument_describe",
    "symphony_instrument_health",
    "symphony_instrument_invoke",
    "symphony_instrument_load",
    "symphony_instrument_unload",
    "symphony_operator_describe",
    "symphony_operator_transform",
    "symphony_pit_arbitration_engine",
    "symphony_pit_artifact_store",
    "symphony_pit_dag_tracker",
    "symphony_pit_pool_manager",
    "symphony_pit_stale_manager",
]


# -- lifecycle ----------------------------------------------------------------------------


@hookspec(policy="stop")
def symphony_activate(context: ExtensionContext) -> None:
    """Start the extension: open resources, read settings, check the environment.

    Called once per activation, after the extension's code was imported and registered
    and before any other of its hooks. Raising refuses the activation: the extension is
    unregistered again and the host reports an ``ExtensionLoadError``.

    Args:
        context: The extension's own context (id, logger, scratch and data directories).
    """


@hookspec(policy="isolate")
def symphony_deactivate(context: ExtensionContext) -> None:
    """Stop the extension: release what :func:`symphony_activate` acquired.

    The extension is unregistered afterwards even if this raises; the failure is
    reported with the extension's id. Broadcast, one failing extension does not keep
    the others from stopping (policy ``isolate``).

    Args:
        context: The extension's own context.
    """


# -- Instrument ---------------------------------------------------------------------------


@hookspec(policy="collect", allow_async=False)
def symphony_instrument_describe() -> list[str]:  # type: ignore[empty-body]
    """List the Instrument node types the extension's code implements.

    The host compares this with the manifest's ``[[nodes]]`` at activation: a node type
    the manifest declares but the code lacks refuses the activation.

    Returns:
        Node type names.
    """


@hookspec(firstresult=True)
def symphony_instrument_load(
    node_type: str, params: Mapping[str, Any], context: ExtensionContext
) -> object | None:
    """Load an instance (a model, a client...) able to serve ``node_type``.

    The Pool Manager calls this, keeps the instance warm and hands it to
    :func:`symphony_instrument_invoke` until it unloads it.

    Args:
        node_type: The node type to serve.
        params: Parameters that shape the instance (model size, device...).
        context: The extension's own context.

    Returns:
        The loaded instance, or ``None`` when ``node_type`` is not this extension's.
    """


@hookspec(firstresult=True)
def symphony_instrument_invoke(
    node_type: str,
    instance: object,
    inputs: Mapping[str, Any],
    params: Mapping[str, Any],
    context: ExtensionContext,
) -> Mapping[str, Any] | None:
    """Run one node of type ``node_type`` on a loaded instance.

    Args:
        node_type: The node type to run.
        instance: What :func:`symphony_instrument_load` returned.
        inputs: Values of the node's input ports, by port name.
        params: Values of the node's parameters, by name.
        context: The extension's own context.

    Returns:
        Values of the node's output ports by port name, or ``None`` when ``node_type``
        is not this extension's.
    """


@hookspec(firstresult=True)
def symphony_instrument_unload(
    node_type: str, instance: object, context: ExtensionContext
) -> bool | None:
    """Release a loaded instance.

    Args:
        node_type: The node type the instance serves.
        instance: What :func:`symphony_instrument_load` returned.
        context: The extension's own context.

    Returns:
        ``True`` once released, or ``None`` when ``node_type`` is not this extension's.
    """


@hookspec(firstresult=True)
def symphony_instrument_health(
    node_type: str, instance: object, context: ExtensionContext
) -> InstrumentHealth | None:
    """Check that a loaded instance can still serve requests.

    Must answer quickly: the Pool Manager treats a slow answer as a hung instance.

    Args:
        node_type: The node type the instance serves.
        instance: What :func:`symphony_instrument_load` returned.
        context: The extension's own context.

    Returns:
        The instance's health, or ``None`` when ``node_type`` is not this extension's.
    """


# -- Operator -----------------------------------------------------------------------------


@hookspec(policy="collect", allow_async=False)
def symphony_operator_describe() -> list[str]:  # type: ignore[empty-body]
    """List the Operator node types the extension's code implements.

    The host compares this with the manifest's ``[[nodes]]`` at activation: a node type
    the manifest declares but the code lacks refuses the activation.

    Returns:
        Node type names.
    """


@hookspec(firstresult=True)
def symphony_operator_transform(
    node_type: str,
    inputs: Mapping[str, Any],
    params: Mapping[str, Any],
    context: ExtensionContext,
) -> Mapping[str, Any] | None:
    """Run one node of type ``node_type``: turn inputs into outputs.

    Dispatch is by ``node_type``: the first extension that returns something other than
    ``None`` answers the call.

    Args:
        node_type: The node type to run.
        inputs: Values of the node's input ports, by port name.
        params: Values of the node's parameters, by name.
        context: The extension's own context.

    Returns:
        Values of the node's output ports by port name, or ``None`` when ``node_type``
        is not this extension's.
    """


# -- Addon --------------------------------------------------------------------------------


@hookspec(policy="isolate")
def symphony_addon_event(event: object) -> None:
    """React to an event published on the host's bus (run started, node finished...).

    Every Addon sees every event it is activated for; one failing Addon does not keep
    the others from seeing it (policy ``isolate``).

    Args:
        event: The event, one of the event structs of :mod:`symphony_core.ports`.
    """


@hookspec(policy="isolate", allow_async=False)
def symphony_addon_cli_commands() -> list[click.Command]:  # type: ignore[empty-body]
    """Contribute commands to the ``symphony`` command line.

    A broken Addon loses its commands but never the whole CLI (policy ``isolate``).
    Declare each command as ``on-command:<name>`` in the manifest's ``activation`` so
    the CLI imports the Addon only when that command runs.

    Returns:
        Click commands; each is added under its own name.
    """


# -- Pit services -------------------------------------------------------------------------


@hookspec(firstresult=True, allow_async=False)
def symphony_pit_pool_manager() -> object | None:
    """Provide the Pool Manager (keeps Instrument instances loaded and warm).

    Declare ``on-hook:symphony_pit_pool_manager`` in the manifest's ``activation``.

    Returns:
        An object satisfying ``symphony_core.ports.pool.PoolManager``, or ``None``.
    """


@hookspec(firstresult=True, allow_async=False)
def symphony_pit_dag_tracker() -> object | None:
    """Provide the DAG Tracker (executes workflows, checkpoints and recovers them).

    Declare ``on-hook:symphony_pit_dag_tracker`` in the manifest's ``activation``.

    Returns:
        The DAG Tracker service object, or ``None``.
    """


@hookspec(firstresult=True, allow_async=False)
def symphony_pit_artifact_store() -> object | None:
    """Provide the Artifact Store (content-addressed blobs, metadata, lineage, search).

    Declare ``on-hook:symphony_pit_artifact_store`` in the manifest's ``activation``.

    Returns:
        The Artifact Store service object, or ``None``.
    """


@hookspec(firstresult=True, allow_async=False)
def symphony_pit_arbitration_engine() -> object | None:
    """Provide the Arbitration Engine (grants contended resources fairly).

    Declare ``on-hook:symphony_pit_arbitration_engine`` in the manifest's ``activation``.

    Returns:
        The Arbitration Engine service object, or ``None``.
    """


@hookspec(firstresult=True, allow_async=False)
def symphony_pit_stale_manager() -> object | None:
    """Provide the Stale Manager (finds and evicts stale artifacts, instances, processes).

    Declare ``on-hook:symphony_pit_stale_manager`` in the manifest's ``activation``.

    Returns:
        The Stale Manager service object, or ``None``.
    """
