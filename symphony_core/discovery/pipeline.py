"""``discover()``: installed extensions, from entry points to judged records."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from symphony_core.discovery.cache import load_index, make_key, store_index
from symphony_core.discovery.errors import StrictDiscoveryError
from symphony_core.discovery.evaluate import Broken, Found, evaluate
from symphony_core.discovery.policy import judge
from symphony_core.discovery.result import CacheStatus, DiscoveryFailure, DiscoveryResult
from symphony_core.discovery.scan import ENTRY_POINT_GROUP, scan_entry_points
from symphony_core.log import get_logger

if TYPE_CHECKING:
    from symphony_core.config import Config
    from symphony_core.discovery.reading import KnownManifests

__all__ = ["discover"]

_log = get_logger("discovery")


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
    with _gc_paused():
        result = _discover(config, paths)
    effective_strict = config.strict if strict is None else strict
    if effective_strict and result.failures:
        raise _strict_error(result.failures)
    return result


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


def _discover(config: Config, paths: Sequence[str] | None) -> DiscoveryResult:
    search = list(sys.path) if paths is None else list(paths)
    outcomes: list[Found | Broken] | None = None
    status: CacheStatus = "off"
    detail = "discovery cache disabled"
    key = make_key(search, group=ENTRY_POINT_GROUP, import_system=paths is None)
    known: KnownManifests | None = None
    if config.discovery_cache:
        loaded = load_index(config.cache_dir, key)
        detail = loaded.reason
        if loaded.outcomes is not None:
            outcomes = [
                item if isinstance(item, Found) else evaluate(item, paths)
                for item in loaded.outcomes
            ]
            status = "hit"
        elif loaded.known:
            known = loaded.known_manifest
    if outcomes is None:
        scanned = scan_entry_points(search, ENTRY_POINT_GROUP)
        outcomes = [evaluate(ref, paths, known) for ref in scanned.entry_points]
        if config.discovery_cache:
            store_index(config.cache_dir, key, scanned.watch, outcomes)
            status = "miss"
    judged = judge(outcomes, config)
    for failure in judged.failures:
        _log.warning(
            "extension %s not loaded: %s",
            failure.extension_id,
            failure.error,
            extra={"extension_id": failure.extension_id, "code": failure.error.code},
        )
    for skipped in judged.skipped:
        _log.info(
            "extension %s skipped (%s)",
            skipped.extension_id,
            skipped.reason,
            extra={"extension_id": skipped.extension_id, "reason": skipped.reason},
        )
    return DiscoveryResult(
        extensions=judged.extensions,
        failures=judged.failures,
        skipped=judged.skipped,
        cache=status,
        cache_detail=detail,
    )


def _strict_error(failures: Sequence[DiscoveryFailure]) -> StrictDiscoveryError:
    count = len(failures)
    lines = "\n".join(f"  - {failure.describe()}" for failure in failures)
    return StrictDiscoveryError(
        f"{count} extension{'s' if count != 1 else ''} failed discovery in strict mode:\n{lines}",
        failures=failures,
        where="discovery",
        hint="fix or uninstall each one, add its id to `disabled`, or turn strict mode off",
        details={"failures": [failure.to_dict() for failure in failures]},
    )
