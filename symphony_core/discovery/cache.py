"""The on-disk index of discovered extensions, and the cheap check that it is still true.

A cold discovery lists every search-path directory, reads every distribution's
``entry_points.txt`` and every extension's manifest. The index remembers the outcome
together with a stat signature (mtime in ns, size, inode) of everything that outcome
depends on:

* each search-path entry (a distribution installed or removed changes its directory),
* each distribution's ``entry_points.txt`` (its ``*.dist-info`` / ``*.egg-info``
  directory when it has none, so the file appearing is seen) and, for distributions that
  declare an extension, its ``METADATA`` / ``PKG-INFO``,
* each manifest read (an edit to an editable install's manifest invalidates the index)
  and each template file it names,
* the source files of the manifest model, its validator and discovery itself (a new
  Symphony may judge a manifest differently),

keyed on the interpreter (``sys.executable``, ``sys.prefix``, version) and the exact
search path. A warm start stats those paths — no directory listing, no metadata read —
then decodes the manifests from msgpack. Entry points that failed are not trusted to the
index: they are evaluated again on every start, so their error is always current and
always the real exception. When the index is stale, a rebuild still takes each manifest
whose file is unchanged from it instead of parsing the TOML again.

Unlike stevedore's cache, this one also works when the interpreter lives under ``/tmp``:
it is per user (under ``Config.cache_dir``), written atomically, and keeps at most
:data:`MAX_INDEX_FILES` index files, so short-lived virtual environments cannot fill it.
Anything wrong with an index file — unreadable, truncated, another format — is logged
at debug level and the index is rebuilt; it is never an error.

A known limit, shared with every mtime-based cache (git calls it "racy clean"): a file
rewritten in place, to the same size, within the file system's timestamp granularity of
the moment it was read, looks unchanged.
"""

from __future__ import annotations

import os
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path

import msgspec

from symphony_core.discovery.evaluate import Broken, Found
from symphony_core.discovery.scan import EntryPointRef, Signature
from symphony_core.log import get_logger
from symphony_core.manifest.model import Manifest

__all__ = [
    "FORMAT_VERSION",
    "MAX_INDEX_FILES",
    "IndexKey",
    "Loaded",
    "code_watch",
    "index_path",
    "load_index",
    "make_key",
    "store_index",
]

FORMAT_VERSION = 1
"""Version of the index file layout; files of another version are ignored."""

MAX_INDEX_FILES = 16
"""Index files kept per cache directory (one per interpreter and search path)."""

_log = get_logger("discovery.cache")

Watch = list[tuple[str, Signature | None]]


