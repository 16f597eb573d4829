"""The model: frozen values, the builder, and edits that keep ids stable."""

from __future__ import annotations

import copy
import math
import pickle
import struct

import msgspec
import pytest

from symphony_core.workflow import (
    Binding,
    Edge,
    EditError,
    FrozenDict,
    Node,
    NodeMeta,
    ValueRuleError,
    Workflow,
    WorkflowBuilder,
    WorkflowBuildError,
    WorkflowValidationError,
    freeze,
    thaw,
)
from symphony_core.workflow.values import INT_MAX, INT_MIN, MAX_DEPTH


class TestValues:
    def test_lists_become_tuples_and_dicts_frozen(self) -> None:
        value = freeze({"a": [1, {"b": [2.5, None]}], "c": "x"})
        assert value == {"a": (1, {"b": (2.5, None)}), "c": "x"}
        assert type(value) is FrozenDict
        assert type(value["a"]) is tuple
        assert type(value["a"][1]) is FrozenDict
        assert thaw(value) == {"a": [1, {"b": [2.5, None]}], "c": "x"}
        assert type(thaw(value)["a"]) is list

    @pytest.mark.parametrize(
        "method", ["__setitem__", "__delitem__", "clear", "pop", "popitem", "setdefault", "update"]
    )
    def test_frozen_dict_refuses_every_mutation(self, method: str) -> None:
        frozen = freeze({"a": 1})
        args = {
            "__setitem__": ("a", 2),
            "__delitem__": ("a",),
            "pop": ("a",),
            "setdefault": ("a", 2),
            "update": ({"b": 1},),
        }.get(method, ())
        with pytest.raises(TypeError, match="immutable"):
            getattr(frozen, method)(*args)
        with pytest.raises(TypeError):
            frozen |= {"b": 2}
        with pytest.raises(TypeError, match="twice"):
            frozen.__init__({"b": 2})  # type: ignore[misc]
        assert frozen == {"a": 1}

    def test_frozen_dicts_hash_by_content(self) -> None:
        assert hash(freeze({"a": [1], "b": 2})) == hash(freeze({"b": 2, "a": (1,)}))
        assert copy.deepcopy(freeze({"a": 1})) == {"a": 1}
        assert pickle.loads(pickle.dumps(freeze({"a": [1]}))) == freeze({"a": [1]})

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            (math.nan, "not a finite number"),
            (math.inf, "not a finite number"),
            (INT_MAX + 1, "outside"),
            (INT_MIN - 1, "outside"),
            ({1: "x"}, "keys must be strings"),
            ("\ud800", "lone surrogate"),
            ({"a": {1, 2}}, "not a JSON value"),
            (b"bytes", "not a JSON value"),
        ],
    )
    def test_values_outside_the_rules_are_refused(self, value: object, message: str) -> None:
        with pytest.raises(ValueRuleError, match=message):
            freeze(value)

    def test_depth_is_limited(self) -> None:
        deep: object = 1
        for _ in range(MAX_DEPTH + 1):
            deep = [deep]
        with pytest.raises(ValueRuleError, match="nested"):
            freeze(deep)
        assert freeze([[[1]]]) == (((1,),),)

    def test_extremes_are_kept(self) -> None:
        assert freeze([INT_MIN, INT_MAX, -0.0, 1e308]) == (INT_MIN, INT_MAX, -0.0, 1e308)
        assert math.copysign(1, freeze(-0.0)) == -1


