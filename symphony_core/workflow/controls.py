"""The built-in Control node types: branch, switch, merge and gate.

They are defined here, not by an extension, and every catalog has them:

``control/branch``
    Input ``value`` (any, required), output ``value`` (the same value). Every outgoing
    edge must be ``conditional``; at run time *every* edge whose condition is true is
    followed (conditions read the output ``value``). Nodes reached only through edges
    not followed are skipped.

``control/switch``
    Like a branch, but exclusive: its outgoing conditional edges are tried in the
    workflow's edge order and only the *first* true one is followed (write ``true`` as the
    last condition for a default). The arms of a switch may only meet again at a merge.

``control/merge``
    Input ``values`` (any, required, accepts any number of edges), output ``value``.
    It runs once each of its inputs has either arrived or been skipped and at least one
    arrived. Parameter ``mode``: ``first`` (default) passes on the value of the first
    incoming edge, in edge order, that arrived; ``all`` passes the list of every value
    that arrived, in edge order.

``control/gate``
    Inputs ``value`` (any, required) and ``signal`` (any, optional), output ``value``.
    Parameter ``condition`` (required): a condition over ``value`` and ``signal``
    (:mod:`symphony_core.workflow.expressions`). When it is true the value passes;
    when it is false the gate is skipped, and so is everything only it feeds.
"""

from __future__ import annotations

from typing import Literal

from symphony_core.manifest.model import NodeType, Parameter, Port
from symphony_core.workflow.model import CONTROL_NAMESPACE

__all__ = [
    "BRANCH",
    "CONTROL_NODE_TYPES",
    "ControlRole",
    "GATE",
    "MERGE",
    "MERGE_MODES",
    "SWITCH",
    "control_role",
]

ControlRole = Literal["branch", "switch", "merge", "gate"]
"""What a Control node does."""

BRANCH = f"{CONTROL_NAMESPACE}/branch"
"""Type of the branch node (follows every true conditional edge)."""
SWITCH = f"{CONTROL_NAMESPACE}/switch"
"""Type of the switch node (follows the first true conditional edge)."""
MERGE = f"{CONTROL_NAMESPACE}/merge"
"""Type of the merge node (joins the arms of a branch or switch)."""
GATE = f"{CONTROL_NAMESPACE}/gate"
"""Type of the gate node (passes its value only when its condition holds)."""
MERGE_MODES = ("first", "all")
"""Values of a merge's ``mode`` parameter."""

CONTROL_NODE_TYPES: dict[ControlRole, NodeType] = {
    "branch": NodeType(
        type="branch",
        description="Follow every outgoing conditional edge whose condition holds.",
        inputs=[Port(name="value", type="any", description="The value to route.")],
        outputs=[Port(name="value", type="any", description="The same value.")],
    ),
    "switch": NodeType(
        type="switch",
        description="Follow the first outgoing conditional edge, in edge order, that holds.",
        inputs=[Port(name="value", type="any", description="The value to route.")],
        outputs=[Port(name="value", type="any", description="The same value.")],
    ),
    "merge": NodeType(
        type="merge",
        description="Join the arms of a branch or switch.",
        inputs=[Port(name="values", type="any", description="One edge per arm (any number).")],
        outputs=[Port(name="value", type="any", description="The merged value.")],
        parameters={
            "mode": Parameter(
                type="enum",
                default="first",
                choices=list(MERGE_MODES),
                description="first: the first arm's value that arrived; all: a list of all.",
            )
        },
    ),
    "gate": NodeType(
        type="gate",
        description="Pass the value on only when the condition holds.",
        inputs=[
            Port(name="value", type="any", description="The value to pass on."),
            Port(name="signal", type="any", required=False, description="Extra input."),
        ],
        outputs=[Port(name="value", type="any", description="The same value.")],
        parameters={
            "condition": Parameter(
                type="str",
                description="A condition over `value` and `signal`.",
            )
        },
    ),
}
"""The built-in Control node types, by role (their full type is ``control/<role>``)."""

_ROLES: dict[str, ControlRole] = {
    f"{CONTROL_NAMESPACE}/{role}": role for role in ("branch", "switch", "merge", "gate")
}


def control_role(type_ref: str) -> ControlRole | None:
    """Return the role of a Control node type, or ``None`` for any other type."""
    return _ROLES.get(type_ref)