class IndexKey(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """What an index is valid for: one interpreter, one search path, one group.

    Attributes:
        executable: ``sys.executable``.
        prefix: ``sys.prefix`` (tells virtual environments apart).
        python: ``sys.version``.
        group: The entry-point group.
        paths: The absolute search-path entries, in order.
        import_system: Packages were located through the running import system (``True``)
            rather than the path finder alone on ``paths``.
    """

    executable: str
    prefix: str
    python: str
    group: str
    paths: tuple[str, ...]
    import_system: bool


class _Entry(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    ref: EntryPointRef
    # The package directory is always the manifest's parent.
    manifest_path: str = ""
    manifest_signature: Signature | None = None
    # msgpack of the validated manifest; None: evaluate the entry point again on load.
    manifest: bytes | None = None


class _IndexFile(msgspec.Struct, kw_only=True, array_like=True):
    format: int
    key: IndexKey
    # Signatures of Symphony's own manifest and discovery code: if they changed, nothing
    # in the index is trusted, not even the manifests of unchanged files.
    code: Watch
    watch: Watch
    # Decoded only once every signature in ``watch`` matched (or to reuse manifests).
    entries: msgspec.Raw


class Loaded(msgspec.Struct, kw_only=True):
    """What :func:`load_index` found.

    Attributes:
        outcomes: On a hit, one item per entry point: a :class:`Found`, or an
            :class:`EntryPointRef` to evaluate again. ``None`` when the index is missing,
            unusable or stale.
        reason: Why there was no hit (``""`` on a hit).
        known: Manifests of a stale index whose files may be unchanged, by path:
            ``(signature, msgpack)``. A rebuild decodes these instead of parsing TOML.
    """

    outcomes: list[Found | EntryPointRef] | None
    reason: str = ""
    known: dict[str, tuple[Signature, bytes]] = msgspec.field(default_factory=dict)

    def known_manifest(self, path: Path, sig: Signature | None) -> Manifest | None:
        """Return the cached manifest of ``path`` if its signature is still ``sig``."""
        if sig is None:
            return None
        hit = self.known.get(str(path))
        if hit is None or tuple(hit[0]) != sig:
            return None
        try:
            return _manifest_decoder.decode(hit[1])
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None


_encoder = msgspec.msgpack.Encoder()
_manifest_decoder = msgspec.msgpack.Decoder(Manifest)
_file_decoder = msgspec.msgpack.Decoder(_IndexFile)
_entries_decoder = msgspec.msgpack.Decoder(list[_Entry])


def make_key(paths: Sequence[str], *, group: str, import_system: bool) -> IndexKey:
    """Return the key of the index for this interpreter and search path.

    Args:
        paths: The search path (``sys.path`` form).
        group: The entry-point group.
        import_system: Whether packages are located through the running import system.

    Returns:
        The key.
    """
    return IndexKey(
        executable=sys.executable,
        prefix=sys.prefix,
        python=sys.version,
        group=group,
        paths=tuple(os.path.abspath(p or ".") for p in paths),
        import_system=import_system,
    )


def index_path(cache_dir: Path, key: IndexKey) -> Path:
    """Return the index file for ``key`` inside ``cache_dir``.

    The name only spreads keys over files; the full key stored inside is what is checked.
    """
    digest = zlib.crc32(_encoder.encode(key))
    return cache_dir / f"discovery-v{FORMAT_VERSION}-{digest:08x}.msgpack"


def code_watch() -> Watch:
    """Return signatures of the code that decides what a valid manifest is.

    The manifest package and the discovery package (their directories and every module
    in them) and ``symphony_core/extension.py``: when Symphony itself is upgraded or
    edited, indexes written by the old code are not trusted.
    """
    import symphony_core.extension
    import symphony_core.manifest

    out: Watch = []
    directories = [
        os.path.dirname(os.path.abspath(symphony_core.manifest.__file__)),
        os.path.dirname(os.path.abspath(__file__)),
    ]
    for directory in directories:
        out.append((directory, _signature(directory)))
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        out.extend(
            (os.path.join(directory, n), _signature(os.path.join(directory, n)))
            for n in names
            if n.endswith(".py")
        )
    extension_file = os.path.abspath(symphony_core.extension.__file__)
    out.append((extension_file, _signature(extension_file)))
    return out


def _signature(path: str) -> Signature | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _first_change(watch: Watch) -> str | None:
    """Return a description of the first watched path that changed, or ``None``."""
    stat = os.stat
    for path, sig in watch:
        try:
            st = stat(path)
        except OSError:
            if sig is not None:
                return f"{path} was removed"
            continue
        if sig is None:
            return f"{path} appeared"
        if sig[0] != st.st_mtime_ns or sig[1] != st.st_size or sig[2] != st.st_ino:
            return f"{path} changed"
    return None


def load_index(cache_dir: Path, key: IndexKey) -> Loaded:
    """Load the index for ``key`` if it is still true.

    Args:
        cache_dir: The cache directory.
        key: The key for the current interpreter and search path.

    Returns:
        The outcomes on a hit; otherwise the reason, and the manifests a rebuild may
        reuse when only some files changed.
    """
    path = index_path(cache_dir, key)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return Loaded(outcomes=None, reason="no index yet")
    except OSError as exc:
        _log.debug("discovery index %s unreadable (%s); rebuilding", path, exc)
        return Loaded(outcomes=None, reason=f"index unreadable: {exc.strerror}")
    try:
        index = _file_decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        _log.debug("discovery index %s is corrupt or of another format (%s); rebuilding", path, exc)
        return Loaded(outcomes=None, reason="index corrupt or of another format")
    if index.format != FORMAT_VERSION:
        return Loaded(outcomes=None, reason=f"index format {index.format} is not {FORMAT_VERSION}")
    if index.key != key:
        return Loaded(outcomes=None, reason="index written for another interpreter or search path")
    change = _first_change(index.code)
    if change is not None:
        _log.debug("discovery index %s is stale: Symphony changed (%s)", path, change)
        return Loaded(outcomes=None, reason=f"Symphony itself changed: {change}")
    change = _first_change(index.watch)
    try:
        entries = _entries_decoder.decode(index.entries)
        if change is not None:
            _log.debug("discovery index %s is stale: %s", path, change)
            known = {
                e.manifest_path: (e.manifest_signature, e.manifest)
                for e in entries
                if e.manifest is not None and e.manifest_signature is not None
            }
            return Loaded(outcomes=None, reason=change, known=known)
        outcomes: list[Found | EntryPointRef] = []
        for entry in entries:
            if entry.manifest is None:
                outcomes.append(entry.ref)
                continue
            manifest_path = Path(entry.manifest_path)
            outcomes.append(
                Found(
                    ref=entry.ref,
                    package_dir=manifest_path.parent,
                    manifest_path=manifest_path,
                    manifest=_manifest_decoder.decode(entry.manifest),
                    manifest_signature=entry.manifest_signature,
                )
            )
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        _log.debug("discovery index %s has a corrupt entry (%s); rebuilding", path, exc)
        return Loaded(outcomes=None, reason="index corrupt")
    return Loaded(outcomes=outcomes)


def _entry(outcome: Found | Broken) -> tuple[_Entry, Watch]:
    if isinstance(outcome, Broken):
        return _Entry(ref=outcome.ref), []
    blob = _encoder.encode(outcome.manifest)
    try:
        faithful = _manifest_decoder.decode(blob) == outcome.manifest
    except (msgspec.DecodeError, msgspec.ValidationError):
        faithful = False
    if not faithful:
        # e.g. a TOML date as a parameter default: msgpack cannot round-trip it, so
        # this manifest is read again on every start rather than cached wrongly.
        return _Entry(ref=outcome.ref), []
    entry = _Entry(
        ref=outcome.ref,
        manifest_path=str(outcome.manifest_path),
        manifest_signature=outcome.manifest_signature,
        manifest=blob,
    )
    watch: Watch = [(str(outcome.manifest_path), outcome.manifest_signature)]
    # Template files the manifest names were checked to exist; deleting one must show.
    base = str(outcome.package_dir)
    for template in outcome.manifest.templates:
        target = os.path.normpath(os.path.join(base, template.path))
        watch.append((target, _signature(target)))
    return entry, watch


def store_index(
    cache_dir: Path, key: IndexKey, watch: Watch, outcomes: Sequence[Found | Broken]
) -> None:
    """Write the index for ``key`` atomically; failures to write are logged, not raised.

    Args:
        cache_dir: The cache directory (created with mode 0700 if missing).
        key: The key for the current interpreter and search path.
        watch: Signatures taken while scanning (search path, metadata, entry points).
        outcomes: What each entry point turned out to be.
    """
    from symphony_core.fs import atomic_write  # writing is the cold path only

    entries: list[_Entry] = []
    full_watch = list(watch)
    for outcome in outcomes:
        entry, extra = _entry(outcome)
        entries.append(entry)
        full_watch.extend(extra)
    payload = _encoder.encode(
        _IndexFile(
            format=FORMAT_VERSION,
            key=key,
            code=code_watch(),
            watch=full_watch,
            entries=msgspec.Raw(_encoder.encode(entries)),
        )
    )
    path = index_path(cache_dir, key)
    try:
        cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        # No fsync: after a crash a torn index is simply rebuilt.
        atomic_write(path, payload, fsync=False, mode=0o600)
    except OSError as exc:
        _log.debug("cannot write discovery index %s (%s); continuing without", path, exc)
        return
    _prune(cache_dir, keep=path)


def _prune(cache_dir: Path, *, keep: Path) -> None:
    """Remove the oldest index files beyond :data:`MAX_INDEX_FILES`, and other formats."""
    current = f"discovery-v{FORMAT_VERSION}-"
    try:
        names = [
            n
            for n in os.listdir(cache_dir)
            if n.startswith("discovery-v") and n.endswith(".msgpack")
        ]
    except OSError:
        return
    aged: list[tuple[int, str]] = []
    for name in names:
        full = cache_dir / name
        if full == keep:
            continue
        if not name.startswith(current):
            _unlink(full)
            continue
        sig = _signature(str(full))
        if sig is not None:
            aged.append((sig[0], name))
    aged.sort(reverse=True)
    for _, name in aged[MAX_INDEX_FILES - 1 :]:
        _unlink(cache_dir / name)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError as exc:
        _log.debug("cannot remove old discovery index %s (%s)", path, exc)
