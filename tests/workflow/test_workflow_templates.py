"""Templates: typed parameters, every error at once, safe substitution, nesting, catalogs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from workflow_fixtures import TEXT_NODES, manifest

from symphony_core.manifest.model import Parameter, TemplateRef
from symphony_core.workflow import (
    Binding,
    Edge,
    NodeCatalog,
    Template,
    TemplateCatalog,
    TemplateError,
    TemplateNotFoundError,
    TemplateParameterError,
    Workflow,
    WorkflowBuilder,
    decode_template,
    encode_template,
    evaluate,
    validate,
)
from symphony_core.workflow.templates import coerce_parameter


def count_template() -> Template:
    body = (
        WorkflowBuilder("count ${path}")
        .node("load", "ex.text/read", {"path": "${path}"}, label="Read ${path} for $${user}")
        .node("count", "ex.text/count", {"lowercase": "${lower}", "limit": "${limit}"})
        .switch("route")
        .node("big", "ex.text/show")
        .node("small", "ex.text/show")
        .connect("load.text", "count.text")
        .connect("count.total", "route.value")
        .when("route.value", "big.value", "value > ${threshold}")
        .when("route.value", "small.value", "true")
        .input("unused", "small.value")
        .output("counts", "count.counts")
        .build()
    )
    return Template(
        name="count",
        body=body.replace(inputs=()),
        description="Count words.",
        parameters={
            "path": Parameter(type="path", description="File to read."),
            "lower": Parameter(type="bool", default=True),
            "limit": Parameter(type="int", default=10, min=1, max=100),
            "threshold": Parameter(type="float", default=0.5),
        },
    )


def test_instantiation_substitutes_typed_values(catalog: NodeCatalog) -> None:
    wf = count_template().instantiate({"path": "a.txt", "limit": 7})
    assert wf.name == "count a.txt"
    assert wf.node("load").params == {"path": "a.txt"}
    assert wf.node("load").meta.label == "Read a.txt for ${user}"  # type: ignore[union-attr]
    assert wf.node("count").params == {"lowercase": True, "limit": 7}
    assert wf.edge("e3").condition == "value > 0.5"
    assert validate(wf, catalog).ok


def test_every_parameter_problem_is_reported_at_once() -> None:
    with pytest.raises(TemplateParameterError) as info:
        count_template().instantiate(
            {"limit": 0, "lower": "yes", "colour": "red", "threshold": float("nan")}
        )
    problems = dict(info.value.problems)
    assert set(problems) == {"colour", "path", "lower", "limit", "threshold"}
    assert "required" in problems["path"]
    assert "below the minimum 1" in problems["limit"]
    assert "not a finite number" in problems["threshold"]
    assert "no such parameter" in problems["colour"]
    assert info.value.code == "workflow.template_parameters_invalid"


def test_condition_substitution_cannot_change_a_condition() -> None:
    template = Template(
        name="t",
        body=WorkflowBuilder()
        .node("a", "x.y/z")
        .node("b", "x.y/z")
        .when("a.out", "b.in", "out == ${who}")
        .build(),
        parameters={"who": Parameter(type="str")},
    )
    evil = 'x" or true or "'
    wf = template.instantiate({"who": evil})
    condition = wf.edges[0].condition
    assert condition is not None
    assert evaluate(condition, {"out": evil}) is True
    assert evaluate(condition, {"out": "anything else"}) is False
    gate = Template(
        name="g",
        body=WorkflowBuilder().gate("g", "value == ${who}").build(),
        parameters={"who": Parameter(type="str")},
    )
    assert (
        evaluate(gate.instantiate({"who": evil}).nodes[0].params["condition"], {"value": "x"})
        is False
    )


def test_templates_are_checked_when_made() -> None:
    body = WorkflowBuilder().node("a", "x.y/z", {"p": "${missing}"}).build()
    with pytest.raises(TemplateError, match=r"\$\{missing\}, which is not a parameter"):
        Template(name="t", body=body)
    with pytest.raises(TemplateError, match="default of 'n' is invalid"):
        Template(
            name="t",
            body=Workflow("w"),
            parameters={"n": Parameter(type="int", default="x", min=0)},
        )


def test_documents_round_trip(tmp_path: Path) -> None:
    template = count_template()
    data = encode_template(template)
    back = decode_template(data, where="t.json")
    assert back.body == template.body
    assert back.parameters == template.parameters
    assert json.loads(data)["kind"] == "symphony.template"
    for bad, message in [
        (b"{}", "invalid template document"),
        (
            json.dumps(
                {"kind": "workflow", "schema_version": 1, "name": "x", "workflow": {}}
            ).encode(),
            "kind",
        ),
        (
            json.dumps(
                {"kind": "symphony.template", "schema_version": 9, "name": "x", "workflow": {}}
            ).encode(),
            "version 9",
        ),
        (
            json.dumps(
                {
                    "kind": "symphony.template",
                    "schema_version": 1,
                    "name": "x",
                    "workflow": {"schema_version": 2},
                }
            ).encode(),
            "invalid workflow",
        ),
    ]:
        with pytest.raises(TemplateError, match=message):
            decode_template(bad)


def sub_template() -> Template:
    body = (
        WorkflowBuilder("sub")
        .node("count", "ex.text/count", {"limit": "${limit}"})
        .node("show", "ex.text/show")
        .connect("count.counts", "show.value")
        .input("text", "count.text")
        .output("total", "count.total")
        .build()
    )
    return Template(name="sub", body=body, parameters={"limit": Parameter(type="int", default=3)})


def test_templates_nest_with_namespaced_ids(catalog: NodeCatalog) -> None:
    outer_body = (
        WorkflowBuilder("outer")
        .node("load", "ex.text/read", {"path": "${path}"})
        .node("inner", "template/sub", {"limit": "${n}"})
        .node("after", "ex.text/show")
        .connect("load.text", "inner.text")
        .connect("inner.total", "after.value")
        .control("load", "inner")
        .output("total", "inner.total")
        .build()
    )
    outer = Template(
        name="outer",
        body=outer_body,
        parameters={"path": Parameter(type="path"), "n": Parameter(type="int", default=5)},
    )
    templates = TemplateCatalog([sub_template(), outer])
    wf = templates.instantiate("outer", {"path": "p.txt"})
    assert [n.id for n in wf.nodes] == ["load", "inner/count", "inner/show", "after"]
    assert wf.node("inner/count").params == {"limit": 5}
    assert wf.edge("e1") == Edge("e1", "load", "inner/count", "data", "text", "text")
    assert wf.edge("e2") == Edge("e2", "inner/count", "after", "data", "total", "value")
    assert wf.edge("inner/e1") == Edge(
        "inner/e1", "inner/count", "inner/show", "data", "counts", "value"
    )
    assert wf.edge("e3") == Edge(
        "e3", "load", "inner/count", "control"
    )  # to the sub-workflow's entry
    assert wf.outputs == (Binding("total", "inner/count", "total"),)
    assert validate(wf, catalog).ok
    with pytest.raises(TemplateParameterError, match="'outer'"):
        templates.instantiate("outer", {"path": "p", "n": "many"})
    broken = Template(
        name="broken", body=WorkflowBuilder().node("s", "template/sub", {"limit": "x"}).build()
    )
    with pytest.raises(TemplateParameterError, match=r"template 'sub'.*limit: not an integer"):
        TemplateCatalog([sub_template(), broken]).instantiate("broken")


def test_nesting_errors() -> None:
    loop = Template(name="loop", body=WorkflowBuilder().node("again", "template/loop").build())
    with pytest.raises(TemplateError, match="includes itself"):
        TemplateCatalog([loop]).instantiate("loop")
    lost = Template(name="lost", body=WorkflowBuilder().node("x", "template/nowhere").build())
    with pytest.raises(TemplateNotFoundError, match="nowhere"):
        TemplateCatalog([lost]).instantiate("lost")
    wrong_port = Template(
        name="w",
        body=WorkflowBuilder()
        .node("a", "ex.text/read")
        .node("s", "template/sub")
        .connect("a.text", "s.nope")
        .build(),
    )
    with pytest.raises(TemplateError, match="no input 'nope'"):
        TemplateCatalog([sub_template(), wrong_port]).instantiate("w")


def write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)


def test_extensions_contribute_templates_through_manifests(tmp_path: Path) -> None:
    base = tmp_path / "ext"
    write(base / "templates" / "count.json", encode_template(count_template()).decode())
    ref = TemplateRef(name="count_words", path="templates/count.json", description="Count.")
    m = manifest("ex.text", "operator", TEXT_NODES)
    m = type(m)(extension=m.extension, nodes=m.nodes, templates=[ref])
    catalog = TemplateCatalog.from_manifests([(m, base / "symphony.toml")])
    assert [e.name for e in catalog.entries()] == ["ex.text/count_words"]
    assert catalog.entries()[0].description == "Count."
    wf = catalog.instantiate("ex.text/count_words", {"path": "x"})
    assert wf.node("load").params == {"path": "x"}
    assert catalog.get("ex.text/count_words").name == "ex.text/count_words"
    with pytest.raises(TemplateNotFoundError, match=r"ex\.text/count_words"):
        catalog.get("count")
    escaping = type(m)(
        extension=m.extension, templates=[TemplateRef(name="evil", path="../outside.json")]
    )
    with pytest.raises(TemplateError, match="outside"):
        TemplateCatalog.from_manifests([(escaping, base / "symphony.toml")])


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        ("str", "12", "12"),
        ("path", "a b", "a b"),
        ("int", " 42 ", 42),
        ("float", "0.25", 0.25),
        ("bool", "Yes", True),
        ("bool", "off", False),
        ("list", "[1, 2]", [1, 2]),
        ("dict", '{"a": 1}', {"a": 1}),
        ("json", "null", None),
    ],
)
def test_command_line_values_follow_the_parameter_type(kind: str, text: str, value: Any) -> None:
    assert coerce_parameter(Parameter(type=kind), text) == value  # type: ignore[arg-type]


def test_command_line_values_that_do_not_fit() -> None:
    for kind, text in [("int", "1.5"), ("float", "nan"), ("bool", "maybe"), ("list", "[1,")]:
        with pytest.raises(ValueError, match="not"):
            coerce_parameter(Parameter(type=kind), text)  # type: ignore[arg-type]
    assert coerce_parameter(Parameter(type="enum", choices=["1", 2]), "1") == "1"
    assert coerce_parameter(Parameter(type="enum", choices=["1", 2]), "2") == 2


def test_describe_lists_parameters() -> None:
    described = count_template().describe()
    assert described["parameters"]["path"]["required"] is True
    assert described["parameters"]["limit"]["default"] == 10
    assert "from 1 to 100" in described["parameters"]["limit"]["accepts"]
