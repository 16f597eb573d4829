"""Find an extension's package directory and manifest without importing any of its code.

The entry point's value names a package (``acme_textops`` or ``acme.textops``). The
top-level name is looked up with :func:`importlib.util.find_spec`, which asks the import
system where the package *would* come from — honouring editable installs and other
meta-path finders — without executing it. A dotted value is then followed on disk
through the parent's search locations, the way the path finder would, because finding
the spec of ``parent.child`` through importlib would import ``parent``.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from symphony_core.discovery.errors import (
    EntryPointValueError,
    ExtensionPackageNotFoundError,
    ManifestMissingError,
    ManifestUnreadableError,
)

__all__ = ["MANIFEST_NAME", "check_value", "find_manifest", "package_directories"]

MANIFEST_NAME = "symphony.toml"
"""File name of the manifest inside an extension's package directory."""

_VALUE_HINT = (
    'the value must be the package that holds symphony.toml, e.g. "acme_textops"; '
    "the object to import goes in the manifest's [extension].entry"
)


def check_value(name: str, value: str, where: str) -> list[str]:
    """Return the parts of an entry point's dotted package name, or raise.

    Args:
        name: The entry point's name (the extension id it claims).
        value: The entry point's value.
        where: Where the entry point is declared, for the message.

    Returns:
        The dotted name split into its parts.

    Raises:
        EntryPointValueError: The value is empty, has ``:attr`` or extras, or a part is
            not a Python identifier.
    """
    parts = value.split(".")
    if value and all(part.isidentifier() for part in parts):
        return parts
    problem = "is empty" if not value else "is not a dotted package name"
    if ":" in value:
        problem = "names an object (module:attribute), not a package"
    raise EntryPointValueError(
        f"entry point value {value!r} {problem}",
        extension_id=name or None,
        where=where,
        hint=_VALUE_HINT,
    )


def _has_init(directory: str) -> bool:
    return any(
        os.path.isfile(os.path.join(directory, "__init__" + suffix))
        for suffix in importlib.machinery.all_suffixes()
    )


def _is_module_file(directory: str, name: str) -> bool:
    return any(
        os.path.isfile(os.path.join(directory, name + suffix))
        for suffix in importlib.machinery.all_suffixes()
    )


def package_directories(
    parts: Sequence[str], paths: Sequence[str] | None, *, extension_id: str, where: str
) -> list[str]:
    """Return the directories of the package named by ``parts``, without importing it.

    Args:
        parts: The dotted package name, split.
        paths: The search path; ``None`` means the running import system (``sys.path``
            and every meta-path finder, so editable installs are found).
        extension_id: The id the entry point claims, for error messages.
        where: Where the entry point is declared, for error messages.

    Returns:
        One directory for a regular package; the portions, in order, for a namespace
        package.

    Raises:
        ExtensionPackageNotFoundError: The package is not on the search path, is a plain
            module, or does not live in a directory on disk (e.g. inside a zip archive).
    """
    dotted = ".".join(parts)
    top = parts[0]

    def not_found(reason: str) -> ExtensionPackageNotFoundError:
        return ExtensionPackageNotFoundError(
            f"package {dotted!r} named by the entry point {reason}",
            extension_id=extension_id,
            where=where,
            hint="reinstall the distribution, or fix the entry point's value",
        )

    try:
        if paths is None:
            spec = importlib.util.find_spec(top)
        else:
            spec = importlib.machinery.PathFinder.find_spec(top, list(paths))
    except (ImportError, ValueError) as exc:
        raise not_found(f"cannot be looked up: {exc}") from None
    if spec is None:
        raise not_found(f"is not installed: no {top!r} on the search path")
    if spec.submodule_search_locations is None:
        raise not_found(f"is wrong: {top!r} is a module, not a package directory")
    directories = [d for d in spec.submodule_search_locations if os.path.isdir(d)]
    if not directories:
        raise not_found("is not a directory on disk (zip archives are not supported)")
    for depth, part in enumerate(parts[1:], start=2):
        portions: list[str] = []
        regular: str | None = None
        for directory in directories:
            candidate = os.path.join(directory, part)
            if os.path.isdir(candidate) and _has_init(candidate):
                regular = candidate
                break
            if _is_module_file(directory, part):
                prefix = ".".join(parts[:depth])
                raise not_found(f"is wrong: {prefix!r} is a module, not a package directory")
            if os.path.isdir(candidate):
                portions.append(candidate)
        if regular is not None:
            directories = [regular]
        elif portions:
            directories = portions
        else:
            raise not_found(f"is not installed: no {'.'.join(parts[:depth])!r}")
    return [os.path.abspath(d) for d in directories]


def find_manifest(directories: Sequence[str], *, extension_id: str, where: str) -> Path:
    """Return the ``symphony.toml`` of the first directory that has one.

    A manifest that is a symbolic link must resolve inside its package directory.

    Args:
        directories: The package's directories (see :func:`package_directories`).
        extension_id: The id the entry point claims, for error messages.
        where: Where the entry point is declared, for error messages.

    Returns:
        The manifest's path.

    Raises:
        ManifestMissingError: No directory has a ``symphony.toml``.
        ManifestUnreadableError: The manifest exists but is not a regular file.
        PathConfinementError: The manifest is a symbolic link leading out of the package.
    """
    for directory in directories:
        candidate = os.path.join(directory, MANIFEST_NAME)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise ManifestUnreadableError(
                f"cannot access {MANIFEST_NAME}: {exc.strerror}",
                extension_id=extension_id,
                where=candidate,
            ) from None
        if stat.S_ISLNK(st.st_mode):
            from symphony_core.fs import confine  # only symlinked manifests need resolving

            resolved = confine(Path(directory), MANIFEST_NAME, what=f"manifest of {extension_id}")
            if not resolved.is_file():
                raise ManifestUnreadableError(
                    f"{MANIFEST_NAME} is a symbolic link to {resolved}, which is not a file",
                    extension_id=extension_id,
                    where=candidate,
                )
            return Path(candidate)
        if not stat.S_ISREG(st.st_mode):
            raise ManifestUnreadableError(
                f"{MANIFEST_NAME} is not a regular file",
                extension_id=extension_id,
                where=candidate,
                hint=f"make {MANIFEST_NAME} a file in the package directory",
            )
        return Path(candidate)
    others = f" (nor in {', '.join(directories[1:])})" if len(directories) > 1 else ""
    raise ManifestMissingError(
        f"the package of {where} has no {MANIFEST_NAME}{others}",
        extension_id=extension_id,
        where=os.path.join(directories[0], MANIFEST_NAME),
        hint=f"ship {MANIFEST_NAME} as package data next to the package's __init__.py",
    )
