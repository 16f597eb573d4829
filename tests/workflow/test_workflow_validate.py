"""Validation: every issue code, precisely located, all reported at once."""

from __future__ import annotations

import pytest

from symphony_core.manifest.model import NodeType, Parameter
from symphony_core.workflow import (
    ISSUE_CODES,
    Binding,
    Edge,
    Node,
    NodeCatalog,
    NodeMeta,
    Workflow,
    WorkflowBuilder,
    WorkflowValidationError,
    validate,
)
from symphony_core.workflow.errors import CatalogError


def codes(workflow: Workflow, catalog: NodeCatalog | None) -> list[str]:
    return [issue.code for issue in validate(workflow, catalog).issues]


def only(workflow: Workflow, catalog: NodeCatalog | None, code: str):  # type: ignore[no-untyped-def]
    report = validate(workflow, catalog)
    found = report.by_code(code)
    assert len(found) == 1, [i.summary() for i in report.issues]
    assert found[0].code in ISSUE_CODES
    assert found[0].hint
    return found[0]


def test_clean_workflows_have_no_issue(
    catalog: NodeCatalog, linear: Workflow, routed: Workflow
) -> None:
    for workflow in (linear, routed):
        report = validate(workflow, catalog)
        assert not report.issues, [i.summary() for i in report.issues]
        report.raise_for_errors()


def test_every_problem_is_reported_at_once(catalog: NodeCatalog) -> None:
    wf = Workflow(
        "broken",
        [
            Node("a", "ex.text/read", {"path": 3, "zzz": 1}),
            Node("a", "ex.text/show"),
            Node("b", "ex.text/count", {"limit": 0}),
            Node("c", "nope.ext/thing"),
            Node("d", "ex.text/nothing"),
            Node("e", "weird"),
        ],
        [
            Edge("e1", "a", "b", "data", "text", "text"),
            Edge("e1", "b", "ghost", "data", "total", "value"),
            Edge("e3", "b", "a", "conditional", "total", "text"),
        ],
    )
    report = validate(wf, catalog)
    assert not report.ok
    assert set(report.codes()) >= {
        "workflow.node_id_duplicate",
        "workflow.edge_id_duplicate",
        "workflow.extension_unknown",
        "workflow.node_type_unknown",
        "workflow.node_type_malformed",
        "workflow.edge_dangling",
        "workflow.condition_missing",
        "workflow.port_unknown",
        "workflow.param_invalid",
        "workflow.param_unknown",
        "workflow.cycle",
    }
    with pytest.raises(WorkflowValidationError) as info:
        report.raise_for_errors()
    assert len(info.value.issues) == len(report.issues)
    assert info.value.to_dict()["details"]["issues"][0]["code"] == report.issues[0].code
    assert report.to_dict()["errors"] == len(report.errors)


def test_ids(catalog: NodeCatalog) -> None:
    wf = Workflow(
        "w",
        [Node("ok", "ex.text/show"), Node("has space", "ex.text/show"), Node("", "ex.text/show")],
    )
    issues = validate(wf, catalog).by_code("workflow.id_invalid")
    assert [i.node_ids for i in issues] == [("has space",), ("",)]
    dup = only(
        Workflow("w", [Node("x", "ex.text/read"), Node("x", "ex.text/read")]),
        catalog,
        "workflow.node_id_duplicate",
    )
    assert "used by 2 nodes (positions 0, 1)" in dup.message


def test_unknown_types_name_what_exists(catalog: NodeCatalog) -> None:
    issue = only(Workflow("w", [Node("n", "ex.text/cuont")]), catalog, "workflow.node_type_unknown")
    assert issue.node_ids == ("n",)
    assert "count" in (issue.hint or "")
    issue = only(Workflow("w", [Node("n", "control/loop")]), catalog, "workflow.node_type_unknown")
    assert "branch" in (issue.hint or "")
    issue = only(Workflow("w", [Node("n", "acme.x/y")]), catalog, "workflow.extension_unknown")
    assert "acme.x" in issue.message


