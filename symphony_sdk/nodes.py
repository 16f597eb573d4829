"""The ``@node`` decorator and what the SDK learns from a node method's signature.

A node method reads like the node it implements::

    @node("word_count")
    def word_count(self, tokens: list[str], *, top: int = 10) -> dict[str, Any]:
        ...

* regular parameters are the node's **inputs** (passed by name);
* keyword-only parameters (after ``*``) are its **parameters**;
* a parameter named ``context`` receives the extension's
  :class:`~symphony_core.hooks.ExtensionContext`; in an Instrument, one named
  ``instance`` receives the loaded instance;
* it returns a mapping of **output** port names to values, and may be ``async def``.

The signature is checked when the class is created, so a malformed node fails at import
with a message naming the class, the method and the parameter.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, TypeVar, overload

from symphony_core import NAME_PATTERN
from symphony_sdk.errors import NodeDefinitionError

__all__ = ["CONTEXT", "INSTANCE", "NodeSignature", "collect_nodes", "node"]

CONTEXT: Final = "context"
"""Name of the parameter that receives the extension's context."""

INSTANCE: Final = "instance"
"""Name of the parameter of an Instrument node that receives the loaded instance."""

_MARK: Final = "__symphony_node__"
_NAME: Final = re.compile(NAME_PATTERN)
_F = TypeVar("_F", bound=Callable[..., Any])


@overload
def node(node_type: _F, /) -> _F: ...


@overload
def node(node_type: str | None = None, /) -> Callable[[_F], _F]: ...


def node(node_type: str | Callable[..., Any] | None = None, /) -> Any:
    """Mark a method as the implementation of a node type.

    Usable as ``@node("word_count")`` or bare ``@node`` (the method's name is the type).

    Args:
        node_type: The node type's name, as in the manifest's ``[[nodes]] type``.

    Returns:
        A decorator that marks the method and returns it unchanged.

    Raises:
        NodeDefinitionError: The name is not a valid node type name.
    """
    if callable(node_type):
        return node(None)(node_type)
    if node_type is not None:
        _check_name(node_type, None)

    def mark(function: _F) -> _F:
        name = node_type if node_type is not None else getattr(function, "__name__", "")
        _check_name(name, function)
        setattr(function, _MARK, name)
        return function

    return mark


def _check_name(name: object, function: object) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise NodeDefinitionError(
            f"{name!r} is not a valid node type name",
            where=getattr(function, "__qualname__", None),
            hint="letters, digits and '_', not starting with a digit, at most 64 characters",
        )


@dataclass(frozen=True, slots=True)
class NodeSignature:
    """What a node method takes, read from its signature.

    Attributes:
        node_type: The node type it implements.
        attribute: The method's attribute name on the class.
        inputs: Input port names (regular parameters), in order.
        optional_inputs: Inputs that have a Python default.
        params: Parameter names (keyword-only parameters), in order.
        param_defaults: Python defaults of parameters that have one.
        reserved: Reserved names it accepts (``context``, ``instance``).
        is_async: Whether it is ``async def``.
    """

    node_type: str
    attribute: str
    inputs: tuple[str, ...]
    optional_inputs: frozenset[str]
    params: tuple[str, ...]
    param_defaults: Mapping[str, Any]
    reserved: frozenset[str]
    is_async: bool


def _analyse(
    owner: str, attribute: str, function: Callable[..., Any], reserved: frozenset[str]
) -> NodeSignature:
    node_type: str = getattr(function, _MARK)
    where = f"{owner}.{attribute}"
    problems: list[str] = []
    parameters = list(inspect.signature(function).parameters.values())
    if not parameters or parameters[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        raise NodeDefinitionError(
            f"node {node_type!r}: the method must take 'self' first",
            where=where,
            hint="define node methods as plain methods, not static or class methods",
        )
    inputs: list[str] = []
    optional: set[str] = set()
    params: list[str] = []
    defaults: dict[str, Any] = {}
    accepted: set[str] = set()
    for param in parameters[1:]:
        name = param.name
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            problems.append(f"*{name} / **{name} cannot be inputs or parameters; name each one")
        elif param.kind is param.POSITIONAL_ONLY:
            problems.append(f"input {name!r} is positional-only; inputs are passed by name")
        elif name in (CONTEXT, INSTANCE):
            if name not in reserved:
                problems.append(f"{name!r} is only given to Instrument nodes; rename it")
            else:
                accepted.add(name)
        elif not _NAME.match(name):
            problems.append(f"{name!r} is not a valid port or parameter name")
        elif param.kind is param.KEYWORD_ONLY:
            params.append(name)
            if param.default is not param.empty:
                defaults[name] = param.default
        else:
            inputs.append(name)
            if param.default is not param.empty:
                optional.add(name)
    if problems:
        raise NodeDefinitionError(
            f"node {node_type!r}: " + "; ".join(problems),
            where=where,
            hint="inputs are regular parameters, node parameters are keyword-only (after '*')",
        )
    return NodeSignature(
        node_type=node_type,
        attribute=attribute,
        inputs=tuple(inputs),
        optional_inputs=frozenset(optional),
        params=tuple(params),
        param_defaults=MappingProxyType(defaults),
        reserved=frozenset(accepted),
        is_async=inspect.iscoroutinefunction(function),
    )


def collect_nodes(cls: type, *, reserved: frozenset[str]) -> Mapping[str, NodeSignature]:
    """Find and check every ``@node`` method of ``cls`` (inherited ones included).

    A subclass may override a node method under the same attribute name.

    Args:
        cls: The class being created.
        reserved: Reserved parameter names the class's kind passes to nodes.

    Returns:
        The node signatures by node type.

    Raises:
        NodeDefinitionError: A node method is malformed, is not a plain method, or two
            methods claim the same node type.
    """
    methods: dict[str, Callable[..., Any]] = {}
    for klass in reversed(cls.__mro__):
        for attribute, value in vars(klass).items():
            raw = value.__func__ if isinstance(value, staticmethod | classmethod) else value
            if not hasattr(raw, _MARK):
                methods.pop(attribute, None)
                continue
            if not inspect.isfunction(value):
                raise NodeDefinitionError(
                    "node methods must be plain methods (not static or class methods)",
                    where=f"{cls.__qualname__}.{attribute}",
                )
            methods[attribute] = value
    nodes: dict[str, NodeSignature] = {}
    for attribute, function in methods.items():
        signature = _analyse(cls.__qualname__, attribute, function, reserved)
        clash = nodes.get(signature.node_type)
        if clash is not None:
            raise NodeDefinitionError(
                f"node type {signature.node_type!r} is implemented twice: by "
                f"{clash.attribute} and by {attribute}",
                where=cls.__qualname__,
                hint="each node type has one method",
            )
        nodes[signature.node_type] = signature
    return MappingProxyType(nodes)
