"""``discover()``: installed extensions, from entry points to judged records."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from symphony_core.discovery.cache import Index, build_index, load_index, make_key, write_index
from symphony_core.discovery.evaluate import Broken, Found, evaluate
from symphony_core.discovery.policy import judge
from symphony_core.discovery.result import CacheStatus, DiscoveryFailure, DiscoveryResult
from symphony_core.discovery.scan import ENTRY_POINT_GROUP, scan_entry_points

if TYPE_CHECKING:
    import logging
    from pathlib import Path

    from symphony_core.config import Config
    from symphony_core.discovery.errors import StrictDiscoveryError
    from symphony_core.discovery.reading import KnownManifests

__all__ = ["DiscoverySession", "discover", "open_discovery"]


def _log() -> logging.Logger:
    # symphony_core.log (and the logging package) is imported when something is logged:
    # a start that has nothing to report does not need it.
    from symphony_core.log import get_logger

    return get_logger("discovery")


def discover(
    config: Config, *, paths: Sequence[str] | None = None, strict: bool | None = None
) -> DiscoveryResult:
    """Find the installed extensions and read their manifests, importing none of them.

    Every distribution on the search path that declares an entry point in the
    ``symphony.extensions`` group is looked at. The entry point's name is the extension
    id; its value names the package whose directory holds ``symphony.toml``. The
    manifest is read as a file; the extension's code (its ``entry``) is imported later,
    on first use, by the runtime.

    With ``config.discovery_cache`` the outcome is kept in an index under
    ``config.cache_dir`` and reused while no search-path directory, distribution
    metadata or manifest changed (see :mod:`symphony_core.discovery.cache`).

    Args:
        config: Host configuration: ``trusted`` globs, ``disabled`` ids, ``safe_mode``,
            ``strict``, ``discovery_cache`` and ``cache_dir`` are used.
        paths: Search path for distributions and packages; ``None`` uses ``sys.path``
            and the running import system (editable installs included). With explicit
            paths, packages are located by the path finder on those paths alone.
        strict: Overrides ``config.strict`` when given.

    Returns:
        Loadable extensions, failures (each with its cause) and skipped extensions.

    Raises:
        StrictDiscoveryError: Strict mode is on and any extension failed; the message
            and ``failures`` list every one.
    """
    session = open_discovery(config, paths=paths)
    session.close()
    session.check_strict(config.strict if strict is None else strict)
    return session.result


class DiscoverySession:
    """One discovery, and results the caller derives from it kept in the same index.

    Built by :func:`open_discovery`. A host resolves the discovered extensions and
    asks the session to keep that result (:meth:`remember`), so the next start with the
    same index and the same extensions finds it (:meth:`recall`) instead of resolving
    again. :meth:`close` writes the index if it was rebuilt or learned something.

    Attributes:
        result: What discovery found.
    """

    __slots__ = ("_cache_dir", "_dirty", "_index", "_volatile", "result")

    def __init__(
        self,
        result: DiscoveryResult,
        *,
        index: Index | None,
        cache_dir: Path,
        volatile: frozenset[str],
        dirty: bool,
    ) -> None:
        self.result = result
        self._index = index
        self._cache_dir = cache_dir
        self._volatile = volatile
        self._dirty = dirty

    def reusable(self, extension_ids: Iterable[str]) -> bool:
        """Whether a result derived from these extensions can be kept in the index.

        True when the index is in use and every one of these extensions came from it
        unchanged: not one whose manifest is read again on every start (failures, and
        manifests msgpack cannot represent exactly).
        """
        if self._index is None:
            return False
        volatile = self._volatile
        return not volatile or not any(ext in volatile for ext in extension_ids)

    def recall(self, name: str, inputs: Sequence[str]) -> bytes | None:
        """Return the derived result ``name`` computed from exactly ``inputs``, if kept.

        Only call it when :meth:`reusable` holds for the extensions behind ``inputs``.
        """
        return None if self._index is None else self._index.recall(name, inputs)

    def remember(self, name: str, inputs: Sequence[str], data: bytes) -> None:
        """Keep a derived result in the index; it is written by :meth:`close`.

        Only call it when :meth:`reusable` holds for the extensions behind ``inputs``:
        the result must depend on nothing but the index's entries and ``inputs``.
        """
        if self._index is not None:
            self._index.remember(name, inputs, data)
            self._dirty = True

    def close(self) -> None:
        """Write the index if it was rebuilt or a derived result was added."""
        if self._dirty and self._index is not None:
            self._dirty = False
            write_index(self._cache_dir, self._index)

    def check_strict(self, strict: bool) -> None:
        """Raise :class:`StrictDiscoveryError` if ``strict`` and any extension failed."""
        if strict and self.result.failures:
            raise _strict_error(self.result.failures)


def open_discovery(config: Config, *, paths: Sequence[str] | None = None) -> DiscoverySession:
    """Discover as :func:`discover` does, keeping the index open for derived results.

    Strict mode is not applied (see :meth:`DiscoverySession.check_strict`), and a
    rebuilt index is written by :meth:`DiscoverySession.close`, not here.

    Args:
        config: Host configuration (as for :func:`discover`).
        paths: Search path (as for :func:`discover`).

    Returns:
        The session; its ``result`` is what :func:`discover` returns.
    """
    with _gc_paused():
        return _discover(config, paths)


@contextmanager
def _gc_paused() -> Iterator[None]:
    # Decoding a thousand manifests allocates tens of thousands of container objects and
    # none of them can form a cycle worth collecting yet; the collector would otherwise
    # run many times over them (about a third of a warm start at 1000 extensions).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _discover(config: Config, paths: Sequence[str] | None) -> DiscoverySession:
    search = list(sys.path) if paths is None else list(paths)
    outcomes: list[Found | Broken] | None = None
    status: CacheStatus = "off"
    detail = "discovery cache disabled"
    key = make_key(search, group=ENTRY_POINT_GROUP, import_system=paths is None)
    known: KnownManifests | None = None
    index: Index | None = None
    volatile: set[str] = set()
    dirty = False
    if config.discovery_cache:
        loaded = load_index(config.cache_dir, key)
        detail = loaded.reason
        if loaded.outcomes is not None:
            outcomes = []
            for item in loaded.outcomes:
                if isinstance(item, Found):
                    outcomes.append(item)
                    continue
                again = evaluate(item, paths)
                if isinstance(again, Found):
                    volatile.add(again.ref.name)
                outcomes.append(again)
            index = loaded.index
            status = "hit"
        elif loaded.known:
            known = loaded.known_manifest
    if outcomes is None:
        scanned = scan_entry_points(search, ENTRY_POINT_GROUP)
        outcomes = [evaluate(ref, paths, known) for ref in scanned.entry_points]
        if config.discovery_cache:
            index, held = build_index(key, scanned.watch, outcomes)
            volatile.update(
                outcome.ref.name
                for outcome, kept in zip(outcomes, held, strict=True)
                if isinstance(outcome, Found) and not kept
            )
            dirty = True
            status = "miss"
    judged = judge(outcomes, config)
    for failure in judged.failures:
        _log().warning(
            "extension %s not loaded: %s",
            failure.extension_id,
            failure.error,
            extra={"extension_id": failure.extension_id, "code": failure.error.code},
        )
    for skipped in judged.skipped:
        _log().info(
            "extension %s skipped (%s)",
            skipped.extension_id,
            skipped.reason,
            extra={"extension_id": skipped.extension_id, "reason": skipped.reason},
        )
    result = DiscoveryResult(
        extensions=judged.extensions,
        failures=judged.failures,
        skipped=judged.skipped,
        cache=status,
        cache_detail=detail,
    )
    return DiscoverySession(
        result,
        index=index,
        cache_dir=config.cache_dir,
        volatile=frozenset(volatile),
        dirty=dirty,
    )


def _strict_error(failures: Sequence[DiscoveryFailure]) -> StrictDiscoveryError:
    from symphony_core.discovery.errors import StrictDiscoveryError

    count = len(failures)
    lines = "\n".join(f"  - {failure.describe()}" for failure in failures)
    return StrictDiscoveryError(
        f"{count} extension{'s' if count != 1 else ''} failed discovery in strict mode:\n{lines}",
        failures=failures,
        where="discovery",
        hint="fix or uninstall each one, add its id to `disabled`, or turn strict mode off",
        details={"failures": [failure.to_dict() for failure in failures]},
    )
