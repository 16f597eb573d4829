"""A node method joined to its manifest declaration: the checks made once, then on every call.

At activation each ``@node`` method is compared with its ``[[nodes]]`` entry (same
inputs, same parameters, optional inputs have defaults, no conflicting defaults). On
each call the inputs and parameters are checked against the manifest (unknown or
missing names, port types, parameter constraints), manifest defaults are filled in, and
the outputs the method returns are checked against the declared output ports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from symphony_core import (
    ExtensionContext,
    NodeOutputError,
    NodeType,
    Parameter,
    PortType,
    parameter_value_problems,
    parse_port_type,
)
from symphony_sdk.errors import NodeInputError, NodeManifestMismatchError
from symphony_sdk.nodes import CONTEXT, INSTANCE, NodeSignature
from symphony_sdk.values import value_mismatch

__all__ = ["NodeBinding", "bind_node"]


@dataclass(frozen=True, slots=True)
class NodeBinding:
    """A node method and its manifest declaration, checked against each other.

    Attributes:
        signature: What the method takes.
        declaration: The manifest's node type.
        extension_id: The extension both belong to (for messages).
        input_types: Declared port type of each input.
        required_inputs: Inputs the manifest requires.
        params: Declared parameters by name.
        output_types: Declared port type of each output.
    """

    signature: NodeSignature
    declaration: NodeType
    extension_id: str
    input_types: Mapping[str, PortType]
    required_inputs: frozenset[str]
    params: Mapping[str, Parameter]
    output_types: Mapping[str, PortType]

    @property
    def node_type(self) -> str:
        """The node type's name."""
        return self.declaration.type

    def _refuse(self, problems: list[str]) -> NodeInputError:
        return NodeInputError(
            f"node {self.node_type!r} of {self.extension_id}: " + "; ".join(problems)
        )

    def resolve_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Check parameter values and fill in the manifest's defaults.

        A parameter that is neither given nor defaulted in the manifest is left out, so
        the method's own default applies; if it has none either, that is an error.

        Args:
            params: The values given for the call.

        Returns:
            Keyword arguments for the method.

        Raises:
            NodeInputError: Unknown, missing or invalid parameters (all listed).
        """
        problems: list[str] = []
        unknown = sorted(str(name) for name in params if name not in self.params)
        if unknown:
            problems.append(
                f"unknown parameter(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(self.params)) or 'none'})"
            )
        resolved: dict[str, Any] = {}
        for name, declared in self.params.items():
            if name in params:
                value = params[name]
            elif declared.default is not msgspec.UNSET:
                value = declared.default
            elif name in self.signature.param_defaults:
                continue
            else:
                problems.append(f"parameter {name!r} is required")
                continue
            issues = parameter_value_problems(declared, value)
            if issues:
                problems.append(f"parameter {name!r} = {value!r}: {', '.join(issues)}")
            resolved[name] = value
        if problems:
            raise self._refuse(problems)
        return resolved

    def arguments(
        self,
        inputs: Mapping[str, Any],
        params: Mapping[str, Any],
        context: ExtensionContext,
        instance: object = None,
    ) -> dict[str, Any]:
        """Build the method's keyword arguments for one call.

        Args:
            inputs: Values of the input ports.
            params: Values of the parameters.
            context: The extension's context.
            instance: The loaded instance (Instrument nodes).

        Returns:
            Keyword arguments for the node method.

        Raises:
            NodeInputError: Unknown, missing or mistyped inputs, or bad parameters.
        """
        problems: list[str] = []
        unknown = sorted(str(name) for name in inputs if name not in self.input_types)
        if unknown:
            problems.append(
                f"unknown input(s) {', '.join(unknown)} "
                f"(inputs: {', '.join(self.input_types) or 'none'})"
            )
        missing = sorted(name for name in self.required_inputs if name not in inputs)
        if missing:
            problems.append(f"missing input(s) {', '.join(missing)}")
        kwargs: dict[str, Any] = {}
        for name, port_type in self.input_types.items():
            if name not in inputs:
                continue
            value = inputs[name]
            mismatch = value_mismatch(value, port_type, f"input {name!r}")
            if mismatch is not None:
                problems.append(mismatch)
            kwargs[name] = value
        if problems:
            raise self._refuse(problems)
        kwargs.update(self.resolve_params(params))
        reserved = self.signature.reserved
        if CONTEXT in reserved:
            kwargs[CONTEXT] = context
        if INSTANCE in reserved:
            kwargs[INSTANCE] = instance
        return kwargs

    def outputs(self, result: Any) -> Mapping[str, Any]:
        """Check what the method returned against the declared output ports.

        Args:
            result: The method's return value.

        Returns:
            The outputs, unchanged.

        Raises:
            NodeOutputError: Not a mapping, missing or undeclared outputs, wrong types.
        """
        where = f"{self.signature.attribute} (node {self.node_type!r})"
        if not isinstance(result, Mapping):
            raise NodeOutputError(
                f"{where} returned {type(result).__name__}; return a dict of outputs "
                f"({', '.join(self.output_types) or 'none declared'})",
                extension_id=self.extension_id,
            )
        problems: list[str] = []
        missing = [name for name in self.output_types if name not in result]
        if missing:
            problems.append(f"missing output(s) {', '.join(missing)}")
        undeclared = sorted(str(name) for name in result if name not in self.output_types)
        if undeclared:
            problems.append(f"undeclared output(s) {', '.join(undeclared)}")
        for name, port_type in self.output_types.items():
            if name in result:
                mismatch = value_mismatch(result[name], port_type, f"output {name!r}")
                if mismatch is not None:
                    problems.append(mismatch)
        if problems:
            raise NodeOutputError(
                f"{where} returned bad outputs: " + "; ".join(problems),
                extension_id=self.extension_id,
            )
        return result


def bind_node(signature: NodeSignature, declaration: NodeType, extension_id: str) -> NodeBinding:
    """Check a node method against its manifest declaration and join them.

    Args:
        signature: The method's signature.
        declaration: The manifest's node type of the same name.
        extension_id: The extension (for messages).

    Returns:
        The binding.

    Raises:
        NodeManifestMismatchError: They disagree; every difference is listed.
    """
    problems: list[str] = []
    declared_inputs = {port.name: port for port in declaration.inputs}
    params = dict(declaration.parameters)
    for name in declared_inputs:
        if name in signature.inputs:
            if not declared_inputs[name].required and name not in signature.optional_inputs:
                problems.append(f"input {name!r} is optional in the manifest; give it a default")
        elif name in signature.params:
            problems.append(f"{name!r} is an input in the manifest; make it a regular parameter")
        else:
            problems.append(f"the method has no parameter for input {name!r}")
    for name in signature.inputs:
        if name in declared_inputs:
            continue
        if name in params:
            problems.append(f"{name!r} is a parameter in the manifest; make it keyword-only")
        else:
            problems.append(f"{name!r} is not an input of the node in the manifest")
    for name, declared in params.items():
        if name in signature.inputs:
            continue  # reported above
        if name not in signature.params:
            problems.append(f"the method has no keyword-only parameter for parameter {name!r}")
        elif (
            declared.default is not msgspec.UNSET
            and name in signature.param_defaults
            and signature.param_defaults[name] != declared.default
        ):
            problems.append(
                f"parameter {name!r} has default {declared.default!r} in the manifest but "
                f"{signature.param_defaults[name]!r} in the method; keep only one"
            )
    for name in signature.params:
        if name not in params and name not in declared_inputs:
            problems.append(f"{name!r} is not a parameter of the node in the manifest")
    if problems:
        raise NodeManifestMismatchError(
            f"method {signature.attribute} does not match node {declaration.type!r} of "
            "symphony.toml: " + "; ".join(problems),
            extension_id=extension_id,
            hint="inputs are regular parameters, node parameters are keyword-only (after '*')",
        )
    return NodeBinding(
        signature=signature,
        declaration=declaration,
        extension_id=extension_id,
        input_types={name: parse_port_type(port.type) for name, port in declared_inputs.items()},
        required_inputs=frozenset(name for name, port in declared_inputs.items() if port.required),
        params=params,
        output_types={port.name: parse_port_type(port.type) for port in declaration.outputs},
    )
