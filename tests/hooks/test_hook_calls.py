from __future__ import annotations

from typing import Any

import pytest

from symphony_core.errors import ExtensionError
from symphony_core.hooks import HookRelay, HookUsageError, hookimpl
from symphony_core.ports.runtime import HookNotImplementedError, UnknownExtensionError

EVENT = "symphony_addon_event"
TRANSFORM = "symphony_operator_transform"


class Echo:
    def __init__(self, name: str) -> None:
        self.name = name

    @hookimpl
    def symphony_addon_event(self, event: Any) -> str:
        return f"{self.name}:{event}"


def test_call_one_returns_that_extensions_answer() -> None:
    relay = HookRelay()
    relay.register(Echo("a"), "t.a")
    relay.register(Echo("b"), "t.b")
    assert relay.call_one("t.b", EVENT, {"event": 1}) == "b:1"
    assert relay.implements("t.a", EVENT)
    assert not relay.implements("t.a", TRANSFORM)


def test_call_one_errors_name_the_extension() -> None:
    relay = HookRelay()
    relay.register(Echo("a"), "t.a")
    with pytest.raises(HookNotImplementedError) as info:
        relay.call_one(
            "t.a", TRANSFORM, {"node_type": "n", "inputs": {}, "params": {}, "context": None}
        )
    assert info.value.extension_id == "t.a"
    assert info.value.hook == TRANSFORM
    with pytest.raises(HookNotImplementedError) as info:
        relay.call_one("t.a", "symphony_addon_evnt", {"event": 1})
    assert "did you mean symphony_addon_event" in str(info.value)
    with pytest.raises(UnknownExtensionError) as unknown:
        relay.call_one("t.nobody", EVENT, {"event": 1})
    assert unknown.value.code == "extension.unknown"


def test_bad_calls_are_usage_errors_naming_the_arguments() -> None:
    relay = HookRelay()
    relay.register(Echo("a"), "t.a")
    with pytest.raises(HookUsageError) as info:
        relay.call(EVENT)
    assert "missing argument(s) event" in str(info.value)
    with pytest.raises(HookUsageError) as info:
        relay.call(EVENT, event=1, extra=2)
    assert "unknown argument(s) extra" in str(info.value)
    with pytest.raises(HookUsageError) as info:
        relay.call("symphony_addon_evnt", event=1)
    assert "did you mean symphony_addon_event" in str(info.value)
    assert info.value.code == "hook.bad_call"


def test_a_hook_without_implementations_answers_nothing() -> None:
    relay = HookRelay()
    assert relay.call(EVENT, event=1) == []
    assert relay.call("symphony_pit_artifact_store") is None


def test_unregister_and_register_again() -> None:
    relay = HookRelay()
    first = Echo("a")
    relay.register(first, "t.a")
    relay.register(Echo("b"), "t.b")
    assert relay.unregister("t.a") is first
    assert relay.call(EVENT, event=1) == ["b:1"]
    assert relay.registered_ids() == ["t.b"]
    relay.register(Echo("a2"), "t.a")
    assert relay.call(EVENT, event=2) == ["a2:2", "b:2"]
    with pytest.raises(UnknownExtensionError):
        relay.unregister("t.nobody")


def test_the_same_id_cannot_register_twice() -> None:
    relay = HookRelay()
    relay.register(Echo("a"), "t.a")
    with pytest.raises(ExtensionError) as info:
        relay.register(Echo("again"), "t.a")
    assert "already registered" in str(info.value)
    assert relay.call(EVENT, event=0) == ["a:0"]
    assert relay.plugin_of("t.a").name == "a"  # type: ignore[attr-defined]
