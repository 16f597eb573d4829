"""Fixtures for IPC tests: real echo-server child processes, always reaped."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from ipc_harness import Child, spawn_echo


@pytest.fixture
def echo_child() -> Iterator[Callable[..., Child]]:
    """Start echo-server children on demand; kill whatever is left at the end."""
    children: list[Child] = []

    def start(*extra: str, pipes: bool = False) -> Child:
        child = spawn_echo(*extra, pipes=pipes)
        children.append(child)
        return child

    yield start
    for child in children:
        child.kill()
