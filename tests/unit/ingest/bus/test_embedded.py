"""Embedded bus: durability across restarts, torn log tails, retention, groups and lag."""

from __future__ import annotations

import errno
import os
import shutil
import time
from pathlib import Path

import pytest

from ingest.bus.base import BusUnavailable
from ingest.bus.embedded import EmbeddedBroker
from ingest.bus.log import SEGMENT_BYTES, LogEntry, SegmentLog


def publish(broker: EmbeddedBroker, n: int, *, prefix: str = "k") -> None:
    messages = [(f"{prefix}{i % 5}".encode(), f"v{i}".encode()) for i in range(n)]
    broker.publish("t", messages).result(timeout=5)


def drain(broker: EmbeddedBroker, group: str = "g") -> list[bytes]:
    sub = broker.subscriber(["t"], group)
    values = [r.value for r in sub.poll(10_000, 0.2)]
    sub.close()
    return values


def test_published_records_survive_a_restart(tmp_path: Path) -> None:
    broker = EmbeddedBroker(partitions=3, log_dir=tmp_path)
    publish(broker, 20)
    broker.close()
    again = EmbeddedBroker(partitions=3, log_dir=tmp_path)
    assert sorted(drain(again)) == sorted(f"v{i}".encode() for i in range(20))
    publish(again, 1, prefix="new")  # offsets continue after replay, no reuse
    assert len(drain(again, "other")) == 21
    again.close()


def test_committed_offsets_survive_and_only_the_rest_replays(tmp_path: Path) -> None:
    broker = EmbeddedBroker(partitions=2, log_dir=tmp_path)
    publish(broker, 10)
    sub = broker.subscriber(["t"], "g")
    records = sub.poll(100, 0.2)
    assert len(records) == 10
    done = {(r.topic, r.partition): r.offset + 1 for r in records[:4]}
    sub.commit(done)
    broker.close()
    again = EmbeddedBroker(partitions=2, log_dir=tmp_path)
    rest = again.subscriber(["t"], "g").poll(100, 0.2)
    # exactly the records past each partition's commit: none lost, none replayed twice
    expected = [
        (r.partition, r.offset, r.value)
        for r in records
        if r.offset >= done.get((r.topic, r.partition), 0)
    ]
    assert sorted((r.partition, r.offset, r.value) for r in rest) == sorted(expected)
    assert 0 < len(rest) < 10
    again.close()


def test_per_key_order_is_kept() -> None:
    broker = EmbeddedBroker(partitions=4)
    broker.publish("t", [(b"same", str(i).encode()) for i in range(50)]).result(timeout=5)
    values = [int(r.value) for r in broker.subscriber(["t"], "g").poll(100, 0.1)]
    assert values == list(range(50))


def test_torn_tail_is_cut_and_earlier_entries_kept(tmp_path: Path) -> None:
    broker = EmbeddedBroker(partitions=1, log_dir=tmp_path)
    publish(broker, 5)
    broker.close()
    segment = next((tmp_path / "log").glob("*.seg"))
    with segment.open("ab") as handle:  # a write cut short by kill -9 / power loss
        handle.write(b"\x40\x00\x00\x00\x12\x34")
    again = EmbeddedBroker(partitions=1, log_dir=tmp_path)
    assert len(drain(again)) == 5
    publish(again, 1, prefix="after")
    again.close()
    final = EmbeddedBroker(partitions=1, log_dir=tmp_path)
    assert len(drain(final)) == 6
    final.close()


def test_two_members_share_partitions_and_rebalance_on_leave() -> None:
    broker = EmbeddedBroker(partitions=4)
    publish(broker, 40)
    a = broker.subscriber(["t"], "g")
    b = broker.subscriber(["t"], "g")
    got_a = {r.partition for r in a.poll(1000, 0.1)}
    got_b = {r.partition for r in b.poll(1000, 0.1)}
    assert got_a and got_b and not got_a & got_b
    b.close()
    after = {r.partition for r in a.poll(1000, 0.1)}
    assert got_b <= after  # b's uncommitted share moves to a and replays from the committed offset


