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
* the source files of the manifest model, its validator, discovery and resolution (a
  new Symphony may judge a manifest or a dependency differently),

keyed on the interpreter (``sys.executable``, ``sys.prefix``, version) and the exact
search path. A warm start stats those paths — no directory listing, no metadata read —
then decodes every entry, validated manifests included, with one msgpack call: neither
the TOML reader nor the manifest validator is imported. Entry points that failed are
not trusted to the index: they are evaluated again on every start, so their error is
always current and always the real exception. When the index is stale, a rebuild still
takes each manifest whose file is unchanged from it instead of parsing the TOML again.

The index also keeps *derived* data: results computed from its entries alone, such as
the start-up resolution of the host, stored under a name and the exact inputs they were
computed from (see :meth:`Index.recall`). Derived data lives and dies with the entries:
whatever invalidates the index invalidates it too, and a rebuilt index starts without.

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
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from symphony_core.discovery.evaluate import Broken, Found
from symphony_core.discovery.scan import EntryPointRef, Signature
from symphony_core.manifest.model import Manifest

if TYPE_CHECKING:
    import logging

__all__ = [
    "FORMAT_VERSION",
    "MAX_DERIVED",
    "MAX_INDEX_FILES",
    "Derived",
    "Index",
    "IndexKey",
    "Loaded",
    "build_index",
    "code_watch",
    "index_path",
    "load_index",
    "make_key",
    "store_index",
    "write_index",
]

FORMAT_VERSION = 2
"""Version of the index file layout; files of another version are ignored (and pruned)."""

MAX_INDEX_FILES = 16
"""Index files kept per cache directory (one per interpreter and search path)."""

MAX_DERIVED = 8
"""Derived results kept per index; the oldest goes first (one per host configuration)."""


Watch = list[tuple[str, Signature | None]]


def _log() -> logging.Logger:
    # symphony_core.log (and the logging package) is imported when something is logged:
    # a start that has nothing to report does not need it.
    from symphony_core.log import get_logger

    return get_logger("discovery.cache")


# Symphony's own code that decides what an index holds, relative to the package root.
_CODE_DIRECTORIES = ("manifest", "discovery", "resolution")
_CODE_FILES = ("extension.py", "hostapi.py", "resolve.py")
# Libraries whose behaviour decides validity and resolution: PEP 440 parsing, decoding.
_LIBRARIES = ("packaging", "msgspec")


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
    # The validated manifest; None: evaluate the entry point again on every start.
    manifest: Manifest | None = None


