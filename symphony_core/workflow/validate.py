"""Workflow validation: every problem at once, each with a code, the ids involved and a hint.

:func:`validate` checks a workflow against a :class:`~symphony_core.workflow.catalog.NodeCatalog`
and returns a :class:`ValidationReport` listing every :class:`Issue` it found; it never
stops at the first. Without a catalog only the structure is checked (ids, edge shapes,
dangling edges, cycles, control-flow shape).

The checks work on the workflow's :class:`~symphony_core.workflow.topology.Topology`
(dense integer arrays) and group the per-edge work by distinct value, so that a large
workflow costs a few passes over its edges: ports are first proven fine from the
distinct port names alone (:meth:`_Validator.ports_surely_fine`), and only when that
fails checked once per distinct ``(source type, source port, target type, target
port)``; edge ids in increasing order are proven distinct without hashing them. Every
shortcut only ever proves the absence of a problem; whatever it cannot prove is checked
the exact way, so the report is the same either way.

Semantics the checks rely on (see also :mod:`symphony_core.workflow.controls`): a node
runs once every incoming edge is resolved; an ordinary node is skipped if any incoming
edge is not followed, a ``control/merge`` only if none is. A *source* is a node without
incoming edges whose required inputs are all satisfied (by workflow inputs); a node no
path from a source reaches can never run.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence, Set
from itertools import chain, compress, repeat
from operator import eq, is_not, itemgetter, not_
from typing import Any, Literal, cast

import msgspec

from symphony_core.manifest.parameters import describe_parameter, parameter_value_problems
from symphony_core.manifest.porttypes import PortType, is_assignable
from symphony_core.workflow.catalog import NodeCatalog, NodeSpec
from symphony_core.workflow.errors import ExpressionSyntaxError, WorkflowValidationError
from symphony_core.workflow.expressions import parse
from symphony_core.workflow.model import EDGE_KINDS, Workflow
from symphony_core.workflow.topology import Topology, paused_gc
from symphony_core.workflow.values import FrozenDict

__all__ = ["ISSUE_CODES", "MAX_ID_LENGTH", "Issue", "Severity", "ValidationReport", "validate"]

Severity = Literal["error", "warning"]
"""An error makes the workflow invalid; a warning points at something probably unintended."""

MAX_ID_LENGTH = 256
"""Longest node or edge id, in characters."""

ISSUE_CODES: dict[str, str] = {
    "workflow.empty": "The workflow has no nodes (warning).",
    "workflow.id_invalid": "A node or edge id is empty, too long, or has spaces or control "
    "characters.",
    "workflow.node_id_duplicate": "Two or more nodes have the same id.",
    "workflow.edge_id_duplicate": "Two or more edges have the same id.",
    "workflow.node_type_malformed": "A node type is not of the form '<extension id>/<type>'.",
    "workflow.extension_unknown": "A node type names an extension that is not installed.",
    "workflow.node_type_unknown": "The extension (or 'control') has no node type of that name.",
    "workflow.edge_kind_invalid": "An edge kind other than data, control or conditional.",
    "workflow.edge_dangling": "An edge names a node that does not exist.",
    "workflow.edge_port_missing": "A data edge without both ports, or a conditional edge with "
    "only one.",
    "workflow.edge_port_unexpected": "A control edge that names ports.",
    "workflow.port_unknown": "An edge or binding names a port its node type does not have.",
    "workflow.port_incompatible": "An output's type cannot flow into the input it feeds.",
    "workflow.input_multiple_sources": "An input port fed by more than one edge or binding.",
    "workflow.input_missing": "A required input port that nothing feeds.",
    "workflow.condition_missing": "A conditional edge without a condition.",
    "workflow.condition_unexpected": "A data or control edge with a condition.",
    "workflow.condition_invalid": "A condition that does not parse.",
    "workflow.condition_unknown_name": "A condition reads a name that is not an output of "
    "the edge's source.",
    "workflow.cycle": "The graph has a cycle (the issue gives one cycle's path).",
    "workflow.unreachable": "No path from a node that can start reaches this node.",
    "workflow.param_unknown": "A parameter the node type does not declare.",
    "workflow.param_missing": "A required parameter (one without a default) is not set.",
    "workflow.param_invalid": "A parameter value its node type's schema rejects.",
    "workflow.param_schema_invalid": "The node type's own parameter schema is broken (a bad "
    "pattern); the extension must fix it.",
    "workflow.binding_invalid": "A workflow input or output names a missing node or port.",
    "workflow.binding_duplicate": "Two workflow outputs with the same name.",
    "workflow.branch_no_arms": "A branch or switch without outgoing edges.",
    "workflow.branch_edge_unconditional": "A branch or switch with an edge that is not "
    "conditional.",
    "workflow.merge_fan_in": "A merge with fewer than two incoming edges.",
    "workflow.merge_without_branch": "A merge none of whose inputs can be skipped (warning: "
    "it always gets every input; an ordinary node would do).",
    "workflow.switch_arms_join": "Two arms of a switch meet at a node that is not a merge, "
    "which can therefore never run.",
    "workflow.gate_condition_invalid": "A gate's condition does not parse or reads names "
    "other than value and signal.",
}
"""Every issue code, with what it means. Codes are stable; scripts may branch on them."""

_BRANCH_VALUE_NAMES = frozenset({"value"})
_GATE_NAMES = frozenset({"value", "signal"})
_GROUP_BY_SCAN_LIMIT = 16
_ABSENT = object()


class Issue(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One problem in a workflow.

    Attributes:
        code: Stable code from :data:`ISSUE_CODES`.
        message: What is wrong, naming the nodes, edges and ports.
        severity: ``error`` or ``warning``.
        node_ids: The nodes involved.
        edge_ids: The edges involved.
        hint: How to fix it.
        path: For a cycle: the node ids along it, in order (the last leads back to the first).
    """

    code: str
    message: str
    severity: Severity = "error"
    node_ids: tuple[str, ...] = ()
    edge_ids: tuple[str, ...] = ()
    hint: str | None = None
    path: tuple[str, ...] = ()

    def summary(self) -> str:
        """One line: ``code: message``."""
        return f"{self.code}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict of the issue."""
        return msgspec.to_builtins(self)  # type: ignore[no-any-return]


