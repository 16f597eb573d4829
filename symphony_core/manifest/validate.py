"""Validate a decoded manifest and report every problem in it at once."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from symphony_core.manifest.issues import Issue
from symphony_core.manifest.model import Manifest
from symphony_core.manifest.semantic import STRUCT_CHECKS
from symphony_core.manifest.structure import Checker, Reporter, compile_checker

__all__ = ["validate_manifest_data"]


@lru_cache(maxsize=1)
def _manifest_checker() -> Checker:
    return compile_checker(Manifest, STRUCT_CHECKS)


def validate_manifest_data(data: Mapping[str, Any], *, source: str) -> list[Issue]:
    """Check a decoded ``symphony.toml`` against the model and the semantic rules.

    Every problem is reported, not only the first: wrong types, missing and unknown
    keys, patterns, ranges, PEP 440 versions and specifiers, PEP 508 requirements, port
    types, paths, sizes, duplicates, parameter defaults, self-dependencies and
    ``on-node`` activation events.

    Args:
        data: The document as :func:`tomllib.loads` returns it.
        source: The file (or other source name) to name in each issue.

    Returns:
        The issues found; empty when the manifest is valid.
    """
    reporter = Reporter(source)
    _manifest_checker().check(data, (), reporter)
    return reporter.issues
