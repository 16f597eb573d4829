"""Symphony's layer over pluggy: checked registration, ordering, error policies, async.

pluggy keeps the specs and the registered plugins and does its own argument-name
check; this layer adds what its users keep asking for:

* implementations are checked against their spec at registration, every problem named
  (:mod:`symphony_core.hooks.validation`);
* implementations run in the order extensions ask for, the user's ``hook-order`` winning,
  cycles refused (:mod:`symphony_core.hooks.ordering`);
* each hook has an error policy — ``stop``, ``collect`` or ``isolate`` — from the
  configuration or the spec's default;
* ``async def`` implementations are awaited by :meth:`HookRelay.acall` and run to
  completion by :meth:`HookRelay.call` (:mod:`symphony_core.hooks.bridge`);
* the ordered implementation list of each hook is computed once, when an extension
  registers or leaves, so a call costs about as much as a bare pluggy call.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Final, TypeAlias

import pluggy

from symphony_core.config import Config, ErrorPolicy
from symphony_core.errors import ConfigError, ExtensionError, HookSpecMismatchError
from symphony_core.hooks.errors import HookUsageError
from symphony_core.hooks.manager import SymphonyPluginManager
from symphony_core.hooks.markers import contract_of, order_of
from symphony_core.hooks.ordering import (
    REST_MARKER,
    TIER_FIRST,
    TIER_LAST,
    TIER_NORMAL,
    Constraint,
    order_extensions,
)
from symphony_core.hooks.outcome import HookOutcome
from symphony_core.hooks.plan import Entry, HookPlan
from symphony_core.hooks.validation import SpecInfo, check_plugin, is_async_callable, suggest
from symphony_core.log import get_logger

__all__ = ["FailureCallback", "HookRelay"]

FailureCallback: TypeAlias = Callable[[str, str, Exception], None]
"""Called as ``on_failure(hook, extension_id, exception)`` for every failing implementation."""

_POLICIES: Final = ("stop", "collect", "isolate")


@dataclass(frozen=True, slots=True)
class _Registration:
    plugin: object
    order_before: tuple[str, ...]
    order_after: tuple[str, ...]
    hooks: tuple[str, ...]


def _not_registered(extension_id: str) -> ExtensionError:
    # The ports package is imported when this is raised, not with the hook layer.
    from symphony_core.ports.runtime import UnknownExtensionError

    return UnknownExtensionError("is not registered with the hook relay", extension_id=extension_id)


def _tier(impl: pluggy.HookImpl) -> int:
    if impl.tryfirst:
        return TIER_FIRST
    if impl.trylast:
        return TIER_LAST
    return TIER_NORMAL


class HookRelay:
    """Registers extensions' hook implementations and calls them.

    Args:
        hook_order: Per hook (or ``"*"`` for all), the user's order of extension ids;
            ``"..."`` marks where unlisted extensions go (at the end by default).
        hook_policy: Per hook (or ``"*"``), ``stop``, ``collect`` or ``isolate``.
        specs: Modules or classes holding hook specs; :mod:`symphony_core.hookspecs`
            by default.
        on_failure: Called for every implementation that raises, whatever the policy.
        logger: Where isolated failures are logged (``symphony.hooks`` by default).

    Raises:
        ConfigError: ``hook_order`` or ``hook_policy`` names an unknown ``symphony_*``
            hook, an unknown policy, or lists an extension twice.
    """

    def __init__(
        self,
        *,
        hook_order: Mapping[str, Sequence[str]] | None = None,
        hook_policy: Mapping[str, ErrorPolicy] | None = None,
        specs: Iterable[ModuleType | type] | None = None,
        on_failure: FailureCallback | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self._pm: Final = SymphonyPluginManager()
        if specs is None:
            from symphony_core import hookspecs

            specs = (hookspecs,)
        for namespace in specs:
            self._pm.add_hookspecs(namespace)
        self._specs: dict[str, SpecInfo] = {}
        self._spec_defaults: dict[str, dict[str, Any]] = {}
        self._refresh_specs()
        self._hook_order: Final = {k: tuple(v) for k, v in (hook_order or {}).items()}
        self._hook_policy: Final = dict(hook_policy or {})
        self._check_config()
        self._on_failure = on_failure
        self._logger = logger or get_logger("symphony.hooks")
        self._plans: dict[str, HookPlan] = {}
        self._registrations: dict[str, _Registration] = {}
        self._lock = threading.RLock()

    @classmethod
    def from_config(cls, config: Config, **kwargs: Any) -> HookRelay:
        """Build a relay with the configuration's ``hook-order`` and ``hook-policy``.

        Args:
            config: The host's configuration.
            **kwargs: Other arguments of :class:`HookRelay`.

        Returns:
            The relay.
        """
        return cls(hook_order=config.hook_order, hook_policy=config.hook_policy, **kwargs)

    # -- specs and configuration --------------------------------------------------------

    def _refresh_specs(self) -> None:
        for name, caller in vars(self._pm.hook).items():
            if not isinstance(caller, pluggy.HookCaller) or caller.spec is None:
                continue
            spec = caller.spec
            defaults = inspect.unwrap(spec.function).__defaults__ or ()
            self._spec_defaults[name] = dict(zip(spec.kwargnames, defaults, strict=False))
            self._specs[name] = SpecInfo(
                name=name,
                argnames=tuple(spec.argnames) + tuple(spec.kwargnames),
                contract=contract_of(spec.function),
            )

    def _check_hook_key(self, key: str, setting: str) -> None:
        if key == "*" or not key.startswith("symphony_") or key in self._specs:
            return
        raise ConfigError(
            f"{setting} names unknown hook {key!r}{suggest(key, sorted(self._specs))}",
            where=setting,
            hint="hook names are listed in docs/hooks.md; '*' applies to every hook",
        )

    def _check_config(self) -> None:
        for key, policy in self._hook_policy.items():
            self._check_hook_key(key, "hook-policy")
            if policy not in _POLICIES:
                raise ConfigError(
                    f"hook-policy for {key!r} is {policy!r}",
                    where="hook-policy",
                    hint=f"use one of {', '.join(_POLICIES)}",
                )
        for key, order in self._hook_order.items():
            self._check_hook_key(key, "hook-order")
            seen: set[str] = set()
            for ext in order:
                if ext in seen:
                    raise ConfigError(
                        f"hook-order for {key!r} lists {ext!r} twice",
                        where="hook-order",
                        hint=f"list each extension once; {REST_MARKER!r} at most once",
                    )
                seen.add(ext)

    def add_hookspecs(self, namespace: ModuleType | type) -> None:
        """Add the hook specs of a module or class (for example a Pit extension's own).

        Args:
            namespace: Module or class holding functions marked with ``hookspec``.
        """
        with self._lock:
            self._pm.add_hookspecs(namespace)
            self._refresh_specs()
            self._plans.clear()

    @property
    def hooks(self) -> list[str]:
        """Names of every known hook, sorted."""
        return sorted(self._specs)

    def has_hook(self, hook: str) -> bool:
        """Tell whether a hook of that name is specified."""
        return hook in self._specs

    def spec_arguments(self, hook: str) -> tuple[str, ...]:
        """Return the argument names of ``hook``'s spec.

        Raises:
            HookUsageError: No hook has that name.
        """
        return self._spec(hook).argnames

    def is_firstresult(self, hook: str) -> bool:
        """Tell whether ``hook`` stops at the first non-``None`` result."""
        return self._plan(hook).firstresult

    def policy_of(self, hook: str) -> ErrorPolicy:
        """Return the error policy in force for ``hook``."""
        return self._plan(hook).policy

    def _spec(self, hook: str) -> SpecInfo:
        spec = self._specs.get(hook)
        if spec is None:
            raise HookUsageError(
                f"no hook named {hook!r}{suggest(hook, sorted(self._specs))}", where=hook
            )
        return spec

    # -- registration ---------------------------------------------------------------------

    def register(
        self,
        plugin: object,
        extension_id: str,
        *,
        order_before: Iterable[str] = (),
        order_after: Iterable[str] = (),
    ) -> list[str]:
        """Check and register one extension's hook implementations.

        Nothing is registered when anything is wrong.

        Args:
            plugin: Module, class or instance holding ``@hookimpl`` functions.
            extension_id: The extension's id; also its pluggy plugin name.
            order_before: Extensions whose implementations should run after this one's
                (the manifest's ``order-before``), for every hook.
            order_after: Extensions whose implementations should run before this one's.

        Returns:
            The hooks the extension implements, sorted.

        Raises:
            ExtensionError: The id is already registered.
            HookSpecMismatchError: An implementation does not fit its spec.
            HookOrderError: The extension's ordering wishes close a cycle.
        """
        with self._lock:
            if extension_id in self._registrations:
                raise ExtensionError(
                    "is already registered with the hook relay",
                    extension_id=extension_id,
                    hint="unregister it first",
                )
            checked = check_plugin(self._pm, plugin, extension_id, self._specs)
            try:
                self._pm.register(plugin, name=extension_id)
            except (pluggy.PluginValidationError, ValueError) as exc:
                raise HookSpecMismatchError(
                    f"pluggy refused the registration: {exc}", extension_id=extension_id
                ) from exc
            hooks = tuple(sorted({impl.hook for impl in checked}))
            self._registrations[extension_id] = _Registration(
                plugin, tuple(order_before), tuple(order_after), hooks
            )
            try:
                plans = {hook: self._build_plan(hook) for hook in hooks}
            except BaseException:
                self._pm.unregister(name=extension_id)
                del self._registrations[extension_id]
                raise
            self._plans.update(plans)
            return list(hooks)

    def unregister(self, extension_id: str) -> object:
        """Remove one extension's hook implementations.

        Args:
            extension_id: The extension's id.

        Returns:
            The plugin object that was registered.

        Raises:
            UnknownExtensionError: The extension is not registered.
        """
        with self._lock:
            registration = self._registrations.pop(extension_id, None)
            if registration is None:
                raise _not_registered(extension_id)
            self._pm.unregister(name=extension_id)
            # Removing implementations cannot create an ordering cycle.
            self._plans.update({hook: self._build_plan(hook) for hook in registration.hooks})
            return registration.plugin

    def is_registered(self, extension_id: str) -> bool:
        """Tell whether the extension's implementations are registered."""
        return extension_id in self._registrations

    def registered_ids(self) -> list[str]:
        """Return the registered extension ids, in registration order."""
        return list(self._registrations)

    def plugin_of(self, extension_id: str) -> object:
        """Return the plugin object registered for ``extension_id``.

        Raises:
            UnknownExtensionError: The extension is not registered.
        """
        registration = self._registrations.get(extension_id)
        if registration is None:
            raise _not_registered(extension_id)
        return registration.plugin

    def implements(self, extension_id: str, hook: str) -> bool:
        """Tell whether the registered extension implements ``hook``."""
        return self._plan(hook).implemented_by(extension_id)

    def implementers(self, hook: str) -> list[str]:
        """Return the extensions implementing ``hook``, in call order."""
        return self._plan(hook).extension_ids()

    # -- plans ----------------------------------------------------------------------------

    def _plan(self, hook: str) -> HookPlan:
        plan = self._plans.get(hook)
        if plan is None:
            with self._lock:
                plan = self._plans.get(hook)
                if plan is None:
                    plan = self._plans[hook] = self._build_plan(hook)
        return plan

    def _build_plan(self, hook: str) -> HookPlan:
        spec = self._spec(hook)
        caller: pluggy.HookCaller = getattr(self._pm.hook, hook)
        assert caller.spec is not None
        per_ext: dict[str, list[pluggy.HookImpl]] = {}
        tiers: dict[str, int] = {}
        constraints: list[Constraint] = []
        for impl in caller.get_hookimpls():
            ext = impl.plugin_name
            per_ext.setdefault(ext, []).append(impl)
            tiers[ext] = min(tiers.get(ext, TIER_LAST), _tier(impl))
            wishes = order_of(impl.function)
            where = f"before/after on {ext}'s {hook}"
            constraints.extend(Constraint(ext, other, where) for other in wishes.before)
            constraints.extend(Constraint(other, ext, where) for other in wishes.after)
        for ext in per_ext:
            registration = self._registrations[ext]
            constraints.extend(
                Constraint(ext, other, f"order-before of {ext}")
                for other in registration.order_before
            )
            constraints.extend(
                Constraint(other, ext, f"order-after of {ext}")
                for other in registration.order_after
            )
        override = self._hook_order.get(hook, self._hook_order.get("*"))
        entries: list[Entry] = []
        for ext in order_extensions(hook, tiers, constraints, override):
            impls = sorted(per_ext[ext], key=lambda i: (_tier(i), i.function.__name__))
            entries.extend(
                (ext, impl.function, tuple(impl.argnames), is_async_callable(impl.function))
                for impl in impls
            )
        policy = self._hook_policy.get(hook, self._hook_policy.get("*", spec.contract.policy))
        return HookPlan(
            hook,
            tuple(entries),
            firstresult=bool(caller.spec.opts.get("firstresult", False)),
            policy=policy,
            argnames=tuple(caller.spec.argnames),
            defaults=self._spec_defaults.get(hook, {}),
            sink=self._report,
        )

    def _report(self, hook: str, extension_id: str, exc: Exception, policy: ErrorPolicy) -> None:
        if policy == "isolate":
            self._logger.warning(
                "hook %s failed in extension %s and was isolated: %s: %s",
                hook,
                extension_id,
                type(exc).__name__,
                exc,
                exc_info=exc,
                extra={"extension_id": extension_id, "hook": hook},
            )
        if self._on_failure is not None:
            try:
                self._on_failure(hook, extension_id, exc)
            except Exception:
                self._logger.exception(
                    "the on_failure callback raised while reporting a failure of %s in %s",
                    hook,
                    extension_id,
                )

    # -- calls ----------------------------------------------------------------------------

    def call(self, hook: str, /, **kwargs: Any) -> Any:
        """Call every implementation of ``hook`` under its error policy.

        ``async def`` implementations are run to completion (see
        :mod:`symphony_core.hooks.bridge`); from async code prefer :meth:`acall`.

        Args:
            hook: The hook's name.
            **kwargs: The hook's arguments, by name (all of them).

        Returns:
            For a ``firstresult`` hook the first non-``None`` result (or ``None``);
            otherwise the list of non-``None`` results in call order. Under ``isolate``,
            failing implementations are left out (see :meth:`call_outcome`).

        Raises:
            HookCallError: ``stop``: the first failure; ``collect``: all failures.
            HookUsageError: Unknown hook, missing or unknown arguments.
        """
        plan = self._plans.get(hook)
        if plan is None:
            plan = self._plan(hook)
        return plan.run(kwargs)

    async def acall(self, hook: str, /, **kwargs: Any) -> Any:
        """Call every implementation of ``hook`` from async code, awaiting async ones.

        Args:
            hook: The hook's name.
            **kwargs: The hook's arguments, by name.

        Returns:
            As :meth:`call`.
        """
        plan = self._plans.get(hook)
        if plan is None:
            plan = self._plan(hook)
        return await plan.arun(kwargs)

    def call_outcome(self, hook: str, /, **kwargs: Any) -> HookOutcome:
        """Like :meth:`call`, returning every result and isolated failure by extension.

        Args:
            hook: The hook's name.
            **kwargs: The hook's arguments, by name.

        Returns:
            The call's outcome.
        """
        return self._plan(hook).outcome(kwargs)

    async def acall_outcome(self, hook: str, /, **kwargs: Any) -> HookOutcome:
        """Like :meth:`acall`, returning every result and isolated failure by extension.

        Args:
            hook: The hook's name.
            **kwargs: The hook's arguments, by name.

        Returns:
            The call's outcome.
        """
        return await self._plan(hook).aoutcome(kwargs)

    def call_one(self, extension_id: str, hook: str, kwargs: Mapping[str, Any]) -> Any:
        """Call one extension's implementation of ``hook``; its failure always raises.

        Args:
            extension_id: The extension to call.
            hook: The hook's name.
            kwargs: The hook's arguments, by name.

        Returns:
            The extension's first non-``None`` result, or ``None``.

        Raises:
            UnknownExtensionError: The extension is not registered.
            HookNotImplementedError: It does not implement ``hook`` (or no hook of that
                name is specified).
            HookCallError: Its implementation raised.
        """
        plan = self._plans.get(hook)
        if plan is None or extension_id not in self._registrations:
            plan = self._plan_for_one(extension_id, hook)
        return plan.run_one(extension_id, kwargs)

    async def acall_one(self, extension_id: str, hook: str, kwargs: Mapping[str, Any]) -> Any:
        """Like :meth:`call_one` from async code, awaiting an async implementation.

        Args:
            extension_id: The extension to call.
            hook: The hook's name.
            kwargs: The hook's arguments, by name.

        Returns:
            The extension's first non-``None`` result, or ``None``.
        """
        plan = self._plans.get(hook)
        if plan is None or extension_id not in self._registrations:
            plan = self._plan_for_one(extension_id, hook)
        return await plan.arun_one(extension_id, kwargs)

    def _plan_for_one(self, extension_id: str, hook: str) -> HookPlan:
        if extension_id not in self._registrations:
            raise _not_registered(extension_id)
        if hook not in self._specs:
            # For one extension, a hook nobody specified is one it does not implement.
            from symphony_core.ports.runtime import HookNotImplementedError

            raise HookNotImplementedError(
                f"does not implement hook {hook!r}: no such hook is specified"
                f"{suggest(hook, sorted(self._specs))}",
                hook=hook,
                extension_id=extension_id,
            )
        return self._plan(hook)
