from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symphony_core.errors import ExtensionError, HookCallError
from symphony_core.hooks import ExtensionContext, HookRelay
from symphony_core.manifest import parse_port_type
from symphony_core.manifest.model import ExtensionInfo, Manifest, NodeType, Parameter, Port
from symphony_sdk import (
    Addon,
    Instrument,
    InstrumentHealth,
    NodeDefinitionError,
    NodeInputError,
    NodeManifestMismatchError,
    NodeOutputError,
    Operator,
    node,
)
from symphony_sdk.binding import bind_node
from symphony_sdk.values import value_mismatch

COUNT = NodeType(
    type="count",
    inputs=[
        Port(name="tokens", type="list[str]"),
        Port(name="weights", type="dict[str, float]", required=False),
    ],
    outputs=[Port(name="total", type="int"), Port(name="top", type="list[str]")],
    parameters={
        "top": Parameter(type="int", default=2, min=1, max=10),
        "mode": Parameter(type="enum", choices=["plain", "weighted"], default="plain"),
    },
)


def context(tmp_path: Path, *nodes: NodeType, kind: str = "operator") -> ExtensionContext:
    manifest = Manifest(
        extension=ExtensionInfo(
            id="sdk.test",
            version="1.0.0",
            kind=kind,
            entry="m:E",
            host_api=">=1",  # type: ignore[arg-type]
        ),
        nodes=list(nodes),
    )
    return ExtensionContext(
        manifest=manifest, scratch_dir=tmp_path / "scratch", data_dir=tmp_path / "data"
    )


class Counter(Operator):
    @node("count")
    def count(
        self,
        tokens: list[str],
        weights: dict[str, float] | None = None,
        *,
        top: int,
        mode: str,
        context: ExtensionContext,
    ) -> dict[str, Any]:
        assert context.extension_id == "sdk.test"
        ranked = sorted(set(tokens), key=lambda t: (-tokens.count(t), t))[:top]
        return {"total": len(tokens), "top": ranked}

    @node
    def broken(self, tokens: list[str]) -> Any:
        return tokens  # not a mapping


def transform(
    relay: HookRelay, ctx: ExtensionContext, node_type: str, inputs: Any, params: Any
) -> Any:
    return relay.call(
        "symphony_operator_transform",
        node_type=node_type,
        inputs=inputs,
        params=params,
        context=ctx,
    )


def test_an_operator_runs_its_nodes_through_the_hooks(tmp_path: Path) -> None:
    ctx = context(tmp_path, COUNT, NodeType(type="broken", inputs=[Port(name="tokens")]))
    relay = HookRelay()
    relay.register(Counter(), "sdk.test")
    assert relay.call("symphony_operator_describe") == [["broken", "count"]]
    relay.call_one("sdk.test", "symphony_activate", {"context": ctx})
    out = transform(relay, ctx, "count", {"tokens": ["b", "a", "b", "c"]}, {})
    assert out == {"total": 4, "top": ["b", "a"]}
    assert transform(relay, ctx, "unknown", {}, {}) is None  # not this extension's


@pytest.mark.parametrize(
    ("inputs", "params", "fragment"),
    [
        ({"tokens": ["a"], "extra": 1}, {}, "unknown input(s) extra"),
        ({}, {}, "missing input(s) tokens"),
        ({"tokens": ["a", 2]}, {}, "input 'tokens'[1] must be str, got int"),
        ({"tokens": "abc"}, {}, "input 'tokens' must be list[str], got str"),
        ({"tokens": ["a"], "weights": {"a": "x"}}, {}, "input 'weights'['a'] must be float"),
        ({"tokens": ["a"]}, {"top": 0}, "below the minimum 1"),
        ({"tokens": ["a"]}, {"mode": "fancy"}, "not one of the choices"),
        ({"tokens": ["a"]}, {"tpo": 3}, "unknown parameter(s) tpo"),
    ],
)
def test_bad_inputs_and_params_are_refused_clearly(
    tmp_path: Path, inputs: Any, params: Any, fragment: str
) -> None:
    ctx = context(tmp_path, COUNT)
    relay = HookRelay()
    relay.register(Counter(), "sdk.test")
    with pytest.raises(HookCallError) as info:
        transform(relay, ctx, "count", inputs, params)
    cause = info.value.__cause__
    assert isinstance(cause, NodeInputError)
    assert fragment in str(cause)


