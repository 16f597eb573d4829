"""Refuse, at registration, hook implementations that cannot work with their spec.

pluggy checks only that an implementation's argument names exist in the spec, and only
for hooks that have one. Here every marked implementation is checked before pluggy sees
it, and all problems of one extension are reported together:

* the hook must exist (with a "did you mean" for near misses);
* every parameter must receive a value: no ``*args`` / ``**kwargs``, no keyword-only
  parameter without default, no spec argument hidden behind a default (pluggy would
  never pass it), no parameter the spec does not have;
* ``async def`` only where the spec allows it; wrappers are not part of the contract.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pluggy

from symphony_core.errors import HookSpecMismatchError
from symphony_core.hooks.markers import HookContract

__all__ = ["CheckedImpl", "SpecInfo", "check_plugin", "is_async_callable", "suggest"]


@dataclass(frozen=True, slots=True)
class SpecInfo:
    """What validation needs to know about one hook spec.

    Attributes:
        name: The hook's name.
        argnames: The spec's argument names, in order.
        contract: The spec's contract (policy, async allowed).
    """

    name: str
    argnames: tuple[str, ...]
    contract: HookContract


@dataclass(frozen=True, slots=True)
class CheckedImpl:
    """One implementation that passed the checks.

    Attributes:
        hook: The hook it implements.
        attribute: Its attribute name on the plugin.
        is_async: Whether it must be awaited.
    """

    hook: str
    attribute: str
    is_async: bool


def is_async_callable(function: object) -> bool:
    """Tell whether calling ``function`` returns a coroutine that must be awaited."""
    if inspect.iscoroutinefunction(function):
        return True
    call = getattr(function, "__call__", None)  # noqa: B004 - the attribute itself is wanted
    return (
        call is not None and not inspect.isroutine(function) and (inspect.iscoroutinefunction(call))
    )


def suggest(name: str, known: list[str]) -> str:
    """Return ``" (did you mean X?)"`` for the closest known name, or an empty string."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _parameter_problems(function: Callable[..., Any], spec: SpecInfo) -> list[str]:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError) as exc:
        return [f"its signature cannot be read: {exc}"]
    problems: list[str] = []
    spec_names = list(spec.argnames)
    shown = f"{spec.name}({', '.join(spec_names)})"
    for param in signature.parameters.values():
        name = param.name
        if param.kind is param.VAR_POSITIONAL or param.kind is param.VAR_KEYWORD:
            star = "*" if param.kind is param.VAR_POSITIONAL else "**"
            problems.append(
                f"parameter {star}{name} cannot receive hook arguments; "
                f"name the ones you need from {shown}"
            )
        elif param.kind is param.KEYWORD_ONLY:
            if name in spec.argnames or param.default is param.empty:
                problems.append(
                    f"keyword-only parameter {name!r} is never passed; "
                    "make it a regular parameter (before any '*')"
                )
        elif name in spec.argnames:
            if param.default is not param.empty:
                problems.append(
                    f"parameter {name!r} has a default, so it would never receive the "
                    "hook's value; remove the default"
                )
        elif param.default is param.empty:
            problems.append(
                f"parameter {name!r} is not an argument of the hook{suggest(name, spec_names)}; "
                f"the spec is {shown}"
            )
    return problems


def check_plugin(
    pm: pluggy.PluginManager,
    plugin: object,
    extension_id: str,
    specs: Mapping[str, SpecInfo],
) -> list[CheckedImpl]:
    """Check every hook implementation of ``plugin`` against the known specs.

    Args:
        pm: The plugin manager whose project marker identifies implementations.
        plugin: The object about to be registered.
        extension_id: The extension it belongs to (for messages).
        specs: Known hook specs by name.

    Returns:
        The implementations found, one per implemented hook attribute (optional hooks
        without a spec are left out: nothing ever calls them).

    Raises:
        HookSpecMismatchError: At least one implementation does not fit; the message
            lists every problem with its hook and attribute.
    """
    checked: list[CheckedImpl] = []
    problems: list[dict[str, str]] = []
    known = sorted(specs)
    for attribute in dir(plugin):
        opts = pm.parse_hookimpl_opts(plugin, attribute)
        if opts is None:
            continue
        hook = opts.get("specname") or attribute
        function = getattr(plugin, attribute)

        def refuse(problem: str, hook: str = hook, attribute: str = attribute) -> None:
            problems.append({"hook": hook, "attribute": attribute, "problem": problem})

        if opts.get("wrapper") or opts.get("hookwrapper"):
            refuse(
                "hook wrappers are not part of the Symphony contract; order your "
                "implementation with before/after instead, or react to events as an Addon"
            )
            continue
        spec = specs.get(hook)
        if spec is None:
            if not opts.get("optionalhook"):
                refuse(f"no hook named {hook!r} exists{suggest(hook, known)}")
            continue
        is_async = is_async_callable(function)
        if inspect.isasyncgenfunction(function) or inspect.isgeneratorfunction(function):
            refuse("generator functions cannot implement a hook; return a value instead")
            continue
        if is_async and not spec.contract.allow_async:
            refuse(f"hook {hook} must be implemented by a plain (non-async) function")
        for problem in _parameter_problems(function, spec):
            refuse(problem)
        checked.append(CheckedImpl(hook=hook, attribute=attribute, is_async=is_async))
    if problems:
        lines = "; ".join(f"{p['hook']} ({p['attribute']}): {p['problem']}" for p in problems)
        raise HookSpecMismatchError(
            f"hook implementations do not match their specs: {lines}",
            extension_id=extension_id,
            hint="see the hook list in docs/hooks.md",
            details={"problems": problems},
        )
    return checked