class TestModel:
    def test_nodes_are_frozen_and_params_are_frozen_values(self) -> None:
        node = Node("a", "ex.text/read", {"path": ["x", "y"]})
        assert node.params == {"path": ("x", "y")}
        with pytest.raises(AttributeError):
            node.id = "b"  # type: ignore[misc]
        with pytest.raises(TypeError):
            node.params["path"] = "z"  # type: ignore[index]

    def test_node_helpers_return_new_nodes(self) -> None:
        node = Node("a", "t/x", {"k": 1})
        assert node.with_params(j=2).params == {"k": 1, "j": 2}
        assert node.without_params("k").params == {}
        assert node.params == {"k": 1}

    def test_meta_position_is_two_finite_floats(self) -> None:
        meta = NodeMeta(position=(1, 2))
        assert meta.position == (1.0, 2.0)
        assert all(type(v) is float for v in meta.position)
        with pytest.raises(ValueRuleError):
            NodeMeta(position=(math.nan, 0.0))
        assert NodeMeta(extra={"color": [1, 2]}).extra == {"color": (1, 2)}

    def test_workflow_is_immutable_and_compares_by_value(self, linear: Workflow) -> None:
        with pytest.raises(AttributeError):
            linear.name = "other"  # type: ignore[misc]
        twin = linear.replace()
        assert twin == linear
        assert twin is not linear
        assert hash(twin) == hash(linear)
        assert linear.replace(name="other") != linear
        assert pickle.loads(pickle.dumps(linear)) == linear
        assert isinstance(linear.nodes, tuple)
        assert isinstance(linear.edges, tuple)

    def test_lookups(self, linear: Workflow) -> None:
        assert linear.node("count").type == "ex.text/count"
        assert linear.get_node("nope") is None
        assert linear.edge("e1").target == "count"
        with pytest.raises(EditError, match="no node 'nope'"):
            linear.node("nope")
        with pytest.raises(EditError, match="no edge"):
            linear.edge("zz")

    def test_wrong_item_types_are_refused(self) -> None:
        with pytest.raises(EditError, match="Node objects"):
            Workflow("w", [{"id": "a"}])  # type: ignore[list-item]
        with pytest.raises(EditError, match="no field"):
            Workflow("w").replace(colour="red")


class TestBuilder:
    def test_builds_nodes_edges_and_bindings(self, linear: Workflow) -> None:
        assert [n.id for n in linear.nodes] == ["load", "count", "show"]
        assert linear.nodes[0].meta == NodeMeta(position=(0.0, 0.0), label="Load")
        assert linear.edges[0] == Edge("e1", "load", "count", "data", "text", "text")
        assert linear.outputs == (Binding("counts", "count", "counts"),)

    def test_ids_must_be_unique(self) -> None:
        builder = WorkflowBuilder().node("a", "t/x")
        with pytest.raises(WorkflowBuildError, match="added twice"):
            builder.node("a", "t/y")
        builder.node("b", "t/x").connect("a.o", "b.i", id="e1")
        with pytest.raises(WorkflowBuildError, match="edge 'e1'"):
            builder.connect("a.o", "b.j", id="e1")

    def test_generated_edge_ids_skip_taken_ones(self) -> None:
        wf = (
            WorkflowBuilder()
            .node("a", "t/x")
            .node("b", "t/x")
            .connect("a.o", "b.i", id="e2")
            .connect("a.o", "b.j")
            .connect("a.o", "b.k")
            .build()
        )
        assert [e.id for e in wf.edges] == ["e2", "e1", "e3"]

    def test_endpoint_shapes(self) -> None:
        builder = WorkflowBuilder().node("a.b", "t/x").node("c", "t/x")
        with pytest.raises(WorkflowBuildError, match="connects ports"):
            builder.connect("a.b", "c")
        with pytest.raises(WorkflowBuildError, match="nodes, not ports"):
            builder.control("a.b.out", "c")
        wf = builder.control("a.b", "c").when("a.b.out", "c.in", "out > 1").build()
        assert wf.edges[0] == Edge("e1", "a.b", "c", "control")
        assert wf.edges[1] == Edge("e2", "a.b", "c", "conditional", "out", "in", "out > 1")

    def test_control_helpers(self) -> None:
        wf = (
            WorkflowBuilder()
            .branch("b")
            .switch("s")
            .merge("m", mode="all")
            .gate("g", "value")
            .build()
        )
        assert [n.type for n in wf.nodes] == [
            "control/branch",
            "control/switch",
            "control/merge",
            "control/gate",
        ]
        assert wf.node("m").params == {"mode": "all"}
        assert wf.node("g").params == {"condition": "value"}

    def test_build_with_a_catalog_validates(self, catalog) -> None:  # type: ignore[no-untyped-def]
        builder = WorkflowBuilder().node("c", "ex.text/count")
        with pytest.raises(WorkflowValidationError) as info:
            builder.build(catalog)
        assert [i.code for i in info.value.issues] == ["workflow.input_missing"]
        assert info.value.code == "workflow.invalid"

    def test_embed_namespaces_a_sub_workflow(self, linear: Workflow) -> None:
        wf = (
            WorkflowBuilder("outer")
            .embed("sub", linear)
            .node("after", "ex.text/show")
            .connect("sub/count.total", "after.value")
            .build()
        )
        assert [n.id for n in wf.nodes] == ["sub/load", "sub/count", "sub/show", "after"]
        assert wf.edge("sub/e1") == Edge("sub/e1", "sub/load", "sub/count", "data", "text", "text")
        assert wf.edge("e1").source == "sub/count"


