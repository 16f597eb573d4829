from __future__ import annotations

import types
from typing import Any

import pluggy
import pytest

from symphony_core.errors import HookSpecMismatchError
from symphony_core.hooks import PROJECT_NAME, HookRelay, hookimpl

TRANSFORM = "symphony_operator_transform"


def refused(plugin: object) -> HookSpecMismatchError:
    relay = HookRelay()
    with pytest.raises(HookSpecMismatchError) as info:
        relay.register(plugin, "acme.broken")
    assert not relay.is_registered("acme.broken")
    assert relay.implementers(TRANSFORM) == []
    assert info.value.extension_id == "acme.broken"
    assert info.value.code == "hook.spec_mismatch"
    return info.value


def test_unknown_parameter_is_named_with_a_suggestion() -> None:
    class Plugin:
        @hookimpl
        def symphony_operator_transform(self, node_typ: str, inputs: Any) -> Any:
            return None

    err = refused(Plugin())
    text = str(err)
    assert "acme.broken" in text
    assert TRANSFORM in text
    assert "'node_typ'" in text
    assert "did you mean node_type?" in text
    assert "symphony_operator_transform(node_type, inputs, params, context)" in text
    assert err.details["problems"][0]["attribute"] == "symphony_operator_transform"


def test_unknown_hook_name_gets_did_you_mean() -> None:
    class Plugin:
        @hookimpl
        def symphony_operator_transfrom(self, node_type: str) -> Any:
            return None

    err = refused(Plugin())
    assert "no hook named 'symphony_operator_transfrom'" in str(err)
    assert "did you mean symphony_operator_transform?" in str(err)


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("def symphony_operator_transform(self, *args): pass", "*args cannot receive"),
        ("def symphony_operator_transform(self, **kw): pass", "**kw cannot receive"),
        (
            "def symphony_operator_transform(self, node_type, *, inputs): pass",
            "keyword-only parameter 'inputs' is never passed",
        ),
        (
            "def symphony_operator_transform(self, node_type, inputs=None): pass",
            "parameter 'inputs' has a default",
        ),
    ],
)
def test_parameters_that_would_never_receive_values_are_refused(source: str, fragment: str) -> None:
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    function = hookimpl(namespace["symphony_operator_transform"])
    plugin = type("Plugin", (), {"symphony_operator_transform": function})()
    assert fragment in str(refused(plugin))


def test_wrappers_are_refused() -> None:
    marker = pluggy.HookimplMarker(PROJECT_NAME)

    class Plugin:
        @marker(wrapper=True)
        def symphony_operator_transform(self, node_type: str) -> Any:
            return (yield)

    assert "wrappers are not part of the Symphony contract" in str(refused(Plugin()))


def test_every_problem_is_listed_at_once() -> None:
    class Plugin:
        @hookimpl
        def symphony_operator_transform(self, nodetype: str) -> Any:
            return None

        @hookimpl
        def symphony_adon_event(self, event: Any) -> None:
            return None

        @hookimpl
        async def symphony_pit_artifact_store(self) -> object:
            return object()

    err = refused(Plugin())
    hooks = sorted(p["hook"] for p in err.details["problems"])
    assert hooks == [
        "symphony_adon_event",
        "symphony_operator_transform",
        "symphony_pit_artifact_store",
    ]


def test_subsets_in_any_order_and_extra_defaults_are_accepted() -> None:
    seen: list[tuple[Any, ...]] = []

    class Plugin:
        @hookimpl
        def symphony_operator_transform(
            self, params: Any, node_type: str, future_argument: int = 3
        ) -> Any:
            seen.append((params, node_type, future_argument))
            return {"ok": True}

    relay = HookRelay()
    relay.register(Plugin(), "acme.fine")
    args = {"node_type": "n", "inputs": {"i": 1}, "params": {"p": 2}, "context": None}
    assert relay.call(TRANSFORM, **args) == {"ok": True}
    assert seen == [({"p": 2}, "n", 3)]


def test_module_plugins_and_optional_unknown_hooks() -> None:
    module = types.ModuleType("acme_module_plugin")

    @hookimpl
    def symphony_addon_event(event: Any) -> str:
        return f"module:{event}"

    @hookimpl(optionalhook=True)
    def acme_future_hook(x: int) -> int:
        return x

    module.symphony_addon_event = symphony_addon_event  # type: ignore[attr-defined]
    module.acme_future_hook = acme_future_hook  # type: ignore[attr-defined]
    relay = HookRelay()
    assert relay.register(module, "acme.module") == ["symphony_addon_event"]
    assert relay.call("symphony_addon_event", event=1) == ["module:1"]
