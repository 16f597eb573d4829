"""The extension host: what runs inside a sandboxed extension process after its boot.

The sandbox launcher starts this module's :func:`main` in a confined child (see
``docs/sandbox.md``); it loads one extension with the in-process runtime — the same
activation, hook routing and node checks as for a trusted extension, the record being
trusted *inside* the child, which is the sandbox — and serves it to the host over IPC.

Two threads share the work:

* the **IPC thread** (the process's main thread) runs the connection: it answers the
  host's heartbeats and turns requests into work for the extension thread. It never
  runs extension code, so it keeps answering while a hook computes — a missing
  heartbeat means the *process* is stuck (a C call holding the GIL, a stopped process),
  not that a node is slow.
* the **extension thread** runs an event loop on which every hook call runs, one
  coroutine per request: plain implementations run in turn, coroutine implementations
  interleave.

Methods served (params by name; values are msgpack-native only):

* ``setup()`` — build the runtime (hook specs, the record); called first by the host.
* ``activate()`` / ``deactivate()`` — the extension's lifecycle hooks.
* ``call(hook, kwargs)`` — one hook of the extension; a spec taking ``context`` gets the
  extension's own.
* ``node(node_type, inputs, params)`` — run a node (Operators transform, Instruments
  load, invoke, unload), outputs checked against the manifest.
* ``health()`` — pid, activation state, threads, resident memory.

Events the host sends on the connection are handed to the extension's
``symphony_addon_event`` hook (when it is active and implements it), oldest first, at
most :data:`EVENT_QUEUE` waiting; more are dropped and counted.

Errors are answered as :class:`~symphony_core.runtime.crossing.ErrorRecord` data under
the application code :data:`~symphony_core.runtime.crossing.EXTENSION_ERROR`; nothing
but plain values ever leaves the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import importlib
import os
import sys
import threading
from collections import deque
from collections.abc import Coroutine, Mapping
from types import ModuleType
from typing import Any, Final

import msgspec

import symphony_core.hooks.relay as _relay_module
from symphony_core import hookspecs
from symphony_core.errors import ExtensionLoadError
from symphony_core.ipc.connection import Connection
from symphony_core.ipc.errors import HandlerError
from symphony_core.ipc.limits import IpcLimits
from symphony_core.ipc.server import serve
from symphony_core.ipc.topics import Event
from symphony_core.ipc.transport import socket_from_fd
from symphony_core.runtime.crossing import (
    EXTENSION_ERROR,
    ExtHostArgs,
    decode_args,
    error_record,
)
from symphony_core.runtime.inprocess import InProcessRuntime

__all__ = ["EVENT_QUEUE", "ExtensionHost", "main"]

# The fork server imports this module once. What activation imports later is imported
# now, so every extension process starts with it already loaded (the fork copies it)
# instead of importing it again, under Landlock, at every start.
_PRELOAD: Final = (
    "concurrent.futures",
    "packaging.specifiers",
    "symphony_core.hooks.context",
    "symphony_core.hostapi",
    "symphony_core.ports.runtime",
    "symphony_sdk",
)
for _name in _PRELOAD:
    with contextlib.suppress(ImportError):
        importlib.import_module(_name)

#: Events from the host waiting for the extension before the oldest are dropped.
EVENT_QUEUE: Final = 1024
_EVENT_HOOK: Final = "symphony_addon_event"


def _import_spec(name: str) -> ModuleType | type:
    module_name, _, attribute = name.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in filter(None, attribute.split(".")):
        target = getattr(target, part)
    if not isinstance(target, ModuleType | type):
        raise TypeError(f"hook specs {name!r} are neither a module nor a class")
    return target


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class ExtensionHost:
    """One extension served over IPC from inside its sandbox.

    Args:
        args: What to load (the extension, the configuration, extra hook specs).
    """

    def __init__(self, args: ExtHostArgs) -> None:
        self.args = args
        self.extension_id = args.record.id
        self.runtime: InProcessRuntime | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="symphony-extension", daemon=True
        )
        self._thread.start()
        self._events: deque[Event] = deque()
        self._event_wake: asyncio.Event | None = None
        self._events_dropped = 0
        self._event_task: asyncio.Task[None] | None = None

    # -- running extension code on the extension thread -------------------------------

    async def _offload(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coro`` on the extension thread; its errors become error answers."""
        future = asyncio.run_coroutine_threadsafe(_guarded(coro), self._loop)
        try:
            ok, value = await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            future.cancel()
            raise
        if not ok:
            raise value
        return value

    def _require(self) -> InProcessRuntime:
        if self.runtime is None:
            raise HandlerError(
                "the extension host was not set up", code_value=EXTENSION_ERROR, data=None
            )
        return self.runtime

    # -- methods ----------------------------------------------------------------------

    async def setup(self) -> dict[str, Any]:
        """Build the runtime and add the extension (idempotent); return process facts."""
        if self.runtime is None:
            self.runtime = await self._offload(self._build())
        return {"pid": os.getpid(), "python": sys.version.split()[0]}

    async def _build(self) -> InProcessRuntime:
        args = self.args
        try:
            specs = [hookspecs, *(_import_spec(name) for name in args.hookspecs)]
        except Exception as exc:
            raise ExtensionLoadError(
                f"the host's hook specifications cannot be imported in the sandbox: {exc}",
                extension_id=self.extension_id,
                hint="hook spec modules must be readable by the extension's sandbox",
            ) from exc
        relay = _relay_module.HookRelay.from_config(args.config, specs=specs)
        runtime = InProcessRuntime(args.config, relay=relay)
        # The child is the sandbox: inside it the extension runs as a trusted one.
        runtime.add(msgspec.structs.replace(args.record, trust="trusted"))
        return runtime

    async def activate(self) -> None:
        """Run the extension's activation (import, registration, activate hook)."""
        runtime = self._require()
        await self._offload(runtime.aactivate(self.extension_id))

    async def deactivate(self) -> None:
        """Run the extension's deactivate hook and unregister it."""
        runtime = self._require()
        await self._offload(runtime.adeactivate(self.extension_id))

    async def call(self, hook: str, kwargs: dict[str, Any] | None = None) -> Any:
        """Call one hook of the extension."""
        runtime = self._require()
        return await self._offload(runtime.acall(self.extension_id, hook, kwargs or {}))

    async def node(
        self,
        node_type: str,
        inputs: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Run one node of the extension; return its outputs as a plain dict."""
        runtime = self._require()
        outputs: Mapping[str, Any] = await self._offload(
            runtime.acall_node(
                node_type, inputs or {}, params or {}, extension_id=self.extension_id
            )
        )
        return dict(outputs)

    def health(self) -> dict[str, Any]:
        """Return the process's pid, activation state, thread count and resident memory."""
        runtime = self.runtime
        return {
            "pid": os.getpid(),
            "active": runtime is not None and runtime.is_active(self.extension_id),
            "threads": threading.active_count(),
            "rss_bytes": _rss_bytes(),
            "events_dropped": self._events_dropped,
        }

    def handlers(self) -> dict[str, Any]:
        """Return the IPC handler table."""
        return {
            "setup": self.setup,
            "activate": self.activate,
            "deactivate": self.deactivate,
            "call": self.call,
            "node": self.node,
            "health": self.health,
        }

    # -- events -------------------------------------------------------------------------

    def on_event(self, topic: str, data: Any) -> None:
        """Queue an event from the host for the extension (drops the oldest when full)."""
        if len(self._events) >= EVENT_QUEUE:
            self._events.popleft()
            self._events_dropped += 1
        self._events.append(Event(topic, data, "host"))
        wake = self._event_wake
        if wake is not None:
            wake.set()

    async def _deliver_events(self) -> None:
        wake = self._event_wake = asyncio.Event()
        while True:
            if not self._events:
                wake.clear()
                await wake.wait()
                continue
            event = self._events.popleft()
            runtime = self.runtime
            if runtime is None or not runtime.is_active(self.extension_id):
                continue
            if not runtime.relay.implements(self.extension_id, _EVENT_HOOK):
                continue
            try:
                await self._offload(runtime.acall(self.extension_id, _EVENT_HOOK, {"event": event}))
            except HandlerError as exc:
                print(f"event {event.topic} failed: {exc.message}", file=sys.stderr)

    async def _on_ready(self, conn: Connection) -> None:
        self._event_task = asyncio.get_running_loop().create_task(self._deliver_events())

    # -- serving ------------------------------------------------------------------------

    def serve(self, fd: int, limits: IpcLimits | None = None) -> str:
        """Serve the extension on the inherited socket ``fd`` until the host hangs up."""
        return serve(
            self.handlers(),
            socket_from_fd(fd),
            extension_id=self.extension_id,
            extension_version=self.args.record.version,
            capabilities=("extension-host",),
            limits=limits,
            on_ready=self._on_ready,
            on_event=self.on_event,
        )


async def _guarded(coro: Coroutine[Any, Any, Any]) -> tuple[bool, Any]:
    """Run ``coro``; return ``(True, result)`` or ``(False, HandlerError)``.

    Every exception of extension code, ``SystemExit`` included, becomes an error answer
    here, on the extension thread, so none can stop that thread's loop.
    """
    try:
        return True, await coro
    except asyncio.CancelledError:
        raise
    except BaseException as exc:  # extension code: report it, never let it stop the loop
        return False, _answer(exc)


def _answer(exc: BaseException) -> HandlerError:
    record = error_record(exc)
    return HandlerError(
        record.message,
        code_value=EXTENSION_ERROR,
        data=msgspec.to_builtins(record),
    )


def main(ipc_fd: int | None, args: dict[str, Any]) -> int:
    """Serve one extension on ``ipc_fd`` (the sandbox launcher's target).

    Args:
        ipc_fd: The IPC socket inherited from the host (fd 3).
        args: :class:`~symphony_core.runtime.crossing.ExtHostArgs` as plain values.

    Returns:
        The process's exit status: 0 after the host hung up, 2 for unusable arguments.
    """
    faulthandler.enable()  # a crash prints its stack on stderr, which the host keeps
    if ipc_fd is None:
        print("extension host started without an IPC socket", file=sys.stderr)
        return 2
    try:
        host_args = decode_args(args)
    except msgspec.ValidationError as exc:
        print(f"extension host arguments are invalid: {exc}", file=sys.stderr)
        return 2
    for entry in host_args.sys_path:
        if entry not in sys.path:
            sys.path.append(entry)
    host = ExtensionHost(host_args)
    reason = host.serve(ipc_fd)
    print(f"extension host {host.extension_id} done: {reason}", file=sys.stderr)
    return 0