def test_outputs_are_checked(tmp_path: Path) -> None:
    broken = NodeType(
        type="broken", inputs=[Port(name="tokens")], outputs=[Port(name="tokens", type="any")]
    )
    ctx = context(tmp_path, broken)
    relay = HookRelay()
    relay.register(Counter(), "sdk.test")
    with pytest.raises(HookCallError) as info:
        transform(relay, ctx, "broken", {"tokens": [1]}, {})
    assert isinstance(info.value.__cause__, NodeOutputError)
    assert "return a dict of outputs" in str(info.value.__cause__)

    class Wrong(Operator):
        @node("count")
        def count(self, tokens: list[str], weights: Any = None, *, top: int, mode: str) -> Any:
            return {"total": "many", "tops": []}

    relay2 = HookRelay()
    relay2.register(Wrong(), "sdk.test")
    with pytest.raises(HookCallError) as info:
        transform(relay2, context(tmp_path, COUNT), "count", {"tokens": []}, {})
    text = str(info.value.__cause__)
    assert "missing output(s) top" in text
    assert "undeclared output(s) tops" in text
    assert "output 'total' must be int, got str" in text


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("def n(self, *tokens): pass", "*tokens / **tokens cannot be inputs"),
        ("def n(self, **options): pass", "**options cannot be inputs"),
        ("def n(self, text, /): pass", "positional-only"),
        ("def n(self, instance): pass", "'instance' is only given to Instrument nodes"),
        ("def n(): pass", "must take 'self' first"),
    ],
)
def test_malformed_node_methods_fail_at_class_creation(source: str, fragment: str) -> None:
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    with pytest.raises(NodeDefinitionError) as info:
        type("Bad", (Operator,), {"n": node("n")(namespace["n"])})
    assert fragment in str(info.value)
    assert "Bad.n" in str(info.value)


def test_node_names_and_duplicates_are_checked() -> None:
    with pytest.raises(NodeDefinitionError) as info:
        node("word-count")
    assert "not a valid node type name" in str(info.value)
    with pytest.raises(NodeDefinitionError) as info:

        class Twice(Operator):
            @node("same")
            def one(self) -> Any:
                return {}

            @node("same")
            def two(self) -> Any:
                return {}

    assert "implemented twice: by one and by two" in str(info.value)
    with pytest.raises(NodeDefinitionError) as info:

        class Static(Operator):
            @staticmethod
            @node("s")
            def s() -> Any:
                return {}

    assert "plain methods" in str(info.value)


def test_subclasses_inherit_and_override_nodes() -> None:
    class Base(Operator):
        @node("a")
        def a(self) -> Any:
            return {}

        @node("b")
        def b(self) -> Any:
            return {}

    class Child(Base):
        def b(self) -> Any:  # no longer a node
            return {}

        @node("c")
        def c(self) -> Any:
            return {}

    assert Child().symphony_operator_describe() == ["a", "c"]
    assert Base().symphony_operator_describe() == ["a", "b"]


@pytest.mark.parametrize(
    ("method", "fragment"),
    [
        (
            "def count(self, tokens, *, top, mode): pass",
            "the method has no parameter for input 'weights'",
        ),
        ("def count(self, tokens, weights, *, top, mode): pass", "input 'weights' is optional"),
        (
            "def count(self, tokens, weights=None, top=1, *, mode): pass",
            "'top' is a parameter in the manifest; make it keyword-only",
        ),
        (
            "def count(self, tokens, weights=None, *, top, mode, extra): pass",
            "'extra' is not a parameter",
        ),
        (
            "def count(self, tokens, weights=None, *, top=5, mode): pass",
            "default 2 in the manifest but 5",
        ),
        (
            "def count(self, tokens, weights=None, other=None, *, top, mode): pass",
            "'other' is not an input",
        ),
        (
            "def count(self, weights=None, *, tokens, top, mode): pass",
            "'tokens' is an input in the manifest",
        ),
    ],
)
def test_signatures_are_checked_against_the_manifest(method: str, fragment: str) -> None:
    namespace: dict[str, Any] = {}
    exec(method, namespace)
    cls = type("Op", (Operator,), {"count": node("count")(namespace["count"])})
    signature = cls._symphony_nodes["count"]
    with pytest.raises(NodeManifestMismatchError) as info:
        bind_node(signature, COUNT, "sdk.test")
    assert fragment in str(info.value)


