"""Lazy re-exports for packages (PEP 562): a name's module is imported on first access.

A package lists ``name -> module`` and gets its module-level ``__getattr__`` and
``__dir__`` from :func:`lazy_exports`, so importing the package costs nothing until a
name is used; a warm host start depends on that (``tests/host/test_lazy_imports.py``).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str], public: Iterable[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Build ``__getattr__`` and ``__dir__`` for a package with lazy re-exports.

    Args:
        package: The package's ``__name__``.
        exports: Exported name -> module defining it; a module name without a dot is a
            submodule of ``package``.
        public: The package's ``__all__``.

    Returns:
        The package's ``__getattr__`` and ``__dir__``.
    """
    names = frozenset(public)

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        target = module if "." in module else f"{package}.{module}"
        value = getattr(importlib.import_module(target), name)
        vars(sys.modules[package])[name] = value  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | names)

    return __getattr__, __dir__
