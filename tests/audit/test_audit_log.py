"""The audit log: records, queries, rotation, malformed lines, write failures, following."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from symphony_core.audit import AuditEntry, AuditLog, format_time


class Clock:
    """A settable clock, one second per tick by default."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float = 1.0) -> None:
        self.now += seconds


def _at(clock: Clock, offset: float = 0.0) -> datetime:
    return datetime.fromtimestamp(clock.now + offset, UTC)


def write(log: AuditLog, ext: str = "acme.tool", target: str = "/etc/passwd") -> AuditEntry:
    entry = log.record(
        extension=ext,
        action="open",
        target=target,
        rule=f"landlock: fs.read not granted for {target}",
        code="landlock.fs.read",
        mechanism="landlock",
        pid=42,
    )
    assert entry is not None
    return entry


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def log(tmp_path: Path, clock: Clock) -> Iterator[AuditLog]:
    with AuditLog(tmp_path / "audit", clock=clock) as audit_log:
        yield audit_log


def test_a_record_is_one_json_line_with_every_field(log: AuditLog, clock: Clock) -> None:
    clock.now = 1_700_000_000.1239
    entry = write(log)
    lines = log.path.read_bytes().splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert data == {
        "time": "2023-11-14T22:13:20.123Z",
        "extension": "acme.tool",
        "pid": 42,
        "action": "open",
        "target": "/etc/passwd",
        "rule": "landlock: fs.read not granted for /etc/passwd",
        "code": "landlock.fs.read",
        "mechanism": "landlock",
        "detail": "",
        "source": "host",
    }
    assert list(log.query()) == [entry]
    assert os.stat(log.path).st_mode & 0o777 == 0o600
    assert os.stat(log.directory).st_mode & 0o777 == 0o700


def test_long_fields_are_clipped(log: AuditLog) -> None:
    entry = write(log, target="/x" * 5000)
    assert len(entry.target) == 1024
    assert entry.target.endswith("…")


def test_limit_records_say_which_limit(log: AuditLog) -> None:
    entry = log.record_limit(
        extension="acme.hog", limit="memory", value="256MiB", mechanism="cgroup", outcome="OOM kill"
    )
    assert entry is not None
    assert entry.rule == "limit: memory 256MiB (cgroup OOM kill)"
    assert (entry.code, entry.action, entry.mechanism) == (
        "limit.memory",
        "exceed memory",
        "cgroup",
    )


def test_query_filters(log: AuditLog, clock: Clock) -> None:
    for ext in ("acme.tool", "acme.other", "zeta.tool", "acme.tool"):
        write(log, ext)
        clock.tick(60)
    start = clock.now - 240
    assert [e.extension for e in log.query(extension="acme.tool")] == ["acme.tool", "acme.tool"]
    assert [e.extension for e in log.query(extension="acme.*")] == [
        "acme.tool",
        "acme.other",
        "acme.tool",
    ]
    assert [e.extension for e in log.query(extension="*.tool")] == [
        "acme.tool",
        "zeta.tool",
        "acme.tool",
    ]
    since = datetime.fromtimestamp(start + 60, UTC)
    until = datetime.fromtimestamp(start + 120, UTC)
    assert [e.extension for e in log.query(since=since, until=until)] == ["acme.other", "zeta.tool"]
    assert [e.extension for e in log.query(since=since, until=until, extension="zeta.*")] == [
        "zeta.tool"
    ]
    assert list(log.query(since=datetime.fromtimestamp(start + 1000, UTC))) == []


def test_until_includes_its_own_millisecond(log: AuditLog, clock: Clock) -> None:
    clock.now = 1_700_000_000.5005
    write(log)
    assert len(list(log.query(until=datetime.fromtimestamp(1_700_000_000.5001, UTC)))) == 1
    assert list(log.query(until=datetime.fromtimestamp(1_700_000_000.4999, UTC))) == []


def test_limit_keeps_the_most_recent_in_time_order(log: AuditLog, clock: Clock) -> None:
    for i in range(10):
        write(log, target=f"/f{i}")
        clock.tick()
    assert [e.target for e in log.query(limit=3)] == ["/f7", "/f8", "/f9"]
    with pytest.raises(ValueError, match="positive"):
        log.query(limit=0)


def test_rotation_keeps_backups_and_reads_across_them(tmp_path: Path, clock: Clock) -> None:
    log = AuditLog(tmp_path / "audit", max_bytes=2048, backups=3, clock=clock)
    for i in range(200):
        write(log, target=f"/file/{i:04d}")
        clock.tick(0.01)
    files = log.files()
    assert [p.name for p in files] == [
        "audit.jsonl.3",
        "audit.jsonl.2",
        "audit.jsonl.1",
        "audit.jsonl",
    ]
    assert all(p.stat().st_size < 2048 + 400 for p in files)
    kept = [e.target for e in log.query()]
    assert kept == sorted(kept)  # oldest first, across the files
    assert kept[-1] == "/file/0199"
    assert "/file/0000" not in kept  # the oldest file was dropped
    assert len(kept) == sum(len(p.read_bytes().splitlines()) for p in files)
    log.close()


