"""The version of the host API that extensions declare compatibility with (``host-api``)."""

from __future__ import annotations

from packaging.version import Version

__all__ = ["HOST_API_VERSION"]

HOST_API_VERSION = Version("1.0.0")
"""Bumped in its major part when a hookspec or the SDK changes incompatibly."""
