"""What the three kinds share: the lifecycle hooks, the context and node bindings.

An author subclasses :class:`~symphony_sdk.Operator`, :class:`~symphony_sdk.Instrument`
or :class:`~symphony_sdk.Addon`; the base classes implement the pluggy hooks, so the
author never touches pluggy. ``setup`` and ``teardown`` may be ``async def``; the base
class then implements the lifecycle hooks as coroutines, which the host awaits.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from symphony_core import ExtensionContext, ExtensionError, hookimpl
from symphony_sdk.binding import NodeBinding, bind_node
from symphony_sdk.errors import NodeManifestMismatchError
from symphony_sdk.nodes import NodeSignature

__all__ = ["Extension", "choose_impl"]


def choose_impl(
    cls: type, hook: str, method: str, sync_impl: Callable[..., Any], async_impl: Callable[..., Any]
) -> None:
    """Give ``cls`` the async implementation of ``hook`` when its ``method`` is ``async def``.

    A class that defines ``hook`` itself keeps its own implementation.

    Args:
        cls: The class being created.
        hook: The hook attribute to set.
        method: The author-facing method the hook calls.
        sync_impl: Implementation used for a plain method.
        async_impl: Implementation used for a coroutine method.
    """
    if hook in vars(cls):
        return  # the class implements the hook itself
    chosen = async_impl if inspect.iscoroutinefunction(getattr(cls, method)) else sync_impl
    setattr(cls, hook, chosen)


async def _settle(result: object) -> None:
    if inspect.isawaitable(result):
        await result


@hookimpl(specname="symphony_activate")
def _activate(self: Extension, context: ExtensionContext) -> None:
    self._symphony_start(context)
    self.setup()


@hookimpl(specname="symphony_activate")
async def _activate_async(self: Extension, context: ExtensionContext) -> None:
    self._symphony_start(context)
    await _settle(self.setup())


@hookimpl(specname="symphony_deactivate")
def _deactivate(self: Extension, context: ExtensionContext) -> None:
    try:
        self.teardown()
    finally:
        self._symphony_stop()


@hookimpl(specname="symphony_deactivate")
async def _deactivate_async(self: Extension, context: ExtensionContext) -> None:
    try:
        await _settle(self.teardown())
    finally:
        self._symphony_stop()


class Extension:
    """Base of :class:`Operator`, :class:`Instrument` and :class:`Addon`.

    Subclasses are instantiated by the host without arguments. Override :meth:`setup`
    and :meth:`teardown` to acquire and release resources; read :attr:`context` for the
    extension's id, logger and directories.
    """

    _symphony_nodes: ClassVar[Mapping[str, NodeSignature]] = MappingProxyType({})

    symphony_activate = _activate
    symphony_deactivate = _deactivate

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        choose_impl(cls, "symphony_activate", "setup", _activate, _activate_async)
        choose_impl(cls, "symphony_deactivate", "teardown", _deactivate, _deactivate_async)

    @property
    def context(self) -> ExtensionContext:
        """The extension's context, available from activation to deactivation.

        Raises:
            ExtensionError: The extension is not active.
        """
        context: ExtensionContext | None = self.__dict__.get("_symphony_context")
        if context is None:
            raise ExtensionError(
                f"{type(self).__qualname__} is not active: its context exists only between "
                "activation and deactivation",
                hint="use self.context in setup(), teardown() and node methods",
            )
        return context

    def setup(self) -> Awaitable[None] | None:
        """Acquire resources when the host activates the extension (may be ``async def``).

        Raising refuses the activation.
        """
        return None

    def teardown(self) -> Awaitable[None] | None:
        """Release resources when the host deactivates the extension (may be ``async def``)."""
        return None

    def _symphony_start(self, context: ExtensionContext) -> None:
        bindings: dict[str, NodeBinding] = {}
        problems: list[str] = []
        for node_type, signature in self._symphony_nodes.items():
            declaration = context.nodes.get(node_type)
            if declaration is None:
                continue  # the host reports node types the manifest does not declare
            try:
                bindings[node_type] = bind_node(signature, declaration, context.extension_id)
            except NodeManifestMismatchError as exc:
                problems.append(exc.message)
        if problems:
            raise NodeManifestMismatchError(
                " | ".join(problems),
                extension_id=context.extension_id,
                hint="inputs are regular parameters, node parameters are keyword-only",
            )
        self.__dict__["_symphony_bindings"] = bindings
        self.__dict__["_symphony_context"] = context

    def _symphony_stop(self) -> None:
        self.__dict__.pop("_symphony_context", None)
        self.__dict__.pop("_symphony_bindings", None)

    def _symphony_binding(self, node_type: str, context: ExtensionContext) -> NodeBinding | None:
        """Return the binding of ``node_type``, or ``None`` if this class does not implement it.

        Bindings are made at activation; a host that calls a node hook without
        activating first gets them made here, from the context it passes.
        """
        bindings: dict[str, NodeBinding] | None = self.__dict__.get("_symphony_bindings")
        if bindings is not None:
            found = bindings.get(node_type)
            if found is not None:
                return found
        signature = self._symphony_nodes.get(node_type)
        if signature is None:
            return None
        declaration = context.nodes.get(node_type)
        if declaration is None:
            raise NodeManifestMismatchError(
                f"node type {node_type!r} is implemented by {signature.attribute} but "
                "symphony.toml does not declare it",
                extension_id=context.extension_id,
                hint="add it to [[nodes]]",
            )
        binding = bind_node(signature, declaration, context.extension_id)
        if bindings is None:
            bindings = self.__dict__.setdefault("_symphony_bindings", {})
        bindings[node_type] = binding
        return binding
