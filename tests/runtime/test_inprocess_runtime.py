from __future__ import annotations

import asyncio
import contextlib
import importlib
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from symphony_core.config import Config
from symphony_core.errors import (
    ExtensionError,
    ExtensionLoadError,
    HookCallError,
    HostApiError,
)
from symphony_core.extension import ExtensionRecord
from symphony_core.hooks import HookUsageError
from symphony_core.manifest.model import (
    ExtensionInfo,
    Manifest,
    NodeType,
    Parameter,
    Port,
)
from symphony_core.ports.runtime import RuntimeClosedError, UnknownExtensionError
from symphony_core.runtime import (
    AmbiguousNodeTypeError,
    ExtensionDisabledError,
    InProcessRuntime,
    NodeOutputError,
    UnknownNodeTypeError,
    UntrustedExtensionError,
)

UPPER_NODE = NodeType(
    type="upper",
    inputs=[Port(name="text", type="str")],
    outputs=[Port(name="text", type="str")],
    parameters={"repeat": Parameter(type="int", default=1, min=1)},
)

OPERATOR = """
from symphony_sdk import Operator, node
EVENTS = []

class Ext(Operator):
    def setup(self):
        EVENTS.append(("setup", self.context.extension_id))

    def teardown(self):
        EVENTS.append(("teardown", self.context.extension_id))

    @node("upper")
    def upper(self, text, *, repeat, context):
        EVENTS.append(("upper", context.extension_id))
        return {"text": text.upper() * repeat}
"""


