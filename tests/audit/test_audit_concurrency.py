"""Many threads and another process append at once: no torn line, nothing lost, time order."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

from symphony_core.audit import AuditLog

_CHILD = """
import sys
from pathlib import Path
from symphony_core.audit import AuditLog
log = AuditLog(Path(sys.argv[1]), max_bytes=int(sys.argv[2]), backups=int(sys.argv[3]))
sys.stdout.write("go\\n"); sys.stdout.flush()
sys.stdin.readline()
for i in range(int(sys.argv[4])):
    log.record(extension="child.proc", action="open", target=f"/child/{i}" + "x" * (i % 300),
               rule="r", code="landlock.fs.read", mechanism="landlock", pid=1)
assert log.dropped == 0
"""

THREADS = 6
PER_THREAD = 300
CHILD_RECORDS = 1500


def _hammer(directory: Path, max_bytes: int, backups: int) -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _CHILD,
            str(directory),
            str(max_bytes),
            str(backups),
            str(CHILD_RECORDS),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdin is not None
    assert child.stdout.readline() == "go\n"
    log = AuditLog(directory, max_bytes=max_bytes, backups=backups)
    start = threading.Barrier(THREADS + 1)

    def work(n: int) -> None:
        start.wait()
        for i in range(PER_THREAD):
            log.record(
                extension=f"thread.t{n}",
                action="connect",
                target=f"/thread/{n}/{i}" + "y" * (i * 7 % 500),
                rule="seccomp: socket family AF_INET denied",
                code="seccomp.socket",
                mechanism="seccomp",
            )

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    child.stdin.write("\n")
    child.stdin.flush()
    start.wait()
    for thread in threads:
        thread.join()
    assert child.wait(60) == 0
    assert log.dropped == 0
    log.close()


def _lines(log: AuditLog) -> list[dict[str, object]]:
    out = []
    for path in log.files():
        data = path.read_bytes()
        assert data.endswith(b"\n")
        for line in data.split(b"\n")[:-1]:
            out.append(json.loads(line))  # a torn or interleaved line would not parse
    return out


def test_no_torn_or_lost_lines_without_rotation(tmp_path: Path) -> None:
    directory = tmp_path / "audit"
    _hammer(directory, max_bytes=1 << 30, backups=1)
    log = AuditLog(directory)
    lines = _lines(log)
    assert len(lines) == THREADS * PER_THREAD + CHILD_RECORDS
    targets = {str(line["target"]).rstrip("xy") for line in lines}
    assert targets == {f"/thread/{n}/{i}" for n in range(THREADS) for i in range(PER_THREAD)} | {
        f"/child/{i}" for i in range(CHILD_RECORDS)
    }
    times = [str(line["time"]) for line in lines]
    assert times == sorted(times)  # stamped under the lock: file order is time order
    assert len(list(log.query())) == len(lines)
    assert log.skipped == 0


def test_no_torn_lines_while_rotating(tmp_path: Path) -> None:
    directory = tmp_path / "audit"
    _hammer(directory, max_bytes=64 << 10, backups=3)
    log = AuditLog(directory, max_bytes=64 << 10, backups=3)
    files = log.files()
    assert len(files) == 4  # it rotated (about 1.3 MB written)
    lines = _lines(log)
    times = [str(line["time"]) for line in lines]
    assert times == sorted(times)
    # per writer, what survives is the most recent run of its records, in order, unbroken
    survivors = 0
    for prefix in [f"/thread/{n}/" for n in range(THREADS)] + ["/child/"]:
        numbers = [
            int(str(line["target"]).rstrip("xy")[len(prefix) :])
            for line in lines
            if str(line["target"]).startswith(prefix)
        ]
        if numbers:
            survivors += 1
            last = CHILD_RECORDS if prefix == "/child/" else PER_THREAD
            assert numbers == list(range(last - len(numbers), last))
    assert survivors >= 1
    assert log.skipped == 0
