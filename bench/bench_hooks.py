"""Hook call overhead: Symphony's layer over pluggy versus a bare pluggy call.

Both sides call the same plugin objects with the same arguments in the same process:
ours through ``HookRelay.call`` (checked arguments, error policy, cached ordered plan),
the peer through ``PluginManager.hook.<name>(...)``. Also measured: a call addressed to
one extension through the in-process runtime, an ``acall`` against a bare ``await``, and
the activation of the example extension.

Run: ``uv run python bench/bench_hooks.py`` (``--quick`` for fewer iterations).
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pluggy
from _table import Row, print_table, timeit_ns  # bench/ is the script's directory

from symphony_core import hookspecs
from symphony_core.config import Config
from symphony_core.hooks import PROJECT_NAME, HookRelay, hookimpl
from symphony_core.runtime import InProcessRuntime

EVENT = "symphony_addon_event"
TRANSFORM = "symphony_operator_transform"


def make_event_plugin(index: int) -> object:
    class EventPlugin:
        @hookimpl
        def symphony_addon_event(self, event: Any) -> int:
            return index

    return EventPlugin()


def make_transform_plugin(index: int, answers: bool) -> object:
    class TransformPlugin:
        @hookimpl
        def symphony_operator_transform(self, node_type: str, inputs: Any) -> Any:
            return inputs if answers and node_type == "n" else None

    return TransformPlugin()


def pair(plugins: list[object], policy: str) -> tuple[HookRelay, pluggy.PluginManager]:
    relay = HookRelay(hook_policy={EVENT: policy, TRANSFORM: policy})  # type: ignore[dict-item]
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for i, plugin in enumerate(plugins):
        relay.register(plugin, f"bench.p{i:02d}")
    # pluggy calls the last registered first; registering backwards gives both sides the
    # same call order (ours: by extension id)
    for i, plugin in reversed(list(enumerate(plugins))):
        pm.register(plugin, name=f"bench.p{i:02d}")
    return relay, pm


def us(ns: float) -> float:
    return ns / 1000


def measure_pair(number: int, n: int, policy: str, firstresult: bool) -> tuple[float, float]:
    if firstresult:
        plugins = [make_transform_plugin(i, answers=(i == n - 1)) for i in range(n)]
        relay, pm = pair(plugins, policy)
        hook = pm.hook.symphony_operator_transform
        kwargs = {"node_type": "n", "inputs": {"x": 1}, "params": {}, "context": None}
        assert relay.call(TRANSFORM, **kwargs) == hook(**kwargs) == {"x": 1}
        assert [i.plugin_name for i in reversed(hook.get_hookimpls())] == relay.implementers(
            TRANSFORM
        )

        def ours() -> object:
            return relay.call(TRANSFORM, node_type="n", inputs=kwargs, params=None, context=None)

        def peer() -> object:
            return hook(node_type="n", inputs=kwargs, params=None, context=None)
    else:
        plugins = [make_event_plugin(i) for i in range(n)]
        relay, pm = pair(plugins, policy)
        hook = pm.hook.symphony_addon_event
        assert relay.call(EVENT, event=1) == hook(event=1)  # same impls, same order

        def ours() -> object:
            return relay.call(EVENT, event=1)

        def peer() -> object:
            return hook(event=1)

    # interleave the two sides so that machine noise hits both alike
    ours_runs, peer_runs = [], []
    for _ in range(5):
        ours_runs.append(timeit_ns(ours, number=number, repeat=1))
        peer_runs.append(timeit_ns(peer, number=number, repeat=1))
    return statistics.median(ours_runs), statistics.median(peer_runs)


def measure_runtime_call(number: int) -> tuple[float, float]:
    from symphony_sdk.testing import record_for_package

    with tempfile.TemporaryDirectory() as home:
        runtime = InProcessRuntime(Config(home=Path(home)))
        runtime.add(record_for_package("symphony_example_textops"))
        runtime.activate("examples.textops")
        pm = pluggy.PluginManager(PROJECT_NAME)
        pm.add_hookspecs(hookspecs)
        pm.register(runtime.relay.plugin_of("examples.textops"), name="examples.textops")
        hook = pm.hook.symphony_operator_describe
        empty: dict[str, Any] = {}
        assert runtime.call("examples.textops", "symphony_operator_describe", empty) == hook()[0]

        def ours() -> object:
            return runtime.call("examples.textops", "symphony_operator_describe", empty)

        def peer() -> object:
            return hook()

        ours_runs, peer_runs = [], []
        for _ in range(5):
            ours_runs.append(timeit_ns(ours, number=number, repeat=1))
            peer_runs.append(timeit_ns(peer, number=number, repeat=1))
        runtime.close()
    return statistics.median(ours_runs), statistics.median(peer_runs)


def measure_acall(number: int) -> tuple[float, float]:
    class AsyncPlugin:
        @hookimpl
        async def symphony_addon_event(self, event: Any) -> int:
            return 1

    plugin = AsyncPlugin()
    relay = HookRelay(hook_policy={EVENT: "stop"})
    relay.register(plugin, "bench.async")
    impl = plugin.symphony_addon_event

    async def ours() -> float:
        start = time.perf_counter_ns()
        for _ in range(number):
            await relay.acall(EVENT, event=1)
        return (time.perf_counter_ns() - start) / number

    async def peer() -> float:
        start = time.perf_counter_ns()
        for _ in range(number):
            results = []
            res = await impl(event=1)
            if res is not None:
                results.append(res)
        return (time.perf_counter_ns() - start) / number

    async def both() -> tuple[float, float]:
        o, p = [], []
        for _ in range(5):
            o.append(await ours())
            p.append(await peer())
        return statistics.median(o), statistics.median(p)

    return asyncio.run(both())


_ACTIVATE = """
import sys, tempfile, time
from pathlib import Path
from symphony_core.config import Config
from symphony_core.runtime import InProcessRuntime
from symphony_sdk.testing import record_for_package
record = record_for_package("symphony_example_textops")
runtime = InProcessRuntime(Config(home=Path(tempfile.mkdtemp())))
runtime.add(record)
start = time.perf_counter_ns()
runtime.activate(record.id)
cold = time.perf_counter_ns() - start
runtime.deactivate(record.id)
warm = []
for _ in range(50):
    start = time.perf_counter_ns()
    runtime.activate(record.id)
    warm.append(time.perf_counter_ns() - start)
    runtime.deactivate(record.id)
