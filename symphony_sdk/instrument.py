"""Base class of Instruments: producers backed by a model or another costly resource."""

from __future__ import annotations

import abc
import inspect
from collections.abc import Awaitable, Mapping
from typing import Any

from symphony_core import ExtensionContext, ExtensionError, InstrumentHealth, hookimpl
from symphony_sdk.extension import Extension, choose_impl
from symphony_sdk.nodes import CONTEXT, INSTANCE, collect_nodes

__all__ = ["Instrument"]


def _loaded(self: Instrument, node_type: str, instance: object) -> object:
    if instance is None:
        raise ExtensionError(
            f"{type(self).__qualname__}.load returned None for node type {node_type!r}",
            hint="return the loaded instance (a model, a client...)",
        )
    return instance


@hookimpl(specname="symphony_instrument_describe")
def _describe(self: Instrument) -> list[str]:
    return sorted(self._symphony_nodes)


@hookimpl(specname="symphony_instrument_load")
def _load(
    self: Instrument, node_type: str, params: Mapping[str, Any], context: ExtensionContext
) -> object | None:
    binding = self._symphony_binding(node_type, context)
    if binding is None:
        return None
    return _loaded(self, node_type, self.load(node_type, binding.resolve_params(params)))


@hookimpl(specname="symphony_instrument_load")
async def _load_async(
    self: Instrument, node_type: str, params: Mapping[str, Any], context: ExtensionContext
) -> object | None:
    binding = self._symphony_binding(node_type, context)
    if binding is None:
        return None
    result = self.load(node_type, binding.resolve_params(params))
    if inspect.isawaitable(result):
        result = await result
    return _loaded(self, node_type, result)


@hookimpl(specname="symphony_instrument_invoke")
def _invoke(
    self: Instrument,
    node_type: str,
    instance: object,
    inputs: Mapping[str, Any],
    params: Mapping[str, Any],
    context: ExtensionContext,
) -> Mapping[str, Any] | None:
    binding = self._symphony_binding(node_type, context)
    if binding is None:
        return None
    method = getattr(self, binding.signature.attribute)
    return binding.outputs(method(**binding.arguments(inputs, params, context, instance)))


@hookimpl(specname="symphony_instrument_invoke")
async def _invoke_async(
    self: Instrument,
    node_type: str,
    instance: object,
    inputs: Mapping[str, Any],
    params: Mapping[str, Any],
    context: ExtensionContext,
) -> Mapping[str, Any] | None:
    binding = self._symphony_binding(node_type, context)
    if binding is None:
        return None
    method = getattr(self, binding.signature.attribute)
    result = method(**binding.arguments(inputs, params, context, instance))
    if inspect.isawaitable(result):
        result = await result
    return binding.outputs(result)


@hookimpl(specname="symphony_instrument_unload")
def _unload(
    self: Instrument, node_type: str, instance: object, context: ExtensionContext
) -> bool | None:
    if node_type not in self._symphony_nodes:
        return None
    self.unload(node_type, instance)
    return True


@hookimpl(specname="symphony_instrument_health")
def _health(
    self: Instrument, node_type: str, instance: object, context: ExtensionContext
) -> InstrumentHealth | None:
    if node_type not in self._symphony_nodes:
        return None
    return self.health(node_type, instance)


class Instrument(Extension, abc.ABC):
    """Base class of an Instrument extension.

    Implement :meth:`load` (build the costly instance for a node type) and one
    ``@node`` method per node type; a parameter named ``instance`` receives the loaded
    instance. The Pool Manager keeps instances warm between calls and unloads them with
    :meth:`unload`. ``load`` and node methods may be ``async def``.

    Example::

        class Sentiment(Instrument):
            def load(self, node_type, params):
                return build_model(params["model"])

            @node("sentiment")
            def sentiment(self, text: str, *, instance, model: str = "small"):
                return {"label": instance.predict(text)}
    """

    symphony_instrument_describe = _describe
    symphony_instrument_load = _load
    symphony_instrument_invoke = _invoke
    symphony_instrument_unload = _unload
    symphony_instrument_health = _health

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._symphony_nodes = collect_nodes(cls, reserved=frozenset({CONTEXT, INSTANCE}))
        choose_impl(cls, "symphony_instrument_load", "load", _load, _load_async)
        if "symphony_instrument_invoke" not in vars(cls):
            is_async = any(sig.is_async for sig in cls._symphony_nodes.values())
            setattr(cls, "symphony_instrument_invoke", _invoke_async if is_async else _invoke)  # noqa: B010

    @abc.abstractmethod
    def load(self, node_type: str, params: Mapping[str, Any]) -> object | Awaitable[object]:
        """Build the instance that serves ``node_type`` (may be ``async def``).

        Args:
            node_type: The node type to serve.
            params: The node's parameters, checked and completed with manifest defaults.

        Returns:
            The loaded instance; never ``None``.
        """

    def unload(self, node_type: str, instance: object) -> None:
        """Release an instance; the default calls its ``close()`` if it has one.

        Args:
            node_type: The node type it served.
            instance: What :meth:`load` returned.
        """
        close = getattr(instance, "close", None)
        if callable(close):
            close()

    def health(self, node_type: str, instance: object) -> InstrumentHealth:
        """Tell whether an instance can still serve; the default says it can.

        Override to probe the instance; answer quickly.

        Args:
            node_type: The node type it serves.
            instance: What :meth:`load` returned.

        Returns:
            The instance's health.
        """
        return InstrumentHealth(healthy=True)
