"""Contract suite of the ``ExtensionRuntime`` port."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import pytest

from symphony_core.errors import ExtensionError, ExtensionLoadError, HookCallError
from symphony_core.ports.runtime import ExtensionRuntime, RuntimeClosedError
from symphony_core.testing.harnesses import (
    PROBE_ADD,
    PROBE_ASYNC_ECHO,
    PROBE_ECHO,
    PROBE_FAIL,
    RuntimeHarness,
)

__all__ = ["ExtensionRuntimeContract"]


class ExtensionRuntimeContract:
    """Behaviour every extension runtime shows.

    Subclass it in a test module and supply the ``runtime_harness`` fixture: a fresh
    :class:`~symphony_core.testing.harnesses.RuntimeHarness` per test. The runtime is
    closed after each test.
    """

    @pytest.fixture
    def runtime_harness(self) -> RuntimeHarness:
        """Return a fresh harness; adapters' test classes override this."""
        raise NotImplementedError("supply a runtime_harness fixture")

    @pytest.fixture
    def runtime(self, runtime_harness: RuntimeHarness) -> Iterator[ExtensionRuntime]:
        """The runtime under test, closed afterwards."""
        yield runtime_harness.runtime
        # Tests with failing deactivate hooks check that error themselves.
        with contextlib.suppress(HookCallError):
            runtime_harness.runtime.close()

    def test_satisfies_the_protocol(self, runtime: ExtensionRuntime) -> None:
        """The adapter is an ExtensionRuntime."""
        assert isinstance(runtime, ExtensionRuntime)

    def test_activate_runs_the_activate_hook_once(
        self, runtime: ExtensionRuntime, runtime_harness: RuntimeHarness
    ) -> None:
        """Activation is idempotent: the hook runs once however often it is asked."""
        probe = runtime_harness.probe("alpha")
        assert not runtime.is_active(probe.id)
        runtime.activate(probe)
        runtime.activate(probe)
        assert runtime.is_active(probe.id)
        assert runtime_harness.lifecycle() == [("activate", probe.id)]

    def test_unknown_id_is_not_active(self, runtime: ExtensionRuntime) -> None:
        """An id the runtime never saw is simply not active."""
        assert runtime.is_active("probe.nobody") is False
        assert runtime.active_ids() == []

    def test_active_ids_keep_activation_order(
        self, runtime: ExtensionRuntime, runtime_harness: RuntimeHarness
    ) -> None:
        """active_ids() lists extensions in the order they were activated."""
        probes = [runtime_harness.probe(name) for name in ("gamma", "alpha", "beta")]
        for probe in probes:
            runtime.activate(probe)
        assert runtime.active_ids() == [p.id for p in probes]

    def test_call_returns_what_the_hook_returned(
        self, runtime: ExtensionRuntime, runtime_harness: RuntimeHarness
    ) -> None:
        """A hook's return value comes back unchanged."""
        probe = runtime_harness.probe("alpha")
        runtime.activate(probe)
        value = {"text": "héllo", "numbers": [1, 2.5, None], "flag": True}
        assert runtime.call(probe.id, PROBE_ECHO, {"value": value}) == value

    def test_call_passes_arguments_by_name(
        self, runtime: ExtensionRuntime, runtime_harness: RuntimeHarness
    ) -> None:
        """Kwargs reach the implementation as keyword arguments."""
        probe = runtime_harness.probe("alpha")
        assert runtime.call(probe.id, PROBE_ADD, {"a": 2, "b": 40}) == 42
        assert runtime.call(probe.id, PROBE_ADD, {"b": "y", "a": "x"}) == "xy"

    def test_call_activates_first_if_needed(
        self, runtime: ExtensionRuntime, runtime_harness: RuntimeHarness
    ) -> None:
        """Calling an inactive extension activates it (once) before the call."""
        probe = runtime_harness.probe("alpha")
        assert runtime.call(probe.id, PROBE_ECHO, {"value": 1}) == 1
        assert runtime.call(probe.id, PROBE_ECHO, {"value": 2}) == 2
        assert runtime.is_active(probe.id)
        assert runtime_harness.lifecycle() == [("activate", probe.id)]

    def test_call_of_an_unknown_extension_names_it(self, runtime: ExtensionRuntime) -> None:
        """An unknown id is an ExtensionError with code extension.unknown."""
        with pytest.raises(ExtensionError) as info:
            runtime.call("probe.nobody", PROBE_ECHO, {"value": 1})
        assert info.value.code == "extension.unknown"
        assert info.value.extension_id == "probe.nobody"

    def test_call_of_a_missing_hook(
        self, runtime: ExtensionRuntime, runtime_harness: RuntimeHarness
    ) -> None:
        """A hook the extension lacks is hook.not_implemented, naming the extension."""
        probe = runtime_harness.probe("alpha")
        with pytest.raises(ExtensionError) as info:
            runtime.call(probe.id, "probe_no_such_hook", {})
        assert info.value.code == "hook.not_implemented"
        assert info.value.extension_id == probe.id

    def test_a_raising_hook_is_wrapped_with_the_extension_id(
        self, runtime: ExtensionRuntime, runtime_harness: RuntimeHarness
    ) -> None:
        """An implementation's exception becomes a HookCallError naming hook and extension."""
        probe = runtime_harness.probe("alpha")
        with pytest.raises(HookCallError) as info:
            runtime.call(probe.id, PROBE_FAIL, {"message": "boom 42"})
        error = info.value
        assert error.code == "hook.call_failed"
        assert error.hook == PROBE_FAIL
        assert error.extension_id == probe.id
        assert [ext for ext, _ in error.failures] == [probe.id]
        assert "boom 42" in str(error.failures[0][1])

    def test_a_raising_hook_leaves_the_extension_usable(
        self, runtime: ExtensionRuntime, runtime_harness: RuntimeHarness
    ) -> None:
        """After a failing call the extension is still active and answers."""
        probe = runtime_harness.probe("alpha")
        with pytest.raises(HookCallError):
            runtime.call(probe.id, PROBE_FAIL, {"message": "boom"})
        assert runtime.is_active(probe.id)
        assert runtime.call(probe.id, PROBE_ECHO, {"value": "still here"}) == "still here"

    def test_failed_activation_leaves_nothing_active(
        self, runtime: ExtensionRuntime, runtime_harness: RuntimeHarness
    ) -> None:
        """A raising activate hook is an ExtensionLoadError and nothing stays registered."""
        good = runtime_harness.probe("good")
        bad = runtime_harness.probe("bad", fail_activate=True)
        runtime.activate(good)
        with pytest.raises(ExtensionLoadError) as info:
            runtime.activate(bad)
        assert info.value.code == "extension.load_failed"
        assert info.value.extension_id == bad.id
        assert not runtime.is_active(bad.id)
        assert runtime.active_ids() == [good.id]

    def test_a_call_whose_activation_fails_raises_the_load_error(
        self, runtime: ExtensionRuntime, runtime_harness: RuntimeHarness
    ) -> None:
        """The implicit activation of call() reports its failure the same way."""
        bad = runtime_harness.probe("bad", fail_activate=True)
        with pytest.raises(ExtensionLoadError) as info:
            runtime.call(bad.id, PROBE_ECHO, {"value": 1})
        assert info.value.extension_id == bad.id
        assert not runtime.is_active(bad.id)

    def test_deactivate_runs_the_hook_and_unregisters(
        self, runtime: ExtensionRuntime, runtime_harness: RuntimeHarness
    ) -> None:
        """Deactivation runs the deactivate hook and removes the extension."""
        alpha, beta = runtime_harness.probe("alpha"), runtime_harness.probe("beta")
        runtime.activate(alpha)
        runtime.activate(beta)
        runtime.deactivate(alpha.id)
        assert not runtime.is_active(alpha.id)
        assert runtime.active_ids() == [beta.id]
        assert runtime_harness.lifecycle()[-1] == ("deactivate", alpha.id)

    def test_deactivating_an_inactive_extension_does_nothing(
        self, runtime: ExtensionRuntime, runtime_harness: RuntimeHarness
    ) -> None:
        """A known but inactive extension is left alone, no hook runs."""
        probe = runtime_harness.probe("alpha")
        runtime.deactivate(probe.id)
        runtime.activate(probe)
        runtime.deactivate(probe.id)
        runtime.deactivate(probe.id)
        assert runtime_harness.lifecycle() == [("activate", probe.id), ("deactivate", probe.id)]

    def test_deactivating_an_unknown_id_is_an_extension_error(
        self, runtime: ExtensionRuntime
    ) -> None:
        """An unknown id is refused with extension.unknown."""
        with pytest.raises(ExtensionError) as info:
            runtime.deactivate("probe.nobody")
        assert info.value.code == "extension.unknown"
        assert info.value.extension_id == "probe.nobody"

    def test_a_failing_deactivate_hook_still_unregisters(
        self, runtime: ExtensionRuntime, runtime_harness: RuntimeHarness
    ) -> None:
        """The error is raised after the extension was removed."""
        probe = runtime_harness.probe("alpha", fail_deactivate=True)
        runtime.activate(probe)
        with pytest.raises(HookCallError) as info:
            runtime.deactivate(probe.id)
        assert [ext for ext, _ in info.value.failures] == [probe.id]
        assert not runtime.is_active(probe.id)
        assert runtime.active_ids() == []

    def test_an_extension_can_be_activated_again(
        self, runtime: ExtensionRuntime, runtime_harness: RuntimeHarness
    ) -> None:
        """Activate, deactivate, activate runs each hook again and leaves it active."""
        probe = runtime_harness.probe("alpha")
        runtime.activate(probe)
        runtime.deactivate(probe.id)
        runtime.activate(probe)
        assert runtime.is_active(probe.id)
        assert runtime.call(probe.id, PROBE_ECHO, {"value": 3}) == 3
        assert runtime_harness.lifecycle() == [
            ("activate", probe.id),
            ("deactivate", probe.id),
            ("activate", probe.id),
        ]

    def test_acall_awaits_an_async_implementation(
        self, runtime: ExtensionRuntime, runtime_harness: RuntimeHarness
    ) -> None:
        """acall() returns the awaited value of a coroutine implementation."""
        probe = runtime_harness.probe("alpha")
        result = asyncio.run(runtime.acall(probe.id, PROBE_ASYNC_ECHO, {"value": [1, "a"]}))
        assert result == [1, "a"]

    def test_acall_runs_a_plain_implementation(
        self, runtime: ExtensionRuntime, runtime_harness: RuntimeHarness
    ) -> None:
        """acall() also works for ordinary functions, and activates on demand."""
        probe = runtime_harness.probe("alpha")
        assert asyncio.run(runtime.acall(probe.id, PROBE_ADD, {"a": 1, "b": 2})) == 3
        assert runtime.is_active(probe.id)

    def test_acall_wraps_failures(
        self, runtime: ExtensionRuntime, runtime_harness: RuntimeHarness
    ) -> None:
        """acall() reports a raising implementation as HookCallError."""
        probe = runtime_harness.probe("alpha")
        with pytest.raises(HookCallError) as info:
            asyncio.run(runtime.acall(probe.id, PROBE_FAIL, {"message": "async boom"}))
        assert info.value.extension_id == probe.id

    def test_close_deactivates_in_reverse_activation_order(
        self, runtime: ExtensionRuntime, runtime_harness: RuntimeHarness
    ) -> None:
        """close() tears down the last activated first."""
        probes = [runtime_harness.probe(name) for name in ("alpha", "beta", "gamma")]
        for probe in probes:
            runtime.activate(probe)
        runtime.close()
        deactivations = [ext for kind, ext in runtime_harness.lifecycle() if kind == "deactivate"]
        assert deactivations == [p.id for p in reversed(probes)]
        assert runtime.active_ids() == []

    def test_close_is_idempotent(
        self, runtime: ExtensionRuntime, runtime_harness: RuntimeHarness
    ) -> None:
        """A second close() does nothing."""
        runtime.activate(runtime_harness.probe("alpha"))
        runtime.close()
        runtime.close()
        assert [kind for kind, _ in runtime_harness.lifecycle()] == ["activate", "deactivate"]

    def test_close_deactivates_everything_despite_failures(
        self, runtime: ExtensionRuntime, runtime_harness: RuntimeHarness
    ) -> None:
        """A raising deactivate hook neither stops close() nor goes unreported."""
        alpha = runtime_harness.probe("alpha")
        beta = runtime_harness.probe("beta", fail_deactivate=True)
        gamma = runtime_harness.probe("gamma")
        for probe in (alpha, beta, gamma):
            runtime.activate(probe)
        with pytest.raises(HookCallError) as info:
            runtime.close()
        assert [ext for ext, _ in info.value.failures] == [beta.id]
        deactivations = [ext for kind, ext in runtime_harness.lifecycle() if kind == "deactivate"]
        assert deactivations == [gamma.id, beta.id, alpha.id]
        assert runtime.active_ids() == []

    def test_use_after_close_is_refused(
        self, runtime: ExtensionRuntime, runtime_harness: RuntimeHarness
    ) -> None:
        """Activation and calls after close() raise runtime.closed."""
        probe = runtime_harness.probe("alpha")
        runtime.close()
        with pytest.raises(RuntimeClosedError) as info:
            runtime.activate(probe)
        assert info.value.code == "runtime.closed"
        with pytest.raises(RuntimeClosedError):
            runtime.call(probe.id, PROBE_ECHO, {"value": 1})