def test_pause_and_lag() -> None:
    broker = EmbeddedBroker(partitions=2)
    publish(broker, 10)
    sub = broker.subscriber(["t"], "g")
    sub.pause()
    assert sub.poll(100, 0.05) == []
    sub.resume()
    records = sub.poll(100, 0.05)
    assert len(records) == 10 and sub.lag() == 10
    sub.commit({(r.topic, r.partition): r.offset + 1 for r in records})
    assert sub.lag() == 0


def three_entries_in_two_segments(directory: Path) -> SegmentLog:
    """A log whose offsets 0 and 1 fill the first segment and 2 starts the second."""
    log = SegmentLog(directory)
    list(log.replay())
    big = b"x" * (SEGMENT_BYTES // 2 + 1)
    for offset in range(3):
        log.append([LogEntry("t", 0, offset, 0, None, big)])
        log.sync()
    return log


def test_segments_roll_and_fully_committed_ones_are_deleted(tmp_path: Path) -> None:
    log = three_entries_in_two_segments(tmp_path)
    assert len(log.segments) == 2
    assert log.delete_before({("t", 0): 1}) == 0  # offset 1 still needed by the first segment
    assert log.delete_before({("t", 0): 2}) == 1
    log.close()
    assert [e.offset for e in SegmentLog(tmp_path).replay()] == [2]


def test_failed_log_write_fails_the_publish_instead_of_acknowledging(tmp_path: Path) -> None:
    broker = EmbeddedBroker(partitions=1, log_dir=tmp_path)
    assert broker._log is not None
    broker._log.close()  # the fd is gone: every write now fails like a dead disk
    future = broker.publish("t", [(b"k", b"v")])
    error = future.exception(timeout=5)
    assert error is not None and "bus log write failed" in str(error)
    assert not broker.ping()
    broker.close()


def test_a_fast_group_never_trims_what_a_slow_group_has_not_read() -> None:
    broker = EmbeddedBroker(partitions=1)
    slow = broker.subscriber(["t"], "sink")
    fast = broker.subscriber(["t"], "detect")
    publish(broker, 5)
    records = fast.poll(100, 0.1)
    fast.commit({(r.topic, r.partition): r.offset + 1 for r in records})
    assert len(slow.poll(100, 0.1)) == 5


def test_a_group_that_never_committed_keeps_its_records_across_a_restart(tmp_path: Path) -> None:
    """The sink held its batch and a kill -9 came before its first commit, while detect had
    committed everything: after the restart the sink must still read every record."""
    broker = EmbeddedBroker(partitions=1, log_dir=tmp_path)
    broker.subscriber(["t"], "sink")  # joined, never commits
    detect = broker.subscriber(["t"], "detect")
    publish(broker, 5)
    records = detect.poll(100, 0.2)
    detect.commit({(r.topic, r.partition): r.offset + 1 for r in records})
    broker.close()
    again = EmbeddedBroker(partitions=1, log_dir=tmp_path)
    assert sorted(drain(again, "sink")) == sorted(f"v{i}".encode() for i in range(5))
    assert drain(again, "detect") == []
    again.close()


def test_concurrent_commits_of_two_groups_keep_offsets_file_consistent(tmp_path: Path) -> None:
    import threading

    broker = EmbeddedBroker(partitions=2, log_dir=tmp_path)
    publish(broker, 10)
    subs = [broker.subscriber(["t"], g) for g in ("sink", "detect")]
    errors: list[BaseException] = []

    def hammer(sub) -> None:  # type: ignore[no-untyped-def]
        try:
            for i in range(200):
                sub.commit({("t", 0): i % 5, ("t", 1): i % 5})
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(s,)) for s in subs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    broker.close()
    again = EmbeddedBroker(partitions=2, log_dir=tmp_path)
    assert set(again._committed) == {"sink", "detect"}
    again.close()


class _FillingDisk(SegmentLog):
    """A segment log on a disk that is full while `full` is set: writes fail with ENOSPC after
    writing part of their bytes, as a filling disk does."""

    full = False

    def append(self, entries: list[LogEntry]) -> list[int]:
        if self.full:
            os.write(self._fd, b"half a record")
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().append(entries)