class TestEdits:
    def test_add_and_remove_nodes_keep_other_ids_and_order(self, linear: Workflow) -> None:
        bigger = linear.add_node(Node("extra", "ex.text/show"))
        assert [n.id for n in bigger.nodes] == ["load", "count", "show", "extra"]
        smaller = bigger.remove_node("count")
        assert [n.id for n in smaller.nodes] == ["load", "show", "extra"]
        assert smaller.edges == ()  # both edges touched count
        assert smaller.outputs == ()
        assert [n.id for n in linear.nodes] == ["load", "count", "show"]  # untouched
        with pytest.raises(EditError, match="already has a node"):
            linear.add_node(Node("load", "x/y"))
        with pytest.raises(EditError, match="still has 2 edge"):
            linear.remove_node("count", cascade=False)

    def test_replace_and_update_keep_the_position(self, linear: Workflow) -> None:
        changed = linear.replace_node("count", Node("count", "ex.text/count", {"limit": 5}))
        assert changed.nodes[1].params == {"limit": 5}
        assert changed.edges == linear.edges
        with pytest.raises(EditError, match="has id"):
            linear.replace_node("count", Node("other", "ex.text/count"))
        updated = linear.update_node("load", params={"path": "b.txt"}, meta=NodeMeta(label="B"))
        assert updated.node("load").params == {"path": "b.txt"}
        assert updated.node("load").meta == NodeMeta(label="B")
        assert updated.node("load").type == "ex.text/read"

    def test_edges_rewire_and_keep_their_id(self, linear: Workflow) -> None:
        rewired = linear.rewire("e2", source="count.total")
        assert rewired.edge("e2") == Edge("e2", "count", "show", "data", "total", "value")
        assert [e.id for e in rewired.edges] == ["e1", "e2"]
        moved = linear.rewire("e2", target="load.text")
        assert moved.edge("e2").target == "load"
        with pytest.raises(EditError, match="no node 'ghost'"):
            linear.rewire("e2", target="ghost.x")
        with pytest.raises(EditError, match="no edge"):
            linear.rewire("e9", target="show.value")

    def test_add_and_remove_edges(self, linear: Workflow) -> None:
        more = linear.add_edge(Edge("c1", "load", "show", "control"))
        assert more.edges[-1].id == "c1"
        assert more.remove_edge("e1").edges == (linear.edges[1], more.edges[-1])
        with pytest.raises(EditError, match="already has an edge"):
            linear.add_edge(Edge("e1", "load", "show", "control"))
        with pytest.raises(EditError, match="no node"):
            linear.add_edge(Edge("c2", "load", "nowhere", "control"))

    def test_struct_replace_refreezes(self) -> None:
        node = msgspec.structs.replace(Node("a", "t/x"), params={"k": [1]})
        assert node.params == {"k": (1,)}


@pytest.mark.parametrize(
    "params",
    [
        {"x": math.nan},
        {"x": math.inf},
        {"x": -math.inf},
        {"x": 2**63},
        {"x": "\udc80"},
        {"\ud800": 1},
        {1: "x"},
        {"x": object()},
    ],
)
def test_node_parameters_follow_the_value_rules(params: dict[object, object]) -> None:
    with pytest.raises(ValueRuleError):
        Node("a", "t/x", params)  # type: ignore[arg-type]


def test_a_binary_smuggling_nan_is_refused() -> None:
    from symphony_core.workflow import CodecError, decode_binary, encode_binary

    wf = Workflow("w", [Node("a", "t/x", {"x": 1.5})])
    blob = encode_binary(wf, compress_payload=False)
    one_and_a_half = b"\xcb" + struct.pack(">d", 1.5)
    assert blob.count(one_and_a_half) == 1
    for bad in (math.nan, math.inf):
        smuggled = blob.replace(one_and_a_half, b"\xcb" + struct.pack(">d", bad))
        with pytest.raises(CodecError, match="not a finite number"):
            decode_binary(smuggled)
    too_big = blob.replace(one_and_a_half, b"\xcf" + struct.pack(">Q", 2**64 - 1))
    with pytest.raises(CodecError, match="outside"):
        decode_binary(too_big)
