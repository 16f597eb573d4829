"""Apply the host's configuration to what was found: ids, duplicates, trust, skips."""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from fnmatch import translate
from typing import TYPE_CHECKING

from symphony_core.discovery.evaluate import Broken, Found, describe
from symphony_core.discovery.result import DiscoveryFailure, SkippedExtension
from symphony_core.extension import ExtensionRecord, Trust

if TYPE_CHECKING:
    from symphony_core.config import Config

__all__ = ["Judged", "judge", "trust_of"]


def trust_of(extension_id: str, patterns: Sequence[str]) -> Trust:
    """Return ``trusted`` if the id matches one of the glob ``patterns``, else ``community``.

    Matching is :func:`fnmatch.fnmatchcase` (``*``, ``?``, ``[...]``), case-sensitive
    because ids are lower-case by definition.
    """
    return "trusted" if _matcher(tuple(patterns))(extension_id) else "community"


@functools.lru_cache(maxsize=64)
def _matcher(patterns: tuple[str, ...]) -> Callable[[str], object]:
    # One regular expression for all the globs, built once per set of patterns: what
    # fnmatchcase does for each pattern in turn (same translation, same full match).
    if not patterns:
        return lambda _id: None
    return re.compile("|".join(f"(?:{translate(p)})" for p in patterns)).match


def _failure(outcome: Broken) -> DiscoveryFailure:
    ref = outcome.ref
    return DiscoveryFailure(
        extension_id=ref.name,
        distribution=ref.distribution,
        distribution_version=ref.version,
        entry_point=ref.spec,
        error=outcome.error,
    )


def _check_ids(outcomes: Sequence[Found | Broken]) -> list[Found | Broken]:
    """Turn id mismatches and duplicate ids into failures."""
    # The error classes are imported only when one is built: a start where every id is
    # fine does not need them.
    checked: list[Found | Broken] = []
    seen: set[str] = set()
    duplicated = False
    for outcome in outcomes:
        if not isinstance(outcome, Found):
            checked.append(outcome)
            continue
        if outcome.manifest.extension.id != outcome.ref.name:
            from symphony_core.discovery.errors import IdMismatchError

            manifest_id = outcome.manifest.extension.id
            outcome = Broken(
                ref=outcome.ref,
                error=IdMismatchError(
                    f"entry point name {outcome.ref.name!r} differs from the manifest's "
                    f"[extension].id {manifest_id!r}",
                    extension_id=outcome.ref.name,
                    where=str(outcome.manifest_path),
                    hint=f"name the entry point {manifest_id!r} in the distribution's "
                    '[project.entry-points."symphony.extensions"], or fix [extension].id',
                ),
            )
        elif outcome.ref.name in seen:
            duplicated = True
        else:
            seen.add(outcome.ref.name)
        checked.append(outcome)
    if not duplicated:
        return checked
    by_id: dict[str, list[Found]] = defaultdict(list)
    for outcome in checked:
        if isinstance(outcome, Found):
            by_id[outcome.ref.name].append(outcome)
    out: list[Found | Broken] = []
    for outcome in checked:
        clash = by_id.get(outcome.ref.name, []) if isinstance(outcome, Found) else []
        if len(clash) < 2:
            out.append(outcome)
            continue
        from symphony_core.discovery.errors import DuplicateExtensionError

        others = [describe(o.ref) for o in clash if o is not outcome]
        out.append(
            Broken(
                ref=outcome.ref,
                error=DuplicateExtensionError(
                    f"extension id {outcome.ref.name!r} is also provided by "
                    + "; ".join(others)
                    + "; neither is loaded",
                    others=others,
                    extension_id=outcome.ref.name,
                    where=describe(outcome.ref),
                    hint="uninstall all but one of these distributions",
                ),
            )
        )
    return out


class Judged:
    """The three lists discovery reports, built by :func:`judge`.

    Attributes:
        extensions: Loadable extensions, sorted by id.
        failures: Broken extensions, sorted by id then distribution.
        skipped: Extensions not loaded on purpose, sorted by id then distribution.
    """

    __slots__ = ("extensions", "failures", "skipped")

    def __init__(self) -> None:
        self.extensions: list[ExtensionRecord] = []
        self.failures: list[DiscoveryFailure] = []
        self.skipped: list[SkippedExtension] = []


def judge(outcomes: Sequence[Found | Broken], config: Config) -> Judged:
    """Sort entry-point outcomes into loadable, failed and skipped extensions.

    * An entry point whose name differs from its manifest's id, and every distribution
      of an id provided more than once, are failures.
    * An id listed in ``config.disabled`` is skipped as ``disabled`` — even when broken,
      so disabling a broken extension silences it (also in strict mode).
    * Trust comes from ``config.trusted`` globs; with ``config.safe_mode`` every
      ``community`` extension is skipped as ``safe-mode``.

    Args:
        outcomes: One per entry point, in search-path order.
        config: The host configuration.

    Returns:
        The sorted lists.
    """
    judged = Judged()
    disabled = frozenset(config.disabled)
    trusted = _matcher(tuple(config.trusted))
    for outcome in _check_ids(outcomes):
        ref = outcome.ref
        if ref.name in disabled:
            judged.skipped.append(
                SkippedExtension(
                    extension_id=ref.name,
                    distribution=ref.distribution,
                    distribution_version=ref.version,
                    reason="disabled",
                    record=_record(outcome, trusted) if isinstance(outcome, Found) else None,
                    error=outcome.error if isinstance(outcome, Broken) else None,
                )
            )
        elif isinstance(outcome, Broken):
            judged.failures.append(_failure(outcome))
        else:
            record = _record(outcome, trusted)
            if config.safe_mode and record.trust == "community":
                judged.skipped.append(
                    SkippedExtension(
                        extension_id=ref.name,
                        distribution=ref.distribution,
                        distribution_version=ref.version,
                        reason="safe-mode",
                        record=record,
                    )
                )
            else:
                judged.extensions.append(record)
    judged.extensions.sort(key=lambda r: r.id)
    judged.failures.sort(key=lambda f: (f.extension_id, f.distribution))
    judged.skipped.sort(key=lambda s: (s.extension_id, s.distribution))
    return judged


def _record(found: Found, trusted: Callable[[str], object]) -> ExtensionRecord:
    return ExtensionRecord(
        manifest=found.manifest,
        manifest_path=found.manifest_path,
        distribution=found.ref.distribution,
        distribution_version=found.ref.version,
        entry_point=found.ref.name,
        package_dir=found.package_dir,
        trust="trusted" if trusted(found.ref.name) else "community",
    )