def test_a_full_disk_fails_publishes_and_recovers_by_itself_once_there_is_room(
    tmp_path: Path,
) -> None:
    broker = EmbeddedBroker(partitions=1, log_dir=tmp_path)
    disk = _FillingDisk(tmp_path / "log")
    assert broker._log is not None
    broker._log.close()
    list(disk.replay())
    broker._log = disk
    broker.publish("t", [(b"k", b"before")]).result(timeout=5)
    disk.full = True
    error = broker.publish("t", [(b"k", b"lost")]).exception(timeout=5)
    assert isinstance(error, BusUnavailable) and "No space left" in str(error)
    assert not broker.ping()  # health: degraded
    disk.full = False
    deadline = time.monotonic() + 10
    while broker.publish("t", [(b"k", b"after")]).exception(timeout=5) is not None:
        assert time.monotonic() < deadline, "the bus did not recover"
        time.sleep(0.2)
    assert broker.ping()
    sub = broker.subscriber(["t"], "g")
    seen = [(r.offset, r.value) for r in sub.poll(10, 0.5)]
    assert seen == [(0, b"before"), (1, b"after")]  # no gap, nothing unacknowledged
    broker.close()
    assert [(e.offset, e.value) for e in SegmentLog(tmp_path / "log").replay()] == seen


def test_below_the_free_disk_watermark_publishes_are_refused_before_the_disk_is_full(
    tmp_path: Path,
) -> None:
    free = shutil.disk_usage(tmp_path).free
    tight = EmbeddedBroker(partitions=1, log_dir=tmp_path / "a", min_free_bytes=free + 2**30)
    error = tight.publish("t", [(b"k", b"v")]).exception(timeout=5)
    assert isinstance(error, BusUnavailable) and "disk nearly full" in str(error)
    assert "LEASH_MIN_FREE_DISK_MB" in str(error) and not tight.ping()
    tight.close()
    roomy = EmbeddedBroker(partitions=1, log_dir=tmp_path / "b", min_free_bytes=2**20)
    assert roomy.publish("t", [(b"k", b"v")]).exception(timeout=5) is None and roomy.ping()
    roomy.close()


def test_a_failed_append_after_old_segments_were_deleted_cuts_only_what_it_wrote(
    tmp_path: Path,
) -> None:
    """Rewinding is relative to the tail segment itself, not to how many segments there are
    (a commit may delete closed ones between the mark and the failure)."""
    log = three_entries_in_two_segments(tmp_path)
    mark = log.mark()
    assert log.delete_before({("t", 0): 2}) == 1  # the first segment goes meanwhile
    log.append([LogEntry("t", 0, 3, 0, None, b"never acknowledged")])
    log.rewind(mark)
    log.close()
    assert [e.offset for e in SegmentLog(tmp_path).replay()] == [2]


def test_a_zero_filled_tail_is_a_torn_tail_not_a_crash(tmp_path: Path) -> None:
    log = SegmentLog(tmp_path)
    list(log.replay())
    log.append([LogEntry("t", 0, 0, 0, b"k", b"v")])
    log.close()
    segment = next(tmp_path.glob("*.seg"))
    with segment.open("ab") as handle:
        handle.write(bytes(64))
    assert [e.value for e in SegmentLog(tmp_path).replay()] == [b"v"]


