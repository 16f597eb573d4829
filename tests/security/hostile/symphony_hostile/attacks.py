"""The attacks, one per action of the ``hostile_attack`` hook.

Frames are written straight to the IPC socket (fd 3), past the extension host's own
connection, the way a compromised extension could.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import time
from typing import Any

from symphony_core.hooks import hookimpl
from symphony_core.ipc.framing import encode_frame
from symphony_core.ipc.protocol import Publish

IPC_FD = 3


def _raw(data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(IPC_FD, view) :]
        except BlockingIOError:  # the socket is the extension host's, non-blocking
            select.select([], [IPC_FD], [])


def _fork_until(limit: int) -> int:
    children: list[int] = []
    try:
        while len(children) < limit:
            pid = os.fork()
            if pid == 0:
                time.sleep(120)
                os._exit(0)
            children.append(pid)
    except OSError as exc:
        raise RuntimeError(f"forked {len(children)} processes, then: {exc.strerror}") from None
    return len(children)


class Hostile:
    """An extension that turns on its host when asked to."""

    @hookimpl
    def hostile_attack(self, action: str, arg: Any) -> Any:
        if action == "echo":
            return arg
        if action == "frame":  # bytes of the caller's choosing, header included
            _raw(arg["data"])
            time.sleep(arg.get("wait", 10))
            return "the host did not react"
        if action == "body":  # a body behind a correct length header (e.g. a pickle)
            _raw(len(arg).to_bytes(4, "big") + arg)
            time.sleep(10)
            return "the host did not react"
        if action == "flood":
            burst = encode_frame(Publish("flood.x", 0)) * 1000
            for _ in range(arg):
                _raw(burst)
            time.sleep(10)
            return "the host did not react"
        if action == "segfault":
            ctypes.string_at(0)
        if action == "exit":
            os._exit(arg)
        if action == "spin":  # an endless loop that also refuses SIGTERM
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
            while True:
                pass
        if action == "fork":
            return _fork_until(arg)
        if action == "memory":
            data = b"\x01" * arg
            return len(data)
        if action == "cpu":
            end = time.process_time() + arg
            while time.process_time() < end:
                pass
            return arg
        raise ValueError(f"unknown attack {action!r}")