class Factory:
    """Writes throw-away extension packages and builds their records."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = tmp_path / "site"
        self.root.mkdir()
        monkeypatch.syspath_prepend(str(self.root))

    def module(self, code: str) -> str:
        name = f"symtest_{uuid.uuid4().hex[:12]}"
        package = self.root / name
        package.mkdir()
        (package / "__init__.py").write_text(textwrap.dedent(code))
        importlib.invalidate_caches()
        return name

    def record(
        self,
        ext_id: str,
        code: str = OPERATOR,
        *,
        kind: str = "operator",
        nodes: Sequence[NodeType] = (UPPER_NODE,),
        activation: Sequence[str] = (),
        host_api: str = ">=1.0,<2",
        entry_attr: str = "Ext",
        module: str | None = None,
        trust: str = "trusted",
        version: str = "1.0.0",
    ) -> ExtensionRecord:
        name = module or self.module(code)
        manifest = Manifest(
            extension=ExtensionInfo(
                id=ext_id,
                version=version,
                kind=kind,  # type: ignore[arg-type]
                entry=f"{name}:{entry_attr}",
                host_api=host_api,
                activation=list(activation),
            ),
            nodes=list(nodes),
        )
        return ExtensionRecord(
            manifest=manifest,
            manifest_path=self.root / name / "symphony.toml",
            distribution=name,
            distribution_version=version,
            entry_point=ext_id,
            package_dir=self.root / name,
            trust=trust,  # type: ignore[arg-type]
        )


def module_of(record: ExtensionRecord) -> str:
    return record.manifest.extension.entry.partition(":")[0]


@pytest.fixture
def factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Factory:
    return Factory(tmp_path, monkeypatch)


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[InProcessRuntime]:
    rt = InProcessRuntime(Config(home=tmp_path / "home"))
    yield rt
    with contextlib.suppress(HookCallError):
        rt.close()


def test_nothing_is_imported_until_a_node_is_used(
    factory: Factory, runtime: InProcessRuntime
) -> None:
    used = factory.record("t.used")
    other = factory.record(
        "t.other",
        nodes=[NodeType(type="other", outputs=[Port(name="text", type="str")])],
    )
    runtime.add(used)
    runtime.add(other)
    assert module_of(used) not in sys.modules
    assert runtime.active_ids() == []
    assert runtime.node_types() == {"other": ["t.other"], "upper": ["t.used"]}
    out = runtime.call_node("upper", {"text": "ab"}, {"repeat": 2})
    assert dict(out) == {"text": "ABAB"}
    assert module_of(used) in sys.modules
    assert module_of(other) not in sys.modules  # only the contributing extension
    assert runtime.active_ids() == ["t.used"]
    events = sys.modules[module_of(used)].EVENTS
    assert events == [("setup", "t.used"), ("upper", "t.used")]
    assert dict(runtime.call_node("upper", {"text": "x"})) == {"text": "X"}  # manifest default


def test_context_is_the_extensions_own(
    factory: Factory, runtime: InProcessRuntime, tmp_path: Path
) -> None:
    record = factory.record(
        "t.ctx",
        """
        from symphony_core.hooks import hookimpl

        class Ext:
            @hookimpl
            def symphony_operator_transform(self, node_type, context):
                path = context.scratch_dir / "note.txt"
                path.write_text(context.extension_id)
                return {"text": str(path)}
        """,
    )
    runtime.add(record)
    out = runtime.call_node("upper", {"text": ""})
    written = Path(out["text"])
    assert written.read_text() == "t.ctx"
    assert written.parent == tmp_path / "home" / "cache" / "scratch" / "t.ctx"
    assert runtime.context_of("t.ctx").extension_id == "t.ctx"
    assert runtime.context_of("t.ctx").data_dir == tmp_path / "home" / "extensions" / "t.ctx"


def test_host_api_is_checked_before_anything_is_imported(
    factory: Factory, runtime: InProcessRuntime
) -> None:
    record = factory.record("t.future", host_api=">=2,<3")
    runtime.add(record)
    with pytest.raises(HostApiError) as info:
        runtime.call_node("upper", {"text": "a"})
    err = info.value
    assert err.extension_id == "t.future"
    assert ">=2,<3" in str(err)
    assert "1.0.0" in str(err)
    assert module_of(record) not in sys.modules
    assert not runtime.is_active("t.future")
    assert not runtime.relay.is_registered("t.future")
    bad = factory.record("t.badspec", host_api="one point oh")
    with pytest.raises(HostApiError) as info:
        runtime.activate(bad)
    assert "not a valid version specifier" in str(info.value)


def test_import_failures_name_the_extension_and_the_cause(
    factory: Factory, runtime: InProcessRuntime
) -> None:
    broken = factory.record("t.broken", "raise ImportError('needs libfoo 2.1')")
    with pytest.raises(ExtensionLoadError) as info:
        runtime.activate(broken)
    assert info.value.extension_id == "t.broken"
    assert "ImportError: needs libfoo 2.1" in str(info.value)
    assert isinstance(info.value.__cause__, ImportError)
    assert not runtime.relay.is_registered("t.broken")

    missing = factory.record("t.missing", module="symtest_not_installed_anywhere")
    with pytest.raises(ExtensionLoadError) as info:
        runtime.activate(missing)
    assert "is the distribution symtest_not_installed_anywhere installed" in str(info.value)

    no_attr = factory.record("t.noattr", entry_attr="Nope")
    with pytest.raises(ExtensionLoadError) as info:
        runtime.activate(no_attr)
    assert "has no attribute 'Nope'" in str(info.value)

    exits = factory.record("t.exits", "import sys\nsys.exit(3)")
    with pytest.raises(ExtensionLoadError) as info:
        runtime.activate(exits)
    assert "SystemExit" in str(info.value)


def test_a_failing_activate_hook_rolls_everything_back(
    factory: Factory, runtime: InProcessRuntime
) -> None:
    record = factory.record(
        "t.flaky",
        """
        from symphony_sdk import Operator, node
        ATTEMPTS = []

        class Ext(Operator):
            def setup(self):
                ATTEMPTS.append(1)
                if len(ATTEMPTS) == 1:
                    raise RuntimeError("database not reachable")

            @node("upper")
            def upper(self, text, *, repeat):
                return {"text": text.upper()}
        """,
    )
    runtime.add(record)
    with pytest.raises(ExtensionLoadError) as info:
        runtime.call_node("upper", {"text": "a"})
    assert "activation failed: RuntimeError: database not reachable" in str(info.value)
    assert info.value.extension_id == "t.flaky"
    assert not runtime.is_active("t.flaky")
    assert not runtime.relay.is_registered("t.flaky")
    assert runtime.relay.implementers("symphony_operator_transform") == []
    # nothing half-registered: a second attempt starts from scratch and succeeds
    assert dict(runtime.call_node("upper", {"text": "a"})) == {"text": "A"}
    assert sys.modules[module_of(record)].ATTEMPTS == [1, 1]


def test_manifest_nodes_missing_from_the_code_refuse_activation(
    factory: Factory, runtime: InProcessRuntime
) -> None:
    record = factory.record(
        "t.partial",
        nodes=[UPPER_NODE, NodeType(type="lower", outputs=[Port(name="text")])],
    )
    with pytest.raises(ExtensionLoadError) as info:
        runtime.activate(record)
    assert "declares node type(s) lower but its code does not implement them" in str(info.value)
    assert not runtime.relay.is_registered("t.partial")


def test_hook_mismatches_refuse_activation(factory: Factory, runtime: InProcessRuntime) -> None:
    record = factory.record(
        "t.mismatch",
        """
        from symphony_core.hooks import hookimpl

        class Ext:
            @hookimpl
            def symphony_operator_transform(self, nodetype):
                return None
        """,
    )
    with pytest.raises(ExtensionLoadError) as info:
        runtime.activate(record)
    assert info.value.details["cause_code"] == "hook.spec_mismatch"
    assert "did you mean node_type" in str(info.value)


def test_untrusted_and_disabled_records_are_refused(factory: Factory, tmp_path: Path) -> None:
    runtime = InProcessRuntime(Config(home=tmp_path, disabled=("t.off",)))
    community = factory.record("t.community", trust="community")
    with pytest.raises(UntrustedExtensionError) as info:
        runtime.add(community)
    assert "sandbox" in str(info.value)
    assert info.value.extension_id == "t.community"
    with pytest.raises(ExtensionDisabledError):
        runtime.add(factory.record("t.off"))
    assert runtime.records() == []


def test_node_routing_errors(factory: Factory, runtime: InProcessRuntime) -> None:
    runtime.add(factory.record("t.one"))
    runtime.add(factory.record("t.two"))
    with pytest.raises(AmbiguousNodeTypeError) as info:
        runtime.call_node("upper", {"text": "a"})
    assert "t.one, t.two" in str(info.value)
    assert dict(runtime.call_node("upper", {"text": "a"}, extension_id="t.two")) == {"text": "A"}
    assert runtime.active_ids() == ["t.two"]
    with pytest.raises(UnknownNodeTypeError) as unknown:
        runtime.call_node("uper", {"text": "a"})
    assert "did you mean upper?" in str(unknown.value)
    with pytest.raises(UnknownNodeTypeError):
        runtime.call_node("other", {}, extension_id="t.one")
    with pytest.raises(UnknownExtensionError):
        runtime.call_node("upper", {}, extension_id="t.nobody")


def test_outputs_must_match_the_manifest(factory: Factory, runtime: InProcessRuntime) -> None:
    record = factory.record(
        "t.sloppy",
        """
        from symphony_core.hooks import hookimpl

        class Ext:
            @hookimpl
            def symphony_operator_transform(self, node_type, inputs):
                return {"txt": inputs["text"]} if node_type == "upper" else None
        """,
    )
    runtime.add(record)
    with pytest.raises(NodeOutputError) as info:
        runtime.call_node("upper", {"text": "a"})
    assert "missing output(s) text and undeclared output(s) txt" in str(info.value)


def test_calls_inject_the_context_and_broadcasts_refuse_context_hooks(
    factory: Factory, runtime: InProcessRuntime
) -> None:
    runtime.add(factory.record("t.ctx"))
    out = runtime.call(
        "t.ctx",
        "symphony_operator_transform",
        {"node_type": "upper", "inputs": {"text": "q"}, "params": {}},
    )
    assert dict(out) == {"text": "Q"}
    with pytest.raises(HookUsageError) as info:
        runtime.call_hook("symphony_operator_transform", node_type="upper", inputs={}, params={})
    assert "cannot be broadcast" in str(info.value)


ADDON = """
from symphony_sdk import Addon
SEEN = []

