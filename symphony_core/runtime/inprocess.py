"""The in-process runtime: trusted extensions (the Pit) run in the host through the hook relay.

Nothing is imported when an extension is added: its manifest says which node types it
contributes and when it wants to be activated, and that is enough to route work to it.
Its code is imported, registered and started on first use —

* a node call (:meth:`InProcessRuntime.call_node`) activates only the extension whose
  manifest declares the node type;
* a call addressed to one extension (:meth:`InProcessRuntime.call`) activates that one;
* a broadcast (:meth:`InProcessRuntime.call_hook`) activates the extensions that may
  take part: those declaring ``on-hook:<hook>`` (or ``on-startup``), and those with no
  activation events whose kind the hook belongs to (``symphony_operator_*`` for
  Operators, ``symphony_instrument_*`` for Instruments, ``symphony_addon_*`` for Addons);
  Pit service hooks (``symphony_pit_*``) only reach extensions that declare them;
* :meth:`InProcessRuntime.activate_for` handles the other activation events
  (``on-command:<name>``, ``on-event:<topic>``, ``on-startup``).

Activation checks the manifest's ``host-api`` against this host, imports the ``entry``
(``module:attr``; a class is instantiated without arguments), registers its hook
implementations, checks that the code implements every node type the manifest
declares, then runs ``symphony_activate``. Any failure rolls all of that back: the
extension is left registered nowhere and can be activated again later.

Only records with ``trust = "trusted"`` are accepted; community extensions run in the
sandbox runtime.

Adding costs nothing but bookkeeping, so a host with a thousand extensions is ready at
once: the hook relay (pluggy and the hook layer), asyncio, ``packaging`` and the
extension context are imported when the first extension is activated or the first hook
is called, not when the runtime is built — unless the configuration sets
``hook-order`` or ``hook-policy``, which are checked against the hook specs up front so
a mistake in them is reported at start.
"""

from __future__ import annotations

import _thread  # threading's RLock and get_ident, without importing threading
import importlib
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from symphony_core.config import Config
from symphony_core.errors import (
    ExtensionError,
    ExtensionLoadError,
    HookCallError,
    HookSpecMismatchError,
    HostApiError,
    UserError,
)
from symphony_core.extension import ExtensionRecord
from symphony_core.runtime.routing import (
    AmbiguousNodeTypeError,
    UnknownNodeTypeError,
    event_matches,
    route_node,
)

if TYPE_CHECKING:
    import concurrent.futures
    import logging

    from symphony_core.hooks.context import ExtensionContext
    from symphony_core.hooks.relay import FailureCallback, HookRelay

__all__ = [
    "AmbiguousNodeTypeError",
    "ExtensionDisabledError",
    "InProcessRuntime",
    "NodeOutputError",
    "UnknownNodeTypeError",
    "UntrustedExtensionError",
]

_ACTIVATE: Final = "symphony_activate"
_DEACTIVATE: Final = "symphony_deactivate"
_KIND_HOOK_PREFIX: Final = {
    "instrument": "symphony_instrument_",
    "operator": "symphony_operator_",
    "addon": "symphony_addon_",
}
_DESCRIBE_HOOK: Final = {
    "instrument": "symphony_instrument_describe",
    "operator": "symphony_operator_describe",
}


class UntrustedExtensionError(ExtensionError, UserError):
    """A community (untrusted) extension was given to the in-process runtime."""

    code = "runtime.untrusted"


class ExtensionDisabledError(ExtensionError, UserError):
    """The configuration disables this extension."""

    code = "extension.disabled"


class NodeOutputError(ExtensionError):
    """A node returned something other than the outputs its manifest declares."""

    code = "runtime.node_output"


def _unknown_extension(extension_id: str) -> ExtensionError:
    # The port's error classes are imported when raised: symphony_core.ports as a whole
    # is not needed to get ready.
    from symphony_core.ports.runtime import UnknownExtensionError

    return UnknownExtensionError(
        "was never added to the in-process runtime", extension_id=extension_id
    )


def _closed() -> Exception:
    from symphony_core.ports.runtime import RuntimeClosedError

    return RuntimeClosedError("the in-process runtime is closed")


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Active:
    """An activated extension: its record and the context it was given."""

    __slots__ = ("context", "record")

    def __init__(self, record: ExtensionRecord, context: ExtensionContext) -> None:
        self.record = record
        self.context = context


