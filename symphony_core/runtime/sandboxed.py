"""The sandboxed runtime: community extensions, each in its own confined process.

:class:`SandboxedRuntime` implements :class:`~symphony_core.ports.runtime.ExtensionRuntime`
like the in-process runtime does, with the same activation, node routing and errors,
but every extension runs in a process the kernel confines (see ``docs/sandbox.md``),
started from the sandbox launcher's warm fork server and watched by a
:class:`~symphony_core.runtime.supervisor.Supervisor` (see ``docs/supervisor.md``)::

    runtime = SandboxedRuntime(config)            # or launcher=, profile_for=, audit_sink=
    runtime.start()                               # warm the fork server with the host
    runtime.add(record)                           # a community extension from discovery
    runtime.call_node("tokenize", {"text": "Hello world"})   # {'tokens': ['hello', 'world']}
    runtime.status("examples.textops")            # running / restarting / quarantined ...
    runtime.close()                               # deactivate, stop, nothing left behind

The API is synchronous and thread-safe (``acall`` and ``acall_node`` for async code);
the work happens on one background thread with an event loop, which carries the IPC
connections, heartbeats and crash handling of every extension.

Values cross the boundary as msgpack-native data only (``None``, ``bool``, ``int``,
``float``, ``str``, ``bytes``, lists, dicts, timestamps): tuples come back as lists.
Errors raised by extension code arrive as the in-process runtime's errors — a
:class:`~symphony_core.errors.HookCallError` whose ``failures`` hold
:class:`~symphony_core.runtime.crossing.RemoteFailure` (type name, code and message of
the original exception, never the object itself).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final, TypeVar

import msgspec

from symphony_core.config import Config
from symphony_core.errors import ExtensionError, ExtensionLoadError, HookCallError, SymphonyError
from symphony_core.extension import ExtensionRecord
from symphony_core.fs import ensure_dir
from symphony_core.ipc.bus import Bus
from symphony_core.ipc.topics import TopicRouter, check_topic
from symphony_core.log import get_logger
from symphony_core.manifest.size import InvalidSizeError, parse_size
from symphony_core.ports.runtime import RuntimeClosedError, UnknownExtensionError
from symphony_core.runtime.crossing import EXTHOST_TARGET, ExtHostArgs
from symphony_core.runtime.extprocess import ProcessIndex
from symphony_core.runtime.inprocess import ExtensionDisabledError
from symphony_core.runtime.routing import event_matches, route_node
from symphony_core.runtime.sandbox.launcher import AuditRecord, Launcher
from symphony_core.runtime.sandbox.policy import SandboxProfile
from symphony_core.runtime.supervisor import (
    ExtensionState,
    ExtensionStatus,
    Supervisor,
    SupervisorPolicy,
)

__all__ = [
    "SandboxedRuntime",
    "data_dir_of",
    "default_profile",
    "import_root",
    "scratch_dir_of",
]

_T = TypeVar("_T")
_MIB: Final = 1 << 20
_DEFAULT: Final[Any] = object()


def scratch_dir_of(config: Config, extension_id: str) -> Path:
    """Return the extension's scratch directory (what its context's ``scratch_dir`` says)."""
    return config.cache_dir / "scratch" / extension_id


def data_dir_of(config: Config, extension_id: str) -> Path:
    """Return the extension's data directory (what its context's ``data_dir`` says)."""
    return config.home / "extensions" / extension_id


def import_root(record: ExtensionRecord) -> Path:
    """Return the directory from which the extension's entry module is imported.

    For a package (``acme_tool/`` holding ``symphony.toml``, entry ``acme_tool.ext:X``)
    it is the package's parent; for a top-level module next to the manifest, the
    package directory itself.
    """
    top = record.manifest.extension.entry.partition(":")[0].split(".")[0]
    package_dir = record.package_dir
    return package_dir.parent if package_dir.name == top else package_dir


def default_profile(record: ExtensionRecord, config: Config) -> SandboxProfile:
    """Return the conservative profile a community extension gets without a policy.

    Resource limits come from the manifest's ``[limits]`` (the defaults of
    :class:`~symphony_core.runtime.sandbox.policy.SandboxProfile` where it says
    nothing); permissions are *not* taken from ``[permissions]``, which only asks: no
    network, no environment, no subprocesses, and the filesystem limited to reading the
    extension's own files (its import root) and writing its scratch and data
    directories (created here).

    Args:
        record: The extension.
        config: The host's configuration (``home`` locates the directories).

    Returns:
        The profile.
    """
    limits = record.manifest.limits
    base = SandboxProfile()
    scratch = ensure_dir(scratch_dir_of(config, record.id), mode=0o700)
    data = ensure_dir(data_dir_of(config, record.id), mode=0o700)
    try:
        return SandboxProfile(
            memory_bytes=parse_size(limits.memory) if limits.memory else base.memory_bytes,
            cpu_share=limits.cpu_share if limits.cpu_share is not None else base.cpu_share,
            cpu_seconds=limits.cpu_time,
            pids=limits.processes if limits.processes is not None else base.pids,
            open_files=limits.open_files if limits.open_files is not None else base.open_files,
            fs_read=(str(import_root(record)),),
            fs_write=(str(data),),
            scratch_dir=str(scratch),
            network="none",
        )
    except (ValueError, InvalidSizeError) as exc:
        raise ExtensionLoadError(
            f"its [limits] cannot be granted by the sandbox: {exc}",
            extension_id=record.id,
            where=f"{record.manifest_path}: limits",
            hint="the sandbox needs at least 16 MiB of memory",
        ) from None


class _LoopThread:
    """An event loop on a daemon thread, and the means to run coroutines on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._stopping = False
        self.thread = threading.Thread(target=self._run, name="symphony-supervisor", daemon=True)
        self.thread.start()
        self._ready.wait()

    def _run(self) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        loop.call_soon(self._ready.set)
        try:
            loop.run_forever()
        finally:
            # Whatever is still running (a call that raced the shutdown) is cancelled, so
            # no caller waits forever on a loop that is gone.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    def submit(self, coro: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        if threading.current_thread() is self.thread:
            coro.close()
            raise RuntimeError("the sandboxed runtime cannot be called from its own thread")
        with self._lock:
            if self._stopping:
                coro.close()
                raise RuntimeClosedError("the sandboxed runtime is closed")
            return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        future = self.submit(coro)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise RuntimeClosedError("the sandboxed runtime closed during the call") from None
        except BaseException:
            future.cancel()  # an interrupted caller cancels its call
            raise

    async def arun(self, coro: Coroutine[Any, Any, _T]) -> _T:
        future = self.submit(coro)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            if future.cancelled() and not _current_task_cancelling():
                raise RuntimeClosedError("the sandboxed runtime closed during the call") from None
            raise

    def call_soon(self, callback: Callable[..., object], *args: Any) -> None:
        """Run ``callback(*args)`` on the loop (from any thread); dropped once stopped."""
        with self._lock:
            if not self._stopping:
                self.loop.call_soon_threadsafe(callback, *args)

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)