class Ext(Addon):
    def on_event(self, event):
        SEEN.append(event)
"""

PIT = """
from symphony_core.hooks import hookimpl

class Store:
    pass

class Ext:
    @hookimpl
    def symphony_pit_artifact_store(self):
        return Store()
"""


def test_broadcasts_activate_only_the_extensions_that_may_take_part(
    factory: Factory, runtime: InProcessRuntime
) -> None:
    addon = factory.record("t.addon", ADDON, kind="addon", nodes=())
    late = factory.record("t.late", ADDON, kind="addon", nodes=(), activation=["on-event:run"])
    operator = factory.record("t.op")
    pit = factory.record(
        "t.pit", PIT, kind="addon", nodes=(), activation=["on-hook:symphony_pit_artifact_store"]
    )
    for record in (addon, late, operator, pit):
        runtime.add(record)
    assert runtime.call_hook("symphony_addon_event", event="hello") == []
    assert runtime.active_ids() == ["t.addon"]
    assert sys.modules[module_of(addon)].SEEN == ["hello"]
    store = runtime.call_hook("symphony_pit_artifact_store")
    assert type(store).__name__ == "Store"
    assert runtime.active_ids() == ["t.addon", "t.pit"]
    assert module_of(operator) not in sys.modules
    assert runtime.activate_for("on-event:run.finished") == ["t.late"]
    assert runtime.activate_for("on-event:runner") == []
    runtime.call_hook("symphony_addon_event", event="bye")
    assert sys.modules[module_of(late)].SEEN == ["bye"]


def test_broadcast_activation_failures_follow_the_policy(
    factory: Factory, runtime: InProcessRuntime
) -> None:
    good = factory.record("t.good", ADDON, kind="addon", nodes=())
    bad = factory.record("t.bad", "raise RuntimeError('nope')", kind="addon", nodes=())
    runtime.add(good)
    runtime.add(bad)
    runtime.call_hook("symphony_addon_event", event=1)  # isolate: bad is left out
    assert runtime.active_ids() == ["t.good"]
    pit = factory.record(
        "t.badpit",
        "raise RuntimeError('nope')",
        kind="addon",
        nodes=(),
        activation=["on-hook:symphony_pit_dag_tracker"],
    )
    runtime.add(pit)
    with pytest.raises(ExtensionLoadError):
        runtime.call_hook("symphony_pit_dag_tracker")  # stop: raised


def test_startup_activates_on_startup_extensions(
    factory: Factory, runtime: InProcessRuntime
) -> None:
    runtime.add(factory.record("t.eager", activation=["on-startup"]))
    runtime.add(factory.record("t.lazy", nodes=()))
    assert runtime.startup() == ["t.eager"]
    assert runtime.active_ids() == ["t.eager"]


def test_deactivate_and_close(factory: Factory, runtime: InProcessRuntime) -> None:
    records = [factory.record(f"t.e{i}") for i in range(3)]
    for record in records:
        runtime.activate(record)
    events = [sys.modules[module_of(r)].EVENTS for r in records]
    runtime.deactivate("t.e1")
    assert events[1][-1] == ("teardown", "t.e1")
    assert runtime.active_ids() == ["t.e0", "t.e2"]
    assert not runtime.relay.is_registered("t.e1")
    with pytest.raises(ExtensionError):
        runtime.context_of("t.e1")
    runtime.close()
    assert runtime.active_ids() == []
    assert events[0][-1] == ("teardown", "t.e0")
    with pytest.raises(RuntimeClosedError):
        runtime.call_node("upper", {"text": "a"}, extension_id="t.e0")


def test_concurrent_first_use_activates_once(factory: Factory, runtime: InProcessRuntime) -> None:
    record = factory.record(
        "t.slow",
        """
        import time
        from symphony_sdk import Operator, node
        SETUPS = []

        class Ext(Operator):
            def setup(self):
                SETUPS.append(1)
                time.sleep(0.05)

            @node("upper")
            def upper(self, text, *, repeat):
                return {"text": text.upper()}
        """,
    )
    runtime.add(record)
    results: list[Any] = []
    errors: list[BaseException] = []

    def use() -> None:
        try:
            results.append(dict(runtime.call_node("upper", {"text": "a"})))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == [{"text": "A"}] * 4
    assert sys.modules[module_of(record)].SETUPS == [1]


def test_reentrant_activation_is_refused(factory: Factory, runtime: InProcessRuntime) -> None:
    shared = factory.module("RUNTIME = None\n")
    record = factory.record(
        "t.loop",
        f"""
        from symphony_sdk import Operator, node
        import {shared} as shared

        class Ext(Operator):
            def setup(self):
                shared.RUNTIME.call_node("upper", {{"text": "a"}})

            @node("upper")
            def upper(self, text, *, repeat):
                return {{"text": text}}
        """,
    )
    importlib.import_module(shared).RUNTIME = runtime
    runtime.add(record)
    with pytest.raises(ExtensionLoadError) as info:
        runtime.activate("t.loop")
    assert "calls back into it" in str(info.value)
    assert not runtime.is_active("t.loop")


ASYNC_OPERATOR = """
import asyncio
from symphony_sdk import Operator, node
EVENTS = []

