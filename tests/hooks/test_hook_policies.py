from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from symphony_core.config import Config
from symphony_core.errors import ConfigError, HookCallError
from symphony_core.hooks import HookRelay, hookimpl

EVENT = "symphony_addon_event"  # spec default: isolate, broadcast
TRANSFORM = "symphony_operator_transform"  # spec default: stop, firstresult
ARGS: dict[str, Any] = {"node_type": "n", "inputs": {}, "params": {}, "context": None}


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []


def event_plugin(rec: Recorder, name: str, *, fail: bool = False, value: Any = None) -> object:
    class Plugin:
        @hookimpl
        def symphony_addon_event(self, event: Any) -> Any:
            rec.calls.append(name)
            if fail:
                raise ValueError(f"{name} broke on {event}")
            return value if value is not None else f"{name}:{event}"

    return Plugin()


def transform_plugin(rec: Recorder, name: str, *, fail: bool = False, value: Any = None) -> object:
    class Plugin:
        @hookimpl
        def symphony_operator_transform(self, node_type: str) -> Any:
            rec.calls.append(name)
            if fail:
                raise KeyError(name)
            return value

    return Plugin()


def test_stop_raises_the_first_failure_naming_the_extension() -> None:
    rec = Recorder()
    relay = HookRelay(hook_policy={EVENT: "stop"})
    relay.register(event_plugin(rec, "a"), "t.a")
    relay.register(event_plugin(rec, "b", fail=True), "t.b")
    relay.register(event_plugin(rec, "c"), "t.c")
    with pytest.raises(HookCallError) as info:
        relay.call(EVENT, event="e1")
    err = info.value
    assert rec.calls == ["a", "b"]  # c never ran
    assert err.extension_id == "t.b"
    assert err.hook == EVENT
    assert [ext for ext, _ in err.failures] == ["t.b"]
    assert isinstance(err.__cause__, ValueError)
    assert "t.b" in str(err)
    assert "ValueError: b broke on e1" in str(err)
    assert err.to_dict()["failures"][0]["extension_id"] == "t.b"


def test_stop_is_the_default_of_transform_and_firstresult_returns_first_answer() -> None:
    rec = Recorder()
    relay = HookRelay()
    relay.register(transform_plugin(rec, "a", value=None), "t.a")
    relay.register(transform_plugin(rec, "b", value={"out": 1}), "t.b")
    relay.register(transform_plugin(rec, "c", value={"out": 2}), "t.c")
    assert relay.policy_of(TRANSFORM) == "stop"
    assert relay.call(TRANSFORM, **ARGS) == {"out": 1}
    assert rec.calls == ["a", "b"]
    rec.calls.clear()
    relay2 = HookRelay()
    relay2.register(transform_plugin(rec, "a", fail=True), "t.a")
    relay2.register(transform_plugin(rec, "b", value={"out": 1}), "t.b")
    with pytest.raises(HookCallError) as info:
        relay2.call(TRANSFORM, **ARGS)
    assert info.value.extension_id == "t.a"
    assert rec.calls == ["a"]


def test_collect_runs_everything_then_lists_every_failure() -> None:
    rec = Recorder()
    seen: list[tuple[str, str]] = []
    relay = HookRelay(
        hook_policy={EVENT: "collect"}, on_failure=lambda h, e, x: seen.append((h, e))
    )
    relay.register(event_plugin(rec, "a", fail=True), "t.a")
    relay.register(event_plugin(rec, "b"), "t.b")
    relay.register(event_plugin(rec, "c", fail=True), "t.c")
    with pytest.raises(HookCallError) as info:
        relay.call(EVENT, event="x")
    err = info.value
    assert rec.calls == ["a", "b", "c"]
    assert [ext for ext, _ in err.failures] == ["t.a", "t.c"]
    assert err.extension_id is None
    assert "2 extension(s)" in err.message
    assert "t.a" in err.message
    assert "t.c" in err.message
    assert seen == [(EVENT, "t.a"), (EVENT, "t.c")]


