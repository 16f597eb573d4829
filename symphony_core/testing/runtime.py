"""An extension runtime that runs plain Python callables: the double of ``ExtensionRuntime``."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

from symphony_core.errors import ExtensionLoadError, HookCallError
from symphony_core.extension import ExtensionRecord
from symphony_core.ports.runtime import (
    ExtensionAlreadyActiveError,
    HookNotImplementedError,
    RuntimeClosedError,
    UnknownExtensionError,
)

__all__ = ["ACTIVATE", "DEACTIVATE", "FakeExtensionRuntime", "HookImpl", "RecordedCall"]

ACTIVATE = "activate"
"""Key of the lifecycle callable run (without arguments) when an extension is activated."""
DEACTIVATE = "deactivate"
"""Key of the lifecycle callable run (without arguments) when an extension is deactivated."""

HookImpl = Callable[..., Any]
"""A hook implementation: called with the hook's keyword arguments."""


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """One hook call the runtime made.

    Attributes:
        extension_id: The extension called.
        hook: The hook's name.
        kwargs: The keyword arguments passed.
        outcome: ``returned`` or ``raised``.
        result: What the implementation returned (``None`` when it raised).
        error: What it raised (``None`` when it returned).
    """

    extension_id: str
    hook: str
    kwargs: dict[str, Any]
    outcome: Literal["returned", "raised"]
    result: Any = None
    error: BaseException | None = None


@dataclass(slots=True)
class _Extension:
    record: ExtensionRecord
    impls: dict[str, HookImpl] = field(default_factory=dict)