def test_edge_shapes(catalog: NodeCatalog) -> None:
    base = WorkflowBuilder().node("a", "ex.text/read", {"path": "p"}).node("s", "ex.text/show")
    wf = base.build()
    cases = [
        (Edge("x", "a", "s", "data", "text", None), "workflow.edge_port_missing"),
        (Edge("x", "a", "s", "control", "text", None), "workflow.edge_port_unexpected"),
        (Edge("x", "a", "s", "data", "text", "value", "true"), "workflow.condition_unexpected"),
        (Edge("x", "a", "s", "conditional", "text", "value", None), "workflow.condition_missing"),
        (Edge("x", "a", "s", "conditional", "text", "value", "   "), "workflow.condition_missing"),
        (Edge("x", "a", "s", "conditional", "text", None, "true"), "workflow.edge_port_missing"),
        (Edge("x", "a", "s", "sideways", "text", "value"), "workflow.edge_kind_invalid"),  # type: ignore[arg-type]
        (Edge("x", "a", "s", "conditional", None, None, "text =="), "workflow.condition_invalid"),
        (
            Edge("x", "a", "s", "conditional", None, None, "txt != ''"),
            "workflow.condition_unknown_name",
        ),
        (Edge("x", "a", "nowhere", "control"), "workflow.edge_dangling"),
    ]
    for edge, code in cases:
        issue = only(
            wf.add_edge(edge) if edge.target != "nowhere" else wf.replace(edges=[edge]),
            catalog,
            code,
        )
        assert issue.edge_ids == ("x",), code


def test_ports_and_types(catalog: NodeCatalog) -> None:
    wf = (
        WorkflowBuilder()
        .node("a", "ex.text/read", {"path": "p"})
        .node("c", "ex.text/count")
        .node("r", "ex.text/ratio")
        .node("j", "ex.text/join")
        .connect("a.text", "c.text")
        .connect("c.total", "r.x")  # int -> float is fine
        .connect("c.counts", "j.left")  # dict -> str is not
        .build()
    )
    issue = only(wf, catalog, "workflow.port_incompatible")
    assert issue.edge_ids == ("e3",)
    assert issue.node_ids == ("c", "j")
    assert "dict[str, int]" in issue.message
    assert "str" in issue.message
    issue = only(wf.rewire("e3", target="j.middle"), catalog, "workflow.port_unknown")
    assert "no input port 'middle'" in issue.message
    assert "left, right" in (issue.hint or "")


def test_inputs(catalog: NodeCatalog) -> None:
    wf = WorkflowBuilder().node("c", "ex.text/count").node("j", "ex.text/join").build()
    missing = validate(wf, catalog).by_code("workflow.input_missing")
    assert [(i.node_ids, "text" in i.message or "left" in i.message) for i in missing] == [
        (("c",), True),
        (("j",), True),
    ]
    # A workflow input satisfies a required port.
    bound = wf.replace(inputs=[Binding("text", "c", "text"), Binding("left", "j", "left")])
    assert validate(bound, catalog).ok
    doubled = (
        WorkflowBuilder()
        .node("a", "ex.text/read", {"path": "p"})
        .node("b", "ex.text/read", {"path": "q"})
        .node("c", "ex.text/count")
        .connect("a.text", "c.text")
        .connect("b.text", "c.text")
        .build()
    )
    issue = only(doubled, catalog, "workflow.input_multiple_sources")
    assert issue.edge_ids == ("e1", "e2")
    both = doubled.remove_edge("e2").replace(inputs=[Binding("t", "c", "text")])
    assert "workflow input" in only(both, catalog, "workflow.input_multiple_sources").message


def test_parameters(catalog: NodeCatalog) -> None:
    wf = Workflow(
        "w",
        [
            Node("a", "ex.text/read"),
            Node("c1", "ex.text/count", {"limit": 1000, "mode": "lines", "tag": "Upper"}),
            Node("c2", "ex.text/count", {"limit": 5, "lowercase": "yes", "extra": 1}),
        ],
        [
            Edge("e1", "a", "c1", "data", "text", "text"),
            Edge("e2", "a", "c2", "data", "text", "text"),
        ],
    )
    report = validate(wf, catalog)
    missing = report.by_code("workflow.param_missing")
    assert [i.node_ids for i in missing] == [("a",)]
    invalid = {
        (i.node_ids[0], i.message.split("parameter ")[1].split(" =")[0])
        for i in report.by_code("workflow.param_invalid")
    }
    assert invalid == {("c1", "'limit'"), ("c1", "'mode'"), ("c1", "'tag'"), ("c2", "'lowercase'")}
    assert [i.node_ids for i in report.by_code("workflow.param_unknown")] == [("c2",)]
    limit = next(i for i in report.by_code("workflow.param_invalid") if "'limit'" in i.message)
    assert "above the maximum 100" in limit.message
    assert "from 1 to 100" in (limit.hint or "")