class Derived(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """A result computed from an index's entries alone, kept in the index.

    Attributes:
        name: What it is (``"resolution"``).
        inputs: Exactly what it was computed from, beyond the entries (e.g. the ids of
            the extensions that were resolved); a lookup must give the same.
        data: The result, encoded by whoever computed it.
    """

    name: str
    inputs: tuple[str, ...]
    data: bytes


class _IndexFile(msgspec.Struct, kw_only=True, array_like=True):
    format: int
    key: IndexKey
    # Signatures of Symphony's own manifest, discovery and resolution code: if they
    # changed, nothing in the index is trusted, not even the manifests of unchanged files.
    code: Watch
    watch: Watch
    # Decoded only once every signature in ``watch`` matched (or to reuse manifests).
    entries: msgspec.Raw
    derived: list[Derived] = msgspec.field(default_factory=list)


class Index:
    """An index file's content, as read or as about to be written.

    Args:
        key: What it is valid for.
        code: Signatures of Symphony's own code.
        watch: Signatures of everything the entries depend on.
        entries: The msgpack of the entries.
        derived: Results computed from the entries.
    """

    __slots__ = ("code", "derived", "entries", "key", "watch")

    def __init__(
        self,
        *,
        key: IndexKey,
        code: Watch,
        watch: Watch,
        entries: msgspec.Raw,
        derived: Sequence[Derived] = (),
    ) -> None:
        self.key = key
        self.code = code
        self.watch = watch
        self.entries = entries
        self.derived = list(derived)

    def recall(self, name: str, inputs: Sequence[str]) -> bytes | None:
        """Return the derived result ``name`` computed from exactly ``inputs``, if kept."""
        wanted = tuple(inputs)
        for item in self.derived:
            if item.name == name and item.inputs == wanted:
                return item.data
        return None

    def remember(self, name: str, inputs: Sequence[str], data: bytes) -> None:
        """Keep a derived result (replacing one with the same name and inputs).

        At most :data:`MAX_DERIVED` are kept; the oldest goes first.
        """
        wanted = tuple(inputs)
        kept = [d for d in self.derived if not (d.name == name and d.inputs == wanted)]
        kept.append(Derived(name=name, inputs=wanted, data=data))
        self.derived = kept[-MAX_DERIVED:]

    def encode(self) -> bytes:
        """Return the index file's bytes."""
        return _encoder.encode(
            _IndexFile(
                format=FORMAT_VERSION,
                key=self.key,
                code=self.code,
                watch=self.watch,
                entries=self.entries,
                derived=self.derived,
            )
        )


class Loaded(msgspec.Struct, kw_only=True):
    """What :func:`load_index` found.

    Attributes:
        outcomes: On a hit, one item per entry point: a :class:`Found`, or an
            :class:`EntryPointRef` to evaluate again. ``None`` when the index is missing,
            unusable or stale.
        reason: Why there was no hit (``""`` on a hit).
        known: Manifests of a stale index whose files may be unchanged, by path:
            ``(signature, manifest)``. A rebuild takes these instead of parsing TOML.
        index: On a hit, the index itself (to add derived results to).
    """

    outcomes: list[Found | EntryPointRef] | None
    reason: str = ""
    known: dict[str, tuple[Signature, Manifest]] = msgspec.field(default_factory=dict)
    index: Index | None = None

    def known_manifest(self, path: Path, sig: Signature | None) -> Manifest | None:
        """Return the cached manifest of ``path`` if its signature is still ``sig``."""
        if sig is None:
            return None
        hit = self.known.get(str(path))
        if hit is None or tuple(hit[0]) != sig:
            return None
        return hit[1]


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
    digest = _fnv1a(_encoder.encode(key))
    return cache_dir / f"discovery-v{FORMAT_VERSION}-{digest:08x}.msgpack"


def _fnv1a(data: bytes) -> int:
    # 32-bit FNV-1a: stable across processes (unlike hash()), and a few hundred bytes
    # hash faster than zlib imports.
    digest = 0x811C9DC5
    for byte in data:
        digest = ((digest ^ byte) * 0x01000193) & 0xFFFFFFFF
    return digest


def code_watch() -> Watch:
    """Return signatures of the code that decides what an index holds.

    The manifest, discovery and resolution packages (their directories and every module
    in them), ``extension.py``, ``hostapi.py`` and ``resolve.py``, and the ``packaging``
    and ``msgspec`` libraries: when Symphony or what it relies on to judge a manifest or
    a version is upgraded or edited, indexes written by the old code are not trusted.
    Nothing is imported to find them.
    """
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out: Watch = []
    for name in _CODE_DIRECTORIES:
        directory = os.path.join(root, name)
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
    for name in _CODE_FILES:
        path = os.path.join(root, name)
        out.append((path, _signature(path)))
    for library in _LIBRARIES:
        out.extend(_library_watch(library))
    return out


def _library_watch(name: str) -> Watch:
    """Signatures of a library's package directory and the files in it, found unimported.

    Upgrading the library replaces its files, which changes their signatures.
    """
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or ()) if spec is not None else []
    if not locations:
        return [(f"<library {name} not found>", None)]
    out: Watch = []
    for directory in locations:
        out.append((directory, _signature(directory)))
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        out.extend(
            (os.path.join(directory, n), _signature(os.path.join(directory, n)))
            for n in names
            if n.endswith((".py", ".so", ".pyd"))
        )
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
        _log().debug("discovery index %s unreadable (%s); rebuilding", path, exc)
        return Loaded(outcomes=None, reason=f"index unreadable: {exc.strerror}")
    try:
        index = _file_decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        _log().debug(
            "discovery index %s is corrupt or of another format (%s); rebuilding", path, exc
        )
        return Loaded(outcomes=None, reason="index corrupt or of another format")
    if index.format != FORMAT_VERSION:
        return Loaded(outcomes=None, reason=f"index format {index.format} is not {FORMAT_VERSION}")
    if index.key != key:
        return Loaded(outcomes=None, reason="index written for another interpreter or search path")
    change = _first_change(index.code)
    if change is not None:
        _log().debug("discovery index %s is stale: Symphony changed (%s)", path, change)
        return Loaded(outcomes=None, reason=f"Symphony itself changed: {change}")
    change = _first_change(index.watch)
    try:
        # One call decodes and validates every entry, manifests included.
        entries = _entries_decoder.decode(index.entries)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        _log().debug("discovery index %s has a corrupt entry (%s); rebuilding", path, exc)
        return Loaded(outcomes=None, reason="index corrupt")
    if change is not None:
        _log().debug("discovery index %s is stale: %s", path, change)
        known = {
            e.manifest_path: (e.manifest_signature, e.manifest)
            for e in entries
            if e.manifest is not None and e.manifest_signature is not None
        }
        return Loaded(outcomes=None, reason=change, known=known)
    outcomes: list[Found | EntryPointRef] = []
    append = outcomes.append
    for entry in entries:
        if entry.manifest is None:
            append(entry.ref)
            continue
        manifest_path = Path(entry.manifest_path)
        append(
            Found(
                ref=entry.ref,
                package_dir=manifest_path.parent,
                manifest_path=manifest_path,
                manifest=entry.manifest,
                manifest_signature=entry.manifest_signature,
            )
        )
    held = Index(
        key=index.key,
        code=index.code,
        watch=index.watch,
        entries=index.entries,
        derived=index.derived,
    )
    return Loaded(outcomes=outcomes, index=held)


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
        manifest=outcome.manifest,
    )
    watch: Watch = [(str(outcome.manifest_path), outcome.manifest_signature)]
    # Template files the manifest names were checked to exist; deleting one must show.
    base = str(outcome.package_dir)
    for template in outcome.manifest.templates:
        target = os.path.normpath(os.path.join(base, template.path))
        watch.append((target, _signature(target)))
    return entry, watch


