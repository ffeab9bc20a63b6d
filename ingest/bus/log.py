"""Append-only segment log with CRC-checked entries: the durable half of the embedded bus."""

from __future__ import annotations

import errno
import logging
import os
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

SEGMENT_BYTES = 64 * 1024 * 1024  # bytes; a segment rolls over past this size
_POSITION_BITS = 36  # a location keeps an entry's byte position in its low bits (segments < 64 GiB)
_POSITION_MASK = (1 << _POSITION_BITS) - 1
READ_SPAN_BYTES = 1024 * 1024  # bytes; entries read back from the log are read this many at once
READ_TAIL_BYTES = 16 * 1024  # bytes read past a span's last entry (most entries fit in it)
_FRAME = struct.Struct("<II")  # body length, crc32 of body
_HEAD = struct.Struct(
    "<Hiqqi"
)  # topic length, partition, offset, timestamp ms, key length (-1: none)


@dataclass(frozen=True, slots=True)
class LogEntry:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes


def encode_entry(entry: LogEntry) -> bytes:
    topic = entry.topic.encode()
    key_len = -1 if entry.key is None else len(entry.key)
    body = b"".join(
        (
            _HEAD.pack(len(topic), entry.partition, entry.offset, entry.timestamp_ms, key_len),
            topic,
            entry.key or b"",
            entry.value,
        )
    )
    return _FRAME.pack(len(body), zlib.crc32(body)) + body


def _decode_body(body: bytes) -> LogEntry:
    topic_len, partition, offset, ts_ms, key_len = _HEAD.unpack_from(body)
    pos = _HEAD.size
    topic = body[pos : pos + topic_len].decode()
    pos += topic_len
    key = None
    if key_len >= 0:
        key = body[pos : pos + key_len]
        pos += key_len
    return LogEntry(topic, partition, offset, ts_ms, key, body[pos:])


def read_segment(path: Path) -> tuple[list[LogEntry], int]:
    """Entries of one segment and the byte length of its valid prefix (a torn tail is cut off)."""
    located, valid = _scan_segment(path)
    return [entry for entry, _ in located], valid


def _scan_segment(path: Path) -> tuple[list[tuple[LogEntry, int]], int]:
    """Entries of one segment with the byte position of each, and the valid prefix's length."""
    data = path.read_bytes()
    entries: list[tuple[LogEntry, int]] = []
    pos = 0
    while pos + _FRAME.size <= len(data):
        length, crc = _FRAME.unpack_from(data, pos)
        body = data[pos + _FRAME.size : pos + _FRAME.size + length]
        if length < _HEAD.size or len(body) < length or zlib.crc32(body) != crc:
            break  # (a zero-filled tail has length 0 and the CRC of nothing: torn too)
        entries.append((_decode_body(body), pos))
        pos += _FRAME.size + length
    return entries, pos


def locate(segment: Path, position: int) -> int:
    """One number for where an entry lies: its segment's number and its byte position there."""
    return int(segment.stem) << _POSITION_BITS | position


def read_located(directory: Path, locations: Sequence[int]) -> list[LogEntry]:
    """The entries at `locations` (from `locate`) of the log in `directory`, in that order.

    Entries near each other are read together, up to READ_SPAN_BYTES at a time (a lagging
    reader's records of one partition lie a few KB apart, among the other partitions'): one
    `pread` each was one GIL release each, and in a busy process every reacquisition waited
    behind the request threads. Safe beside the writer thread: it reads only what `append`
    wrote and `sync` made durable before the location was handed out. A frame that fails its
    CRC raises OSError (EIO).
    """
    found: dict[int, LogEntry] = {}
    for number, positions in _by_segment(locations).items():
        fd = os.open(directory / f"{number:012d}.seg", os.O_RDONLY)
        try:
            for span in _spans(positions):
                first = span[0]
                data = os.pread(fd, span[-1] - first + READ_TAIL_BYTES, first)
                for position in span:
                    body = _frame_at(fd, data, position - first, position)
                    found[number << _POSITION_BITS | position] = _decode_body(body)
        finally:
            os.close(fd)
    return [found[location] for location in locations]


def _by_segment(locations: Sequence[int]) -> dict[int, list[int]]:
    segments: dict[int, list[int]] = {}
    for location in locations:
        segments.setdefault(location >> _POSITION_BITS, []).append(location & _POSITION_MASK)
    return {number: sorted(set(positions)) for number, positions in segments.items()}


def _spans(positions: list[int]) -> Iterator[list[int]]:
    """Sorted positions cut into runs that each fit in one read of READ_SPAN_BYTES."""
    span: list[int] = []
    for position in positions:
        if span and position - span[0] > READ_SPAN_BYTES:
            yield span
            span = []
        span.append(position)
    if span:
        yield span


