"""Partition: the retained records of one embedded-bus partition, the newest held in memory.

Only the embedded broker (ingest.bus.embedded) imports this.
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Iterator
from itertools import islice

from ingest.bus.base import Record

__all__ = ["Partition"]

COMPACT_AFTER = 4096  # locations dropped from the front before their array is shifted down


class Partition:
    """Records from `base_offset` (the oldest some group has not committed) to the newest visible.

    The newest are held in memory (`records`) up to `memory_bytes` of keys and values; older
    ones are *cold*: only their location in the segment log is kept (8 bytes a record), and a
    reader gets their locations from `fetch` to read them back (ingest.bus.log.read_located).
    So a consumer group that falls behind (the detector under a burst) costs disk reads, not
    memory. With no log (`memory_bytes` None) every record stays in memory.

    Not thread-safe: the broker calls it under its lock.
    """

    def __init__(self, memory_bytes: int | None = None) -> None:
        self.base_offset = 0  # offset of the oldest retained record
        self.next_offset = 0  # offset the next publish takes (visible only once durable)
        self.records: deque[Record] = deque()  # the newest retained records
        self.memory_bytes = memory_bytes
        self.hot_bytes = 0
        self.cold = 0  # retained records before `records`, held as locations only
        self._locations = array("q")  # every retained record's, from index `_first`
        self._first = 0

    @property
    def visible_end(self) -> int:
        """One past the newest visible record."""
        return self.base_offset + self.cold + len(self.records)

    def __len__(self) -> int:
        return self.cold + len(self.records)

    def append(self, record: Record, location: int | None = None) -> None:
        """A record made visible (durable at `location` when there is a log)."""
        self.records.append(record)
        self.hot_bytes += _size(record)
        if self.memory_bytes is None or location is None:
            return
        self._locations.append(location)
        while self.hot_bytes > self.memory_bytes and self.records:
            self.hot_bytes -= _size(self.records.popleft())
            self.cold += 1

    def trim(self, mark: int) -> None:
        """Forget the records before offset `mark` (every group has committed past them)."""
        drop = min(mark, self.visible_end) - self.base_offset
        if drop <= 0:
            return
        from_cold = min(drop, self.cold)
        self.cold -= from_cold
        for _ in range(drop - from_cold):
            self.hot_bytes -= _size(self.records.popleft())
        if self._locations:
            self._first += drop
            if self._first >= COMPACT_AFTER and self._first * 2 >= len(self._locations):
                del self._locations[: self._first]
                self._first = 0
        self.base_offset += drop

    def fetch(self, position: int, limit: int) -> tuple[list[int], list[Record]]:
        """Up to `limit` records from offset `position`: the cold ones' locations, then the
        records in memory, together in offset order."""
        start = max(position - self.base_offset, 0)
        end = min(start + limit, len(self))
        if start >= end:
            return [], []
        cold_end = min(end, self.cold)
        locations = (
            self._locations[self._first + start : self._first + cold_end].tolist()
            if start < cold_end
            else []
        )
        return locations, self._hot(max(start - self.cold, 0), end - self.cold)

    def cold_locations(self) -> Iterator[int]:
        """The locations of every cold record, oldest first."""
        return iter(self._locations[self._first : self._first + self.cold])

    def _hot(self, start: int, end: int) -> list[Record]:
        # one pass from the nearer end: indexing a deque walks its blocks on every access, which
        # cost ~1 us a record at a backlog of 50k (5.6% of the API's GIL samples); skipping from
        # the left to a reader near the tail of a big backlog costs the whole backlog instead
        records = self.records
        if start >= end:
            return []
        if start <= len(records) - end:
            return list(islice(records, start, end))
        tail = list(islice(reversed(records), len(records) - end, len(records) - start))
        tail.reverse()
        return tail


def _size(record: Record) -> int:
    return len(record.value) + len(record.key or b"")
