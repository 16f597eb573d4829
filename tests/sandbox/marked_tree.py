"""Run as a script: a process tree marked like a sandboxed extension's, for sweeper tests.

Argument: a JSON object with

* ``token``: project ids to write into the ``projid_map`` of a fresh user namespace the
  script enters (``null``: stay in the host's namespaces);
* ``sweeper``: ``armed`` (start the sweeper first and arm it with the token),
  ``unarmed`` (start it, never arm it) or ``none``;
* ``count``: grandchildren to leave behind, each in a session of its own and orphaned;
* ``chain``: also leave a fork chain behind (a process that forks and exits, forever);
* ``zombie_leader``: also leave a process whose main thread has exited while another
  of its threads runs on;
* ``stay``: after reporting, wait for end of file on stdin before exiting.

It prints one JSON line: the grandchildren's pids (the chain's first link and the
zombie-leader process last), the sweeper's pid (or ``null``) and its own pid.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
import threading
import time

from symphony_core.runtime.sandbox import netns, sweeper


def _detach_stdio(keep: int) -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.closerange(3, keep)
    os.closerange(keep + 1, 1 << 16)


def _chain() -> None:
    while True:
        time.sleep(0.002)
        if os.fork() != 0:
            os._exit(0)  # the child carries on: no link lives long


def _zombie_leader() -> None:
    threading.Thread(target=time.sleep, args=(300,), daemon=True).start()
    libc = ctypes.CDLL(None)
    libc.pthread_exit(None)  # the process lives on in its other thread


def _orphan(kind: str) -> int:
    """Leave one orphan in a session of its own; return its pid."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.setsid()
        grandchild = os.fork()
        if grandchild == 0:
            _detach_stdio(write_end)
            os.write(write_end, f"{os.getpid()}\n".encode())
            os.close(write_end)
            if kind == "chain":
                _chain()
            elif kind == "zombie_leader":
                _zombie_leader()
            time.sleep(300)
            os._exit(0)
        os._exit(0)
    os.waitpid(pid, 0)
    os.close(write_end)
    found = int(os.read(read_end, 32).decode().strip())
    os.close(read_end)
    return found


def main(spec: dict[str, object]) -> None:
    token = tuple(int(t) for t in spec.get("token") or ())  # type: ignore[attr-defined]
    mode = spec.get("sweeper", "none")
    handle = sweeper.start() if mode != "none" else None
    if token:
        netns.enter_new_userns(projid_map=sweeper.projid_map_text(token))
    sweeper_pid = None
    if handle is not None:
        if mode == "armed":
            sweeper_pid = handle.arm(sweeper.SweepTarget(namespace_token=token))
        else:
            handle.close()
    pids = [_orphan("sleep") for _ in range(int(spec.get("count", 1)))]  # type: ignore[call-overload]
    if spec.get("chain"):
        pids.append(_orphan("chain"))
    if spec.get("zombie_leader"):
        pids.append(_orphan("zombie_leader"))
    print(json.dumps({"pids": pids, "sweeper": sweeper_pid, "pid": os.getpid()}), flush=True)
    if spec.get("stay"):
        sys.stdin.read()


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