class Ext(Operator):
    async def setup(self):
        await asyncio.sleep(0)
        EVENTS.append("setup")

    async def teardown(self):
        EVENTS.append("teardown")

    @node("upper")
    async def upper(self, text, *, repeat):
        await asyncio.sleep(0)
        return {"text": text.upper() * repeat}
"""


def test_async_extensions_from_async_and_sync_callers(
    factory: Factory, runtime: InProcessRuntime
) -> None:
    record = factory.record("t.async", ASYNC_OPERATOR)
    runtime.add(record)

    async def main() -> dict[str, Any]:
        out = await runtime.acall_node("upper", {"text": "a"}, {"repeat": 3})
        await runtime.adeactivate("t.async")
        return dict(out)

    assert asyncio.run(main()) == {"text": "AAA"}
    events = sys.modules[module_of(record)].EVENTS
    assert events == ["setup", "teardown"]
    assert dict(runtime.call_node("upper", {"text": "b"})) == {"text": "B"}  # bridged
    assert events == ["setup", "teardown", "setup"]
    asyncio.run(runtime.aclose())
    assert events[-1] == "teardown"


INSTRUMENT = """
from symphony_sdk import Instrument, node
EVENTS = []

class Model:
    def __init__(self, scale):
        self.scale = scale
    def close(self):
        EVENTS.append("closed")