def test_same_values_are_judged_once_but_reported_per_node(catalog: NodeCatalog) -> None:
    nodes = [
        Node(f"c{i}", "ex.text/count", {"limit": 0 if i % 2 else 5, "tag": ["x"]}) for i in range(6)
    ]
    wf = Workflow("w", nodes, inputs=[Binding("t", f"c{i}", "text") for i in range(6)])
    report = validate(wf, catalog)
    bad = report.by_code("workflow.param_invalid")
    assert sorted(i.node_ids[0] for i in bad if "limit" in i.message) == ["c1", "c3", "c5"]
    assert sorted(i.node_ids[0] for i in bad if "tag" in i.message) == [f"c{i}" for i in range(6)]


def test_broken_parameter_schema_blames_the_extension() -> None:
    broken = NodeCatalog.from_node_types(
        {
            "ex.bad": [
                NodeType(type="t", parameters={"p": Parameter(type="str", default="", pattern="(")})
            ]
        }
    )
    issue = only(
        Workflow("w", [Node("n", "ex.bad/t", {"p": "x"})]), broken, "workflow.param_schema_invalid"
    )
    assert "ex.bad" in (issue.hint or "")


def test_cycles_report_one_real_cycle(catalog: NodeCatalog) -> None:
    wf = (
        WorkflowBuilder()
        .node("z", "ex.text/read", {"path": "p"})
        .node("m", "ex.text/join")
        .node("k", "ex.text/join")
        .connect("z.text", "m.left")
        .connect("m.text", "k.left")
        .connect("k.text", "m.right")
        .build()
    )
    issue = only(wf, catalog, "workflow.cycle")
    assert issue.path == ("k", "m")
    assert issue.edge_ids == ("e3", "e2")
    assert "k -> m -> k" in issue.message
    self_loop = Workflow("w", [Node("s", "ex.text/show")], [Edge("x", "s", "s", "control")])
    assert only(self_loop, catalog, "workflow.cycle").path == ("s",)


def test_unreachable_nodes(catalog: NodeCatalog) -> None:
    wf = (
        WorkflowBuilder()
        .node("c", "ex.text/count")  # needs text; nothing feeds it
        .node("s", "ex.text/show")
        .node("ok", "ex.text/read", {"path": "p"})
        .node("s2", "ex.text/show")
        .connect("c.total", "s.value")
        .connect("ok.text", "s2.value")
        .build()
    )
    report = validate(wf, catalog)
    assert [i.node_ids for i in report.by_code("workflow.input_missing")] == [("c",)]
    assert [i.node_ids for i in report.by_code("workflow.unreachable")] == [("s",)]
    ring = Workflow(
        "w",
        [Node("p", "ex.text/join"), Node("q", "ex.text/join")],
        [Edge("a", "p", "q", "data", "text", "left"), Edge("b", "q", "p", "data", "text", "left")],
    )
    assert {i.node_ids for i in validate(ring, catalog).by_code("workflow.unreachable")} == {
        ("p",),
        ("q",),
    }


def test_bindings(catalog: NodeCatalog, linear: Workflow) -> None:
    wf = linear.replace(
        outputs=[
            Binding("x", "count", "nope"),
            Binding("y", "ghost", "p"),
            Binding("x", "count", "total"),
        ]
    )
    report = validate(wf, catalog)
    assert report.by_code("workflow.port_unknown")[0].node_ids == ("count",)
    assert "ghost" in report.by_code("workflow.binding_invalid")[0].message
    assert "'x' is bound 2 times" in report.by_code("workflow.binding_duplicate")[0].message


def test_branch_and_merge_shapes(catalog: NodeCatalog, routed: Workflow) -> None:
    lonely = routed.add_node(Node("b", "control/branch", meta=NodeMeta(label="B"))).add_edge(
        Edge("xb", "clf", "b", "data", "label", "value")
    )
    assert only(lonely, catalog, "workflow.branch_no_arms").node_ids == ("b",)
    plain = routed.add_edge(Edge("plain", "route", "out", "control"))
    issue = only(plain, catalog, "workflow.branch_edge_unconditional")
    assert issue.edge_ids == ("plain",)
    one_arm = routed.remove_edge("e6")
    assert "1 incoming edge" in only(one_arm, catalog, "workflow.merge_fan_in").message


