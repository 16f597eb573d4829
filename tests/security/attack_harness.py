"""Helpers for the attack tests: audit recorder, leftover detection, true skip reasons."""

from __future__ import annotations

from symphony_core.testing.sandbox import (
    Recorder,
    accepted_weakenings,
    cgroup_unavailable,
    own_cgroups,
    process_limit_unavailable,
    sandbox_unavailable,
    zygote_children,
)

__all__ = [
    "Recorder",
    "accepted_weakenings",
    "cgroup_unavailable",
    "own_cgroups",
    "process_limit_unavailable",
    "sandbox_unavailable",
    "zygote_children",
]
