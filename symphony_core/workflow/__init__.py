"""Workflows: DAGs of Instrument, Operator and Control nodes.

* :mod:`~symphony_core.workflow.model`: immutable :class:`Workflow`, :class:`Node`,
  :class:`Edge`; :class:`WorkflowBuilder` builds them fluently, and the edits keep ids.
* :func:`validate` reports every problem at once against a :class:`NodeCatalog` built from
  the extensions' manifests.
* :func:`topological_order`, :func:`layers`, :func:`critical_path`, :func:`upstream`,
  :func:`downstream`: deterministic orders and closures.
* :func:`encode_json` / :func:`decode_json` (canonical, versioned, migrated) and
  :func:`encode_binary` / :func:`decode_binary` (dense, compressed, checked).
* :class:`Template` and :class:`TemplateCatalog`: parameterised, nestable workflows.
* :class:`RunState` and :class:`EventLog`: node states with legal transitions only, and an
  ordered, resumable event stream.
* :func:`render_mermaid` and :func:`render_dot`: pictures.
"""

from symphony_core.workflow.builder import WorkflowBuilder, namespaced
from symphony_core.workflow.catalog import NodeCatalog, NodeSpec, PortSpec
from symphony_core.workflow.codec_binary import decode_binary, encode_binary
from symphony_core.workflow.codec_json import decode_json, encode_json
from symphony_core.workflow.controls import BRANCH, GATE, MERGE, SWITCH
from symphony_core.workflow.errors import (
    CatalogError,
    CodecError,
    EditError,
    EventsLostError,
    ExpressionError,
    ExpressionEvaluationError,
    ExpressionSyntaxError,
    FellBehindError,
    IllegalTransitionError,
    MigrationError,
    TemplateError,
    TemplateNotFoundError,
    TemplateParameterError,
    UnknownNodeError,
    ValueRuleError,
    WorkflowBuildError,
    WorkflowCycleError,
    WorkflowError,
    WorkflowValidationError,
)
from symphony_core.workflow.events import Event, EventLog, Subscription
from symphony_core.workflow.expressions import Expression, evaluate, parse
from symphony_core.workflow.files import (
    decode_workflow,
    encode_workflow,
    load_workflow,
    save_workflow,
)
from symphony_core.workflow.migrations import CURRENT_VERSION
from symphony_core.workflow.model import Binding, Edge, EdgeKind, Node, NodeKind, NodeMeta, Workflow
from symphony_core.workflow.order import (
    CriticalPath,
    critical_path,
    downstream,
    layers,
    topological_order,
    upstream,
)
from symphony_core.workflow.render import render, render_dot, render_mermaid
from symphony_core.workflow.state import FINAL_STATES, TRANSITIONS, NodeState, Progress, RunState
from symphony_core.workflow.templates import (
    Template,
    TemplateCatalog,
    TemplateEntry,
    decode_template,
    encode_template,
    expand,
    load_template,
)
from symphony_core.workflow.validate import ISSUE_CODES, Issue, ValidationReport, validate
from symphony_core.workflow.values import FrozenDict, freeze, thaw

__all__ = [
    "BRANCH",
    "CURRENT_VERSION",
    "FINAL_STATES",
    "GATE",
    "ISSUE_CODES",
    "MERGE",
    "SWITCH",
    "TRANSITIONS",
    "Binding",
    "CatalogError",
    "CodecError",
    "CriticalPath",
    "Edge",
    "EdgeKind",
    "EditError",
    "Event",
    "EventLog",
    "EventsLostError",
    "Expression",
    "ExpressionError",
    "ExpressionEvaluationError",
    "ExpressionSyntaxError",
    "FellBehindError",
    "FrozenDict",
    "IllegalTransitionError",
    "Issue",
    "MigrationError",
    "Node",
    "NodeCatalog",
    "NodeKind",
    "NodeMeta",
    "NodeSpec",
    "NodeState",
    "PortSpec",
    "Progress",
    "RunState",
    "Subscription",
    "Template",
    "TemplateCatalog",
    "TemplateEntry",
    "TemplateError",
    "TemplateNotFoundError",
    "TemplateParameterError",
    "UnknownNodeError",
    "ValidationReport",
    "ValueRuleError",
    "Workflow",
    "WorkflowBuildError",
    "WorkflowBuilder",
    "WorkflowCycleError",
    "WorkflowError",
    "WorkflowValidationError",
    "critical_path",
    "decode_binary",
    "decode_json",
    "decode_template",
    "decode_workflow",
    "downstream",
    "encode_binary",
    "encode_json",
    "encode_template",
    "encode_workflow",
    "evaluate",
    "expand",
    "freeze",
    "layers",
    "load_template",
    "load_workflow",
    "namespaced",
    "parse",
    "render",
    "render_dot",
    "render_mermaid",
    "save_workflow",
    "thaw",
    "topological_order",
    "upstream",
    "validate",
]
