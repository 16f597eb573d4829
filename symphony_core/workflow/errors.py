"""The errors the workflow package raises, each with a stable dotted ``code``.

Every one of them is a :class:`~symphony_core.errors.UserError`: a bad workflow file, a
wrong template parameter or an illegal state change is something the caller can fix, so
the CLI shows it as one line. :class:`WorkflowValidationError` carries every problem the
validator found, not just the first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from symphony_core.errors import UserError

if TYPE_CHECKING:
    from symphony_core.workflow.validate import Issue

__all__ = [
    "CatalogError",
    "CodecError",
    "EditError",
    "EventsLostError",
    "ExpressionError",
    "ExpressionEvaluationError",
    "ExpressionSyntaxError",
    "FellBehindError",
    "IllegalTransitionError",
    "MigrationError",
    "TemplateError",
    "TemplateNotFoundError",
    "TemplateParameterError",
    "UnknownNodeError",
    "ValueRuleError",
    "WorkflowBuildError",
    "WorkflowCycleError",
    "WorkflowError",
    "WorkflowValidationError",
]


class WorkflowError(UserError):
    """Base of every workflow error."""

    code = "workflow.error"


class ValueRuleError(WorkflowError):
    """A parameter or metadata value is not one a workflow may hold.

    Workflow values are JSON values: ``None``, ``bool``, integers from ``-2**63`` to
    ``2**63 - 1``, finite floats, strings without lone surrogates, lists and string-keyed
    mappings, nested at most 64 deep.
    """

    code = "workflow.value_invalid"


class WorkflowBuildError(WorkflowError):
    """The builder was asked for something that cannot be built (e.g. a duplicate id)."""

    code = "workflow.build_invalid"


class EditError(WorkflowError):
    """An edit names a node or edge that does not exist, or would duplicate an id."""

    code = "workflow.edit_invalid"


class UnknownNodeError(WorkflowError):
    """A node id given to a query (closure, state change...) is not in the workflow."""

    code = "workflow.node_unknown"


class CatalogError(WorkflowError):
    """Node types cannot be put in one catalog (bad port type, same type twice...)."""

    code = "workflow.catalog_invalid"


class WorkflowValidationError(WorkflowError):
    """A workflow has one or more validation errors; ``issues`` lists every one of them.

    Args:
        issues: Every problem found (errors and warnings).
        where: The workflow (a name or a file).
    """

    code = "workflow.invalid"

    def __init__(self, issues: Sequence[Issue], *, where: str | None = None) -> None:
        self.issues = tuple(issues)
        errors = [issue for issue in self.issues if issue.severity == "error"]
        shown = "; ".join(issue.summary() for issue in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        super().__init__(
            f"the workflow has {len(errors)} error(s): {shown}{more}",
            where=where,
            hint="run `symphony workflow validate FILE` to see every problem",
            details={"issues": [issue.to_dict() for issue in self.issues]},
        )


class WorkflowCycleError(WorkflowError):
    """The graph has a cycle, so it has no topological order.

    Args:
        path: Node ids along one cycle; the last one has an edge back to the first.
    """

    code = "workflow.cycle"

    def __init__(self, path: Sequence[str]) -> None:
        self.path = tuple(path)
        loop = " -> ".join([*self.path, self.path[0]]) if self.path else "?"
        super().__init__(
            f"the workflow has a cycle: {loop}",
            hint="remove or reverse one edge of the cycle",
            details={"path": list(self.path)},
        )


class CodecError(WorkflowError):
    """Bytes are not a workflow this version can read (wrong format, truncated, corrupt).

    Args:
        message: What is wrong.
        where: The file or the position in it.
        hint: What to do about it.
    """

    code = "workflow.decode_failed"

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None):
        super().__init__(message, where=where, hint=hint)


class MigrationError(CodecError):
    """A workflow document's schema version cannot be brought up to the current one."""

    code = "workflow.migration_failed"


class ExpressionError(WorkflowError):
    """Base of the condition-language errors."""

    code = "workflow.expression_error"


class ExpressionSyntaxError(ExpressionError):
    """A condition does not follow the grammar.

    Args:
        message: What was expected.
        text: The whole condition.
        position: Character offset of the problem.
    """

    code = "workflow.expression_syntax"

    def __init__(self, message: str, *, text: str, position: int) -> None:
        self.text = text
        self.position = position
        super().__init__(
            f"{message} at character {position} of {text[:200]!r}",
            hint='conditions look like: score >= 0.5 and label in ["spam", "ham"]',
            details={"position": position},
        )


class ExpressionEvaluationError(ExpressionError):
    """A condition is well formed but cannot be evaluated on the values it was given."""

    code = "workflow.expression_evaluation"


class TemplateError(WorkflowError):
    """A template file or definition is invalid."""

    code = "workflow.template_invalid"


class TemplateNotFoundError(TemplateError):
    """No template has the requested name."""

    code = "workflow.template_not_found"


class TemplateParameterError(TemplateError):
    """One or more template parameters are missing, unknown or invalid; ``problems`` lists all.

    Args:
        template: The template's name.
        problems: One ``(parameter, problem)`` pair per problem.
    """

    code = "workflow.template_parameters_invalid"

    def __init__(self, template: str, problems: Sequence[tuple[str, str]]) -> None:
        self.template = template
        self.problems = tuple(problems)
        listed = "; ".join(f"{name}: {problem}" for name, problem in self.problems)
        super().__init__(
            f"template {template!r} got {len(self.problems)} bad parameter(s): {listed}",
            where=template,
            hint="see `symphony template list` for each parameter's type and constraints",
            details={"problems": [{"parameter": n, "problem": p} for n, p in self.problems]},
        )


class IllegalTransitionError(WorkflowError):
    """A node was asked to move to a state it cannot reach from its current one.

    Args:
        node: The node's id.
        current: Its current state.
        requested: The state asked for.
        allowed: The states it may move to.
    """

    code = "workflow.illegal_transition"

    def __init__(self, node: str, current: str, requested: str, allowed: Sequence[str]) -> None:
        self.node = node
        self.current = current
        self.requested = requested
        self.allowed = tuple(allowed)
        options = ", ".join(self.allowed) or "nothing (it is final)"
        super().__init__(
            f"node {node!r} cannot go from {current} to {requested}",
            where=node,
            hint=f"from {current} a node may go to: {options}",
        )


class EventsLostError(WorkflowError):
    """Events a subscriber asked for are no longer kept and cannot be replayed.

    Args:
        after: The sequence number the subscriber wanted to resume after.
        oldest: The oldest sequence number still available.
    """

    code = "workflow.events_lost"

    def __init__(self, after: int, oldest: int) -> None:
        self.after = after
        self.oldest = oldest
        super().__init__(
            f"events after #{after} are gone: the oldest event still kept is #{oldest}",
            hint="give the event log a persistence hook with a replay function, or a larger buffer",
            details={"after": after, "oldest": oldest},
        )


class FellBehindError(WorkflowError):
    """A subscriber read too slowly and its queue overflowed; it must resume.

    Args:
        last_seq: Sequence number of the last event it received; resume after it.
    """

    code = "workflow.subscriber_behind"

    def __init__(self, last_seq: int) -> None:
        self.last_seq = last_seq
        super().__init__(
            f"the subscriber fell behind after event #{last_seq}",
            hint=f"resume with EventLog.subscribe(after={last_seq})",
            details={"last_seq": last_seq},
        )