warm.sort()
print(cold, warm[len(warm) // 2])
"""


def measure_activation(runs: int) -> tuple[float, float]:
    cold, warm = [], []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", _ACTIVATE], capture_output=True, text=True, check=True
        )
        c, w = out.stdout.split()
        cold.append(float(c))
        warm.append(float(w))
    return statistics.median(cold), statistics.median(warm)


def main() -> None:
    quick = "--quick" in sys.argv
    number = 20_000 if quick else 100_000
    rows: list[Row] = []
    for n in (1, 10):
        ours, peer = measure_pair(number, n, "stop", firstresult=False)
        rows.append(Row(f"call, {n} impl(s), stop", us(ours), us(peer), "µs", "-", "pluggy"))
        rows.append(Row(f"added, {n} impl(s), stop", us(ours - peer), None, "µs", "< 2 µs"))
    for n in (1, 10):
        ours, peer = measure_pair(number, n, "isolate", firstresult=False)
        rows.append(
            Row(f"call, {n} impl(s), isolate", us(ours), us(peer), "µs", "< 2 µs added", "pluggy")
        )
    ours, peer = measure_pair(number, 10, "stop", firstresult=True)
    rows.append(
        Row(
            "firstresult, 10 impls, last answers",
            us(ours),
            us(peer),
            "µs",
            "< 2 µs added",
            "pluggy",
        )
    )
    ours, peer = measure_runtime_call(number)
    rows.append(
        Row("runtime.call, 1 impl", us(ours), us(peer), "µs", "< 2 µs added (floor 10)", "pluggy")
    )
    ours, peer = measure_acall(number // 2)
    rows.append(Row("acall, 1 async impl", us(ours), us(peer), "µs", "-", "bare await"))
    cold, warm = measure_activation(2 if quick else 3)
    rows.append(Row("activate textops, first (import)", cold / 1e6, None, "ms", "< 5 ms"))
    rows.append(Row("activate textops, again", warm / 1e6, None, "ms", "< 5 ms"))
    print_table("Hook call overhead: Symphony layer vs bare pluggy (sync unless noted)", rows)


if __name__ == "__main__":
    main()