class FakeExtensionRuntime:
    """Runs extensions made of Python callables registered with :meth:`add`.

    It keeps every promise of :class:`~symphony_core.ports.runtime.ExtensionRuntime`:
    activation runs the ``activate`` callable once, a failing activation leaves nothing
    active, calls activate on demand, failures are wrapped with the extension's id, and
    :meth:`close` deactivates in reverse activation order. Every hook call is recorded
    in :attr:`calls` and every lifecycle callable that ran in :attr:`lifecycle`.

    A record activated without :meth:`add` is an extension that implements no hooks.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._extensions: dict[str, _Extension] = {}
        self._active: dict[str, None] = {}
        self._closed = False
        self.calls: list[RecordedCall] = []
        self.lifecycle: list[tuple[str, str]] = []

    def add(self, record: ExtensionRecord, impls: Mapping[str, HookImpl] | None = None) -> None:
        """Make an extension known, with its hook implementations; it is not activated.

        Args:
            record: The extension.
            impls: Hook name to implementation; the keys :data:`ACTIVATE` and
                :data:`DEACTIVATE` give the lifecycle callables.

        Raises:
            ExtensionAlreadyActiveError: The extension is active (deactivate it first).
            RuntimeClosedError: The runtime is closed.
        """
        with self._lock:
            self._check_open()
            if record.id in self._active:
                raise ExtensionAlreadyActiveError(
                    "cannot replace an active extension's implementations",
                    extension_id=record.id,
                    hint="deactivate it first",
                )
            self._extensions[record.id] = _Extension(record, dict(impls or {}))

    def activate(self, record: ExtensionRecord) -> None:
        """Run the extension's ``activate`` callable and mark it active. Idempotent.

        Args:
            record: The extension.

        Raises:
            ExtensionAlreadyActiveError: Another version of it is active.
            ExtensionLoadError: The ``activate`` callable raised.
            RuntimeClosedError: The runtime is closed.
        """
        with self._lock:
            self._check_open()
            known = self._extensions.get(record.id)
            if record.id in self._active:
                assert known is not None
                if known.record.version != record.version:
                    raise ExtensionAlreadyActiveError(
                        f"version {known.record.version} is active, cannot activate "
                        f"version {record.version} too",
                        extension_id=record.id,
                        hint="deactivate the active version first",
                    )
                return
            if known is None:
                known = self._extensions[record.id] = _Extension(record)
            else:
                known.record = record
            self._run_activate(record.id, known)

    def _run_activate(self, extension_id: str, ext: _Extension) -> None:
        hook = ext.impls.get(ACTIVATE)
        if hook is not None:
            try:
                hook()
            except Exception as exc:
                raise ExtensionLoadError(
                    f"activation failed: {type(exc).__name__}: {exc}",
                    extension_id=extension_id,
                    details={"error_type": type(exc).__name__},
                ) from exc
            self.lifecycle.append((ACTIVATE, extension_id))
        self._active[extension_id] = None

    def deactivate(self, extension_id: str) -> None:
        """Unregister the extension and run its ``deactivate`` callable.

        Args:
            extension_id: The extension's id.

        Raises:
            UnknownExtensionError: The id was never added or activated.
            HookCallError: The ``deactivate`` callable raised (the extension is inactive).
        """
        with self._lock:
            ext = self._known(extension_id)
            if extension_id not in self._active:
                return
            del self._active[extension_id]
            hook = ext.impls.get(DEACTIVATE)
        if hook is None:
            return
        try:
            hook()
        except Exception as exc:
            raise HookCallError(
                f"deactivation raised {type(exc).__name__}: {exc}",
                hook=DEACTIVATE,
                failures=[(extension_id, exc)],
                extension_id=extension_id,
            ) from exc
        finally:
            self.lifecycle.append((DEACTIVATE, extension_id))

    def is_active(self, extension_id: str) -> bool:
        """Return whether the extension is active."""
        with self._lock:
            return extension_id in self._active

    def active_ids(self) -> list[str]:
        """Return the active extensions' ids in activation order."""
        with self._lock:
            return list(self._active)

    def _known(self, extension_id: str) -> _Extension:
        ext = self._extensions.get(extension_id)
        if ext is None:
            raise UnknownExtensionError(
                "no extension with this id was given to the runtime",
                extension_id=extension_id,
                hint="check the id, or that the extension is installed and resolved",
            )
        return ext

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeClosedError("the extension runtime is closed")

    def _prepare(self, extension_id: str, hook: str) -> HookImpl:
        with self._lock:
            self._check_open()
            ext = self._known(extension_id)
            if extension_id not in self._active:
                self._run_activate(extension_id, ext)
            impl = ext.impls.get(hook)
        if impl is None or hook in (ACTIVATE, DEACTIVATE):
            raise HookNotImplementedError(
                f"the extension does not implement hook {hook!r}",
                hook=hook,
                extension_id=extension_id,
            )
        return impl

    def _failed(
        self, extension_id: str, hook: str, kwargs: dict[str, Any], exc: Exception
    ) -> NoReturn:
        self.calls.append(RecordedCall(extension_id, hook, kwargs, "raised", error=exc))
        raise HookCallError(
            f"hook {hook!r} raised {type(exc).__name__}: {exc}",
            hook=hook,
            failures=[(extension_id, exc)],
            extension_id=extension_id,
        ) from exc

    def call(self, extension_id: str, hook: str, kwargs: Mapping[str, Any]) -> Any:
        """Call the extension's implementation of ``hook`` with ``kwargs``.

        Args:
            extension_id: The extension.
            hook: The hook's name.
            kwargs: Keyword arguments.

        Returns:
            What the implementation returned.

        Raises:
            UnknownExtensionError: The id is unknown.
            ExtensionLoadError: The implicit activation failed.
            HookNotImplementedError: The extension has no such hook.
            HookCallError: The implementation raised, or is a coroutine function.
            RuntimeClosedError: The runtime is closed.
        """
        impl = self._prepare(extension_id, hook)
        args = dict(kwargs)
        try:
            result = impl(**args)
            if inspect.isawaitable(result):
                if inspect.iscoroutine(result):
                    result.close()
                raise TypeError("the implementation is async: call it with acall()")
        except Exception as exc:
            self._failed(extension_id, hook, args, exc)
        self.calls.append(RecordedCall(extension_id, hook, args, "returned", result=result))
        return result

    async def acall(self, extension_id: str, hook: str, kwargs: Mapping[str, Any]) -> Any:
        """Call the extension's implementation of ``hook``, awaiting it if it is async.

        Args:
            extension_id: The extension.
            hook: The hook's name.
            kwargs: Keyword arguments.

        Returns:
            What the implementation returned, awaited.

        Raises:
            UnknownExtensionError: The id is unknown.
            ExtensionLoadError: The implicit activation failed.
            HookNotImplementedError: The extension has no such hook.
            HookCallError: The implementation raised.
            RuntimeClosedError: The runtime is closed.
        """
        impl = self._prepare(extension_id, hook)
        args = dict(kwargs)
        try:
            result = impl(**args)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            self._failed(extension_id, hook, args, exc)
        self.calls.append(RecordedCall(extension_id, hook, args, "returned", result=result))
        return result

    def close(self) -> None:
        """Deactivate every active extension in reverse activation order. Idempotent.

        Raises:
            HookCallError: Some ``deactivate`` callables raised (all were still run).
        """
        with self._lock:
            if self._closed:
                return
            order = list(reversed(self._active))
            self._closed = True
        failures: list[tuple[str, BaseException]] = []
        for extension_id in order:
            try:
                self.deactivate(extension_id)
            except HookCallError as exc:
                failures.extend(exc.failures)
        if failures:
            names = ", ".join(ext for ext, _ in failures)
            raise HookCallError(
                f"deactivation failed for {names}", hook=DEACTIVATE, failures=failures
            )