def build_index(
    key: IndexKey, watch: Watch, outcomes: Iterable[Found | Broken]
) -> tuple[Index, list[bool]]:
    """Build the index for ``key`` from a fresh scan, without writing it.

    Args:
        key: The key for the current interpreter and search path.
        watch: Signatures taken while scanning (search path, metadata, entry points).
        outcomes: What each entry point turned out to be.

    Returns:
        The index, and for each outcome whether the index holds it (``False`` for
        failures and for manifests that msgpack cannot represent exactly: those are
        evaluated again on every start).
    """
    entries: list[_Entry] = []
    held: list[bool] = []
    full_watch = list(watch)
    for outcome in outcomes:
        entry, extra = _entry(outcome)
        entries.append(entry)
        held.append(entry.manifest is not None)
        full_watch.extend(extra)
    index = Index(
        key=key,
        code=code_watch(),
        watch=full_watch,
        entries=msgspec.Raw(_encoder.encode(entries)),
    )
    return index, held


def write_index(cache_dir: Path, index: Index) -> None:
    """Write ``index`` atomically; failures to write are logged, not raised.

    Args:
        cache_dir: The cache directory (created with mode 0700 if missing).
        index: The index.
    """
    from symphony_core.fs import atomic_write  # writing is the cold path only

    path = index_path(cache_dir, index.key)
    try:
        cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        # No fsync: after a crash a torn index is simply rebuilt.
        atomic_write(path, index.encode(), fsync=False, mode=0o600)
    except OSError as exc:
        _log().debug("cannot write discovery index %s (%s); continuing without", path, exc)
        return
    _prune(cache_dir, keep=path)


def store_index(
    cache_dir: Path, key: IndexKey, watch: Watch, outcomes: Sequence[Found | Broken]
) -> None:
    """Build and write the index for ``key``; failures to write are logged, not raised.

    Args:
        cache_dir: The cache directory (created with mode 0700 if missing).
        key: The key for the current interpreter and search path.
        watch: Signatures taken while scanning (search path, metadata, entry points).
        outcomes: What each entry point turned out to be.
    """
    write_index(cache_dir, build_index(key, watch, outcomes)[0])


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
        _log().debug("cannot remove old discovery index %s (%s)", path, exc)
