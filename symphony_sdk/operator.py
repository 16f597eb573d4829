"""Base class of Operators: transforms from inputs to outputs, cheap to start."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from symphony_core import ExtensionContext, hookimpl
from symphony_sdk.extension import Extension
from symphony_sdk.nodes import CONTEXT, collect_nodes

__all__ = ["Operator"]


@hookimpl(specname="symphony_operator_describe")
def _describe(self: Operator) -> list[str]:
    return sorted(self._symphony_nodes)


@hookimpl(specname="symphony_operator_transform")
def _transform(
    self: Operator,
    node_type: str,
    inputs: Mapping[str, Any],
    params: Mapping[str, Any],
    context: ExtensionContext,
) -> Mapping[str, Any] | None:
    binding = self._symphony_binding(node_type, context)
    if binding is None:
        return None
    method = getattr(self, binding.signature.attribute)
    return binding.outputs(method(**binding.arguments(inputs, params, context)))


@hookimpl(specname="symphony_operator_transform")
async def _transform_async(
    self: Operator,
    node_type: str,
    inputs: Mapping[str, Any],
    params: Mapping[str, Any],
    context: ExtensionContext,
) -> Mapping[str, Any] | None:
    binding = self._symphony_binding(node_type, context)
    if binding is None:
        return None
    method = getattr(self, binding.signature.attribute)
    result = method(**binding.arguments(inputs, params, context))
    if inspect.isawaitable(result):
        result = await result
    return binding.outputs(result)


class Operator(Extension):
    """Base class of an Operator extension.

    Decorate one method per node type with :func:`~symphony_sdk.node`; regular
    parameters are the node's inputs, keyword-only ones its parameters, a ``context``
    parameter receives the :class:`~symphony_core.hooks.ExtensionContext`, and the
    method returns a dict of outputs. Inputs, parameters and outputs are checked
    against ``symphony.toml`` on every call; the signatures are checked against it at
    activation. If any node method is ``async def``, the whole transform hook is async
    (the host awaits it, or runs it to completion for a synchronous call).

    Example::

        class TextOps(Operator):
            @node("word_count")
            def word_count(self, tokens: list[str], *, top: int = 10) -> dict[str, Any]:
                return {"counts": dict(Counter(tokens).most_common(top))}
    """

    symphony_operator_describe = _describe
    symphony_operator_transform = _transform

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._symphony_nodes = collect_nodes(cls, reserved=frozenset({CONTEXT}))
        if "symphony_operator_transform" not in vars(cls):
            is_async = any(sig.is_async for sig in cls._symphony_nodes.values())
            chosen = _transform_async if is_async else _transform
            setattr(cls, "symphony_operator_transform", chosen)  # noqa: B010
