"""Find the entry points of the ``symphony.extensions`` group on a search path.

This reads the same files :mod:`importlib.metadata` reads — the ``*.dist-info`` and
``*.egg-info`` directories of every search-path entry, first entry wins for a
distribution name — but only what discovery needs: each distribution's
``entry_points.txt``, and the ``METADATA`` (or ``PKG-INFO``) headers of the few
distributions that declare an extension. ``importlib.metadata.entry_points()`` builds a
``Distribution`` and parses every entry point of every installed distribution; that is
~40 µs per distribution, most of a cold start with a thousand installed.

While reading, it records a stat signature of each search-path entry, metadata directory
and ``entry_points.txt``, taken *before* the content is read so a change during the scan
can only make the cached index look stale, never fresh.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    import logging


__all__ = [
    "ENTRY_POINT_GROUP",
    "EntryPointRef",
    "ScanResult",
    "Signature",
    "normalize_distribution_name",
    "scan_entry_points",
    "signature",
]

ENTRY_POINT_GROUP = "symphony.extensions"
"""The entry-point group through which installed distributions declare extensions."""

Signature = tuple[int, int, int]
"""``(st_mtime_ns, st_size, st_ino)`` of a file or directory."""

_NORMALIZE = re.compile(r"[-_.]+")
_METADATA_SUFFIXES = (".dist-info", ".egg-info")


def _log() -> logging.Logger:
    # symphony_core.log (and the logging package) is imported when something is logged:
    # a start that has nothing to report does not need it.
    from symphony_core.log import get_logger

    return get_logger("discovery.scan")


def normalize_distribution_name(name: str) -> str:
    """Return the name importlib.metadata uses to tell distributions apart (PEP 503 + ``_``)."""
    return _NORMALIZE.sub("_", name).lower()


def signature(path: str) -> Signature | None:
    """Return the stat signature of ``path``, or ``None`` if it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class EntryPointRef(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """One entry point of the ``symphony.extensions`` group and the distribution declaring it.

    Attributes:
        name: The entry point's name (the extension id by convention).
        value: The entry point's value (the package holding ``symphony.toml``), as written.
        distribution: The distribution's name from its metadata.
        version: The distribution's version.
        metadata_path: Its ``*.dist-info`` / ``*.egg-info`` directory (or archive).
    """

    name: str
    value: str
    distribution: str
    version: str
    metadata_path: str

    @property
    def spec(self) -> str:
        """The entry point as written: ``name = value``."""
        return f"{self.name} = {self.value}"


class ScanResult(msgspec.Struct, kw_only=True):
    """Entry points found, and the stat signatures that vouch for the scan.

    Attributes:
        entry_points: Every entry point of the group, in search-path order.
        watch: ``(path, signature)`` pairs; while all still match, a new scan finds the same.
    """

    entry_points: list[EntryPointRef]
    watch: list[tuple[str, Signature | None]]


def _read_with_signature(path: str) -> tuple[str | None, Signature | None]:
    """Read a UTF-8 text file; the signature comes from the open file, before reading."""
    try:
        with open(path, "rb") as handle:
            st = os.fstat(handle.fileno())
            data = handle.read()
    except OSError:
        return None, None
    return data.decode("utf-8", errors="replace"), (st.st_mtime_ns, st.st_size, st.st_ino)


def _group_pairs(text: str, group: str) -> list[tuple[str, str]]:
    """Return ``(name, value)`` of every entry in ``[group]`` of an ``entry_points.txt``.

    Follows :class:`importlib.metadata.Sectioned`: lines are stripped, blank lines and
    ``#`` comments skipped, a ``[section]`` line names the section (brackets stripped),
    ``name = value`` is split on the first ``=``. A line without
    ``=`` is kept with an empty value, so discovery can report it instead of losing it.
    """
    pairs: list[tuple[str, str]] = []
    section: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")  # exactly as importlib.metadata.Sectioned does
            continue
        if section != group:
            continue
        name, _, value = line.partition("=")
        pairs.append((name.strip(), value.strip()))
    return pairs


def _headers(text: str) -> dict[str, str]:
    """Return the first value of each RFC 822 header of a ``METADATA``/``PKG-INFO`` text."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line:
            break  # the body (long description) starts after the first blank line
        if line[0] in " \t":
            continue
        key, sep, value = line.partition(":")
        if sep:
            out.setdefault(key.strip().lower(), value.strip())
    return out


def _identity(meta_dir: str, dir_name: str) -> tuple[str, str, str, Signature | None]:
    """Return name, version, metadata file and its signature for one distribution."""
    stem = dir_name.rsplit(".", 1)[0]
    stem_name, _, rest = stem.partition("-")
    stem_version = rest.partition("-")[0]
    filename = "METADATA" if dir_name.lower().endswith(".dist-info") else "PKG-INFO"
    path = os.path.join(meta_dir, filename)
    text, sig = _read_with_signature(path)
    headers = _headers(text) if text is not None else {}
    name = headers.get("name") or stem_name
    return name, headers.get("version") or stem_version or "0", path, sig


def _scan_directory(
    entry: str,
    names: Iterable[str],
    group: str,
    seen: set[str],
    found: list[EntryPointRef],
    watch: list[tuple[str, Signature | None]],
) -> None:
    """Read the metadata directories in one search-path directory.

    What is watched is what the outcome depends on: a distribution without
    ``entry_points.txt`` is watched through its directory (creating the file changes
    it); one with the file, through the file; one that declares an extension, through
    the file and its ``METADATA`` (name and version). Installing or removing a whole
    distribution changes the search-path directory itself.
    """
    for dir_name in sorted(names):
        if not dir_name.lower().endswith(_METADATA_SUFFIXES):
            continue
        stem = dir_name.rsplit(".", 1)[0]
        key = normalize_distribution_name(stem.partition("-")[0])
        if key in seen:
            continue  # importlib.metadata: the first search-path entry wins
        meta_dir = os.path.join(entry, dir_name)
        try:
            st = os.stat(meta_dir)
        except OSError:
            continue  # vanished while scanning; the entry's own signature now differs
        seen.add(key)
        if not stat.S_ISDIR(st.st_mode):
            continue  # a legacy single-file PKG-INFO: no entry points possible
        ep_file = os.path.join(meta_dir, "entry_points.txt")
        text, ep_sig = _read_with_signature(ep_file)
        if ep_sig is None:
            watch.append((meta_dir, (st.st_mtime_ns, st.st_size, st.st_ino)))
            continue
        watch.append((ep_file, ep_sig))
        if text is None or group not in text:
            continue
        pairs = _group_pairs(text, group)
        if not pairs:
            continue
        dist_name, version, meta_file, meta_sig = _identity(meta_dir, dir_name)
        watch.append((meta_file, meta_sig))
        for name, value in pairs:
            found.append(
                EntryPointRef(
                    name=name,
                    value=value,
                    distribution=dist_name,
                    version=version,
                    metadata_path=meta_dir,
                )
            )


def _scan_archive(entry: str, group: str, seen: set[str], found: list[EntryPointRef]) -> None:
    """Read distributions inside a zip archive on the search path (rare: eggs, zipapps)."""
    import importlib.metadata  # only archives need it; directories are read directly

    for dist in importlib.metadata.distributions(path=[entry]):
        try:
            name = dist.name
        except Exception as exc:  # a broken archive member must not stop the scan
            _log().debug("unreadable distribution metadata in %s: %s", entry, exc)
            continue
        key = normalize_distribution_name(name or "")
        if not name or key in seen:
            continue
        seen.add(key)
        for ep in dist.entry_points.select(group=group):
            found.append(
                EntryPointRef(
                    name=ep.name,
                    value=ep.value,
                    distribution=name,
                    version=dist.version or "0",
                    metadata_path=entry,
                )
            )


def scan_entry_points(paths: Sequence[str], group: str = ENTRY_POINT_GROUP) -> ScanResult:
    """Find every entry point of ``group`` declared by distributions on ``paths``.

    Args:
        paths: Search-path entries (``sys.path`` form; ``""`` means the current directory).
        group: The entry-point group.

    Returns:
        The entry points in search-path order and the signatures that vouch for them.
    """
    found: list[EntryPointRef] = []
    watch: list[tuple[str, Signature | None]] = []
    seen: set[str] = set()
    for raw in paths:
        entry = os.path.abspath(raw or ".")
        try:
            st = os.stat(entry)
        except OSError:
            watch.append((entry, None))
            continue
        watch.append((entry, (st.st_mtime_ns, st.st_size, st.st_ino)))
        if stat.S_ISDIR(st.st_mode):
            try:
                names = os.listdir(entry)
            except OSError:
                continue
            _scan_directory(entry, names, group, seen, found, watch)
        elif stat.S_ISREG(st.st_mode):
            _scan_archive(entry, group, seen, found)
    return ScanResult(entry_points=found, watch=watch)
