from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any

import pytest

from symphony_core.errors import HookCallError, HookSpecMismatchError
from symphony_core.hooks import HookRelay, hookimpl

EVENT = "symphony_addon_event"
TRANSFORM = "symphony_operator_transform"
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


class SyncEvent:
    def __init__(self, log: list[str], name: str) -> None:
        self.log, self.name = log, name

    @hookimpl
    def symphony_addon_event(self, event: Any) -> str:
        self.log.append(self.name)
        return f"{self.name}:{event}"


class AsyncEvent:
    def __init__(self, log: list[str], name: str, *, fail: bool = False) -> None:
        self.log, self.name, self.fail = log, name, fail

    @hookimpl
    async def symphony_addon_event(self, event: Any) -> str:
        await asyncio.sleep(0)
        self.log.append(self.name)
        if self.fail:
            raise RuntimeError(f"{self.name} failed")
        return f"{self.name}:{event}:{request_id.get()}:{threading.current_thread().name}"


def mixed_relay(log: list[str], **kwargs: Any) -> HookRelay:
    relay = HookRelay(**kwargs)
    relay.register(SyncEvent(log, "a"), "t.a")
    relay.register(AsyncEvent(log, "b"), "t.b")
    relay.register(SyncEvent(log, "c"), "t.c")
    return relay


def test_acall_runs_sync_and_awaits_async_implementations_in_order() -> None:
    log: list[str] = []
    relay = mixed_relay(log)
    result = asyncio.run(relay.acall(EVENT, event=1))
    assert log == ["a", "b", "c"]
    assert result[0] == "a:1"
    assert result[2] == "c:1"
    assert result[1].startswith("b:1:none:")


def test_sync_call_runs_async_implementations_to_completion_without_a_loop() -> None:
    log: list[str] = []
    relay = mixed_relay(log)
    token = request_id.set("req-7")
    try:
        result = relay.call(EVENT, event=2)
    finally:
        request_id.reset(token)
    assert log == ["a", "b", "c"]
    assert result[1].startswith("b:2:req-7:MainThread")


def test_sync_call_inside_a_running_loop_uses_a_helper_thread() -> None:
    log: list[str] = []
    relay = mixed_relay(log)

    async def host() -> list[str]:
        request_id.set("from-loop")
        return relay.call(EVENT, event=3)  # type: ignore[no-any-return]

    result = asyncio.run(host())
    assert log == ["a", "b", "c"]
    b = result[1]
    assert b.startswith("b:3:from-loop:")  # context carried over
    assert b.endswith("symphony-hook-bridge")


def test_async_failures_follow_the_policy() -> None:
    log: list[str] = []
    relay = HookRelay(hook_policy={EVENT: "stop"})
    relay.register(SyncEvent(log, "a"), "t.a")
    relay.register(AsyncEvent(log, "b", fail=True), "t.b")
    relay.register(SyncEvent(log, "c"), "t.c")
    with pytest.raises(HookCallError) as info:
        asyncio.run(relay.acall(EVENT, event=1))
    assert info.value.extension_id == "t.b"
    assert log == ["a", "b"]
    with pytest.raises(HookCallError) as info:
        relay.call(EVENT, event=1)  # bridged: same error
    assert info.value.extension_id == "t.b"

    isolating = HookRelay()
    isolating.register(AsyncEvent(log, "b", fail=True), "t.b")
    isolating.register(SyncEvent(log, "c"), "t.c")
    outcome = asyncio.run(isolating.acall_outcome(EVENT, event=5))
    assert outcome.results == [("t.c", "c:5")]
    assert [ext for ext, _ in outcome.failures] == ["t.b"]


def test_async_firstresult_stops_awaiting_after_the_first_answer() -> None:
    calls: list[str] = []

    def make(name: str, value: Any) -> object:
        class Plugin:
            @hookimpl
            async def symphony_operator_transform(self, node_type: str) -> Any:
                calls.append(name)
                return value

        return Plugin()

    relay = HookRelay()
    relay.register(make("a", None), "t.a")
    relay.register(make("b", {"x": 1}), "t.b")
    relay.register(make("c", {"x": 2}), "t.c")
    kwargs = {"node_type": "n", "inputs": {}, "params": {}, "context": None}
    assert asyncio.run(relay.acall(TRANSFORM, **kwargs)) == {"x": 1}
    assert calls == ["a", "b"]
    calls.clear()
    assert relay.call(TRANSFORM, **kwargs) == {"x": 1}
    assert calls == ["a", "b"]


def test_call_one_with_an_async_implementation() -> None:
    log: list[str] = []
    relay = mixed_relay(log)
    assert relay.call_one("t.b", EVENT, {"event": 9}).startswith("b:9:")
    assert asyncio.run(relay.acall_one("t.b", EVENT, {"event": 8})).startswith("b:8:")
    assert asyncio.run(relay.acall_one("t.a", EVENT, {"event": 8})) == "a:8"
    assert log == ["b", "b", "a"]


def test_an_awaitable_returned_by_a_plain_function_is_awaited_by_acall() -> None:
    class Plugin:
        @hookimpl
        def symphony_addon_event(self, event: Any) -> Any:
            async def later() -> str:
                return f"later:{event}"

            return later()

    relay = HookRelay()
    relay.register(Plugin(), "t.a")
    assert asyncio.run(relay.acall(EVENT, event=1)) == ["later:1"]


def test_async_implementation_of_a_sync_only_hook_is_refused() -> None:
    class Plugin:
        @hookimpl
        async def symphony_operator_describe(self) -> list[str]:
            return []

    relay = HookRelay()
    with pytest.raises(HookSpecMismatchError) as info:
        relay.register(Plugin(), "t.a")
    assert "plain (non-async)" in str(info.value)
    assert not relay.is_registered("t.a")


def test_a_failure_on_the_helper_thread_reaches_the_caller() -> None:
    log: list[str] = []
    relay = HookRelay(hook_policy={EVENT: "stop"})
    relay.register(AsyncEvent(log, "b", fail=True), "t.b")

    async def host() -> None:
        relay.call(EVENT, event=1)

    with pytest.raises(HookCallError) as info:
        asyncio.run(host())
    assert info.value.extension_id == "t.b"
    assert log == ["b"]
