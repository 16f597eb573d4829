"""The call plan of one hook: its ordered implementations and the loop that runs them.

A plan is built once per hook and rebuilt only when an extension registers or leaves,
so a call does no ordering, no policy lookup and no signature inspection: it checks
the argument names, then walks a tuple of ``(extension id, function, argument names,
is async)`` entries. The loop is chosen when the plan is built (stop-on-first-error with
or without ``firstresult``, tolerant, or bridged to async), which keeps the common case
as short as pluggy's own loop.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeAlias

from symphony_core.config import ErrorPolicy
from symphony_core.errors import HookCallError
from symphony_core.hooks.bridge import run_coroutine_sync
from symphony_core.hooks.errors import HookUsageError
from symphony_core.hooks.outcome import HookOutcome

__all__ = ["Entry", "FailureSink", "HookPlan"]

Entry: TypeAlias = tuple[str, Callable[..., Any], tuple[str, ...], bool]
"""One implementation: extension id, function, argument names to pass, must be awaited."""

FailureSink: TypeAlias = Callable[[str, str, Exception, ErrorPolicy], None]
"""Told about every failing implementation: hook, extension id, exception, policy."""

_Kwargs: TypeAlias = Mapping[str, Any]


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class HookPlan:
    """How one hook is called right now.

    Args:
        hook: The hook's name.
        entries: Implementations in call order.
        firstresult: Stop at the first non-``None`` result and return it.
        policy: What happens when an implementation raises.
        argnames: The spec's argument names without defaults.
        defaults: The spec's arguments that have defaults, with their values.
        sink: Told about every failure (logging, ``on_failure`` callback).
    """

    __slots__ = (
        "_argset",
        "_defaults",
        "_one",
        "_sink",
        "argnames",
        "entries",
        "firstresult",
        "has_async",
        "hook",
        "policy",
        "run",
    )

    def __init__(
        self,
        hook: str,
        entries: tuple[Entry, ...],
        *,
        firstresult: bool,
        policy: ErrorPolicy,
        argnames: tuple[str, ...],
        defaults: Mapping[str, Any],
        sink: FailureSink,
    ) -> None:
        self.hook: Final = hook
        self.entries: Final = entries
        self.firstresult: Final = firstresult
        self.policy: Final = policy
        self.argnames: Final = argnames
        self._defaults: Final = dict(defaults)
        self._argset: Final = frozenset(argnames) | frozenset(defaults)
        self._sink: Final = sink
        self.has_async: Final = any(entry[3] for entry in entries)
        one: dict[str, tuple[tuple[Entry, ...], bool]] = {}
        for entry in entries:
            mine, is_async = one.get(entry[0], ((), False))
            one[entry[0]] = ((*mine, entry), is_async or entry[3])
        self._one: Final = one
        self.run: Callable[[_Kwargs], Any]
        if self.has_async:
            self.run = self._run_bridged
        elif policy == "stop":
            self.run = self._run_stop_first if firstresult else self._run_stop_all
        else:
            self.run = self._run_tolerant

    # -- helpers ------------------------------------------------------------------------

    def extension_ids(self) -> list[str]:
        """Return the implementing extensions in call order (each once)."""
        return list(self._one)

    def implemented_by(self, extension_id: str) -> bool:
        """Tell whether ``extension_id`` implements this hook."""
        return extension_id in self._one

    def _check_args(self, kwargs: _Kwargs) -> _Kwargs:
        merged = {**self._defaults, **kwargs} if self._defaults else kwargs
        missing = [name for name in self.argnames if name not in merged]
        unknown = sorted(name for name in merged if name not in self._argset)
        if missing or unknown:
            parts = []
            if missing:
                parts.append(f"missing argument(s) {', '.join(missing)}")
            if unknown:
                parts.append(f"unknown argument(s) {', '.join(unknown)}")
            raise HookUsageError(
                f"hook {self.hook} called with {' and '.join(parts)}; it takes "
                f"{', '.join(sorted(self._argset)) or 'no arguments'}",
                where=self.hook,
            )
        return merged

    def _stopped(self, extension_id: str, exc: Exception) -> HookCallError:
        self._sink(self.hook, extension_id, exc, "stop")
        return HookCallError(
            f"hook {self.hook} failed: {_describe(exc)}",
            hook=self.hook,
            failures=[(extension_id, exc)],
            extension_id=extension_id,
        )

    def _settle(self, outcome: HookOutcome) -> HookOutcome:
        failures = outcome.failures
        if failures and self.policy == "collect":
            listed = "; ".join(f"{ext} ({_describe(exc)})" for ext, exc in failures)
            raise HookCallError(
                f"hook {self.hook} failed in {len(failures)} extension(s): {listed}",
                hook=self.hook,
                failures=failures,
                extension_id=failures[0][0] if len(failures) == 1 else None,
            ) from failures[0][1]
        return outcome

    def _failed(self, outcome: HookOutcome, extension_id: str, exc: Exception) -> None:
        outcome.failures.append((extension_id, exc))
        self._sink(self.hook, extension_id, exc, self.policy)

    # -- broadcast, synchronous -----------------------------------------------------------

    def _run_stop_all(self, kwargs: _Kwargs) -> list[Any]:
        if kwargs.keys() != self._argset:
            kwargs = self._check_args(kwargs)
        results = []
        for ext, fn, names, _ in self.entries:
            try:
                res = fn(*[kwargs[n] for n in names])
            except Exception as exc:
                raise self._stopped(ext, exc) from exc
            if res is not None:
                results.append(res)
        return results

    def _run_stop_first(self, kwargs: _Kwargs) -> Any:
        if kwargs.keys() != self._argset:
            kwargs = self._check_args(kwargs)
        for ext, fn, names, _ in self.entries:
            try:
                res = fn(*[kwargs[n] for n in names])
            except Exception as exc:
                raise self._stopped(ext, exc) from exc
            if res is not None:
                return res
        return None

    def _run_tolerant(self, kwargs: _Kwargs) -> Any:
        # Same walk as outcome() without building an outcome: this is a hot path for
        # isolate hooks such as addon events.
        if kwargs.keys() != self._argset:
            kwargs = self._check_args(kwargs)
        results = []
        failures: list[tuple[str, Exception]] | None = None
        firstresult = self.firstresult
        for ext, fn, names, _ in self.entries:
            try:
                res = fn(*[kwargs[n] for n in names])
            except Exception as exc:
                if failures is None:
                    failures = []
                failures.append((ext, exc))
                self._sink(self.hook, ext, exc, self.policy)
                continue
            if res is not None:
                results.append(res)
                if firstresult:
                    break
        if failures is not None:
            self._settle(HookOutcome(self.hook, firstresult, failures=failures))
        if firstresult:
            return results[0] if results else None
        return results

    def _run_bridged(self, kwargs: _Kwargs) -> Any:
        return run_coroutine_sync(self.aoutcome(kwargs)).value

    def outcome(self, kwargs: _Kwargs) -> HookOutcome:
        """Run every implementation under the plan's policy and report each result.

        Args:
            kwargs: The hook's arguments.

        Returns:
            Results and isolated failures by extension.

        Raises:
            HookCallError: Policy ``stop`` (first failure) or ``collect`` (all failures).
            HookUsageError: Missing or unknown arguments.
        """
        if self.has_async:
            return run_coroutine_sync(self.aoutcome(kwargs))
        if kwargs.keys() != self._argset:
            kwargs = self._check_args(kwargs)
        outcome = HookOutcome(self.hook, self.firstresult)
        stop = self.policy == "stop"
        for ext, fn, names, _ in self.entries:
            try:
                res = fn(*[kwargs[n] for n in names])
            except Exception as exc:
                if stop:
                    raise self._stopped(ext, exc) from exc
                self._failed(outcome, ext, exc)
                continue
            if res is not None:
                outcome.results.append((ext, res))
                if self.firstresult:
                    break
        return self._settle(outcome)

    # -- broadcast, asynchronous ----------------------------------------------------------

    async def aoutcome(self, kwargs: _Kwargs) -> HookOutcome:
        """Like :meth:`outcome`, awaiting ``async`` implementations (and awaitable results).

        Args:
            kwargs: The hook's arguments.

        Returns:
            Results and isolated failures by extension.
        """
        if kwargs.keys() != self._argset:
            kwargs = self._check_args(kwargs)
        outcome = HookOutcome(self.hook, self.firstresult)
        stop = self.policy == "stop"
        for ext, fn, names, is_async in self.entries:
            try:
                res = fn(*[kwargs[n] for n in names])
                if is_async or inspect.isawaitable(res):
                    res = await res
            except Exception as exc:
                if stop:
                    raise self._stopped(ext, exc) from exc
                self._failed(outcome, ext, exc)
                continue
            if res is not None:
                outcome.results.append((ext, res))
                if self.firstresult:
                    break
        return self._settle(outcome)

    async def arun(self, kwargs: _Kwargs) -> Any:
        """Broadcast call from async code; returns what :attr:`run` would return."""
        if self.policy != "stop":
            return (await self.aoutcome(kwargs)).value
        # stop: the common case, walked without building an outcome
        if kwargs.keys() != self._argset:
            kwargs = self._check_args(kwargs)
        firstresult = self.firstresult
        results = []
        for ext, fn, names, is_async in self.entries:
            try:
                res = fn(*[kwargs[n] for n in names])
                if is_async or inspect.isawaitable(res):
                    res = await res
            except Exception as exc:
                raise self._stopped(ext, exc) from exc
            if res is not None:
                if firstresult:
                    return res
                results.append(res)
        return None if firstresult else results

    # -- one extension --------------------------------------------------------------------

    def _mine(self, extension_id: str) -> tuple[tuple[Entry, ...], bool]:
        mine = self._one.get(extension_id)
        if mine is None:
            # The ports package is imported when this is raised, not with the hook layer.
            from symphony_core.ports.runtime import HookNotImplementedError

            raise HookNotImplementedError(
                f"does not implement hook {self.hook}",
                hook=self.hook,
                extension_id=extension_id,
            )
        return mine

    def run_one(self, extension_id: str, kwargs: _Kwargs) -> Any:
        """Call one extension's implementation(s); return its first non-``None`` result.

        Errors always propagate (the caller asked this extension for its answer), as a
        :class:`~symphony_core.errors.HookCallError` naming it.

        Args:
            extension_id: The extension to call.
            kwargs: The hook's arguments.

        Returns:
            The extension's answer, or ``None``.

        Raises:
            HookNotImplementedError: The extension does not implement the hook.
            HookCallError: The implementation raised.
        """
        entries, is_async = self._mine(extension_id)
        if is_async:
            return run_coroutine_sync(self.arun_one(extension_id, kwargs))
        if kwargs.keys() != self._argset:
            kwargs = self._check_args(kwargs)
        for ext, fn, names, _ in entries:
            try:
                res = fn(*[kwargs[n] for n in names])
            except Exception as exc:
                raise self._stopped(ext, exc) from exc
            if res is not None:
                return res
        return None

    async def arun_one(self, extension_id: str, kwargs: _Kwargs) -> Any:
        """Like :meth:`run_one`, awaiting ``async`` implementations.

        Args:
            extension_id: The extension to call.
            kwargs: The hook's arguments.

        Returns:
            The extension's answer, or ``None``.
        """
        entries, _ = self._mine(extension_id)
        if kwargs.keys() != self._argset:
            kwargs = self._check_args(kwargs)
        for ext, fn, names, is_async in entries:
            try:
                res = fn(*[kwargs[n] for n in names])
                if is_async or inspect.isawaitable(res):
                    res = await res
            except Exception as exc:
                raise self._stopped(ext, exc) from exc
            if res is not None:
                return res
        return None
