"""Filesystem helpers: atomic writes and path confinement.

Every path that comes from a manifest, a workflow file or a request goes through
:func:`confine` before it is opened, so ``..``, absolute paths and symlinks cannot lead
outside the directory it belongs to.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path, PurePosixPath

from symphony_core.errors import PathConfinementError

__all__ = ["atomic_write", "confine", "ensure_dir"]


def ensure_dir(path: Path, mode: int = 0o755) -> Path:
    """Create ``path`` and its parents if missing and return it."""
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    return path


def atomic_write(path: Path, data: bytes | str, *, fsync: bool = True, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new content, never half.

    The data goes to a temporary file in the same directory, is flushed (and fsynced when
    ``fsync`` is true), then renamed over ``path``; with ``fsync`` the directory entry is
    synced too, so the rename survives a crash.

    Args:
        path: Destination file.
        data: Content; ``str`` is encoded as UTF-8.
        fsync: Whether to make the write durable before returning.
        mode: Permission bits of the new file.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    directory = path.parent
    ensure_dir(directory)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    if fsync:
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def confine(base: Path, relative: str | os.PathLike[str], *, what: str = "path") -> Path:
    """Resolve ``relative`` inside ``base`` and refuse anything that would leave it.

    Absolute paths, ``..`` components that climb above ``base`` and symlinks (anywhere
    along the path) that point outside ``base`` are all refused.

    Args:
        base: The directory the path must stay inside.
        relative: A path relative to ``base``, as written by the user.
        what: Names the path in the error message (e.g. ``"manifest key templates[0].path"``).

    Returns:
        The resolved absolute path, inside ``base``.

    Raises:
        PathConfinementError: If the path is absolute, empty or escapes ``base``.
    """
    text = os.fspath(relative)
    if not text or "\x00" in text:
        raise PathConfinementError(
            f"{what} {text!r} is empty or contains a NUL byte", hint="give a relative path"
        )
    if os.path.isabs(text) or PurePosixPath(text).is_absolute():
        raise PathConfinementError(
            f"{what} {text!r} is absolute; it must be relative to {base}",
            hint="write the path relative to the directory it belongs to",
        )
    root = base.resolve()
    target = (root / text).resolve()
    if target != root and not target.is_relative_to(root):
        raise PathConfinementError(
            f"{what} {text!r} leads outside {root} (to {target})",
            hint="remove '..' components and symlinks that point outside",
        )
    return target
