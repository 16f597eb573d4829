"""The two decorators of the extension contract: ``hookspec`` for hosts, ``hookimpl`` for authors.

Both wrap pluggy's markers for the project name ``symphony`` and record what pluggy has
no room for: a spec's default error policy and whether async implementations are
allowed; an implementation's wish to run before or after named extensions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, TypeVar, overload

import pluggy

from symphony_core.config import ErrorPolicy

__all__ = [
    "PROJECT_NAME",
    "HookContract",
    "ImplOrder",
    "contract_of",
    "hookimpl",
    "hookspec",
    "order_of",
]

PROJECT_NAME: Final = "symphony"
"""pluggy project name: markers set ``symphony_spec`` / ``symphony_impl`` attributes."""

_F = TypeVar("_F", bound=Callable[..., Any])

_spec_marker: Final = pluggy.HookspecMarker(PROJECT_NAME)
_impl_marker: Final = pluggy.HookimplMarker(PROJECT_NAME)
_CONTRACT_ATTR: Final = "symphony_contract"
_ORDER_ATTR: Final = "symphony_order"
_POLICIES: Final = ("stop", "collect", "isolate")


@dataclass(frozen=True, slots=True)
class HookContract:
    """What a hook spec promises beyond its arguments.

    Attributes:
        policy: Error policy used when the configuration names none for the hook.
        allow_async: Whether ``async def`` implementations are accepted.
    """

    policy: ErrorPolicy = "stop"
    allow_async: bool = True


@dataclass(frozen=True, slots=True)
class ImplOrder:
    """Ordering wishes of one hook implementation, for its hook only.

    Attributes:
        before: Extension ids whose implementations should run after this one.
        after: Extension ids whose implementations should run before this one.
    """

    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()


_DEFAULT_CONTRACT: Final = HookContract()
_NO_ORDER: Final = ImplOrder()


def hookspec(
    *, firstresult: bool = False, policy: ErrorPolicy = "stop", allow_async: bool = True
) -> Callable[[_F], _F]:
    """Mark a function as the specification of a Symphony hook.

    Args:
        firstresult: The call stops at the first implementation that returns something
            other than ``None`` and returns that value (dispatch by argument).
        policy: Default error policy (``stop``, ``collect`` or ``isolate``); the
            configuration's ``hook-policy`` overrides it.
        allow_async: Whether implementations may be ``async def``.

    Returns:
        A decorator that marks the function and returns it unchanged.

    Raises:
        ValueError: ``policy`` is not one of the three policies.
    """
    if policy not in _POLICIES:
        raise ValueError(f"unknown error policy {policy!r}; use one of {', '.join(_POLICIES)}")
    contract = HookContract(policy=policy, allow_async=allow_async)

    def mark(function: _F) -> _F:
        marked = _spec_marker(function, firstresult=firstresult)
        setattr(marked, _CONTRACT_ATTR, contract)
        return marked

    return mark


@overload
def hookimpl(function: _F, /) -> _F: ...


@overload
def hookimpl(
    function: None = None,
    /,
    *,
    before: Iterable[str] = (),
    after: Iterable[str] = (),
    tryfirst: bool = False,
    trylast: bool = False,
    specname: str | None = None,
    optionalhook: bool = False,
) -> Callable[[_F], _F]: ...


def hookimpl(
    function: _F | None = None,
    /,
    *,
    before: Iterable[str] = (),
    after: Iterable[str] = (),
    tryfirst: bool = False,
    trylast: bool = False,
    specname: str | None = None,
    optionalhook: bool = False,
) -> _F | Callable[[_F], _F]:
    """Mark a function or method as the implementation of a Symphony hook.

    Usable bare (``@hookimpl``) or with options (``@hookimpl(after=["acme.base"])``).

    Args:
        function: The implementation, when used bare.
        before: Extension ids whose implementations of this hook should run after this one.
        after: Extension ids whose implementations of this hook should run before this one.
        tryfirst: Prefer an early position when no constraint decides.
        trylast: Prefer a late position when no constraint decides.
        specname: Name of the hook, when the function is named differently.
        optionalhook: Accept the implementation even if no spec of that name exists
            (it is then never called by Symphony).

    Returns:
        The marked function, or a decorator that marks one.

    Raises:
        ValueError: Both ``tryfirst`` and ``trylast`` were given.
    """
    if tryfirst and trylast:
        raise ValueError("a hook implementation cannot be both tryfirst and trylast")
    order = ImplOrder(tuple(before), tuple(after))

    def mark(func: _F) -> _F:
        marked = _impl_marker(
            func,
            tryfirst=tryfirst,
            trylast=trylast,
            specname=specname,
            optionalhook=optionalhook,
        )
        if order != _NO_ORDER:
            setattr(marked, _ORDER_ATTR, order)
        return marked

    if function is not None:
        return mark(function)
    return mark


def contract_of(spec_function: object) -> HookContract:
    """Return the contract recorded by :func:`hookspec` (defaults for plain pluggy specs)."""
    contract = getattr(spec_function, _CONTRACT_ATTR, None)
    return contract if isinstance(contract, HookContract) else _DEFAULT_CONTRACT


def order_of(impl_function: object) -> ImplOrder:
    """Return the ordering wishes recorded by :func:`hookimpl` (none if there are none)."""
    order = getattr(impl_function, _ORDER_ATTR, None)
    return order if isinstance(order, ImplOrder) else _NO_ORDER
