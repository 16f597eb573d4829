"""The extension runtime port: how the host runs one extension's code.

Two adapters implement it: the in-process runtime (trusted Pit extensions, through
pluggy) and the sandbox runtime (community extensions in a resource-limited process).
The host treats both the same way; only the trust level in the
:class:`~symphony_core.extension.ExtensionRecord` decides which one gets a record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from symphony_core.errors import ExtensionError, SymphonyError
from symphony_core.extension import ExtensionRecord

__all__ = [
    "ExtensionAlreadyActiveError",
    "ExtensionRuntime",
    "HookNotImplementedError",
    "RuntimeClosedError",
    "UnknownExtensionError",
]


class UnknownExtensionError(ExtensionError):
    """The runtime was asked about an extension id it has never been given."""

    code = "extension.unknown"


class ExtensionAlreadyActiveError(ExtensionError):
    """A different version of an extension is already active under the same id."""

    code = "extension.already_active"


class HookNotImplementedError(ExtensionError):
    """The extension does not implement the hook it was called with.

    Args:
        message: What is wrong.
        hook: The hook's name.
        **kwargs: Passed to :class:`~symphony_core.errors.ExtensionError`.
    """

    code = "hook.not_implemented"

    def __init__(self, message: str, *, hook: str, **kwargs: Any) -> None:
        self.hook = hook
        super().__init__(message, **kwargs)


class RuntimeClosedError(SymphonyError):
    """The runtime was used after :meth:`ExtensionRuntime.close`."""

    code = "runtime.closed"


@runtime_checkable
class ExtensionRuntime(Protocol):
    """Runs extensions' code: activation, hook calls, deactivation.

    Errors every adapter raises:

    * :class:`UnknownExtensionError` for an id the runtime was never given.
    * :class:`~symphony_core.errors.ExtensionLoadError` when importing or starting the
      extension, or its activate hook, fails; the extension is then not active and
      nothing of it stays registered.
    * :class:`HookNotImplementedError` for a hook the extension does not implement.
    * :class:`~symphony_core.errors.HookCallError` when the extension's implementation
      raises; ``failures`` holds ``(extension id, exception)``.
    * :class:`RuntimeClosedError` for any activation or call after :meth:`close`.
    """

    def activate(self, record: ExtensionRecord) -> None:
        """Import or start the extension and run its activate hook.

        Idempotent: activating an active extension again does nothing.

        Args:
            record: The extension to activate.

        Raises:
            ExtensionLoadError: Import, start-up or the activate hook failed.
            ExtensionAlreadyActiveError: Another version with the same id is active.
            RuntimeClosedError: The runtime is closed.
        """
        ...

    def deactivate(self, extension_id: str) -> None:
        """Run the extension's deactivate hook and unregister it.

        Deactivating a known but inactive extension does nothing. The extension is
        unregistered even when its deactivate hook raises; the error is raised after.

        Args:
            extension_id: The extension's id.

        Raises:
            UnknownExtensionError: The id was never given to this runtime.
            HookCallError: The deactivate hook raised.
        """
        ...

    def is_active(self, extension_id: str) -> bool:
        """Return whether the extension is active (an unknown id is not)."""
        ...

    def active_ids(self) -> list[str]:
        """Return the ids of the active extensions, in activation order."""
        ...

    def call(self, extension_id: str, hook: str, kwargs: Mapping[str, Any]) -> Any:
        """Call one extension's implementation of ``hook``, activating it first if needed.

        Args:
            extension_id: The extension whose implementation runs.
            hook: The hook's name.
            kwargs: Keyword arguments of the hook.

        Returns:
            What the implementation returned.

        Raises:
            UnknownExtensionError: The id was never given to this runtime.
            ExtensionLoadError: The implicit activation failed.
            HookNotImplementedError: The extension does not implement ``hook``.
            HookCallError: The implementation raised.
            RuntimeClosedError: The runtime is closed.
        """
        ...

    async def acall(self, extension_id: str, hook: str, kwargs: Mapping[str, Any]) -> Any:
        """Call one extension's implementation of ``hook`` from async code.

        A coroutine implementation is awaited; a plain one is called. Errors are those
        of :meth:`call`.

        Args:
            extension_id: The extension whose implementation runs.
            hook: The hook's name.
            kwargs: Keyword arguments of the hook.

        Returns:
            What the implementation returned (awaited if it was a coroutine).
        """
        ...

    def close(self) -> None:
        """Deactivate every active extension, in reverse activation order.

        Every extension is deactivated even when some deactivate hooks raise; the
        failures are raised together afterwards as one
        :class:`~symphony_core.errors.HookCallError`. Closing twice does nothing.
        """
        ...
