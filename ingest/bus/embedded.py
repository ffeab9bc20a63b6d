"""Embedded bus: keyed partitions, offsets, consumer groups; durable via a group-committed log."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import zlib
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import orjson

from ingest.bus.base import BusUnavailable, Record, TopicPartition
from ingest.bus.log import LogEntry, Segment, SegmentLog, read_located
from ingest.bus.partition import Partition

logger = logging.getLogger(__name__)

DISK_CHECK_S = 1.0  # free space under the log is looked up at most this often
RETRY_WRITE_S = 1.0  # after a failed log write (disk full), publishes fail fast this long
MAX_GROUP_COMMIT = 50_000  # records; one fsync covers at most this many queued records
DEFAULT_MEMORY_BYTES = 64 * 2**20  # bytes of records held in memory (a log holds the rest)
RETAINED_CHUNK = 10_000  # records read back from the log at a time by `retained`


@dataclass
class _Pending:
    entries: list[LogEntry]
    future: Future[None]


class EmbeddedBroker:
    """In-process broker with real offsets and consumer groups.

    With `log_dir`, every published batch is appended to a segment log and fsynced (one fsync per
    group of concurrent publishes) before it becomes visible and before its future resolves; on
    start the log is replayed, and committed offsets are kept in `offsets.json`. Then at most
    `memory_bytes` of records (keys and values, shared out evenly over the partitions) are held
    in memory: what a slow group has not read beyond that is read back from the log when it
    gets there (ingest.bus.partition). Without a log every retained record stays in memory.
    """

    def __init__(
        self,
        *,
        partitions: int = 6,
        log_dir: Path | None = None,
        min_free_bytes: int = 0,
        memory_bytes: int = DEFAULT_MEMORY_BYTES,
    ) -> None:
        self.partitions = partitions
        self._partition_bytes = memory_bytes // partitions if log_dir is not None else None
        self._lock = threading.Condition()
        self._offsets_lock = threading.Lock()
        self._topics: dict[str, list[Partition]] = {}
        self._committed: dict[str, dict[TopicPartition, int]] = {}
        self._members: dict[str, list[EmbeddedSubscriber]] = {}
        self._log_dir = log_dir
        self._log: SegmentLog | None = None
        self._queue: deque[_Pending] = deque()
        self._queue_ready = threading.Condition()
        self._closed = False
        self._failed: BaseException | None = None  # the last log write's error, until one works
        self._failed_at = 0.0
        self._min_free = min_free_bytes if log_dir is not None else 0
        self._free_checked_at = -DISK_CHECK_S
        self._low_disk = ""  # why publishes are refused while the disk is nearly full
        self._writer: threading.Thread | None = None
        if log_dir is not None:
            self._load(log_dir)
            self._writer = threading.Thread(target=self._write_loop, name="bus-log", daemon=True)
            self._writer.start()

    # -- durability -------------------------------------------------------------------------
    def _load(self, log_dir: Path) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        offsets_path = log_dir / "offsets.json"
        if offsets_path.exists():
            raw = orjson.loads(offsets_path.read_bytes())
            self._committed = {
                group: {_parse_tp(tp): off for tp, off in tps.items()} for group, tps in raw.items()
            }
        self._log = SegmentLog(log_dir / "log")
        low = self._low_water()
        for entry, location in self._log.replay_located():
            part = self._partition(entry.topic, entry.partition)
            if not part and part.next_offset <= entry.offset:
                part.base_offset = entry.offset
            if entry.offset >= low.get((entry.topic, entry.partition), 0):
                part.append(_record(entry), location)
            else:
                part.base_offset = entry.offset + 1
            part.next_offset = entry.offset + 1

    def _write_loop(self) -> None:
        assert self._log is not None
        while True:
            with self._queue_ready:
                while not self._queue and not self._closed:
                    self._queue_ready.wait()
                if not self._queue and self._closed:
                    return
                batch: list[_Pending] = []
                count = 0
                while self._queue and count < MAX_GROUP_COMMIT:
                    item = self._queue.popleft()
                    batch.append(item)
                    count += len(item.entries)
            mark = self._log.mark()
            try:
                locations = self._log.append([e for item in batch for e in item.entries])
                self._log.sync()
            except OSError as exc:  # disk full or gone: never acknowledge, recover when it can
                self._write_failed(batch, mark, exc)
                continue
            self._failed = None
            self._make_visible(batch, locations)

    def _write_failed(self, batch: list[_Pending], mark: tuple[Segment, int], exc: OSError) -> None:
        """Fail this batch and everything queued behind it, hand their offsets back and cut the
        log to where it was: the next publish tries the disk again (no restart needed)."""
        assert self._log is not None
        logger.error("bus log write failed (publishes answer 503 until it works again): %s", exc)
        with self._lock, self._queue_ready:
            failed = [*batch, *self._queue]
            self._queue.clear()
            first: dict[TopicPartition, int] = {}
            for item in failed:
                for e in item.entries:
                    tp = (e.topic, e.partition)
                    first[tp] = min(first.get(tp, e.offset), e.offset)
            for (topic, partition), offset in first.items():
                self._partition(topic, partition).next_offset = offset
            try:
                self._log.rewind(mark)
            except OSError as cut:  # the file is gone too: appends will keep failing loudly
                logger.error("bus log could not be cut back after a failed write: %s", cut)
            self._failed = exc
            self._failed_at = time.monotonic()
        for item in failed:
            item.future.set_exception(BusUnavailable(f"bus log write failed: {exc}"))

    def _make_visible(self, batch: list[_Pending], locations: list[int]) -> None:
        where = iter(locations)
        with self._lock:
            for item in batch:
                for e in item.entries:
                    self._topics[e.topic][e.partition].append(_record(e), next(where))
            self._lock.notify_all()
        for item in batch:
            item.future.set_result(None)

    # -- publishing -------------------------------------------------------------------------
    def _partition(self, topic: str, partition: int) -> Partition:
        parts = self._topics.get(topic)
        if parts is None:
            parts = self._topics[topic] = [
                Partition(self._partition_bytes) for _ in range(self.partitions)
            ]
        return parts[partition]

    def _disk_low(self) -> str:
        """Why the log's disk is too full to take more (checked at most every DISK_CHECK_S)."""
        now = time.monotonic()
        if now - self._free_checked_at >= DISK_CHECK_S and self._log_dir is not None:
            self._free_checked_at = now
            free = shutil.disk_usage(self._log_dir).free
            self._low_disk = (
                f"disk nearly full: {free // 2**20} MiB free under {self._log_dir}, below "
                f"LEASH_MIN_FREE_DISK_MB={self._min_free // 2**20}; free space or move the data "
                "dir (nothing was stored)"
                if free < self._min_free
                else ""
            )
        return self._low_disk

    def _cooling(self) -> bool:
        """A write failed moments ago: refuse at once for RETRY_WRITE_S, then let one through."""
        return self._failed is not None and time.monotonic() - self._failed_at < RETRY_WRITE_S

    def partition_for(self, key: bytes | None) -> int:
        return zlib.crc32(key or b"") % self.partitions

    def publish(self, topic: str, messages: Sequence[tuple[bytes, bytes]]) -> Future[None]:
        future: Future[None] = Future()
        if self._closed or self._cooling():
            future.set_exception(BusUnavailable(f"bus is closed or failed: {self._failed}"))
            return future
        if self._min_free and self._disk_low():
            future.set_exception(BusUnavailable(self._low_disk))
            return future
        now_ms = int(time.time() * 1000)
        with self._lock:
            entries = []
            for key, value in messages:
                part_no = self.partition_for(key)
                part = self._partition(topic, part_no)
                entries.append(LogEntry(topic, part_no, part.next_offset, now_ms, key, value))
                part.next_offset += 1
            if self._log is None:
                for e in entries:
                    self._topics[topic][e.partition].append(_record(e))
                self._lock.notify_all()
                future.set_result(None)
                return future
            # enqueue under the offset lock so the writer sees batches in offset order
            with self._queue_ready:
                self._queue.append(_Pending(entries, future))
                self._queue_ready.notify()
        return future

    # -- consuming --------------------------------------------------------------------------
    def _join(self, sub: EmbeddedSubscriber) -> None:
        # A group is known from its first join, not its first commit: offsets.json lists it (with
        # no offsets), so a restart before its first commit still holds back what it has not read.
        with self._offsets_lock:
            with self._lock:
                new = sub.group_id not in self._committed
                self._committed.setdefault(sub.group_id, {})
                self._members.setdefault(sub.group_id, []).append(sub)
                self._rebalance(sub.group_id)
                snapshot = self._offsets_snapshot()
            if new and self._log_dir is not None:
                _write_atomic(self._log_dir / "offsets.json", orjson.dumps(snapshot))

    def _leave(self, sub: EmbeddedSubscriber) -> None:
        with self._lock:
            members = self._members.get(sub.group_id, [])
            if sub in members:
                members.remove(sub)
                self._rebalance(sub.group_id)

    def _rebalance(self, group_id: str) -> None:
        members = self._members.get(group_id, [])
        for index, member in enumerate(members):
            assigned = [
                (topic, p)
                for topic in member.topics
                for p in range(self.partitions)
                if p % len(members) == index
            ]
            member._assign(assigned, self._committed.get(group_id, {}))

    def _fetch(self, tp: TopicPartition, position: int, limit: int) -> list[Record | int]:
        """Up to `limit` records of `tp` from `position` (consecutive offsets from there, or
        from the oldest retained): one to be read back from the log is its location still
        (`_read_back` turns those into records, outside the lock)."""
        cold, hot = self._partition(*tp).fetch(position, limit)
        return [*cold, *hot] if cold else list(hot)

    def _read_back(self, fetched: list[Record | int]) -> list[Record]:
        """`fetched` with every location replaced by the record the log holds there."""
        locations = [item for item in fetched if isinstance(item, int)]
        if not locations:
            return [item for item in fetched if not isinstance(item, int)]
        assert self._log_dir is not None  # (only a broker with a log hands out locations)
        read = iter(read_located(self._log_dir / "log", locations))
        return [_record(next(read)) if isinstance(item, int) else item for item in fetched]

    def _commit(self, group_id: str, offsets: Mapping[TopicPartition, int]) -> None:
        # one writer of offsets.json at a time, snapshotting inside, so a stale snapshot never
        # replaces a newer one (several groups commit from their own threads)
        with self._offsets_lock:
            with self._lock:
                committed = self._committed.setdefault(group_id, {})
                committed.update(offsets)
                snapshot = self._offsets_snapshot()
                low = self._low_water()
                for (topic, p), mark in low.items():
                    self._partition(topic, p).trim(mark)
            if self._log_dir is not None:
                _write_atomic(self._log_dir / "offsets.json", orjson.dumps(snapshot))
                with self._queue_ready:  # the writer thread owns the log; deletion is rare
                    if self._log is not None:
                        self._log.delete_before(low)

    def _offsets_snapshot(self) -> dict[str, dict[str, int]]:
        return {
            g: {f"{t}:{p}": o for (t, p), o in tps.items()} for g, tps in self._committed.items()
        }

    def _low_water(self) -> dict[TopicPartition, int]:
        """Lowest committed offset per partition over every group, subscribed or committed.

        A subscribed group that has not committed yet holds everything back: trimming must never
        drop a record some known group has not processed.
        """
        groups = set(self._committed) | {g for g, members in self._members.items() if members}
        if not groups:
            return {}
        tables = [self._committed.get(g, {}) for g in groups]
        shared = set(tables[0]).intersection(*tables[1:])
        return {tp: min(t[tp] for t in tables) for tp in shared}

    def retained(self, topic: str) -> Iterator[bytes]:
        """Values of the records some group has not committed yet (after a restart: what was
        durable but not yet processed), oldest first per partition; those no longer in memory
        are read back from the log a chunk at a time."""
        with self._lock:
            parts = [
                (list(part.cold_locations()), [r.value for r in part.records])
                for part in self._topics.get(topic, [])
            ]
        for cold, hot in parts:
            for start in range(0, len(cold), RETAINED_CHUNK):
                chunk = cold[start : start + RETAINED_CHUNK]
                yield from (r.value for r in self._read_back(list(chunk)))
            yield from hot

    def held_bytes(self) -> int:
        """Keys and values of the records held in memory (the rest of the backlog is on disk)."""
        with self._lock:
            return sum(part.hot_bytes for parts in self._topics.values() for part in parts)

    def end_offsets(self, topic: str) -> dict[TopicPartition, int]:
        with self._lock:
            return {
                (topic, p): self._partition(topic, p).next_offset for p in range(self.partitions)
            }

    # -- Bus protocol -----------------------------------------------------------------------
    def publisher(self) -> EmbeddedPublisher:
        return EmbeddedPublisher(self)

    def subscriber(
        self,
        topics: Sequence[str],
        group_id: str,
        *,
        warm_messages: int = 0,  # noqa: ARG002 - nothing to warm from: processed records go
        warm_s: float = 0.0,  # noqa: ARG002 - (trimmed once every group has committed them)
    ) -> EmbeddedSubscriber:
        sub = EmbeddedSubscriber(self, list(topics), group_id)
        self._join(sub)
        return sub

    def ensure_topics(self, topics: Sequence[str]) -> None:
        with self._lock:
            for topic in topics:
                self._partition(topic, 0)

    def ping(self) -> bool:
        """False while closed, below the free-disk watermark, or since a failed log write until
        a write works again (senders retry their 503s: the next publish is that test)."""
        if self._closed or (self._min_free and self._disk_low()):
            return False
        return self._failed is None

    def close(self) -> None:
        if self._closed:
            return
        with self._queue_ready:
            self._closed = True
            self._queue_ready.notify_all()
        if self._writer is not None:
            self._writer.join(timeout=10)
        if self._log is not None:
            self._log.close()
        with self._lock:
            self._lock.notify_all()