def _frame_at(fd: int, data: bytes, offset: int, position: int) -> bytes:
    """The checked body of the frame at `offset` of `data` (read from `position` on), read
    again by itself when `data` ends inside it."""
    length, crc = _FRAME.unpack_from(data, offset) if offset + _FRAME.size <= len(data) else (0, 0)
    body = data[offset + _FRAME.size : offset + _FRAME.size + length]
    if not length or len(body) < length:
        length, crc = _FRAME.unpack(os.pread(fd, _FRAME.size, position))
        body = os.pread(fd, length, position + _FRAME.size)
    if len(body) != length or zlib.crc32(body) != crc:
        raise OSError(errno.EIO, f"bus log: bad frame at byte {position} of a segment")
    return body


@dataclass
class Segment:
    path: Path
    # (topic, partition) -> highest offset stored in this segment; decides when it may be deleted
    max_offsets: dict[tuple[str, int], int] = field(default_factory=dict)

    def note(self, entry: LogEntry) -> None:
        key = (entry.topic, entry.partition)
        if entry.offset > self.max_offsets.get(key, -1):
            self.max_offsets[key] = entry.offset


class SegmentLog:
    """Segments `NNNNNNNNNNNN.seg` in one directory; `append` writes, `sync` makes it durable.

    Not thread-safe: the embedded broker calls it from its single writer thread (and on start-up).
    """

    def __init__(self, directory: Path) -> None:
        self._dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.segments: list[Segment] = []
        self._fd = -1
        self._size = 0

    def replay(self) -> Iterator[LogEntry]:
        """Yield every valid entry in order, truncating a torn tail; then open for appending."""
        for entry, _ in self.replay_located():
            yield entry

    def replay_located(self) -> Iterator[tuple[LogEntry, int]]:
        """`replay`, with each entry's location (see `locate` and `read_located`)."""
        paths = sorted(self._dir.glob("*.seg"))
        for index, path in enumerate(paths):
            entries, valid = _scan_segment(path)
            if valid != path.stat().st_size:
                logger.warning("bus log %s: torn tail after %d bytes, truncating", path, valid)
                with path.open("r+b") as handle:
                    handle.truncate(valid)
                    os.fsync(handle.fileno())
                if index != len(paths) - 1:
                    logger.warning("bus log: torn segment %s was not the last one", path)
            segment = Segment(path)
            for entry, position in entries:
                segment.note(entry)
                yield entry, locate(path, position)
            self.segments.append(segment)
        self._open_tail()

    def _open_tail(self) -> None:
        if not self.segments:
            self._roll()
            return
        tail = self.segments[-1].path
        self._fd = os.open(tail, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._size = tail.stat().st_size

    def _roll(self) -> None:
        number = int(self.segments[-1].path.stem) + 1 if self.segments else 0
        path = self._dir / f"{number:012d}.seg"
        # open the next segment before letting go of the current one: if the open fails (disk
        # full, no descriptors) the current descriptor stays valid and the append can be retried
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if self._fd >= 0:
            try:
                os.fsync(self._fd)
            except OSError:
                os.close(fd)
                raise
            os.close(self._fd)
        self._fd = fd
        self._size = 0
        self.segments.append(Segment(path))
        _fsync_dir(self._dir)

    def append(self, entries: list[LogEntry]) -> list[int]:
        """Write `entries` (durable after `sync`); returns each one's location."""
        if self._size >= SEGMENT_BYTES:
            self._roll()
        frames = [encode_entry(entry) for entry in entries]
        segment = self.segments[-1]
        locations, position = [], self._size
        for frame in frames:
            locations.append(locate(segment.path, position))
            position += len(frame)
        view = memoryview(b"".join(frames))
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._size = position
        for entry in entries:
            segment.note(entry)
        return locations

    def sync(self) -> None:
        os.fdatasync(self._fd)

    def mark(self) -> tuple[Segment, int]:
        """Where the next append starts (the tail segment and its size): `rewind` target."""
        return self.segments[-1], self._size

    def rewind(self, mark: tuple[Segment, int]) -> None:
        """Cut what appends wrote since `mark` (a write or sync that failed: disk full), so the
        log never holds entries nobody was told are durable."""
        if self._fd < 0:
            raise OSError("bus log has no open segment")
        segment, size = mark
        keep = size if self.segments[-1] is segment else 0  # a segment was rolled: empty it
        os.ftruncate(self._fd, keep)
        self._size = keep

    def delete_before(self, low_water: dict[tuple[str, int], int]) -> int:
        """Delete closed segments whose entries are all below their partition's low-water offset."""
        removed = 0
        for segment in list(self.segments[:-1]):
            if all(low_water.get(tp, 0) > top for tp, top in segment.max_offsets.items()):
                segment.path.unlink(missing_ok=True)
                self.segments.remove(segment)
                removed += 1
        return removed

    def close(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