def test_collect_with_one_failure_names_that_extension() -> None:
    rec = Recorder()
    relay = HookRelay(hook_policy={EVENT: "collect"})
    relay.register(event_plugin(rec, "a"), "t.a")
    relay.register(event_plugin(rec, "b", fail=True), "t.b")
    with pytest.raises(HookCallError) as info:
        relay.call(EVENT, event="x")
    assert info.value.extension_id == "t.b"


def test_isolate_returns_good_results_logs_and_reports_failures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rec = Recorder()
    seen: list[tuple[str, str, type[BaseException]]] = []
    relay = HookRelay(on_failure=lambda h, e, x: seen.append((h, e, type(x))))
    relay.register(event_plugin(rec, "a"), "t.a")
    relay.register(event_plugin(rec, "b", fail=True), "t.b")
    relay.register(event_plugin(rec, "c"), "t.c")
    assert relay.policy_of(EVENT) == "isolate"  # the spec's default
    with caplog.at_level(logging.WARNING, logger="symphony.hooks"):
        assert relay.call(EVENT, event="x") == ["a:x", "c:x"]
    assert rec.calls == ["a", "b", "c"]
    assert seen == [(EVENT, "t.b", ValueError)]
    records = [r for r in caplog.records if getattr(r, "extension_id", None) == "t.b"]
    assert len(records) == 1
    assert "isolated" in records[0].getMessage()
    outcome = relay.call_outcome(EVENT, event="y")
    assert outcome.results == [("t.a", "a:y"), ("t.c", "c:y")]
    assert [(ext, type(exc)) for ext, exc in outcome.failures] == [("t.b", ValueError)]
    assert outcome.value == ["a:y", "c:y"]
    assert not outcome.ok


def test_isolate_on_a_firstresult_hook_falls_through_to_the_next_answer() -> None:
    rec = Recorder()
    relay = HookRelay(hook_policy={TRANSFORM: "isolate"})
    relay.register(transform_plugin(rec, "a", fail=True), "t.a")
    relay.register(transform_plugin(rec, "b", value={"ok": True}), "t.b")
    relay.register(transform_plugin(rec, "c", value={"ok": False}), "t.c")
    assert relay.call(TRANSFORM, **ARGS) == {"ok": True}
    assert rec.calls == ["a", "b"]
    outcome = relay.call_outcome(TRANSFORM, **ARGS)
    assert outcome.value == {"ok": True}
    assert [ext for ext, _ in outcome.failures] == ["t.a"]


def test_policy_from_config_star_and_precedence(tmp_path: Path) -> None:
    config = Config(home=tmp_path, hook_policy={"*": "collect", EVENT: "stop"})
    relay = HookRelay.from_config(config)
    assert relay.policy_of(EVENT) == "stop"
    assert relay.policy_of(TRANSFORM) == "collect"
    assert HookRelay().policy_of("symphony_deactivate") == "isolate"


def test_a_raising_on_failure_callback_does_not_mask_the_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rec = Recorder()

    def bad_callback(hook: str, ext: str, exc: Exception) -> None:
        raise RuntimeError("callback bug")

    relay = HookRelay(on_failure=bad_callback)
    relay.register(event_plugin(rec, "a", fail=True), "t.a")
    relay.register(event_plugin(rec, "b"), "t.b")
    with caplog.at_level(logging.ERROR, logger="symphony.hooks"):
        assert relay.call(EVENT, event=1) == ["b:1"]
    assert any("on_failure callback raised" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"hook_policy": {"symphony_addon_evnt": "stop"}}, "did you mean symphony_addon_event"),
        ({"hook_policy": {EVENT: "ignore"}}, "'ignore'"),
        ({"hook_order": {EVENT: ["a.b", "a.b"]}}, "lists 'a.b' twice"),
        ({"hook_order": {"symphony_operatr_transform": ["a.b"]}}, "did you mean"),
    ],
)
def test_bad_hook_settings_are_config_errors(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        HookRelay(**kwargs)
    assert fragment in str(info.value)


def test_settings_for_hooks_outside_the_symphony_prefix_are_accepted() -> None:
    # Extensions may add their own hook specs later; only symphony_* names are ours.
    relay = HookRelay(hook_policy={"acme_hook": "isolate"}, hook_order={"acme_hook": ["a.b"]})
    assert relay.policy_of(EVENT) == "isolate"