class EmbeddedPublisher:
    def __init__(self, broker: EmbeddedBroker) -> None:
        self._broker = broker

    def publish(self, topic: str, messages: Sequence[tuple[bytes, bytes]]) -> Future[None]:
        return self._broker.publish(topic, messages)

    def close(self) -> None:
        """The broker owns the log; closing a publisher releases nothing."""


class EmbeddedSubscriber:
    def __init__(self, broker: EmbeddedBroker, topics: list[str], group_id: str) -> None:
        self._broker = broker
        self.topics = topics
        self.group_id = group_id
        self._positions: dict[TopicPartition, int] = {}
        self._paused = False
        self._next = 0

    def _assign(
        self, partitions: list[TopicPartition], committed: Mapping[TopicPartition, int]
    ) -> None:
        self._positions = {tp: committed.get(tp, 0) for tp in partitions}

    def poll(self, max_records: int, timeout_s: float) -> list[Record]:
        deadline = time.monotonic() + timeout_s
        broker = self._broker
        with broker._lock:
            while True:
                out = [] if self._paused else self._collect(max_records)
                if out or broker._closed:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                broker._lock.wait(remaining)
        # records no longer in memory are read from the log without the lock: publishes go on
        return broker._read_back(out)

    def _collect(self, max_records: int) -> list[Record | int]:
        tps = list(self._positions)
        out: list[Record | int] = []
        for i in range(len(tps)):
            tp = tps[(self._next + i) % len(tps)]
            position = self._positions[tp]
            got = self._broker._fetch(tp, position, max_records - len(out))
            if got:
                first = max(position, self._broker._partition(*tp).base_offset)
                self._positions[tp] = first + len(got)
                out.extend(got)
            if len(out) >= max_records:
                break
        self._next += 1
        return out

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        self._broker._commit(self.group_id, offsets)

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    def lag(self) -> int:
        committed = self._broker._committed.get(self.group_id, {})
        total = 0
        for topic in self.topics:
            for tp, end in self._broker.end_offsets(topic).items():
                total += max(end - committed.get(tp, 0), 0)
        return total

    def close(self) -> None:
        self._broker._leave(self)


def _parse_tp(text: str) -> TopicPartition:
    topic, _, part = text.rpartition(":")
    return topic, int(part)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _record(entry: LogEntry) -> Record:
    return Record(
        entry.topic, entry.partition, entry.offset, entry.key, entry.value, entry.timestamp_ms
    )