def test_since_skips_old_rotated_files_without_losing_entries(tmp_path: Path, clock: Clock) -> None:
    log = AuditLog(tmp_path / "audit", max_bytes=1024, backups=5, clock=clock)
    for i in range(40):
        write(log, target=f"/{i:02d}")
        clock.tick(10)
    everything = list(log.query())
    cut = datetime.fromisoformat(everything[len(everything) // 2].time)
    assert list(log.query(since=cut)) == [e for e in everything if e.time >= format_time(cut)]


def test_malformed_lines_are_skipped_and_counted(log: AuditLog) -> None:
    write(log, target="/a")
    with open(log.path, "ab") as handle:
        handle.write(b"not json\n")
        handle.write(b'{"time": "yesterday", "extension": "x"}\n')
        handle.write(b"\n")
    write(log, target="/b")
    with open(log.path, "ab") as handle:
        handle.write(b'{"time": "2023-')  # a line still being written
    assert [e.target for e in log.query()] == ["/a", "/b"]
    assert log.skipped == 2


def test_a_write_failure_never_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "audit"
    blocker.write_text("a file where the directory should be")
    log = AuditLog(blocker)
    with caplog.at_level(logging.WARNING, logger="symphony.audit"):
        assert log.record(extension="a.b", action="x", rule="r", code="c", mechanism="m") is None
        assert log.record(extension="a.b", action="x", rule="r", code="c", mechanism="m") is None
    assert log.dropped == 2
    assert len([r for r in caplog.records if "cannot write the audit log" in r.getMessage()]) == 1
    assert list(log.query()) == []


def test_a_writer_follows_another_process_rotating(tmp_path: Path, clock: Clock) -> None:
    first = AuditLog(tmp_path / "audit", max_bytes=1024, backups=2, clock=clock)
    second = AuditLog(tmp_path / "audit", max_bytes=1024, backups=2, clock=clock)
    write(first, target="/first-0")
    for i in range(12):  # rotates under `first`
        write(second, target=f"/second-{i}")
    write(first, target="/first-1")
    live = [json.loads(line)["target"] for line in first.path.read_bytes().splitlines()]
    assert live[-1] == "/first-1"  # written to the new live file, not the renamed one
    first.close()
    second.close()


def test_constructor_checks() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        AuditLog(Path("/nonexistent"), max_bytes=10)
    with pytest.raises(ValueError, match="backups"):
        AuditLog(Path("/nonexistent"), backups=0)


def test_follow_yields_backlog_then_new_entries_across_rotation(tmp_path: Path) -> None:
    # 40 lines of ~250 bytes: the live file rotates twice, and the 3 backups hold them all
    log = AuditLog(tmp_path / "audit", max_bytes=4096, backups=3)
    for i in range(3):
        write(log, target=f"/old-{i}")
    stop = threading.Event()
    seen: list[str] = []
    backlog_done = threading.Event()
    got_all = threading.Event()

    def reader() -> None:
        for entry in AuditLog(tmp_path / "audit").follow(
            extension="acme.*", backlog=2, interval=0.01, stop=stop
        ):
            seen.append(entry.target)
            if entry.target == "/old-2":
                backlog_done.set()
            if entry.target == "/new-19":
                got_all.set()

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        assert backlog_done.wait(10)
        for i in range(20):
            write(log, ext="other.ext", target=f"/filtered-{i}")
            write(log, target=f"/new-{i}")
        assert got_all.wait(10), seen
        assert len(log.files()) >= 3  # it did rotate while being followed
    finally:
        stop.set()
        thread.join(5)
    assert seen == ["/old-1", "/old-2", *(f"/new-{i}" for i in range(20))]
    log.close()


def test_follow_waits_for_a_log_that_does_not_exist_yet(tmp_path: Path) -> None:
    stop = threading.Event()
    seen: list[AuditEntry] = []

    def reader() -> None:
        for entry in AuditLog(tmp_path / "audit").follow(interval=0.01, stop=stop):
            seen.append(entry)
            stop.set()

    thread = threading.Thread(target=reader)
    thread.start()
    log = AuditLog(tmp_path / "audit")
    write(log)
    thread.join(10)
    assert not thread.is_alive()
    assert [e.target for e in seen] == ["/etc/passwd"]
    log.close()


def test_times_are_in_order_and_utc(log: AuditLog, clock: Clock) -> None:
    write(log)
    clock.tick(timedelta(hours=5).total_seconds())
    write(log)
    times = [e.time for e in log.query()]
    assert times == sorted(times)
    assert all(t.endswith("Z") for t in times)
    assert datetime.fromisoformat(times[1]) - datetime.fromisoformat(times[0]) == timedelta(hours=5)