class ValidationReport:
    """Everything :func:`validate` found.

    Args:
        issues: Every issue, in the order the checks found them.
        workflow: The workflow's name, for messages.
    """

    __slots__ = ("issues", "workflow")

    def __init__(self, issues: Sequence[Issue], workflow: str = "") -> None:
        self.issues: tuple[Issue, ...] = tuple(issues)
        self.workflow = workflow

    @property
    def errors(self) -> tuple[Issue, ...]:
        """The issues of severity ``error``."""
        return tuple(issue for issue in self.issues if issue.severity == "error")

    @property
    def warnings(self) -> tuple[Issue, ...]:
        """The issues of severity ``warning``."""
        return tuple(issue for issue in self.issues if issue.severity == "warning")

    @property
    def ok(self) -> bool:
        """Whether there is no error (warnings allowed)."""
        return not any(issue.severity == "error" for issue in self.issues)

    def codes(self) -> set[str]:
        """The distinct codes of all issues."""
        return {issue.code for issue in self.issues}

    def by_code(self, code: str) -> tuple[Issue, ...]:
        """The issues with this code."""
        return tuple(issue for issue in self.issues if issue.code == code)

    def raise_for_errors(self, where: str | None = None) -> None:
        """Raise :class:`WorkflowValidationError` (with every issue) if there is an error."""
        if not self.ok:
            raise WorkflowValidationError(self.issues, where=where or self.workflow or None)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable summary: ``ok``, counts and every issue."""
        return {
            "workflow": self.workflow,
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "issues": [issue.to_dict() for issue in self.issues],
        }

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return f"ValidationReport(ok={self.ok}, issues={len(self.issues)})"


def _id_fine(text: object) -> bool:
    return (
        isinstance(text, str)
        and 0 < len(text) <= MAX_ID_LENGTH
        and text.isprintable()
        and " " not in text
    )


def _ids_look_fine(ids: list[str]) -> tuple[bool, list[int] | None, bool]:
    """Whether every id is fine, judged in a few C-level passes over all of them.

    Returns:
        ``(fine, lengths, sorted)``: ``lengths`` holds each id's ``len`` when every id is a
        string (else ``None``), ``sorted`` whether those lengths never decrease.
    """
    try:
        joined = "".join(ids)
    except TypeError:
        return False, None, False
    lengths = list(map(len, ids))
    # Sorting lengths that already ascend is one C-level pass (timsort finds one run),
    # and gives the shortest and longest id at its ends.
    ordered = sorted(lengths)
    fine = (
        # Printable means no control characters and no white space other than the plain
        # space, which is looked for separately.
        joined.isprintable()
        and " " not in joined
        and ordered[0] > 0
        and ordered[-1] <= MAX_ID_LENGTH
    )
    return fine, lengths, ordered == lengths


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


class _Validator:
    def __init__(self, workflow: Workflow, catalog: NodeCatalog | None) -> None:
        self.wf = workflow
        self.catalog = catalog
        self.t: Topology = workflow.topology
        self.issues: list[Issue] = []
        self.ids = self.t.ids
        self.edge_ids = self.t.edge_ids
        self.missing_input: set[int] = set()
        self.node_tix: list[int] = []
        self.specs: list[NodeSpec | None] = []
        self.type_names: list[str] = []
        self._by_type: dict[int, list[int]] | None = None
        self._fed: tuple[Sequence[int], Sequence[str], defaultdict[str, set[int]]] | None = None

    def add(
        self,
        code: str,
        message: str,
        *,
        nodes: Iterable[int] = (),
        edges: Iterable[int] = (),
        hint: str | None = None,
        severity: Severity = "error",
        path: Sequence[str] = (),
    ) -> None:
        self.issues.append(
            Issue(
                code=code,
                message=message,
                severity=severity,
                node_ids=tuple(self.ids[i] for i in nodes),
                edge_ids=tuple(self.edge_ids[e] for e in edges),
                hint=hint,
                path=tuple(path),
            )
        )

    def node(self, i: int) -> str:
        return repr(self.ids[i])

    def edge(self, e: int) -> str:
        return repr(self.edge_ids[e])

    # Checks.

    def run(self) -> list[Issue]:
        t = self.t
        with paused_gc(t.n + t.m):
            if t.n == 0:
                self.add(
                    "workflow.empty",
                    "the workflow has no nodes",
                    severity="warning",
                    hint="add nodes with WorkflowBuilder.node(...)",
                )
            self.check_ids()
            self.resolve_types()
            self.columns()
            self.check_edge_shapes()
            if self.catalog is not None:
                self.check_ports()
            self.check_conditions()
            if self.catalog is not None:
                self.check_bindings()
                self.check_inputs()
                self.check_params()
            self.check_graph()
            self.check_controls()
        return self.issues

    def check_ids(self) -> None:
        t = self.t
        edge_lengths: list[int] | None = None
        for what, ids in (("node", t.ids), ("edge", t.edge_ids)):
            if not ids:
                continue
            fine, lengths, ascending = _ids_look_fine(ids)
            if what == "edge" and ascending:
                edge_lengths = lengths
            if fine:
                continue
            for i, text in enumerate(ids):
                if not _id_fine(text):
                    shown = repr(text[:80]) if isinstance(text, str) else repr(text)
                    self.add(
                        "workflow.id_invalid",
                        f"{what} id {shown} is not a string, is empty, is longer than "
                        f"{MAX_ID_LENGTH} characters, or has spaces or control characters",
                        nodes=[i] if what == "node" else [],
                        edges=[i] if what == "edge" else [],
                        hint="use letters, digits and punctuation such as _ - . / :",
                    )
        # Distinct edge ids are usually proven by their order, without hashing them all.
        proven = t.edge_ids_distinct(edge_lengths)
        edge_dups = () if proven else t.duplicate_edges
        for what, dups, ids in (
            ("node", t.duplicate_nodes, t.ids),
            ("edge", edge_dups, t.edge_ids),
        ):
            if not dups:
                continue
            groups: dict[str, list[int]] = defaultdict(list)
            index = t.index if what == "node" else t.edge_index
            for i in dups:
                key = ids[i]
                if not groups[key]:
                    groups[key].append(index[key])
                groups[key].append(i)
            for key, where in groups.items():
                self.add(
                    f"workflow.{what}_id_duplicate",
                    f"{what} id {key!r} is used by {len(where)} {what}s "
                    f"(positions {', '.join(map(str, where))})",
                    nodes=[where[0]] if what == "node" else [],
                    edges=[where[0]] if what == "edge" else [],
                    hint=f"give every {what} its own id; references resolve to the first",
                )

    def resolve_types(self) -> None:
        types: list[str] = [node.type for node in self.wf.nodes]
        distinct = list(dict.fromkeys(types))
        code = {name: k for k, name in enumerate(distinct)}
        self.type_names = distinct
        self.node_tix = list(itemgetter(*types)(code)) if len(types) > 1 else [0] * len(types)
        if self.catalog is None:
            self.specs = [None] * len(distinct)
            return
        catalog = self.catalog
        self.specs = [catalog.get(name) if isinstance(name, str) else None for name in distinct]
        for k, spec in enumerate(self.specs):
            if spec is not None:
                continue
            name = distinct[k]
            issue_code, message, hint = catalog.explain_unknown(name)
            for i in self.positions_of_type(k):
                self.add(issue_code, f"node {self.node(i)}: {message}", nodes=[i], hint=hint)

    def positions_of_type(self, k: int) -> list[int]:
        if self._by_type is None:
            groups: dict[int, list[int]] = {}
            if len(self.type_names) <= _GROUP_BY_SCAN_LIMIT:
                for tix in range(len(self.type_names)):
                    groups[tix] = list(
                        compress(range(self.t.n), map(eq, self.node_tix, repeat(tix)))
                    )
            else:
                for i, tix in enumerate(self.node_tix):
                    groups.setdefault(tix, []).append(i)
            self._by_type = groups
        return self._by_type.get(k, [])

    def spec_of(self, i: int | None) -> NodeSpec | None:
        if i is None:
            return None
        return self.specs[self.node_tix[i]]

    def columns(self) -> None:
        edges = self.wf.edges
        self.kinds: list[str] = [edge.kind for edge in edges]
        self.sports: list[str | None] = [edge.source_port for edge in edges]
        self.dports: list[str | None] = [edge.target_port for edge in edges]
        self.conds: list[str | None] = [edge.condition for edge in edges]
        m = self.t.m
        self.conditional: list[int] = []
        if (
            self.kinds.count("data") == m
            and self.sports.count(None) == 0
            and self.dports.count(None) == 0
            and self.conds.count(None) == m
        ):
            self.plain = True
            self.carrying: Sequence[int] = range(m)
        else:
            self.plain = False
            self.carrying = list(
                compress(
                    range(m),
                    map(
                        bool.__and__,
                        map(is_not, self.sports, repeat(None)),
                        map(is_not, self.dports, repeat(None)),
                    ),
                )
            )
        if self.t.dangling:
            dangling = set(self.t.dangling)
            self.carrying = [e for e in self.carrying if e not in dangling]

    def check_edge_shapes(self) -> None:
        t = self.t
        for e in t.dangling:
            missing = [
                f"{role} {name!r}"
                for role, name, pos in (
                    ("source", self.wf.edges[e].source, t.src[e]),
                    ("target", self.wf.edges[e].target, t.dst[e]),
                )
                if pos is None
            ]
            self.add(
                "workflow.edge_dangling",
                f"edge {self.edge(e)} names no existing node as its {' and '.join(missing)}",
                edges=[e],
                nodes=[p for p in (t.src[e], t.dst[e]) if p is not None],
                hint="remove the edge or add the missing node",
            )
        if self.plain:
            return
        kinds, sports, dports, conds = self.kinds, self.sports, self.dports, self.conds
        for e in range(t.m):
            kind = kinds[e]
            sport, dport, cond = sports[e], dports[e], conds[e]
            if kind == "data" and sport is not None and dport is not None and cond is None:
                continue
            ends = [p for p in (t.src[e], t.dst[e]) if p is not None]
            if kind not in EDGE_KINDS:
                self.add(
                    "workflow.edge_kind_invalid",
                    f"edge {self.edge(e)} has kind {kind!r}",
                    edges=[e],
                    nodes=ends,
                    hint="an edge kind is data, control or conditional",
                )
                continue
            if kind == "data":
                if sport is None or dport is None:
                    self.add(
                        "workflow.edge_port_missing",
                        f"data edge {self.edge(e)} must name both its source and target port",
                        edges=[e],
                        nodes=ends,
                        hint="connect 'node.port' to 'node.port', or make it a control edge",
                    )
                if cond is not None:
                    self.add(
                        "workflow.condition_unexpected",
                        f"data edge {self.edge(e)} has a condition",
                        edges=[e],
                        nodes=ends,
                        hint="make it a conditional edge, or drop the condition",
                    )
            elif kind == "control":
                if sport is not None or dport is not None:
                    self.add(
                        "workflow.edge_port_unexpected",
                        f"control edge {self.edge(e)} names a port; control edges carry no data",
                        edges=[e],
                        nodes=ends,
                        hint="drop the ports, or make it a data edge",
                    )
                if cond is not None:
                    self.add(
                        "workflow.condition_unexpected",
                        f"control edge {self.edge(e)} has a condition",
                        edges=[e],
                        nodes=ends,
                        hint="make it a conditional edge, or drop the condition",
                    )
            else:
                self.conditional.append(e)
                if cond is None or (isinstance(cond, str) and not cond.strip()):
                    self.add(
                        "workflow.condition_missing",
                        f"conditional edge {self.edge(e)} has no condition",
                        edges=[e],
                        nodes=ends,
                        hint="give it a condition such as 'score > 0.5', or make it a data edge",
                    )
                if (sport is None) != (dport is None):
                    self.add(
                        "workflow.edge_port_missing",
                        f"conditional edge {self.edge(e)} names only one port; name both "
                        "(to carry data) or neither",
                        edges=[e],
                        nodes=ends,
                        hint="connect 'node.port' to 'node.port'",
                    )

    def check_ports(self) -> None:
        t = self.t
        carrying = self.carrying
        if not carrying:
            return
        tix = self.node_tix
        src, dst, sports, dports = t.src, t.dst, self.sports, self.dports
        if self.ports_surely_fine():
            return
        if self.plain and not t.dangling:
            keys = set(
                zip(
                    map(tix.__getitem__, src),  # type: ignore[arg-type]
                    sports,
                    map(tix.__getitem__, dst),  # type: ignore[arg-type]
                    dports,
                    strict=True,
                )
            )
        else:
            keys = {
                (tix[src[e]], sports[e], tix[dst[e]], dports[e])  # type: ignore[index]
                for e in carrying
            }
        bad: dict[tuple[Any, ...], tuple[str, str, str]] = {}
        specs = self.specs
        for key in keys:
            s_tix, sport, d_tix, dport = key
            s_spec, d_spec = specs[s_tix], specs[d_tix]
            problem: tuple[str, str, str] | None = None
            out_port = s_spec.output_map.get(sport) if s_spec is not None else None  # type: ignore[arg-type]
            in_port = d_spec.input_map.get(dport) if d_spec is not None else None  # type: ignore[arg-type]
            if s_spec is not None and out_port is None:
                outputs = ", ".join(s_spec.output_map) or "none"
                problem = (
                    "workflow.port_unknown",
                    f"node type {s_spec.type!r} has no output port {sport!r}",
                    f"its output ports are: {outputs}",
                )
            elif d_spec is not None and in_port is None:
                inputs = ", ".join(d_spec.input_map) or "none"
                problem = (
                    "workflow.port_unknown",
                    f"node type {d_spec.type!r} has no input port {dport!r}",
                    f"its input ports are: {inputs}",
                )
            elif (
                out_port is not None
                and in_port is not None
                and not is_assignable(out_port.type, in_port.type)
            ):
                problem = (
                    "workflow.port_incompatible",
                    f"output {sport!r} of type {out_port.type} cannot feed input {dport!r} "
                    f"of type {in_port.type}",
                    "insert a converting node, or connect ports of matching types",
                )
            if problem is not None:
                bad[key] = problem
        if not bad:
            return
        for e in carrying:
            key = (tix[src[e]], sports[e], tix[dst[e]], dports[e])  # type: ignore[index]
            found = bad.get(key)
            if found is not None:
                code, message, hint = found
                self.add(
                    code,
                    f"edge {self.edge(e)} ({self.ids[src[e]]}.{sports[e]} -> "  # type: ignore[index]
                    f"{self.ids[dst[e]]}.{dports[e]}): {message}",  # type: ignore[index]
                    edges=[e],
                    nodes=[src[e], dst[e]],  # type: ignore[list-item]
                    hint=hint,
                )

    def ports_surely_fine(self) -> bool:
        """Prove, from the distinct port names alone, that no data edge has a port problem.

        If every node type that can be at an edge's source has every output port name
        used by the edges, every type at a target every input port name used, and every
        output type used can flow into every input type used, then each edge is fine
        whatever its endpoints: one pass over the names instead of a key per edge.
        ``False`` means only "not proven" (the exact check follows).
        """
        t = self.t
        carrying = self.carrying
        tix = self.node_tix
        whole = self.plain and not t.dangling
        sport_names = set(self.sports if whole else map(self.sports.__getitem__, carrying))
        dport_names = set(self.fed_by_edges()[2])  # the data edges' target port names
        out_types = self._port_types(range(len(self.specs)), sport_names, output=True)
        if out_types is None:
            ends = t.src if whole else map(t.src.__getitem__, carrying)
            out_types = self._port_types(set(map(tix.__getitem__, ends)), sport_names, True)  # type: ignore[arg-type]
        if out_types is None:
            return False
        in_types = self._input_types(dport_names)
        if in_types is None:
            return False
        return all(is_assignable(a, b) for a in out_types for b in in_types)

    def _input_types(self, names: set[Any]) -> set[PortType] | None:
        # The input port types the data edges can reach, or None if an edge may name an
        # input its target's type lacks. A type lacking a port name is fine when none of
        # its nodes is fed on that name (a set test per type, using the sets the input
        # check needs anyway), within a budget of one pass over the edges.
        fed = self.fed_by_edges()[2]
        found: set[PortType] = set()
        budget = self.t.m
        for k, spec in enumerate(self.specs):
            if spec is None:
                continue
            for name in names:
                port = spec.input_map.get(name)
                if port is not None:
                    found.add(port.type)
                    continue
                members = self.positions_of_type(k)
                budget -= len(members)
                if budget < 0:
                    ends = self.fed_by_edges()[0]
                    return self._port_types(set(map(self.node_tix.__getitem__, ends)), names, False)
                if not fed[name].isdisjoint(members):
                    return None
        return found

    def _port_types(
        self, kinds: Iterable[int], names: set[Any], output: bool
    ) -> set[PortType] | None:
        # The port types of every (node type, port name) pair, or None if one is missing.
        found: set[PortType] = set()
        for k in kinds:
            spec = self.specs[k]
            if spec is None:
                continue  # an unknown node type is reported once, by resolve_types
            ports = spec.output_map if output else spec.input_map
            for name in names:
                port = ports.get(name)
                if port is None:
                    return None
                found.add(port.type)
        return found

    def check_conditions(self) -> None:
        t = self.t
        for e in self.conditional:
            cond = self.conds[e]
            if cond is None or (isinstance(cond, str) and not cond.strip()):
                continue
            ends = [p for p in (t.src[e], t.dst[e]) if p is not None]
            try:
                expression = parse(cond)
            except ExpressionSyntaxError as exc:
                self.add(
                    "workflow.condition_invalid",
                    f"the condition of edge {self.edge(e)} does not parse: {exc.message}",
                    edges=[e],
                    nodes=ends,
                    hint=exc.hint,
                )
                continue
            spec = self.spec_of(t.src[e])
            if spec is None:
                continue
            known = (
                _BRANCH_VALUE_NAMES
                if spec.control in ("branch", "switch")
                else frozenset(spec.output_map)
            )
            unknown = sorted(expression.names - known)
            if unknown:
                self.add(
                    "workflow.condition_unknown_name",
                    f"the condition of edge {self.edge(e)} reads {', '.join(map(repr, unknown))}, "
                    f"which {'is' if len(unknown) == 1 else 'are'} not an output of "
                    f"{spec.type!r}",
                    edges=[e],
                    nodes=ends,
                    hint=f"a condition reads the source's outputs: {', '.join(sorted(known))}",
                )

    def check_bindings(self) -> None:
        t = self.t
        for direction, bindings in (("input", self.wf.inputs), ("output", self.wf.outputs)):
            names: Counter[str] = Counter()
            for binding in bindings:
                names[binding.name] += 1
                pos = t.index.get(binding.node)
                if pos is None:
                    self.add(
                        "workflow.binding_invalid",
                        f"workflow {direction} {binding.name!r} names node {binding.node!r}, "
                        "which does not exist",
                        hint="bind an existing node's port",
                    )
                    continue
                spec = self.spec_of(pos)
                if spec is None:
                    continue
                ports = spec.input_map if direction == "input" else spec.output_map
                if binding.port not in ports:
                    self.add(
                        "workflow.port_unknown",
                        f"workflow {direction} {binding.name!r}: node type {spec.type!r} has "
                        f"no {direction} port {binding.port!r}",
                        nodes=[pos],
                        hint=f"its {direction} ports are: {', '.join(ports) or 'none'}",
                    )
            if direction == "output":
                for name, count in names.items():
                    if count > 1:
                        self.add(
                            "workflow.binding_duplicate",
                            f"workflow output {name!r} is bound {count} times",
                            hint="give each workflow output one port",
                        )

    def fed_by_edges(self) -> tuple[Sequence[int], Sequence[str], defaultdict[str, set[int]]]:
        """The data edges' targets and target ports, and the nodes fed on each port name."""
        if self._fed is None:
            t = self.t
            carrying = self.carrying
            if self.plain and not t.dangling:
                dsts: Sequence[int] = t.dst  # type: ignore[assignment]
                dps: Sequence[str] = self.dports  # type: ignore[assignment]
            else:
                dsts = [t.dst[e] for e in carrying]  # type: ignore[misc]
                dps = [self.dports[e] for e in carrying]  # type: ignore[misc]
            # One set of fed nodes per input port name (measured: one plain loop filling
            # a defaultdict beats a set of (node, port) tuples, a pass per port, and
            # C-level iterators calling each port's bound set.add).
            fed: defaultdict[str, set[int]] = defaultdict(set)
            for node, port in zip(dsts, dps, strict=True):
                fed[port].add(node)
            self._fed = (dsts, dps, fed)
        return self._fed

    def check_inputs(self) -> None:
        t = self.t
        dsts, dps, fed = self.fed_by_edges()
        duplicated = sum(map(len, fed.values())) < len(dsts)
        bound: list[tuple[int, str]] = []
        for binding in self.wf.inputs:
            pos = t.index.get(binding.node)
            if pos is None:
                continue
            into = fed[binding.port]
            if pos in into:
                duplicated = True
            into.add(pos)
            bound.append((pos, binding.port))
        if duplicated:
            self.report_multiple_sources(dsts, dps, bound)
        empty: set[int] = set()
        for k, spec in enumerate(self.specs):
            if spec is None or not spec.required_inputs:
                continue
            members = self.positions_of_type(k)
            for port in spec.required_inputs:
                into = fed.get(port, empty)
                if len(into) >= len(members) and into.issuperset(members):
                    continue
                missing = list(compress(members, map(not_, map(into.__contains__, members))))
                for i in missing:
                    self.missing_input.add(i)
                    self.add(
                        "workflow.input_missing",
                        f"node {self.node(i)} ({spec.type}) needs input {port!r} "
                        f"({spec.input_map[port].type}) but nothing feeds it",
                        nodes=[i],
                        hint=f"connect an edge to {self.ids[i]}.{port}, or expose it as a "
                        "workflow input",
                    )

    def report_multiple_sources(
        self, dsts: Sequence[int], dps: Sequence[str], bound: list[tuple[int, str]]
    ) -> None:
        t = self.t
        counts: Counter[tuple[int, str]] = Counter(zip(dsts, dps, strict=True))
        counts.update(bound)
        many = {pair for pair, count in counts.items() if count > 1 and not self._multiple(pair)}
        if not many:
            return
        feeding: dict[tuple[int, str], list[int]] = defaultdict(list)
        for e in self.carrying:
            pair = (t.dst[e], self.dports[e])
            if pair in many:
                feeding[pair].append(e)
        bound_set = set(bound)
        src = cast(list[int], t.src)
        for pair in sorted(many):
            node, port = pair
            edges = feeding.get(pair, [])
            also = " and a workflow input" if pair in bound_set else ""
            self.add(
                "workflow.input_multiple_sources",
                f"input {self.ids[node]}.{port} is fed by {_plural(len(edges), 'edge')}"
                f"{also}; an input takes one value",
                nodes=[node, *(src[e] for e in edges)],
                edges=edges,
                hint="keep one edge, or join the values with a control/merge node",
            )

    def _multiple(self, pair: tuple[int, str]) -> bool:
        spec = self.spec_of(pair[0])
        if spec is None:
            return True  # unknown type: reported already, do not pile on
        port = spec.input_map.get(pair[1])
        return port is None or port.multiple

    def check_params(self) -> None:
        params = [node.params for node in self.wf.nodes]
        verdicts: dict[tuple[Any, ...], list[str]] = {}
        for k, spec in enumerate(self.specs):
            if spec is None:
                continue
            members = self.positions_of_type(k)
            if not members:
                continue
            dicts: list[Mapping[str, Any]] = (
                list(itemgetter(*members)(params)) if len(members) > 1 else [params[members[0]]]
            )
            if not spec.required_params and not all(dicts):
                # Nodes without parameters have nothing to check.
                members = list(compress(members, dicts))
                if not members:
                    continue
                dicts = list(filter(None, dicts))
            schema = spec.parameters
            declared = schema.keys()
            # The names set, gathered in C (counted only when some are required): an
            # unknown name, or a required one set by fewer nodes than there are, means
            # some node needs a closer look.
            names: Set[str]
            if spec.required_params:
                counts = Counter(chain.from_iterable(dicts))
                names = counts.keys()
                short = any(counts[name] < len(members) for name in spec.required_params)
            else:
                names = set().union(*dicts)
                short = False
            if names - declared or short:
                for i, values in zip(members, dicts, strict=True):
                    if values.keys() - declared or spec.required_params - values.keys():
                        self.report_param_names(i, spec, values)
            used = names & declared
            for name in sorted(used):
                self.check_param_values(spec, name, members, dicts, verdicts)

    def report_param_names(self, i: int, spec: NodeSpec, values: Mapping[str, Any]) -> None:
        schema = spec.parameters
        for name in sorted(spec.required_params - values.keys()):
            self.add(
                "workflow.param_missing",
                f"node {self.node(i)} ({spec.type}) needs parameter {name!r} "
                f"({describe_parameter(schema[name])})",
                nodes=[i],
                hint=f"set {name} in the node's params",
            )
        for name in values:
            if name not in schema:
                known = ", ".join(sorted(schema)) or "none"
                self.add(
                    "workflow.param_unknown",
                    f"node {self.node(i)} ({spec.type}) has no parameter {name!r}",
                    nodes=[i],
                    hint=f"its parameters are: {known}",
                )

    def check_param_values(
        self,
        spec: NodeSpec,
        name: str,
        members: list[int],
        dicts: list[Mapping[str, Any]],
        verdicts: dict[tuple[Any, ...], list[str]],
    ) -> None:
        declared = spec.parameters[name]
        values: list[Any] = list(map(dict.get, dicts, repeat(name), repeat(_ABSENT)))  # type: ignore[arg-type]
        if name in spec.pattern_errors:
            users = [i for i, v in zip(members, values, strict=True) if v is not _ABSENT]
            self.add(
                "workflow.param_schema_invalid",
                f"node type {spec.type!r} declares parameter {name!r} with "
                f"{spec.pattern_errors[name]}",
                nodes=users,
                hint=f"the extension {spec.namespace!r} must fix its manifest",
            )
        # Scalars are judged once per distinct (type, value); containers one by one,
        # since (1,) and (True,) are equal keys but not equal values.
        bad: set[tuple[type, Any]] = set()
        containers = False
        kinds = set(map(type, values))
        if len(kinds) == 1 and kinds.isdisjoint((tuple, FrozenDict)):
            # One scalar type (the usual case): the values alone are distinct keys.
            only = next(iter(kinds))
            distinct: Iterable[tuple[type, Any]] = zip(repeat(only), set(values))
        else:
            distinct = set(zip(map(type, values), values, strict=True))
        for kind, value in distinct:
            if value is _ABSENT:
                continue
            if kind is tuple or kind is FrozenDict:
                containers = True
                continue
            key = (spec.type, name, kind, value)
            problems = verdicts.get(key)
            if problems is None:
                problems = parameter_value_problems(declared, value)
                verdicts[key] = problems
            if problems:
                bad.add((kind, value))
        if not bad and not containers:
            return
        for i, value in zip(members, values, strict=True):
            if value is _ABSENT:
                continue
            kind = type(value)
            if kind is tuple or kind is FrozenDict:
                problems = parameter_value_problems(declared, value)
            elif (kind, value) in bad:
                problems = verdicts[(spec.type, name, kind, value)]
            else:
                continue
            if problems:
                shown = repr(value)
                shown = shown if len(shown) <= 60 else shown[:57] + "..."
                self.add(
                    "workflow.param_invalid",
                    f"node {self.node(i)} ({spec.type}) parameter {name!r} = {shown}: "
                    f"{'; '.join(problems)}",
                    nodes=[i],
                    hint=f"{name} must be {describe_parameter(declared)}",
                )

    def check_graph(self) -> None:
        t = self.t
        cycle = t.cycle
        if cycle is not None:
            nodes, edges = cycle
            path = [self.ids[i] for i in nodes]
            self.add(
                "workflow.cycle",
                f"the graph has a cycle: {' -> '.join([*path, path[0]])}",
                nodes=nodes,
                edges=edges,
                path=path,
                hint="remove or reverse one edge of the cycle",
            )
        if self.catalog is None or (cycle is None and not self.missing_input):
            return
        indegree = t.indegree
        blocked_entries = [i for i in self.missing_input if indegree[i] == 0]
        if cycle is None and not blocked_entries:
            return
        starts = [
            i for i in compress(range(t.n), map(not_, indegree)) if i not in self.missing_input
        ]
        reached = t.reach(starts)
        for i in range(t.n):
            if i in reached or (i in self.missing_input and indegree[i] == 0):
                continue
            self.add(
                "workflow.unreachable",
                f"node {self.node(i)} cannot run: no path from a node that can start reaches it",
                nodes=[i],
                hint="feed its missing inputs upstream, or break the cycle it sits on",
            )

    def check_controls(self) -> None:
        t = self.t
        roles: dict[str, list[int]] = defaultdict(list)
        specs = self.specs
        for k, spec in enumerate(specs):
            if spec is None or spec.control is None:
                continue
            roles[spec.control].extend(self.positions_of_type(k))
        if not roles:
            return
        splitters = sorted(roles.get("branch", []) + roles.get("switch", []))
        if splitters:
            outgoing: dict[int, list[int]] = defaultdict(list)
            for e in t.edges_from(splitters):
                outgoing[t.src[e]].append(e)  # type: ignore[index]
            for i in splitters:
                role = self.spec_of(i).control  # type: ignore[union-attr]
                arms = outgoing.get(i, [])
                if not arms:
                    self.add(
                        "workflow.branch_no_arms",
                        f"{role} {self.node(i)} has no outgoing edges",
                        nodes=[i],
                        hint="add conditional edges for its arms, or remove it",
                    )
                for e in arms:
                    if self.kinds[e] != "conditional":
                        self.add(
                            "workflow.branch_edge_unconditional",
                            f"{role} {self.node(i)} has {self.kinds[e]} edge {self.edge(e)}; "
                            f"every edge leaving a {role} must be conditional",
                            nodes=[i],
                            edges=[e],
                            hint="make the edge conditional (use the condition 'true' for a "
                            "default arm)",
                        )
        merges = roles.get("merge", [])
        if merges:
            indegree = t.indegree
            for i in merges:
                if indegree[i] < 2:
                    self.add(
                        "workflow.merge_fan_in",
                        f"merge {self.node(i)} has {_plural(indegree[i], 'incoming edge')}; "
                        "it joins two or more arms",
                        nodes=[i],
                        hint="connect each arm to the merge's 'values' input, or remove it",
                    )
            conditional_targets = [t.dst[e] for e in self.conditional if t.dst[e] is not None]
            maybe_skipped = t.reach(conditional_targets)  # type: ignore[arg-type]
            gates = roles.get("gate", [])
            if gates:
                maybe_skipped |= t.reach([v for g in gates for v in t.out[g]])
            for i in merges:
                if indegree[i] >= 2 and i not in maybe_skipped:
                    self.add(
                        "workflow.merge_without_branch",
                        f"merge {self.node(i)} always receives every input: none of them comes "
                        "after a conditional edge or a gate",
                        nodes=[i],
                        severity="warning",
                        hint="merge the arms of a branch or switch; to combine values that "
                        "always arrive use an ordinary node",
                    )
        for i in roles.get("switch", []):
            self.check_switch_arms(i, set(merges))
        for i in roles.get("gate", []):
            condition = self.wf.nodes[i].params.get("condition")
            if not isinstance(condition, str):
                continue  # reported by the parameter checks
            try:
                names = parse(condition).names
            except ExpressionSyntaxError as exc:
                self.add(
                    "workflow.gate_condition_invalid",
                    f"gate {self.node(i)}: its condition does not parse: {exc.message}",
                    nodes=[i],
                    hint=exc.hint,
                )
                continue
            unknown = sorted(names - _GATE_NAMES)
            if unknown:
                self.add(
                    "workflow.gate_condition_invalid",
                    f"gate {self.node(i)}: its condition reads {', '.join(map(repr, unknown))}; "
                    "a gate's condition reads only 'value' and 'signal'",
                    nodes=[i],
                    hint="refer to the gate's inputs: value, signal",
                )

    def check_switch_arms(self, switch: int, merges: set[int]) -> None:
        t = self.t
        out = t.out
        arms = [e for e in t.out_edges[switch] if self.kinds[e] == "conditional"]
        if len(arms) < 2:
            return
        reached_by: dict[int, list[int]] = defaultdict(list)
        for e in arms:
            start = t.dst[e]
            if start is None or start == switch:
                continue
            seen = {start}
            stack = [start]
            while stack:
                u = stack.pop()
                if u in merges:
                    continue  # the arms may meet here: that is what a merge is for
                for v in out[u]:
                    if v not in seen and v != switch:
                        seen.add(v)
                        stack.append(v)
            for v in seen:
                reached_by[v].append(e)
        for v in sorted(reached_by, key=self.ids.__getitem__):
            arms_here = reached_by[v]
            if len(set(arms_here)) < 2 or v in merges:
                continue
            self.add(
                "workflow.switch_arms_join",
                f"node {self.node(v)} is reached by {len(arms_here)} arms of switch "
                f"{self.node(switch)}, but only one arm of a switch runs, so it never can",
                nodes=[v, switch],
                edges=arms_here,
                hint="join the arms with a control/merge node first",
            )


def validate(workflow: Workflow, catalog: NodeCatalog | None = None) -> ValidationReport:
    """Check a workflow and return every problem found.

    Args:
        workflow: The workflow.
        catalog: The node types it may use (from the installed extensions' manifests).
            Without one only the structure is checked: ids, edge shapes, dangling edges,
            conditions' syntax, cycles and the shape of control flow.

    Returns:
        The report; ``report.ok`` is true when there is no error.
    """
    issues = _Validator(workflow, catalog).run()
    return ValidationReport(issues, workflow.name)