class _Pending:
    """An activation under way: its outcome, and the thread running it."""

    __slots__ = ("future", "thread")

    def __init__(self, future: concurrent.futures.Future[None], thread: int) -> None:
        self.future = future
        self.thread = thread


class InProcessRuntime:
    """Runs trusted extensions inside the host process, activating each on first use.

    Implements :class:`symphony_core.ports.runtime.ExtensionRuntime`.

    Args:
        config: The host's configuration (``home``, ``disabled``, ``hook-order``,
            ``hook-policy``).
        relay: The hook relay to register extensions with; one is built from
            ``config`` when omitted.
        on_failure: Called as ``on_failure(hook, extension_id, exception)`` for every
            failing hook implementation (only used when ``relay`` is omitted).
        logger: Where the runtime logs (``symphony.runtime`` by default).
    """

    def __init__(
        self,
        config: Config,
        *,
        relay: HookRelay | None = None,
        on_failure: FailureCallback | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self._config: Final = config
        self._given_logger = logger
        self._lock = _thread.RLock()
        self._on_failure = on_failure
        self._built_relay: HookRelay | None = relay
        if relay is None and (config.hook_order or config.hook_policy):
            self._build_relay()  # check the hook names they use now, not on first call
        self._records: dict[str, ExtensionRecord] = {}
        self._active: dict[str, _Active] = {}
        self._pending: dict[str, _Pending] = {}
        # node type -> ids of the added extensions declaring it, in the order added
        self._node_owners: dict[str, list[str]] = {}
        # ids whose record's host-api range the caller already checked (see add_all)
        self._host_api_checked: set[str] = set()
        self._targets: dict[str, tuple[str, ...]] = {}
        self._wants_context: dict[str, bool] = {}
        self._closed = False

    # -- records --------------------------------------------------------------------------

    @property
    def _logger(self) -> logging.Logger:
        # symphony_core.log (and logging) is imported when something is logged.
        if self._given_logger is not None:
            return self._given_logger
        from symphony_core.log import get_logger

        return get_logger("symphony.runtime")

    @property
    def relay(self) -> HookRelay:
        """The hook relay the extensions are registered with (built on first use)."""
        return self._relay

    @property
    def _relay(self) -> HookRelay:
        relay = self._built_relay
        return relay if relay is not None else self._build_relay()

    def _build_relay(self) -> HookRelay:
        with self._lock:
            if self._built_relay is None:
                from symphony_core.hooks.relay import HookRelay

                self._built_relay = HookRelay.from_config(self._config, on_failure=self._on_failure)
            return self._built_relay

    def add(self, record: ExtensionRecord) -> None:
        """Make an extension known without importing anything of it.

        Adding the same record again does nothing; a different record with the same id
        replaces the known one unless that one is active.

        Args:
            record: The extension, with ``trust = "trusted"``.

        Raises:
            UntrustedExtensionError: The record is not trusted.
            ExtensionDisabledError: The configuration disables the extension.
            ExtensionAlreadyActiveError: Another version with the same id is active.
            RuntimeClosedError: The runtime is closed.
        """
        self.add_all((record,))

    def add_all(
        self, records: Iterable[ExtensionRecord], *, host_api_checked: bool = False
    ) -> None:
        """Make several extensions known, as :meth:`add` does for each, in order.

        The routing tables are updated for each new record alone, so adding ``n``
        extensions costs time linear in ``n``. Records before one that is refused stay
        added, exactly as with one :meth:`add` call each.

        Args:
            records: The extensions, each with ``trust = "trusted"``.
            host_api_checked: The caller has already checked each record's ``host-api``
                against this host's API version, as
                :func:`~symphony_core.resolve.resolve_installed` does; activation then
                does not check it again (which needs ``packaging``). Records added
                without it are checked when activated.

        Raises:
            UntrustedExtensionError: A record is not trusted.
            ExtensionDisabledError: The configuration disables an extension.
            ExtensionAlreadyActiveError: Another version of an extension is active.
            RuntimeClosedError: The runtime is closed.
        """
        disabled = frozenset(self._config.disabled)
        checked = self._host_api_checked
        with self._lock:
            changed = False
            try:
                for record in records:
                    added = self._accept_record(record, disabled)
                    if host_api_checked:
                        checked.add(record.id)
                    elif added:
                        # A new or different record: its range has not been checked.
                        # (Re-adding an equal record keeps what was checked.)
                        checked.discard(record.id)
                    changed = changed or added
            finally:
                if changed:
                    self._targets = {}

    def _accept_record(self, record: ExtensionRecord, disabled: frozenset[str]) -> bool:
        """Add one record under the lock; return whether anything changed."""
        ext = record.id
        if record.trust != "trusted":
            raise UntrustedExtensionError(
                f"is a {record.trust} extension; the in-process runtime runs only trusted ones",
                extension_id=ext,
                hint=(
                    "community extensions run in the sandbox runtime; add the id to the "
                    "'trusted' setting only if you vouch for its code"
                ),
            )
        if ext in disabled:
            raise ExtensionDisabledError(
                "is disabled by the configuration ('disabled' setting)",
                extension_id=ext,
                hint="remove it from 'disabled' to use it",
            )
        self._check_open()
        known = self._records.get(ext)
        if known is None:
            self._records[ext] = record
            owners = self._node_owners
            for node in record.manifest.nodes:
                listed = owners.get(node.type)
                if listed is None:
                    owners[node.type] = [ext]
                else:
                    listed.append(ext)
            return True
        if known == record:
            return False
        active = self._active.get(ext)
        if active is not None:
            from symphony_core.ports.runtime import ExtensionAlreadyActiveError

            raise ExtensionAlreadyActiveError(
                f"version {active.record.version} is active; cannot replace it by "
                f"version {record.version}",
                extension_id=ext,
                hint="deactivate it first",
            )
        # A replacement keeps its place among the records; rebuilding keeps each node
        # type's owners in that order (rare: only a re-added, changed record gets here).
        self._records[ext] = record
        rebuilt: dict[str, list[str]] = {}
        for other, other_record in self._records.items():
            for node in other_record.manifest.nodes:
                rebuilt.setdefault(node.type, []).append(other)
        self._node_owners = rebuilt
        return True

    def records(self) -> list[ExtensionRecord]:
        """Return every added record, in the order they were added."""
        return list(self._records.values())

    def record(self, extension_id: str) -> ExtensionRecord:
        """Return the record added under ``extension_id``.

        Raises:
            UnknownExtensionError: No record has that id.
        """
        record = self._records.get(extension_id)
        if record is None:
            raise _unknown_extension(extension_id)
        return record

    def node_types(self) -> dict[str, list[str]]:
        """Return every node type declared by an added extension, with its extensions."""
        return {node: list(exts) for node, exts in sorted(self._node_owners.items())}

    def context_of(self, extension_id: str) -> ExtensionContext:
        """Return the context of an active extension.

        Raises:
            ExtensionError: The extension is not active.
        """
        active = self._active.get(extension_id)
        if active is None:
            raise ExtensionError("is not active", extension_id=extension_id)
        return active.context

    # -- state ----------------------------------------------------------------------------

    def is_active(self, extension_id: str) -> bool:
        """Return whether the extension is active (an unknown id is not)."""
        return extension_id in self._active

    def active_ids(self) -> list[str]:
        """Return the ids of the active extensions, in activation order."""
        return list(self._active)

    def _check_open(self) -> None:
        if self._closed:
            raise _closed()

    # -- activation -----------------------------------------------------------------------

    def activate(self, record: ExtensionRecord | str) -> None:
        """Import, register and start an extension; nothing happens if it is active.

        Args:
            record: The extension's record (added first if needed) or the id of an
                added one.

        Raises:
            UnknownExtensionError: An id that was never added.
            HostApiError: The manifest's ``host-api`` excludes this host.
            ExtensionLoadError: Import, registration, the node check or the activate
                hook failed; nothing of the extension stays registered.
            ExtensionAlreadyActiveError: Another version with the same id is active.
            RuntimeClosedError: The runtime is closed.
        """
        ext = self._accept(record)
        if ext in self._active:
            return
        pending, owner = self._claim(ext)
        if not owner:
            if pending.thread == _thread.get_ident():
                raise self._reentered(ext)
            pending.future.result()
            return
        try:
            active = self._load(self._records[ext])
            try:
                if self._relay.implements(ext, _ACTIVATE):
                    self._relay.call_one(ext, _ACTIVATE, {"context": active.context})
            except BaseException as exc:
                self._relay.unregister(ext)
                if isinstance(exc, HookCallError):
                    raise self._activation_failed(ext, exc) from exc
                raise
        except BaseException as exc:
            self._settle(ext, pending, None, exc)
            raise
        self._settle(ext, pending, active, None)

    async def aactivate(self, record: ExtensionRecord | str) -> None:
        """Like :meth:`activate` from async code: an async activate hook is awaited.

        Args:
            record: The extension's record or the id of an added one.
        """
        ext = self._accept(record)
        if ext in self._active:
            return
        pending, owner = self._claim(ext)
        if not owner:
            import asyncio

            await asyncio.wrap_future(pending.future)
            return
        try:
            active = self._load(self._records[ext])
            try:
                if self._relay.implements(ext, _ACTIVATE):
                    await self._relay.acall_one(ext, _ACTIVATE, {"context": active.context})
            except BaseException as exc:
                self._relay.unregister(ext)
                if isinstance(exc, HookCallError):
                    raise self._activation_failed(ext, exc) from exc
                raise
        except BaseException as exc:
            self._settle(ext, pending, None, exc)
            raise
        self._settle(ext, pending, active, None)

    def _accept(self, record: ExtensionRecord | str) -> str:
        if isinstance(record, str):
            self._check_open()
            if record not in self._records:
                raise _unknown_extension(record)
            return record
        active = self._active.get(record.id)
        if active is not None and active.record.version == record.version:
            return record.id
        self.add(record)
        return record.id

    def _claim(self, ext: str) -> tuple[_Pending, bool]:
        with self._lock:
            self._check_open()
            pending = self._pending.get(ext)
            if pending is not None:
                return pending, False
            import concurrent.futures  # the first activation needs it, not start-up

            pending = _Pending(concurrent.futures.Future(), _thread.get_ident())
            self._pending[ext] = pending
            return pending, True

    def _settle(
        self, ext: str, pending: _Pending, active: _Active | None, error: BaseException | None
    ) -> None:
        with self._lock:
            del self._pending[ext]
            if active is not None:
                self._active[ext] = active
        if error is None:
            pending.future.set_result(None)
        else:
            pending.future.set_exception(error)

    def _reentered(self, ext: str) -> ExtensionLoadError:
        return ExtensionLoadError(
            "its activation needs the extension itself (a hook called during activation "
            "calls back into it)",
            extension_id=ext,
            hint="do not call the extension's own hooks from its activate hook",
        )

    def _activation_failed(self, ext: str, exc: HookCallError) -> ExtensionLoadError:
        cause = exc.__cause__ or exc
        return ExtensionLoadError(
            f"activation failed: {_describe(cause)}",
            extension_id=ext,
            details={"error_type": type(cause).__name__},
        )

    def _check_host_api(self, record: ExtensionRecord) -> None:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        from symphony_core.hostapi import HOST_API_VERSION

        text = record.manifest.extension.host_api
        try:
            wanted = SpecifierSet(text)
        except InvalidSpecifier:
            raise HostApiError(
                f"its host-api {text!r} is not a valid version specifier",
                extension_id=record.id,
                where=f"{record.manifest_path}: extension.host-api",
                hint="write a PEP 440 specifier such as '>=1.0,<2'",
            ) from None
        if not wanted.contains(HOST_API_VERSION, prereleases=True):
            raise HostApiError(
                f"needs host API {text}, but this host provides {HOST_API_VERSION}",
                extension_id=record.id,
                hint=(
                    f"install a version of {record.distribution} made for host API "
                    f"{HOST_API_VERSION.major}.x, or a Symphony that provides {text}"
                ),
                details={"host_api": str(HOST_API_VERSION), "wanted": text},
            )

    def _import_entry(self, record: ExtensionRecord) -> object:
        entry = record.manifest.extension.entry
        module_name, _, attribute = entry.partition(":")
        try:
            target: object = importlib.import_module(module_name)
            for part in attribute.split("."):
                target = getattr(target, part)
        except (Exception, SystemExit) as exc:
            missing = isinstance(exc, ModuleNotFoundError) and exc.name == module_name
            raise ExtensionLoadError(
                f"cannot import its entry {entry!r}: {_describe(exc)}",
                extension_id=record.id,
                hint=(
                    f"is the distribution {record.distribution} installed in this environment?"
                    if missing
                    else "fix the error above in the extension's code or its manifest's 'entry'"
                ),
                details={"entry": entry, "error_type": type(exc).__name__},
            ) from exc
        if isinstance(target, type):  # what inspect.isclass tests
            try:
                target = target()
            except Exception as exc:
                raise ExtensionLoadError(
                    f"cannot create its entry object {entry}(): {_describe(exc)}",
                    extension_id=record.id,
                    hint="an entry class must be constructible without arguments",
                    details={"entry": entry, "error_type": type(exc).__name__},
                ) from exc
        return target

    def _load(self, record: ExtensionRecord) -> _Active:
        from symphony_core.hooks.errors import HookOrderError

        ext = record.id
        if ext not in self._host_api_checked:
            self._check_host_api(record)
        plugin = self._import_entry(record)
        info = record.manifest.extension
        try:
            self._relay.register(
                plugin, ext, order_before=info.order_before, order_after=info.order_after
            )
        except (HookSpecMismatchError, HookOrderError) as exc:
            raise ExtensionLoadError(
                f"its hook implementations were refused: {exc.message}",
                extension_id=ext,
                hint=exc.hint,
                details={"cause_code": exc.code, **exc.details},
            ) from exc
        try:
            self._check_nodes(record)
        except BaseException:
            self._relay.unregister(ext)
            raise
        return _Active(record, self._make_context(record))

    def _check_nodes(self, record: ExtensionRecord) -> None:
        ext = record.id
        hook = _DESCRIBE_HOOK.get(record.manifest.extension.kind)
        declared = {node.type for node in record.manifest.nodes}
        if hook is None or not self._relay.implements(ext, hook):
            return
        try:
            described = self._relay.call_one(ext, hook, {})
        except HookCallError as exc:
            raise ExtensionLoadError(
                f"its {hook} hook failed: {_describe(exc.__cause__ or exc)}",
                extension_id=ext,
            ) from exc
        if not isinstance(described, Iterable) or isinstance(described, str | bytes):
            raise ExtensionLoadError(
                f"its {hook} hook returned {type(described).__name__}, not a list of node types",
                extension_id=ext,
            )
        implemented = {str(name) for name in described}
        missing = sorted(declared - implemented)
        if missing:
            raise ExtensionLoadError(
                f"its manifest declares node type(s) {', '.join(missing)} but its code does "
                f"not implement them (it implements: {', '.join(sorted(implemented)) or 'none'})",
                extension_id=ext,
                where=str(record.manifest_path),
                hint="implement them or remove them from [[nodes]] in symphony.toml",
            )
        extra = sorted(implemented - declared)
        if extra:
            self._logger.warning(
                "extension %s implements node type(s) %s that its manifest does not declare; "
                "they cannot be used",
                ext,
                ", ".join(extra),
                extra={"extension_id": ext},
            )

    def _make_context(self, record: ExtensionRecord) -> ExtensionContext:
        from symphony_core.hooks.context import ExtensionContext

        ext = record.id
        return ExtensionContext(
            manifest=record.manifest,
            scratch_dir=self._config.cache_dir / "scratch" / ext,
            data_dir=self._config.home / "extensions" / ext,
        )

    # -- deactivation ---------------------------------------------------------------------

    def deactivate(self, extension_id: str) -> None:
        """Run the extension's deactivate hook and unregister it.

        A known but inactive extension is left as it is. The extension is unregistered
        even when its deactivate hook raises; the error is raised afterwards.

        Args:
            extension_id: The extension's id.

        Raises:
            UnknownExtensionError: The id was never added.
            HookCallError: The deactivate hook raised.
        """
        active = self._begin_deactivate(extension_id)
        if active is None:
            return
        try:
            if self._relay.implements(extension_id, _DEACTIVATE):
                self._relay.call_one(extension_id, _DEACTIVATE, {"context": active.context})
        finally:
            self._end_deactivate(extension_id)

    async def adeactivate(self, extension_id: str) -> None:
        """Like :meth:`deactivate` from async code: an async deactivate hook is awaited.

        Args:
            extension_id: The extension's id.
        """
        active = self._begin_deactivate(extension_id)
        if active is None:
            return
        try:
            if self._relay.implements(extension_id, _DEACTIVATE):
                await self._relay.acall_one(extension_id, _DEACTIVATE, {"context": active.context})
        finally:
            self._end_deactivate(extension_id)

    def _begin_deactivate(self, extension_id: str) -> _Active | None:
        if extension_id not in self._records:
            raise _unknown_extension(extension_id)
        return self._active.get(extension_id)

    def _end_deactivate(self, extension_id: str) -> None:
        with self._lock:
            if self._active.pop(extension_id, None) is not None:
                self._relay.unregister(extension_id)

    def close(self) -> None:
        """Deactivate every active extension, in reverse activation order.

        Every extension is deactivated even when some deactivate hooks raise; their
        failures are raised together afterwards. Closing twice does nothing.

        Raises:
            HookCallError: Some deactivate hooks raised.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            order = list(reversed(self._active))
        failures: list[tuple[str, BaseException]] = []
        for ext in order:
            try:
                self.deactivate(ext)
            except HookCallError as exc:
                failures.extend(exc.failures)
        self._raise_close_failures(failures)

    async def aclose(self) -> None:
        """Like :meth:`close` from async code: async deactivate hooks are awaited."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            order = list(reversed(self._active))
        failures: list[tuple[str, BaseException]] = []
        for ext in order:
            try:
                await self.adeactivate(ext)
            except HookCallError as exc:
                failures.extend(exc.failures)
        self._raise_close_failures(failures)

    def _raise_close_failures(self, failures: list[tuple[str, BaseException]]) -> None:
        if not failures:
            return
        listed = "; ".join(f"{ext} ({_describe(exc)})" for ext, exc in failures)
        raise HookCallError(
            f"{len(failures)} extension(s) failed to deactivate: {listed}",
            hook=_DEACTIVATE,
            failures=failures,
            extension_id=failures[0][0] if len(failures) == 1 else None,
        )

    def __enter__(self) -> InProcessRuntime:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- calls to one extension -----------------------------------------------------------

    def _prepare(
        self, extension_id: str, hook: str, kwargs: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        wants = self._wants_context.get(hook)
        if wants is None:
            if not self._relay.has_hook(hook):
                return kwargs  # the relay reports it as not implemented
            wants = self._wants_context[hook] = "context" in self._relay.spec_arguments(hook)
        if wants and "context" not in kwargs:
            active = self._active.get(extension_id)
            if active is None:
                raise ExtensionError(
                    "was deactivated while being called", extension_id=extension_id
                )
            return {**kwargs, "context": active.context}
        return kwargs

    def call(self, extension_id: str, hook: str, kwargs: Mapping[str, Any]) -> Any:
        """Call one extension's implementation of ``hook``, activating it first if needed.

        A hook whose spec takes ``context`` gets the extension's own context unless
        ``kwargs`` gives one.

        Args:
            extension_id: The extension whose implementation runs.
            hook: The hook's name.
            kwargs: Keyword arguments of the hook.

        Returns:
            What the implementation returned.

        Raises:
            UnknownExtensionError: The id was never added.
            ExtensionLoadError: The implicit activation failed.
            HookNotImplementedError: The extension does not implement ``hook``.
            HookCallError: The implementation raised.
            RuntimeClosedError: The runtime is closed.
        """
        if extension_id not in self._active:
            self.activate(extension_id)
        return self._relay.call_one(extension_id, hook, self._prepare(extension_id, hook, kwargs))

    async def acall(self, extension_id: str, hook: str, kwargs: Mapping[str, Any]) -> Any:
        """Like :meth:`call` from async code; a coroutine implementation is awaited.

        Args:
            extension_id: The extension whose implementation runs.
            hook: The hook's name.
            kwargs: Keyword arguments of the hook.

        Returns:
            What the implementation returned.
        """
        if extension_id not in self._active:
            await self.aactivate(extension_id)
        return await self._relay.acall_one(
            extension_id, hook, self._prepare(extension_id, hook, kwargs)
        )

    # -- broadcast ------------------------------------------------------------------------

    def _targets_of(self, hook: str) -> tuple[str, ...]:
        targets = self._targets.get(hook)
        if targets is None:
            wanted = f"on-hook:{hook}"
            found = []
            for ext, record in self._records.items():
                info = record.manifest.extension
                declared = wanted in info.activation or "on-startup" in info.activation
                # No activation events means "on first use" of what the kind contributes.
                implied = not info.activation and hook.startswith(_KIND_HOOK_PREFIX[info.kind])
                if declared or implied:
                    found.append(ext)
            targets = self._targets[hook] = tuple(found)
        return targets

    def _check_broadcast(self, hook: str, kwargs: Mapping[str, Any]) -> None:
        self._check_open()
        if "context" in self._relay.spec_arguments(hook) and "context" not in kwargs:
            from symphony_core.hooks.errors import HookUsageError

            raise HookUsageError(
                f"hook {hook} takes each extension's own context, so it cannot be broadcast",
                where=hook,
                hint="call it for one extension with call(), or run a node with call_node()",
            )

    def _activation_error(self, hook: str, ext: str, exc: Exception) -> None:
        if self._relay.policy_of(hook) != "isolate":
            raise exc
        self._logger.warning(
            "extension %s could not be activated for hook %s and was left out: %s",
            ext,
            hook,
            exc,
            extra={"extension_id": ext, "hook": hook},
        )

    def call_hook(self, hook: str, /, **kwargs: Any) -> Any:
        """Broadcast ``hook`` to every extension that may take part, activating them first.

        Activation failures follow the hook's policy: ``isolate`` leaves the extension
        out (and logs it); ``stop`` and ``collect`` raise.

        Args:
            hook: The hook's name; hooks taking a ``context`` cannot be broadcast.
            **kwargs: The hook's arguments.

        Returns:
            As :meth:`symphony_core.hooks.HookRelay.call`.
        """
        self._check_broadcast(hook, kwargs)
        for ext in self._targets_of(hook):
            if ext not in self._active:
                try:
                    self.activate(ext)
                except (ExtensionError, UserError) as exc:
                    self._activation_error(hook, ext, exc)
        return self._relay.call(hook, **kwargs)

    async def acall_hook(self, hook: str, /, **kwargs: Any) -> Any:
        """Like :meth:`call_hook` from async code, awaiting async implementations.

        Args:
            hook: The hook's name.
            **kwargs: The hook's arguments.

        Returns:
            As :meth:`symphony_core.hooks.HookRelay.acall`.
        """
        self._check_broadcast(hook, kwargs)
        for ext in self._targets_of(hook):
            if ext not in self._active:
                try:
                    await self.aactivate(ext)
                except (ExtensionError, UserError) as exc:
                    self._activation_error(hook, ext, exc)
        return await self._relay.acall(hook, **kwargs)

    def activate_for(self, event: str) -> list[str]:
        """Activate every added extension that declares the activation event ``event``.

        ``on-event:<topic>`` also matches extensions declaring a parent topic
        (``on-event:run`` matches ``on-event:run.finished``).

        Args:
            event: An activation event: ``on-startup``, ``on-command:<name>``,
                ``on-event:<topic>``, ``on-hook:<hook>`` or ``on-node:<type>``.

        Returns:
            The ids of the matching extensions (all active afterwards).
        """
        self._check_open()
        matching = [
            ext
            for ext, record in self._records.items()
            if any(
                event_matches(event, declared) for declared in record.manifest.extension.activation
            )
        ]
        for ext in matching:
            self.activate(ext)
        return matching

    def startup(self) -> list[str]:
        """Activate the extensions that declare ``on-startup``; return their ids."""
        return self.activate_for("on-startup")

    # -- nodes ----------------------------------------------------------------------------

    def _route(self, node_type: str, extension_id: str | None) -> ExtensionRecord:
        return route_node(node_type, extension_id, owners=self._node_owners, record_of=self.record)

    def _check_outputs(
        self, record: ExtensionRecord, node_type: str, result: Any
    ) -> Mapping[str, Any]:
        if result is None:
            raise NodeOutputError(
                f"declares node type {node_type!r} but its code returned nothing for it",
                extension_id=record.id,
            )
        if not isinstance(result, Mapping):
            raise NodeOutputError(
                f"node {node_type!r} returned {type(result).__name__}; a mapping of output "
                "port names to values was expected",
                extension_id=record.id,
            )
        declared = next(n for n in record.manifest.nodes if n.type == node_type).outputs
        names = {port.name for port in declared}
        if result.keys() != names:
            missing = sorted(names - result.keys())
            unknown = sorted(str(k) for k in result.keys() - names)
            problems = []
            if missing:
                problems.append(f"missing output(s) {', '.join(missing)}")
            if unknown:
                problems.append(f"undeclared output(s) {', '.join(unknown)}")
            raise NodeOutputError(
                f"node {node_type!r} returned {' and '.join(problems)}",
                extension_id=record.id,
                where=str(record.manifest_path),
            )
        return result

    def call_node(
        self,
        node_type: str,
        inputs: Mapping[str, Any],
        params: Mapping[str, Any] | None = None,
        *,
        extension_id: str | None = None,
    ) -> Mapping[str, Any]:
        """Run one node: route it to the extension that declares it, activating only that one.

        An Operator node runs ``symphony_operator_transform``. An Instrument node is
        loaded, invoked and unloaded again (one-shot; the Pool Manager keeps instances
        warm between calls instead).

        Args:
            node_type: The node type.
            inputs: Values of the node's input ports.
            params: Values of the node's parameters.
            extension_id: Which extension to use when several declare the node type.

        Returns:
            The node's outputs, checked against the manifest's output ports.

        Raises:
            UnknownNodeTypeError: No added extension (or not ``extension_id``) declares it.
            AmbiguousNodeTypeError: Several do and ``extension_id`` was not given.
            NodeOutputError: The outputs do not match the manifest.
            HookCallError: The extension's code raised.
        """
        record = self._route(node_type, extension_id)
        ext = record.id
        kind = record.manifest.extension.kind
        params = dict(params or {})
        if kind == "operator":
            result = self.call(
                ext,
                "symphony_operator_transform",
                {"node_type": node_type, "inputs": inputs, "params": params},
            )
        elif kind == "instrument":
            instance = self.call(
                ext, "symphony_instrument_load", {"node_type": node_type, "params": params}
            )
            self._check_instance(record, node_type, instance)
            try:
                result = self.call(
                    ext,
                    "symphony_instrument_invoke",
                    {
                        "node_type": node_type,
                        "instance": instance,
                        "inputs": inputs,
                        "params": params,
                    },
                )
            finally:
                self.call(
                    ext,
                    "symphony_instrument_unload",
                    {"node_type": node_type, "instance": instance},
                )
        else:
            raise self._not_a_node_kind(record, node_type)
        return self._check_outputs(record, node_type, result)

    async def acall_node(
        self,
        node_type: str,
        inputs: Mapping[str, Any],
        params: Mapping[str, Any] | None = None,
        *,
        extension_id: str | None = None,
    ) -> Mapping[str, Any]:
        """Like :meth:`call_node` from async code, awaiting async implementations.

        Args:
            node_type: The node type.
            inputs: Values of the node's input ports.
            params: Values of the node's parameters.
            extension_id: Which extension to use when several declare the node type.

        Returns:
            The node's outputs.
        """
        record = self._route(node_type, extension_id)
        ext = record.id
        kind = record.manifest.extension.kind
        params = dict(params or {})
        if kind == "operator":
            result = await self.acall(
                ext,
                "symphony_operator_transform",
                {"node_type": node_type, "inputs": inputs, "params": params},
            )
        elif kind == "instrument":
            instance = await self.acall(
                ext, "symphony_instrument_load", {"node_type": node_type, "params": params}
            )
            self._check_instance(record, node_type, instance)
            try:
                result = await self.acall(
                    ext,
                    "symphony_instrument_invoke",
                    {
                        "node_type": node_type,
                        "instance": instance,
                        "inputs": inputs,
                        "params": params,
                    },
                )
            finally:
                await self.acall(
                    ext,
                    "symphony_instrument_unload",
                    {"node_type": node_type, "instance": instance},
                )
        else:
            raise self._not_a_node_kind(record, node_type)
        return self._check_outputs(record, node_type, result)

    def _check_instance(self, record: ExtensionRecord, node_type: str, instance: object) -> None:
        if instance is None:
            raise NodeOutputError(
                f"declares Instrument node type {node_type!r} but loaded nothing for it",
                extension_id=record.id,
            )

    def _not_a_node_kind(self, record: ExtensionRecord, node_type: str) -> ExtensionError:
        return ExtensionError(
            f"is an {record.manifest.extension.kind}; only Operators and Instruments run "
            f"nodes such as {node_type!r}",
            extension_id=record.id,
            where=str(record.manifest_path),
        )