def test_activation_reports_signature_mismatches(tmp_path: Path) -> None:
    class Op(Operator):
        @node("count")
        def count(self, tokens: list[str], *, top: int, mode: str) -> Any:
            return {}

    relay = HookRelay()
    relay.register(Op(), "sdk.test")
    with pytest.raises(HookCallError) as info:
        relay.call_one("sdk.test", "symphony_activate", {"context": context(tmp_path, COUNT)})
    assert isinstance(info.value.__cause__, NodeManifestMismatchError)


def test_context_exists_only_while_active(tmp_path: Path) -> None:
    op = Counter()
    with pytest.raises(ExtensionError) as info:
        _ = op.context
    assert "is not active" in str(info.value)
    ctx = context(tmp_path, COUNT)
    op.symphony_activate(ctx)
    assert op.context is ctx
    op.symphony_deactivate(ctx)
    with pytest.raises(ExtensionError):
        _ = op.context


SCORE = NodeType(
    type="score",
    inputs=[Port(name="text", type="str")],
    outputs=[Port(name="score", type="float")],
    parameters={"bias": Parameter(type="float", default=0.5)},
)


class Scorer(Instrument):
    def __init__(self) -> None:
        self.events: list[Any] = []

    def load(self, node_type: str, params: Any) -> Any:
        self.events.append(("load", dict(params)))
        return {"scale": 2.0}

    def unload(self, node_type: str, instance: Any) -> None:
        self.events.append("unload")

    def health(self, node_type: str, instance: Any) -> InstrumentHealth:
        return InstrumentHealth(healthy=instance["scale"] > 0, detail="scale ok")

    @node("score")
    async def score(self, text: str, *, instance: Any, bias: float) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"score": len(text) * instance["scale"] + bias}


def test_an_instrument_loads_invokes_checks_and_unloads(tmp_path: Path) -> None:
    ctx = context(tmp_path, SCORE, kind="instrument")
    scorer = Scorer()
    relay = HookRelay()
    relay.register(scorer, "sdk.test")
    assert relay.call("symphony_instrument_describe") == [["score"]]
    base = {"node_type": "score", "context": ctx}
    instance = relay.call("symphony_instrument_load", params={}, **base)
    assert scorer.events == [("load", {"bias": 0.5})]
    out = relay.call(
        "symphony_instrument_invoke", instance=instance, inputs={"text": "abc"}, params={}, **base
    )
    assert out == {"score": 6.5}
    health = relay.call("symphony_instrument_health", instance=instance, **base)
    assert health == InstrumentHealth(healthy=True, detail="scale ok")
    assert relay.call("symphony_instrument_unload", instance=instance, **base) is True
    assert scorer.events[-1] == "unload"
    assert relay.call("symphony_instrument_load", node_type="x", params={}, context=ctx) is None
    with pytest.raises(TypeError):
        type("NoLoad", (Instrument,), {})()


def test_an_addon_receives_events_and_contributes_commands() -> None:
    seen: list[Any] = []

    @click.command("hello")
    def hello() -> None:
        """Say hello."""

    class Sync(Addon):
        def on_event(self, event: object) -> None:
            seen.append(("sync", event))

        def cli_commands(self) -> list[click.Command]:
            return [hello]

    class Async(Addon):
        async def on_event(self, event: object) -> None:
            await asyncio.sleep(0)
            seen.append(("async", event))

    relay = HookRelay()
    relay.register(Sync(), "sdk.sync")
    relay.register(Async(), "sdk.async")
    asyncio.run(relay.acall("symphony_addon_event", event="started"))
    assert sorted(seen) == [("async", "started"), ("sync", "started")]
    assert relay.call("symphony_addon_cli_commands") == [[], [hello]]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=5), max_size=8), st.lists(st.integers(), min_size=1, max_size=3))
def test_value_checks_accept_fitting_values_and_point_at_the_first_misfit(
    good: list[str], bad: list[int]
) -> None:
    list_of_str = parse_port_type("list[str]")
    assert value_mismatch(good, list_of_str) is None
    assert value_mismatch(tuple(good), list_of_str) is None
    mixed = [*good, *bad]
    problem = value_mismatch(mixed, list_of_str, "x")
    assert problem == f"x[{len(good)}] must be str, got int"
    assert value_mismatch({k: len(k) for k in good}, parse_port_type("dict[str, int]")) is None
    assert value_mismatch({"k": good}, parse_port_type("json")) is None
    assert value_mismatch(True, parse_port_type("int")) is not None
    assert value_mismatch(3, parse_port_type("float")) is None
    assert value_mismatch(object(), parse_port_type("acme.embedding")) is None