def test_small_polls_read_a_trimmed_partition_in_order_without_gaps() -> None:
    """Polls of a few records at a time, while a slower group holds the partition back and the
    faster one's commits trim it, return every offset once and in order."""
    broker = EmbeddedBroker(partitions=1)
    broker.publish("t", [(b"k", f"v{i}".encode()) for i in range(50)]).result(timeout=5)
    fast, slow = broker.subscriber(["t"], "fast"), broker.subscriber(["t"], "slow")
    seen: list[tuple[int, bytes]] = []
    while got := fast.poll(7, 0.05):
        seen += [(r.offset, r.value) for r in got]
        fast.commit({("t", 0): got[-1].offset + 1})
        slow.commit({("t", 0): got[-1].offset // 2})  # the low-water mark trims the front
    assert seen == [(i, f"v{i}".encode()) for i in range(50)]
    # the slow group committed up to 24 itself: it reads on from there
    assert [r.offset for r in slow.poll(3, 0.05)] == [24, 25, 26]


@pytest.mark.parametrize(
    ("committed", "limit", "expected"),
    [
        pytest.param(190, 7, list(range(190, 197)), id="near the tail: walks from the right"),
        pytest.param(195, 50, list(range(195, 200)), id="a limit past the tail stops at it"),
        pytest.param(96, 8, list(range(96, 104)), id="the middle: both ends equally near"),
        pytest.param(3, 4, [3, 4, 5, 6], id="near the head: walks from the left"),
    ],
)
def test_a_fetch_returns_the_same_records_from_either_end(
    committed: int, limit: int, expected: list[int]
) -> None:
    """A poll anywhere in a backlog another group holds back returns the records from the reader's
    position on, in order, whichever end of the partition the fetch walks from."""
    broker = EmbeddedBroker(partitions=1)
    broker.publish("t", [(b"k", f"v{i}".encode()) for i in range(200)]).result(timeout=5)
    broker.subscriber(["t"], "holds-the-backlog")
    reader = broker.subscriber(["t"], "reader")
    reader.commit({("t", 0): committed})
    reader.close()
    reader = broker.subscriber(["t"], "reader")
    got = reader.poll(limit, 0.05)
    assert [(r.offset, r.value) for r in got] == [(i, f"v{i}".encode()) for i in expected]


def _values(n: int, start: int = 0) -> list[tuple[bytes, bytes]]:
    return [(b"k", f"value-{i:05d}".encode()) for i in range(start, start + n)]


def test_a_slow_groups_backlog_past_the_memory_bound_is_read_back_from_the_log(
    tmp_path: Path,
) -> None:
    """Only `memory_bytes` of records stay in memory while a group falls behind; the rest are
    read back from the log, every one once and in order, mixed with those still in memory."""
    broker = EmbeddedBroker(partitions=2, log_dir=tmp_path, memory_bytes=2 * 1000)
    slow = broker.subscriber(["t"], "slow")
    for start in range(0, 2000, 100):
        broker.publish("t", _values(100, start)).result(timeout=5)
    assert broker.held_bytes() <= 2 * 1000  # 2,000 records of 12 bytes: ~24 KB without the bound
    seen: list[bytes] = []
    while got := slow.poll(137, 0.05):
        seen += [r.value for r in got]
        slow.commit({(r.topic, r.partition): r.offset + 1 for r in got})
    assert seen == [v for _, v in _values(2000)]  # one key: one partition, in order
    assert broker.held_bytes() == 0  # committed by every group: nothing retained
    broker.close()


def test_a_backlog_past_the_memory_bound_survives_a_restart_without_filling_memory(
    tmp_path: Path,
) -> None:
    broker = EmbeddedBroker(partitions=1, log_dir=tmp_path)
    broker.subscriber(["t"], "g").commit({("t", 0): 500})
    broker.publish("t", _values(3000)).result(timeout=5)
    broker.close()
    again = EmbeddedBroker(partitions=1, log_dir=tmp_path, memory_bytes=1000)
    assert again.held_bytes() <= 1000
    expected = [v for _, v in _values(2500, 500)]
    assert list(again.retained("t")) == expected  # what the dedupe cache is seeded from
    assert [r.value for r in again.subscriber(["t"], "g").poll(5000, 0.05)] == expected
    again.close()


def test_records_read_back_span_segments_and_outgrow_a_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read back in spans (several entries per read): across segment files, and entries
    larger than what a span reads past its last one."""
    monkeypatch.setattr("ingest.bus.log.SEGMENT_BYTES", 50_000)
    monkeypatch.setattr("ingest.bus.log.READ_SPAN_BYTES", 8_000)
    broker = EmbeddedBroker(partitions=3, log_dir=tmp_path, memory_bytes=0)
    sub = broker.subscriber(["t"], "g")
    sent = [
        (f"k{i % 7}".encode(), bytes([i % 251]) * (40_000 if i % 17 == 0 else 300 + i))
        for i in range(400)
    ]
    for start in range(0, 400, 25):
        broker.publish("t", sent[start : start + 25]).result(timeout=5)
    assert len(list((tmp_path / "log").glob("*.seg"))) > 3
    got = []
    while batch := sub.poll(61, 0.05):
        got += batch
    assert broker.held_bytes() == 0
    assert sorted((r.key, r.value) for r in got) == sorted(sent)
    by_partition = {}
    for r in got:
        by_partition.setdefault(r.partition, []).append(r.offset)
    assert all(offsets == sorted(offsets) for offsets in by_partition.values())
    broker.close()