def test_switch_arms_must_meet_at_a_merge(catalog: NodeCatalog, routed: Workflow) -> None:
    # Join the two exclusive arms at an ordinary node instead of the merge.
    wf = (
        routed.add_node(Node("both", "ex.text/join"))
        .add_edge(Edge("j1", "ham", "both", "data", "text", "left"))
        .add_edge(Edge("j2", "spam", "both", "control"))
    )
    issue = only(wf, catalog, "workflow.switch_arms_join")
    assert issue.node_ids == ("both", "route")
    assert set(issue.edge_ids) == {"e3", "e4"}
    # A branch's arms may meet anywhere: they are not exclusive.
    branchy = wf.update_node("route", type="control/branch")
    assert "workflow.switch_arms_join" not in codes(branchy, catalog)


def test_merge_without_any_branch_is_a_warning(catalog: NodeCatalog) -> None:
    wf = (
        WorkflowBuilder()
        .node("a", "ex.text/read", {"path": "p"})
        .node("b", "ex.text/read", {"path": "q"})
        .merge("m")
        .connect("a.text", "m.values")
        .connect("b.text", "m.values")
        .build()
    )
    report = validate(wf, catalog)
    assert report.ok
    assert [i.code for i in report.warnings] == ["workflow.merge_without_branch"]
    gated = (
        WorkflowBuilder()
        .node("a", "ex.text/read", {"path": "p"})
        .node("b", "ex.text/read", {"path": "q"})
        .gate("g", "value != ''")
        .merge("m")
        .connect("a.text", "g.value")
        .connect("g.value", "m.values")
        .connect("b.text", "m.values")
        .build()
    )
    assert not validate(gated, catalog).issues


def test_gate_conditions(catalog: NodeCatalog) -> None:
    wf = (
        WorkflowBuilder()
        .node("a", "ex.text/read", {"path": "p"})
        .gate("g", "count > 3")
        .connect("a.text", "g.value")
        .build()
    )
    assert "'count'" in only(wf, catalog, "workflow.gate_condition_invalid").message
    bad = wf.update_node("g", params={"condition": "value >"})
    assert "does not parse" in only(bad, catalog, "workflow.gate_condition_invalid").message
    assert "workflow.param_missing" in codes(wf.update_node("g", params={}), catalog)


def test_without_a_catalog_only_structure_is_checked(linear: Workflow) -> None:
    assert validate(linear).ok
    wf = linear.replace(nodes=[*linear.nodes, Node("odd", "not/installed")])
    assert validate(wf).ok
    assert codes(linear.add_edge(Edge("c", "show", "load", "control")), None) == ["workflow.cycle"]


def test_empty_workflow_is_a_warning() -> None:
    report = validate(Workflow("w"))
    assert report.ok
    assert [i.code for i in report.issues] == ["workflow.empty"]


def test_catalog_refuses_bad_definitions() -> None:
    from symphony_core.manifest.model import Port

    with pytest.raises(CatalogError, match="port 'x'"):
        NodeCatalog.from_node_types(
            {"e.x": [NodeType(type="t", inputs=[Port(name="x", type="list[")])]}
        )
    with pytest.raises(CatalogError, match="twice"):
        NodeCatalog.from_node_types(
            {"e.x": [NodeType(type="t", inputs=[Port(name="x"), Port(name="x")])]}
        )


def test_every_issue_code_is_documented() -> None:
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "workflows.md").read_text()
    missing = [code for code in ISSUE_CODES if f"`{code}`" not in docs]
    assert not missing, f"docs/workflows.md lacks: {missing}"


def test_ids_that_are_not_strings() -> None:
    from symphony_core.workflow import EditError

    with pytest.raises(EditError, match="node ids must be strings"):
        validate(Workflow("w", [Node(7, "t/x")]))  # type: ignore[arg-type]
    with pytest.raises(EditError, match="edge ids must be strings"):
        validate(Workflow("w", [Node("a", "t/x")], [Edge(["x"], "a", "a", "control")]))  # type: ignore[arg-type]
    report = validate(Workflow("w", [Node("a", "t/x")], [Edge(3, "a", "a", "control")]))  # type: ignore[arg-type]
    assert "workflow.id_invalid" in report.codes()