class Ext(Instrument):
    def load(self, node_type, params):
        EVENTS.append(("load", node_type, params["scale"]))
        return Model(params["scale"])

    @node("scale")
    def scale(self, value, *, instance, scale):
        EVENTS.append("invoke")
        return {"value": value * instance.scale}
"""


def test_instrument_nodes_are_loaded_invoked_and_unloaded(
    factory: Factory, runtime: InProcessRuntime
) -> None:
    record = factory.record(
        "t.inst",
        INSTRUMENT,
        kind="instrument",
        nodes=[
            NodeType(
                type="scale",
                inputs=[Port(name="value", type="float")],
                outputs=[Port(name="value", type="float")],
                parameters={"scale": Parameter(type="float", default=2.0)},
            )
        ],
    )
    runtime.add(record)
    assert dict(runtime.call_node("scale", {"value": 1.5}, {"scale": 4.0})) == {"value": 6.0}
    assert sys.modules[module_of(record)].EVENTS == [("load", "scale", 4.0), "invoke", "closed"]


def test_adding_a_new_version_while_active_is_refused(
    factory: Factory, runtime: InProcessRuntime
) -> None:
    runtime.activate(factory.record("t.ver"))
    newer = factory.record("t.ver", version="2.0.0")
    with pytest.raises(ExtensionError) as info:
        runtime.add(newer)
    assert info.value.code == "extension.already_active"
    runtime.deactivate("t.ver")
    runtime.activate(newer)
    assert runtime.record("t.ver").version == "2.0.0"


def test_concurrent_async_first_use_activates_once(
    factory: Factory, runtime: InProcessRuntime
) -> None:
    record = factory.record(
        "t.aslow",
        """
        import asyncio
        from symphony_sdk import Operator, node
        SETUPS = []

        class Ext(Operator):
            async def setup(self):
                SETUPS.append(1)
                await asyncio.sleep(0.02)

            @node("upper")
            def upper(self, text, *, repeat):
                return {"text": text.upper()}
        """,
    )
    runtime.add(record)

    async def main() -> list[Any]:
        calls = [runtime.acall_node("upper", {"text": str(i)}) for i in range(3)]
        return [dict(out) for out in await asyncio.gather(*calls)]

    assert asyncio.run(main()) == [{"text": "0"}, {"text": "1"}, {"text": "2"}]
    assert sys.modules[module_of(record)].SETUPS == [1]


def test_async_instrument_nodes_and_addon_nodes(
    factory: Factory, runtime: InProcessRuntime
) -> None:
    scale = NodeType(
        type="scale",
        inputs=[Port(name="value", type="float")],
        outputs=[Port(name="value", type="float")],
        parameters={"scale": Parameter(type="float", default=2.0)},
    )
    record = factory.record("t.ainst", INSTRUMENT, kind="instrument", nodes=[scale])
    runtime.add(record)
    out = asyncio.run(runtime.acall_node("scale", {"value": 2}))
    assert dict(out) == {"value": 4.0}
    assert sys.modules[module_of(record)].EVENTS[-1] == "closed"
    addon = factory.record("t.addonnode", ADDON, kind="addon", nodes=[UPPER_NODE])
    runtime.add(addon)
    with pytest.raises(ExtensionError) as info:
        runtime.call_node("upper", {"text": "a"}, extension_id="t.addonnode")
    assert "only Operators and Instruments run nodes" in str(info.value)