def _current_task_cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class SandboxedRuntime:
    """Runs community extensions, each in its own sandboxed and supervised process.

    Implements :class:`symphony_core.ports.runtime.ExtensionRuntime`.

    Args:
        config: The host's configuration (``home``, ``disabled``, hook order/policy).
        launcher: The sandbox launcher to use; its allow-list must hold the extension
            host (:data:`~symphony_core.runtime.crossing.EXTHOST_TARGET`). By default
            the runtime makes (and closes) its own.
        profile_for: The sandbox profile of an extension (the host's permission
            policy); :func:`default_profile` by default.
        audit_sink: Receives audit records: the child's refused attempts (when the
            runtime makes the launcher) and the supervisor's findings (limits hit,
            protocol violations, floods). The launcher's sink by default.
        policy: Heartbeat, restart, quarantine and stop settings.
        hookspecs: Extra hook specifications (``module`` or ``module:attribute``) the
            extension hosts import besides :mod:`symphony_core.hookspecs`; they must be
            readable inside the sandbox.
        accept_weaker: Sandbox weakenings the user accepted (only for the runtime's own
            launcher; see ``docs/sandbox.md``).

    Raises:
        ValueError: ``launcher`` does not allow the extension host.
    """

    def __init__(
        self,
        config: Config,
        *,
        launcher: Launcher | None = None,
        profile_for: Callable[[ExtensionRecord], SandboxProfile] | None = None,
        audit_sink: Callable[[AuditRecord], None] | None = None,
        policy: SupervisorPolicy | None = None,
        hookspecs: Sequence[str] = (),
        accept_weaker: Iterable[str] = (),
    ) -> None:
        self._config = config
        self._own_launcher = launcher is None
        if launcher is None:
            launcher = Launcher(
                allowed_targets={EXTHOST_TARGET},
                accept_weaker=accept_weaker,
                audit_sink=audit_sink,
            )
        elif EXTHOST_TARGET not in launcher.allowed_targets:
            raise ValueError(
                f"the launcher does not allow {EXTHOST_TARGET}; create it with "
                f"Launcher(allowed_targets={{{EXTHOST_TARGET!r}, ...}})"
            )
        self._launcher = launcher
        self._audit = audit_sink or launcher.audit_sink
        self._base_profile_for = profile_for or (lambda record: default_profile(record, config))
        self._policy = policy or SupervisorPolicy()
        self._hookspecs = tuple(hookspecs)
        self._spec_roots = tuple(_spec_roots(self._hookspecs))
        self._logger = get_logger("symphony.sandbox.supervisor")
        self._lock = threading.RLock()
        self._records: dict[str, ExtensionRecord] = {}
        self._node_owners: dict[str, list[str]] = {}
        self._supervisors: dict[str, Supervisor] = {}
        self._activation: dict[str, None] = {}
        self._routes: TopicRouter[str] = TopicRouter()
        self._index = ProcessIndex()
        self._thread: _LoopThread | None = None
        self._bus: Bus | None = None
        self._closed = False

    # -- set-up -----------------------------------------------------------------------

    @property
    def launcher(self) -> Launcher:
        """The sandbox launcher in use."""
        return self._launcher

    @property
    def policy(self) -> SupervisorPolicy:
        """The supervisor policy in use."""
        return self._policy

    def start(self) -> None:
        """Start the supervisor thread and the fork server now (returns at once).

        Otherwise they start with the first activation; call this when the host starts
        so that the fork server's own start-up is off the first call's path.

        Raises:
            RuntimeClosedError: The runtime is closed.
        """
        self._loop_thread()
        self._launcher.start_server()

    def _loop_thread(self) -> _LoopThread:
        with self._lock:
            if self._closed:
                raise RuntimeClosedError("the sandboxed runtime is closed")
            if self._thread is None:
                thread = _LoopThread()
                self._bus = bus = Bus(host_id="symphony-host", limits=self._policy.ipc_limits)
                bus.add_close_listener(self._index.closed)
                self._launcher.add_exit_listener(self._exit_listener)
                self._thread = thread
            return self._thread

    def _exit_listener(self, pid: int, _returncode: int) -> None:
        thread = self._thread
        if thread is not None:
            # The launcher's I/O thread: hand the news to the supervisor loop.
            thread.call_soon(self._index.exited, pid)

    def _profile_for(self, record: ExtensionRecord) -> SandboxProfile:
        profile = self._base_profile_for(record)
        # The host's own hook specs must be importable in every sandbox (read-only).
        extra = tuple(root for root in self._spec_roots if root not in profile.fs_read)
        if not extra:
            return profile
        return msgspec.structs.replace(profile, fs_read=profile.fs_read + extra)

    def _args_for(self, record: ExtensionRecord) -> ExtHostArgs:
        return ExtHostArgs(
            record=record,
            config=self._config,
            sys_path=(str(import_root(record)), *self._spec_roots),
            hookspecs=self._hookspecs,
        )

    # -- records ----------------------------------------------------------------------

    def add(self, record: ExtensionRecord) -> None:
        """Make an extension known; nothing starts until it is used.

        Adding the same record again does nothing; a different record with the same id
        replaces the known one unless that one is active.

        Args:
            record: The extension (a community one, or a trusted one the host chooses
                to confine).

        Raises:
            ExtensionDisabledError: The configuration disables it.
            ExtensionAlreadyActiveError: Another version with the same id is active.
            RuntimeClosedError: The runtime is closed.
        """
        self.add_all((record,))

    def add_all(self, records: Iterable[ExtensionRecord]) -> None:
        """Make several extensions known, as :meth:`add` does for each, in order."""
        disabled = frozenset(self._config.disabled)
        with self._lock:
            for record in records:
                self._accept(record, disabled)

    def _accept(self, record: ExtensionRecord, disabled: frozenset[str]) -> None:
        ext = record.id
        if self._closed:
            raise RuntimeClosedError("the sandboxed runtime is closed")
        if ext in disabled:
            raise ExtensionDisabledError(
                "is disabled by the configuration ('disabled' setting)",
                extension_id=ext,
                hint="remove it from 'disabled' to use it",
            )
        known = self._records.get(ext)
        if known == record:
            return
        if known is not None:
            supervisor = self._supervisors.get(ext)
            if supervisor is not None and supervisor.is_active:
                from symphony_core.ports.runtime import ExtensionAlreadyActiveError

                raise ExtensionAlreadyActiveError(
                    f"version {known.version} is active; cannot replace it by version "
                    f"{record.version}",
                    extension_id=ext,
                    hint="deactivate it first",
                )
            self._supervisors.pop(ext, None)
        self._records[ext] = record
        if known is None:
            for node in record.manifest.nodes:
                self._node_owners.setdefault(node.type, []).append(ext)
            return
        # A replaced record keeps its place; rebuilding keeps each type's owners in order.
        owners: dict[str, list[str]] = {}
        for other, other_record in self._records.items():
            for node in other_record.manifest.nodes:
                owners.setdefault(node.type, []).append(other)
        self._node_owners = owners

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
            raise UnknownExtensionError(
                "was never added to the sandboxed runtime", extension_id=extension_id
            )
        return record

    def node_types(self) -> dict[str, list[str]]:
        """Return every node type declared by an added extension, with its extensions."""
        return {node: list(exts) for node, exts in sorted(self._node_owners.items())}

    def _supervisor(self, extension_id: str) -> Supervisor:
        with self._lock:
            if self._closed:
                raise RuntimeClosedError("the sandboxed runtime is closed")
            supervisor = self._supervisors.get(extension_id)
            if supervisor is not None:
                return supervisor
            record = self.record(extension_id)
            self._loop_thread()
            assert self._bus is not None
            supervisor = Supervisor(
                record,
                bus=self._bus,
                launcher=self._launcher,
                index=self._index,
                profile_for=self._profile_for,
                args_for=self._args_for,
                policy=self._policy,
                audit=self._audit,
                logger=self._logger,
            )
            self._supervisors[extension_id] = supervisor
            return supervisor

    def _run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return self._loop_thread().run(coro)

    async def _arun(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return await self._loop_thread().arun(coro)

    # -- state ------------------------------------------------------------------------

    def is_active(self, extension_id: str) -> bool:
        """Return whether the extension is active (an unknown id is not)."""
        supervisor = self._supervisors.get(extension_id)
        return supervisor is not None and supervisor.is_active

    def active_ids(self) -> list[str]:
        """Return the ids of the active extensions, in activation order."""
        with self._lock:
            return [ext for ext in self._activation if self.is_active(ext)]

    def status(self, extension_id: str) -> ExtensionStatus:
        """Return what the supervisor knows about the extension now.

        Raises:
            UnknownExtensionError: The id was never added.
        """
        supervisor = self._supervisors.get(extension_id)
        if supervisor is None:
            record = self.record(extension_id)
            state: ExtensionState = "closed" if self._closed else "stopped"
            return ExtensionStatus(extension_id=record.id, state=state, active=False, message=state)
        return supervisor.status()

    def statuses(self) -> list[ExtensionStatus]:
        """Return the status of every added extension, in the order they were added."""
        return [self.status(ext) for ext in list(self._records)]

    def release(self, extension_id: str) -> bool:
        """Lift the extension's quarantine and forget its past crashes.

        Returns:
            Whether it was quarantined. It starts again on its next use.

        Raises:
            UnknownExtensionError: The id was never added.
        """
        self.record(extension_id)
        supervisor = self._supervisors.get(extension_id)
        if supervisor is None:
            return False
        return self._run(_call_soon(supervisor.release))

    # -- activation -------------------------------------------------------------------

    def _accept_for_activation(self, record: ExtensionRecord | str) -> str:
        if isinstance(record, str):
            self.record(record)
            return record
        self.add(record)
        return record.id

    def _activated(self, extension_id: str) -> None:
        with self._lock:
            self._activation.pop(extension_id, None)
            self._activation[extension_id] = None

    def activate(self, record: ExtensionRecord | str) -> None:
        """Start the extension's process and run its activation; nothing if it is active.

        Args:
            record: The extension's record (added first if needed) or an added id.

        Raises:
            UnknownExtensionError: An id that was never added.
            ExtensionLoadError: The sandbox could not start, or the extension's import
                or activate hook failed (its process is stopped again).
            ExtensionCrashedError: The process crashed while starting.
            ExtensionQuarantinedError: The extension is quarantined.
            RuntimeClosedError: The runtime is closed.
        """
        ext = self._accept_for_activation(record)
        supervisor = self._supervisor(ext)
        if not supervisor.is_active:
            self._run(supervisor.activate())
            self._activated(ext)

    async def aactivate(self, record: ExtensionRecord | str) -> None:
        """Like :meth:`activate` from async code."""
        ext = self._accept_for_activation(record)
        supervisor = self._supervisor(ext)
        if not supervisor.is_active:
            await self._arun(supervisor.activate())
            self._activated(ext)

    def deactivate(self, extension_id: str) -> None:
        """Run the extension's deactivate hook and stop its process.

        A known but inactive extension is left as it is. The extension is inactive
        afterwards even when its deactivate hook raised; the error is raised after.

        Raises:
            UnknownExtensionError: The id was never added.
            HookCallError: The deactivate hook raised.
            ExtensionCrashedError: The process crashed during deactivation.
        """
        self.record(extension_id)
        supervisor = self._supervisors.get(extension_id)
        if supervisor is None:
            return
        try:
            self._run(supervisor.deactivate())
        finally:
            with self._lock:
                self._activation.pop(extension_id, None)

    def activate_for(self, event: str) -> list[str]:
        """Activate every added extension whose manifest declares the activation ``event``.

        ``on-event:<topic>`` also matches extensions declaring a parent topic.

        Returns:
            The ids of the matching extensions (all active afterwards).
        """
        matching = [
            ext
            for ext, record in list(self._records.items())
            if any(event_matches(event, d) for d in record.manifest.extension.activation)
        ]
        for ext in matching:
            self.activate(ext)
        return matching

    # -- calls ------------------------------------------------------------------------

    def _timeout(self, timeout: Any) -> float | None:
        chosen: float | None = self._policy.call_timeout if timeout is _DEFAULT else timeout
        return chosen

    def call(
        self,
        extension_id: str,
        hook: str,
        kwargs: Mapping[str, Any],
        *,
        timeout: float | None = _DEFAULT,
    ) -> Any:
        """Call one extension's implementation of ``hook``, activating it first if needed.

        A hook whose spec takes ``context`` gets the extension's own context (inside its
        process) unless ``kwargs`` gives one.

        Args:
            extension_id: The extension whose implementation runs.
            hook: The hook's name.
            kwargs: Keyword arguments of the hook (msgpack-native values).
            timeout: Seconds before the process is judged stuck and restarted
                (``policy.call_timeout`` by default; ``None``: no limit).

        Returns:
            What the implementation returned (as msgpack-native values).

        Raises:
            UnknownExtensionError: The id was never added.
            ExtensionLoadError: The implicit activation failed.
            HookNotImplementedError: The extension does not implement ``hook``.
            HookCallError: The implementation raised.
            ExtensionCrashedError: The process crashed or was stopped as stuck.
            ExtensionQuarantinedError: The extension is quarantined.
            ValueNotPortableError: ``kwargs`` cannot be sent to the process.
            RuntimeClosedError: The runtime is closed.
        """
        supervisor = self._supervisor(extension_id)
        was_active = supervisor.is_active
        result = self._run(
            supervisor.call(
                "call",
                {"hook": hook, "kwargs": dict(kwargs)},
                timeout=self._timeout(timeout),
                during=f"hook {hook}",
            )
        )
        if not was_active:
            self._activated(extension_id)
        return result

    async def acall(
        self,
        extension_id: str,
        hook: str,
        kwargs: Mapping[str, Any],
        *,
        timeout: float | None = _DEFAULT,
    ) -> Any:
        """Like :meth:`call` from async code (a coroutine implementation is awaited).

        Args:
            extension_id: The extension whose implementation runs.
            hook: The hook's name.
            kwargs: Keyword arguments of the hook.
            timeout: As for :meth:`call`.

        Returns:
            What the implementation returned.
        """
        supervisor = self._supervisor(extension_id)
        was_active = supervisor.is_active
        result = await self._arun(
            supervisor.call(
                "call",
                {"hook": hook, "kwargs": dict(kwargs)},
                timeout=self._timeout(timeout),
                during=f"hook {hook}",
            )
        )
        if not was_active:
            self._activated(extension_id)
        return result

    def _route(self, node_type: str, extension_id: str | None) -> ExtensionRecord:
        return route_node(node_type, extension_id, owners=self._node_owners, record_of=self.record)

    def _node_call(
        self,
        node_type: str,
        inputs: Mapping[str, Any],
        params: Mapping[str, Any] | None,
        extension_id: str | None,
        timeout: Any,
    ) -> tuple[str, Supervisor, Coroutine[Any, Any, Any]]:
        record = self._route(node_type, extension_id)
        supervisor = self._supervisor(record.id)
        coro = supervisor.call(
            "node",
            {"node_type": node_type, "inputs": dict(inputs), "params": dict(params or {})},
            timeout=self._timeout(timeout),
            during=f"node {node_type!r}",
        )
        return record.id, supervisor, coro

    def call_node(
        self,
        node_type: str,
        inputs: Mapping[str, Any],
        params: Mapping[str, Any] | None = None,
        *,
        extension_id: str | None = None,
        timeout: float | None = _DEFAULT,
    ) -> dict[str, Any]:
        """Run one node in the process of the extension that declares it.

        An Operator node runs ``symphony_operator_transform``; an Instrument node is
        loaded, invoked and unloaded (all inside the extension's process).

        Args:
            node_type: The node type.
            inputs: Values of the node's input ports (msgpack-native).
            params: Values of the node's parameters.
            extension_id: Which extension to use when several declare the node type.
            timeout: As for :meth:`call`.

        Returns:
            The node's outputs, checked against the manifest.

        Raises:
            UnknownNodeTypeError: No added extension (or not ``extension_id``) declares it.
            AmbiguousNodeTypeError: Several do and ``extension_id`` was not given.
            NodeOutputError: The outputs do not match the manifest.
            HookCallError: The extension's code raised.
            ExtensionCrashedError: The process crashed or was stopped as stuck.
        """
        ext, supervisor, coro = self._node_call(node_type, inputs, params, extension_id, timeout)
        was_active = supervisor.is_active
        result: dict[str, Any] = self._run(coro)
        if not was_active:
            self._activated(ext)
        return result

    async def acall_node(
        self,
        node_type: str,
        inputs: Mapping[str, Any],
        params: Mapping[str, Any] | None = None,
        *,
        extension_id: str | None = None,
        timeout: float | None = _DEFAULT,
    ) -> dict[str, Any]:
        """Like :meth:`call_node` from async code.

        Args:
            node_type: The node type.
            inputs: Values of the node's input ports.
            params: Values of the node's parameters.
            extension_id: Which extension to use when several declare the node type.
            timeout: As for :meth:`call`.

        Returns:
            The node's outputs.
        """
        ext, supervisor, coro = self._node_call(node_type, inputs, params, extension_id, timeout)
        was_active = supervisor.is_active
        result: dict[str, Any] = await self._arun(coro)
        if not was_active:
            self._activated(ext)
        return result

    # -- events -----------------------------------------------------------------------

    def subscribe(self, extension_id: str, pattern: str) -> None:
        """Deliver host events matching ``pattern`` to the extension's event hook.

        The routes are kept by the host, so they survive restarts of the process. An
        event reaches an extension only while it is active; one it reads too slowly is
        dropped rather than queued without bound.

        Raises:
            UnknownExtensionError: The id was never added.
            IpcUsageError: The pattern is malformed (see :mod:`symphony_core.ports.topics`).
        """
        self.record(extension_id)
        with self._lock:
            self._routes.add(pattern, extension_id)

    def unsubscribe(self, extension_id: str, pattern: str) -> None:
        """Undo one :meth:`subscribe`."""
        with self._lock:
            self._routes.remove(pattern, extension_id)

    def publish(self, topic: str, data: Any = None) -> int:
        """Send an event to every active extension subscribed to a matching pattern.

        Args:
            topic: The event's topic.
            data: Its payload (msgpack-native values).

        Returns:
            How many extensions it was sent to.
        """
        check_topic(topic)
        with self._lock:
            targets = [
                self._supervisors[e] for e in self._routes.match(topic) if e in self._supervisors
            ]
        if not targets or self._thread is None:
            return 0
        return self._run(_send_all(targets, topic, data))

    # -- shutdown ---------------------------------------------------------------------

    def close(self) -> None:
        """Deactivate every active extension in reverse activation order and stop all.

        Every process is stopped and its tree killed, even when deactivate hooks raise;
        their failures are raised together afterwards as one
        :class:`~symphony_core.errors.HookCallError`. Closing twice does nothing.

        Raises:
            HookCallError: Some deactivate hooks raised or crashed.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
            order = [ext for ext in reversed(self._activation) if self.is_active(ext)]
            rest = [ext for ext in self._supervisors if ext not in order]
            supervisors = [self._supervisors[ext] for ext in order + rest]
        failures: list[tuple[str, BaseException]] = []
        if thread is not None:
            for supervisor in supervisors:
                try:
                    thread.run(supervisor.close())
                except HookCallError as exc:
                    failures.extend(exc.failures or [(supervisor.extension_id, exc)])
                except SymphonyError as exc:
                    failures.append((supervisor.extension_id, exc))
            if self._bus is not None:
                thread.run(self._bus.close("the host is shutting down"))
            self._launcher.remove_exit_listener(self._exit_listener)
            thread.stop()
        if self._own_launcher:
            self._launcher.close()
        with self._lock:
            self._activation.clear()
        if failures:
            listed = "; ".join(f"{ext} ({_describe(exc)})" for ext, exc in failures)
            raise HookCallError(
                f"{len(failures)} extension(s) failed to deactivate: {listed}",
                hook="symphony_deactivate",
                failures=failures,
                extension_id=failures[0][0] if len(failures) == 1 else None,
            )

    def __enter__(self) -> SandboxedRuntime:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


async def _call_soon(fn: Callable[[], _T]) -> _T:
    return fn()


async def _send_all(targets: list[Supervisor], topic: str, data: Any) -> int:
    return sum(1 for supervisor in targets if supervisor.publish(topic, data))


def _spec_roots(names: Sequence[str]) -> list[str]:
    """Return the import roots of hook spec modules, found without running them."""
    roots: list[str] = []
    for name in names:
        top = name.partition(":")[0].split(".")[0]
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            continue  # the extension host reports what it cannot import
        if spec is None:
            continue
        if spec.submodule_search_locations:
            root = str(Path(next(iter(spec.submodule_search_locations))).parent)
        elif spec.origin and spec.origin not in ("built-in", "frozen"):
            root = str(Path(spec.origin).parent)
        else:
            continue
        if root not in roots:
            roots.append(root)
    return roots


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ExtensionError):
        return exc.message
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
