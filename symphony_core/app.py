"""The :class:`Host`: the one object a host application embeds.

``Host.start()`` reads the configuration, discovers the installed extensions (manifests
only, no extension code imported), resolves them against each other and the host API,
and hands the loadable trusted ones to the in-process runtime, which imports each on
first use. Every extension that cannot load is kept with its cause, so a listing shows
all of them and nothing fails silently.

    with Host.start_default() as host:
        for status in host.extensions():
            print(status.id, status.status)
        outputs = host.call_node("examples.textops/word_count", {"tokens": ["a", "b", "a"]})
"""

from __future__ import annotations

import _thread  # threading's locks without importing threading (a warm start needs no more)
import gc
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, cast

import msgspec

from symphony_core.config import Config, load_config
from symphony_core.discovery.pipeline import DiscoverySession, open_discovery
from symphony_core.discovery.result import DiscoveryFailure, DiscoveryResult, SkippedExtension
from symphony_core.errors import ExtensionError, ExtensionLoadError, SymphonyError, UserError
from symphony_core.extension import ExtensionRecord, Trust
from symphony_core.resolution.outcome import InstalledResolution, refusals_error
from symphony_core.resolution.snapshot import SNAPSHOT_NAME, dump_resolution, load_resolution
from symphony_core.runtime.inprocess import (
    AmbiguousNodeTypeError,
    InProcessRuntime,
    UnknownNodeTypeError,
)

if TYPE_CHECKING:
    import logging

    from symphony_core.audit import AuditLog
    from symphony_core.manifest.model import Manifest
    from symphony_core.ports.runtime import UnknownExtensionError as _PortUnknownExtensionError
    from symphony_core.runtime.sandboxed import SandboxedRuntime

__all__ = [
    "ExtensionNotRunnableError",
    "ExtensionStatus",
    "Host",
    "HostNotStartedError",
    "Status",
    "UnknownExtensionError",
]

_class_lock = _thread.allocate_lock()


def _log() -> logging.Logger:
    # symphony_core.log (and the logging package) is imported when something is logged:
    # a start that has nothing to report does not need it.
    from symphony_core.log import get_logger

    return get_logger("host")


Status = Literal[
    "active", "ready", "sandboxed", "quarantined", "failed", "refused", "disabled", "safe-mode"
]
"""Where an installed extension stands:

* ``active`` — trusted, imported and activated in-process;
* ``ready`` — trusted, resolved, will be imported on first use;
* ``sandboxed`` — community, resolved; runs in a sandboxed process (``active`` while it runs);
* ``quarantined`` — community, crashed repeatedly; refused until released;
* ``failed`` — discovery failed (bad entry point or manifest), or activation failed;
* ``refused`` — resolution refused it (missing or conflicting dependency, host API);
* ``disabled`` — turned off by the ``disabled`` setting;
* ``safe-mode`` — a community extension while safe mode is on.
"""


def _resolve(session: DiscoverySession) -> InstalledResolution:
    """Resolve the discovered extensions, reusing the result kept in the discovery index.

    The start-up resolution depends only on the records and Symphony's own code, both
    of which the index vouches for; when every record came from the index unchanged,
    the result computed from exactly these extensions is read back instead of parsing
    every version and specifier again, and a new result is kept for the next start.
    """
    records = session.result.extensions
    ids = [record.id for record in records]
    reusable = session.reusable(ids)
    if reusable:
        data = session.recall(SNAPSHOT_NAME, ids)
        if data is not None:
            kept = load_resolution(data, records)
            if kept is not None:
                return kept
    from symphony_core.resolution.installed import resolve_installed  # packaging, rules

    resolution = resolve_installed(records)
    if reusable:
        data = dump_resolution(resolution)
        if data is not None:
            session.remember(SNAPSHOT_NAME, ids, data)
    return resolution


class HostNotStartedError(UserError):
    """The host was used before :meth:`Host.start` or after :meth:`Host.close`."""

    code = "host.not_started"


class ExtensionStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One installed extension as the host sees it.

    Attributes:
        id: The extension id (the entry point's name when the manifest is unreadable).
        version: The extension version, or the distribution's when the manifest is bad.
        kind: ``instrument``, ``operator`` or ``addon``; ``None`` without a manifest.
        trust: ``trusted`` (in-process) or ``community`` (sandboxed).
        status: See :data:`Status`.
        distribution: The Python distribution that ships it.
        distribution_version: That distribution's version.
        manifest_path: Where the manifest was read from, when it was found.
        cause: Why it is ``failed`` or ``refused``: the error's ``to_dict()``.
    """

    id: str
    version: str
    kind: str | None
    trust: Trust
    status: Status
    distribution: str
    distribution_version: str
    manifest_path: str | None = None
    cause: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the status as JSON-serialisable builtins."""
        out: dict[str, Any] = msgspec.to_builtins(self)
        return out


class Host:
    """Discovers, resolves and runs extensions for one host application.

    Args:
        config: The configuration; :func:`symphony_core.config.load_config` when omitted.
        paths: Search path for extensions (``sys.path`` when omitted).
        runtime: The in-process runtime to use (one is built from ``config`` when omitted).
        sandbox: The runtime of community extensions; when omitted, one is built on
            first use with the permission policy (``<home>/policy.toml``) deciding each
            extension's sandbox and the audit log (``<home>/audit``) recording refusals.
        prewarm_sandbox: Start the sandbox's fork server during :meth:`start` (in the
            background) when community extensions are installed, so the first call to
            one does not pay for it. Off by default: a listing needs no processes.
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        paths: Sequence[str] | None = None,
        runtime: InProcessRuntime | None = None,
        sandbox: SandboxedRuntime | None = None,
        prewarm_sandbox: bool = False,
    ) -> None:
        self.config = config or load_config()
        self._paths = list(paths) if paths is not None else None
        self._runtime = runtime
        self._sandbox = sandbox
        self._own_sandbox = sandbox is None
        self._prewarm = prewarm_sandbox
        self._audit: AuditLog | None = None
        self._community: tuple[ExtensionRecord, ...] = ()
        self._discovery: DiscoveryResult | None = None
        self._resolution: InstalledResolution | None = None
        self._activation_failures: dict[str, SymphonyError] = {}
        self._lock = _thread.allocate_lock()
        # Built at start, so one extension's status or record is a dict lookup.
        self._records: dict[str, ExtensionRecord] = {}
        self._failures: dict[str, list[DiscoveryFailure]] = {}
        self._skipped: dict[str, list[SkippedExtension]] = {}
        self._loadable: frozenset[str] = frozenset()

    @classmethod
    def start_default(cls, **settings: Any) -> Host:
        """Build a host from the layered configuration plus ``settings`` and start it."""
        return cls(load_config(settings)).start()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Host:
        """Discover, resolve and register the extensions; import none of them.

        On a warm start (nothing installed, removed or edited since the last one) the
        discovery index answers both discovery and resolution, and registering is
        bookkeeping: no manifest is parsed, no version compared, nothing imported that
        only activation needs.

        Returns:
            The host itself, for chaining.

        Raises:
            StrictDiscoveryError: Strict mode is on and an extension failed discovery.
            ResolutionError: Strict mode is on and an extension was refused.
        """
        with self._lock:
            was_enabled = gc.isenabled()
            # Nothing built here forms a cycle; collecting during it only costs time.
            gc.disable()
            try:
                session = open_discovery(self.config, paths=self._paths)
                try:
                    session.check_strict(self.config.strict)
                    resolution = _resolve(session)
                finally:
                    session.close()
                if self.config.strict and resolution.refused:
                    raise refusals_error(resolution.refused)
                discovery = session.result
                runtime = self._runtime or InProcessRuntime(self.config)
                # Resolution refused every record whose host-api range excludes this host.
                trusted = (r for r in resolution.loadable if r.trust == "trusted")
                runtime.add_all(trusted, host_api_checked=True)
                self._community = tuple(r for r in resolution.loadable if r.trust == "community")
                if self._sandbox is not None:
                    self._sandbox.add_all(self._community)
                self._index(discovery, resolution)
            finally:
                if was_enabled:
                    gc.enable()
            self._discovery, self._resolution, self._runtime = discovery, resolution, runtime
        for failure in discovery.failures:
            _log().warning(
                "extension not loaded: %s",
                failure.describe(),
                extra={"extension_id": failure.extension_id},
            )
        for ext, error in resolution.refused.items():
            _log().warning("extension refused: %s", error, extra={"extension_id": ext})
        if self._prewarm and self._community:
            self.sandbox.start()
        return self

    @property
    def sandbox(self) -> SandboxedRuntime:
        """The runtime of the community extensions (built and filled on first use).

        Raises:
            HostNotStartedError: The host is not started.
            PolicyError: The permission policy file is invalid.
        """
        self._started()
        with self._lock:
            if self._sandbox is None:
                from symphony_core.audit import AuditLog
                from symphony_core.permissions import PermissionService
                from symphony_core.runtime.sandboxed import SandboxedRuntime

                permissions = PermissionService(self.config)
                self._audit = audit = AuditLog.for_config(self.config)
                sandbox = SandboxedRuntime(
                    self.config,
                    profile_for=permissions.profile_for,
                    audit_sink=audit.sink(),
                    accept_weaker=permissions.accepted_weakenings(),
                )
                sandbox.add_all(self._community)
                self._sandbox = sandbox
            return self._sandbox

    def _index(self, discovery: DiscoveryResult, resolution: InstalledResolution) -> None:
        self._records = {record.id: record for record in discovery.extensions}
        self._loadable = frozenset(record.id for record in resolution.loadable)
        failures: dict[str, list[DiscoveryFailure]] = {}
        for failure in discovery.failures:
            failures.setdefault(failure.extension_id, []).append(failure)
        skipped: dict[str, list[SkippedExtension]] = {}
        for item in discovery.skipped:
            skipped.setdefault(item.extension_id, []).append(item)
        self._failures, self._skipped = failures, skipped

    def close(self) -> None:
        """Deactivate every extension and stop every sandboxed process (grandchildren too)."""
        with self._lock:
            runtime, self._runtime = self._runtime, None
            sandbox = self._sandbox if self._own_sandbox else None
            if self._own_sandbox:
                self._sandbox = None
            audit, self._audit = self._audit, None
            self._discovery = self._resolution = None
        try:
            if sandbox is not None:
                sandbox.close()
        finally:
            try:
                if runtime is not None:
                    runtime.close()
            finally:
                if audit is not None:
                    audit.close()

    def __enter__(self) -> Host:
        if self._discovery is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- what is installed ---------------------------------------------------------------

    def _started(self) -> tuple[DiscoveryResult, InstalledResolution, InProcessRuntime]:
        if self._discovery is None or self._resolution is None or self._runtime is None:
            raise HostNotStartedError(
                "the host is not started", hint="call Host.start() (or use it as a context)"
            )
        return self._discovery, self._resolution, self._runtime

    @property
    def runtime(self) -> InProcessRuntime:
        """The in-process runtime of the trusted extensions."""
        return self._started()[2]

    @property
    def discovery(self) -> DiscoveryResult:
        """What discovery found at start-up."""
        return self._started()[0]

    @property
    def resolution(self) -> InstalledResolution:
        """What resolution decided at start-up (load order and refusals)."""
        return self._started()[1]

    def load_order(self) -> list[str]:
        """Ids of the loadable extensions, dependencies first."""
        return list(self._started()[1].load_order)

    def record(self, extension_id: str) -> ExtensionRecord:
        """Return the discovered record of a loadable or refused extension.

        Raises:
            UnknownExtensionError: No installed extension has this id.
        """
        self._started()
        record = self._records.get(extension_id)
        if record is None:
            for skipped in self._skipped.get(extension_id, ()):
                if skipped.record is not None:
                    return skipped.record
            raise _unknown_extension(extension_id)
        return record

    def manifest(self, extension_id: str) -> Manifest:
        """Return the manifest of an installed extension."""
        return self.record(extension_id).manifest

    def extensions(self) -> list[ExtensionStatus]:
        """Every installed extension with its status, sorted by id then distribution."""
        discovery, resolution, runtime = self._started()
        out: list[ExtensionStatus] = []
        for record in discovery.extensions:
            out.append(self._record_status(record, resolution, runtime, self._loadable))
        out.extend(_failure_status(failure) for failure in discovery.failures)
        out.extend(_skipped_status(skipped) for skipped in discovery.skipped)
        out.sort(key=lambda s: (s.id, s.distribution))
        return out

    def status(self, extension_id: str) -> ExtensionStatus:
        """Return one extension's status.

        When several distributions provide the id (all of them failed), the status of
        the first by distribution name is returned, as in :meth:`extensions`.

        Raises:
            UnknownExtensionError: No installed extension has this id.
        """
        _, resolution, runtime = self._started()
        found: list[ExtensionStatus] = []
        record = self._records.get(extension_id)
        if record is not None:
            found.append(self._record_status(record, resolution, runtime, self._loadable))
        found.extend(_failure_status(f) for f in self._failures.get(extension_id, ()))
        found.extend(_skipped_status(s) for s in self._skipped.get(extension_id, ()))
        if not found:
            raise _unknown_extension(extension_id)
        return min(found, key=lambda s: s.distribution)

    def _record_status(
        self,
        record: ExtensionRecord,
        resolution: InstalledResolution,
        runtime: InProcessRuntime,
        loadable: frozenset[str],
    ) -> ExtensionStatus:
        cause: SymphonyError | None = None
        status: Status
        if record.id in resolution.refused:
            status, cause = "refused", resolution.refused[record.id]
        elif record.id in self._activation_failures:
            status, cause = "failed", self._activation_failures[record.id]
        elif record.trust == "community":
            status = self._community_status(record.id)
        elif runtime.is_active(record.id):
            status = "active"
        else:
            status = "ready" if record.id in loadable else "refused"
        return _status_of(record, status, cause)

    def _community_status(self, extension_id: str) -> Status:
        sandbox = self._sandbox
        if sandbox is None or extension_id not in self._loadable:
            return "sandboxed"
        state = sandbox.status(extension_id)
        if state.state == "quarantined":
            return "quarantined"
        return "active" if state.active else "sandboxed"

    # -- running -------------------------------------------------------------------------

    def activate(self, extension_id: str) -> None:
        """Activate an extension now instead of on first use.

        A trusted extension is imported in-process; a community one gets its sandboxed
        process.

        Raises:
            ExtensionNotRunnableError: It failed, was refused, disabled or skipped.
            SandboxUnavailableError: This kernel lacks a sandbox mechanism and no weaker
                sandbox was accepted.
            ExtensionLoadError: Import or activation failed (the status becomes ``failed``).
        """
        trust = self._check_runnable(extension_id)
        try:
            if trust == "community":
                self.sandbox.activate(extension_id)
            else:
                self.runtime.activate(extension_id)
        except SymphonyError as exc:
            self._activation_failures[extension_id] = exc
            raise
        self._activation_failures.pop(extension_id, None)

    def call_node(
        self,
        node_type: str,
        inputs: Mapping[str, Any],
        params: Mapping[str, Any] | None = None,
    ) -> Mapping[str, Any]:
        """Run one node and return its outputs.

        Args:
            node_type: ``extension.id/node_type`` or a bare node type that exactly one
                extension declares.
            inputs: Values of the node's input ports.
            params: Values of the node's parameters.

        Returns:
            The node's outputs, checked against the manifest.
        """
        ext_id: str | None = None
        if "/" in node_type:
            ext_id, node_type = node_type.split("/", 1)
        else:
            ext_id = self._owner_of(node_type)
        trust = self._check_runnable(ext_id)
        try:
            if trust == "community":
                return self.sandbox.call_node(node_type, inputs, params, extension_id=ext_id)
            return self.runtime.call_node(node_type, inputs, params, extension_id=ext_id)
        except ExtensionLoadError as exc:
            # A lazy activation failed: remember it so listings show the extension as failed.
            if exc.extension_id is not None:
                self._activation_failures[exc.extension_id] = exc
            raise

    def call_hook(self, hook: str, /, **kwargs: Any) -> Any:
        """Broadcast a hook to the trusted extensions that take part in it."""
        return self.runtime.call_hook(hook, **kwargs)

    def _owner_of(self, node_type: str) -> str:
        owners = sorted(
            ext
            for ext in self._loadable
            if any(node.type == node_type for node in self._records[ext].manifest.nodes)
        )
        if len(owners) == 1:
            return owners[0]
        if not owners:
            raise UnknownNodeTypeError(
                f"no loadable extension contributes the node type {node_type!r}",
                hint="run 'symphony ext list' and 'symphony ext info ID' to see node types",
            )
        raise AmbiguousNodeTypeError(
            f"several extensions contribute the node type {node_type!r}: {', '.join(owners)}",
            hint="name the extension: 'EXTENSION.ID/" + node_type + "'",
        )

    def _check_runnable(self, extension_id: str) -> Trust:
        status = self.status(extension_id)
        if status.status in ("failed", "refused", "disabled", "safe-mode"):
            reason = (status.cause or {}).get("message", status.status)
            raise ExtensionNotRunnableError(
                f"cannot run: it is {status.status} ({reason})",
                extension_id=extension_id,
                hint="run 'symphony ext info " + extension_id + "' for the cause",
            )
        return status.trust

    def release(self, extension_id: str) -> bool:
        """Lift a community extension's crash-loop quarantine.

        Returns:
            Whether it was quarantined; it starts again on its next use.
        """
        if self._check_runnable(extension_id) != "community":
            return False
        return self.sandbox.release(extension_id)


_UNKNOWN_DOC = "No installed extension has the given id (a user's typo, hence a user error)."

if TYPE_CHECKING:

    class UnknownExtensionError(_PortUnknownExtensionError, UserError):
        """No installed extension has the given id (a user's typo, hence a user error)."""

        code = "host.unknown_extension"


def _unknown_extension_class() -> type[UnknownExtensionError]:
    # Its base class lives in symphony_core.ports, whose package imports every port and
    # that nothing else a start does needs; so the class is made when first asked for
    # (an unknown id, or an import of the name), once per process.
    with _class_lock:
        made = globals().get("UnknownExtensionError")
        if made is None:
            from symphony_core.ports.runtime import UnknownExtensionError as port_error

            made = type(
                "UnknownExtensionError",
                (port_error, UserError),
                {"__doc__": _UNKNOWN_DOC, "__module__": __name__, "code": "host.unknown_extension"},
            )
            globals()["UnknownExtensionError"] = made
    return cast("type[UnknownExtensionError]", made)


def _unknown_extension(extension_id: str) -> UnknownExtensionError:
    return _unknown_extension_class()(
        "no installed extension has this id",
        extension_id=extension_id,
        hint="run 'symphony ext list' to see the installed extensions",
    )


def __getattr__(name: str) -> Any:
    if name == "UnknownExtensionError":
        return _unknown_extension_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class ExtensionNotRunnableError(ExtensionError, UserError):
    """The extension is installed but failed, was refused, disabled or skipped."""

    code = "host.extension_not_runnable"


def _failure_status(failure: DiscoveryFailure) -> ExtensionStatus:
    return ExtensionStatus(
        id=failure.extension_id,
        version=failure.distribution_version,
        kind=None,
        trust="community",
        status="failed",
        distribution=failure.distribution,
        distribution_version=failure.distribution_version,
        cause=failure.error.to_dict(),
    )


def _skipped_status(skipped: SkippedExtension) -> ExtensionStatus:
    if skipped.record is not None:
        return _status_of(skipped.record, skipped.reason, skipped.error)
    return ExtensionStatus(
        id=skipped.extension_id,
        version=skipped.distribution_version,
        kind=None,
        trust="community",
        status=skipped.reason,
        distribution=skipped.distribution,
        distribution_version=skipped.distribution_version,
        cause=skipped.error.to_dict() if skipped.error else None,
    )


def _status_of(
    record: ExtensionRecord, status: Status, cause: SymphonyError | None
) -> ExtensionStatus:
    return ExtensionStatus(
        id=record.id,
        version=record.version,
        kind=record.manifest.extension.kind,
        trust=record.trust,
        status=status,
        distribution=record.distribution,
        distribution_version=record.distribution_version,
        manifest_path=str(record.manifest_path),
        cause=cause.to_dict() if cause is not None else None,
    )
