"""JournaledWriter: rows queued in memory, journaled to a local file, inserted in batches.

The decide path must not pay for a store round trip (an embedded chDB insert costs ~13 ms of
CPU whatever its size), so the gate's audit rows (decisions, approvals) are queued and inserted
every few seconds. So that a `kill -9` between two inserts loses none of them, every row is also
appended to a journal file (no fsync: the page cache outlives the process). The file is written
through a shared memory map, so an append is a copy that keeps the GIL: a `write` call releases it,
and the decide path's event loop then waits for whichever thread took it (up to a 5-ms switch
interval) before it can answer. The map grows in `CHUNK` steps; what follows the last row is NUL
padding, which readers skip, and a clean close truncates it away.
A flush rotates the journal before it inserts; the rotated file is deleted once its rows are in
the store. On start-up, rows of journals left by a dead process are inserted first (minus the
ones whose key is already stored), so nothing is lost and nothing is doubled.

Each process journals into a folder of its own under the journal root, and holds an exclusive
`flock` on that folder's `lock` file while it lives: recovery takes over only folders whose lock
it can take, so processes that share a data folder (`leash serve` beside `leash detect`) never
replay, or delete, each other's live journals.
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import logging
import mmap
import os
import shutil
import threading
import time
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import orjson

from ingest.store import Store
from ingest.worker import ThreadWorker

__all__ = [
    "JournaledWriter",
    "FLUSH_INTERVAL_S",
    "JournalFolder",
    "process_folder",
    "unrecovered_rows",
]

logger = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 5.0  # seconds between inserts; reads that must see every row call flush()
FLUSH_MAX_ROWS = 5000  # rows per insert
CHUNK = 1 << 20  # bytes a journal's file and map grow by (~2,500 decisions)
QUEUE_LIMIT_ROWS = 1_000_000  # beyond this (store down for long) the oldest rows are dropped
_DT = "$dt_ms"  # how a datetime is written to the journal (orjson would lose its type)


class JournaledWriter(ThreadWorker):
    """Queue rows for `table` (tuples in the order of `columns`) and insert them every
    `interval_s`; `flush` inserts what is queued now, `stop` flushes everything. With
    `journal_dir`, rows survive a crash of the process (see module); `key` names the columns
    that identify a row (default: the first), so recovery skips rows already stored."""

    def __init__(
        self,
        store: Store,
        *,
        table: str,
        columns: Sequence[str],
        key: Sequence[str] = (),
        journal_dir: Path | None = None,
        journal_folder: JournalFolder | None = None,
        interval_s: float = FLUSH_INTERVAL_S,
    ) -> None:
        super().__init__(f"writer-{table}")
        self._store = store
        self._table = table
        self._columns = tuple(columns)
        self._key = tuple(key) or self._columns[:1]
        self._interval_s = interval_s
        self._rows: deque[tuple[object, ...]] = deque()
        self._lock = threading.Lock()  # queue + journal file, taken per row: keep it short
        self._flush_lock = threading.Lock()  # one flush at a time (writer thread or a reader)
        self._root = journal_dir
        self._folder = journal_folder  # default: the process's own (process_folder)
        self._journal: Path | None = None  # set by recover(): in this process's own folder
        self._out: _Appender | None = None
        self._rotated: list[Path] = []  # journals whose rows are queued but not yet all stored
        self._seq = itertools.count()

    def add(self, row: tuple[object, ...]) -> None:
        line = _dump(row) if self._journal else b""
        with self._lock:
            if len(self._rows) >= QUEUE_LIMIT_ROWS:
                self._rows.popleft()
                logger.error("%s writer queue full: dropped the oldest row", self._table)
            self._rows.append(row)
            if self._out is not None:
                self._out.write(line)

    def flush(self) -> int:
        """Insert the rows queued when called; rows that arrive meanwhile wait for the next
        tick (chasing a steady trickle row by row would make one insert per few rows). Rows stay
        queued, and their journal kept, if an insert fails."""
        with self._flush_lock:
            # the next journal is made and mapped before the queue lock is taken: an add()
            # neither waits for that nor pays for it (review: the first add after a rotation
            # made the file and its map, calls that give up the GIL)
            fresh = self._reserve() if self._rows and self._out is not None else None
            retired = None
            with self._lock:
                queued = len(self._rows)
                if queued and self._out is not None:
                    retired = self._rotate(fresh)
                    fresh = None
            if retired is not None:
                retired.close()
            if fresh is not None:
                fresh.discard()
            written = 0
            while written < queued:
                with self._lock:
                    take = min(FLUSH_MAX_ROWS, queued - written, len(self._rows))
                    batch = [self._rows.popleft() for _ in range(take)]
                if not batch:
                    break
                try:
                    self._store.insert(self._table, batch, self._columns)
                except Exception:
                    with self._lock:
                        self._rows.extendleft(reversed(batch))
                    raise
                written += len(batch)
            if written == queued:
                # every row that was ever queued before this flush is stored now
                for path in self._rotated:
                    path.unlink(missing_ok=True)
                self._rotated.clear()
            return written

    def pending(self) -> int:
        return len(self._rows)

    def recover(self) -> None:
        """Store what dead processes left in their journals and open this process's own (once;
        before anything reads the table, so readers see those rows too)."""
        if self._root is None or self._out is not None:
            return
        own = (self._folder or process_folder(self._root)).path
        for folder in sorted(own.parent.iterdir()):
            if folder.is_dir() and folder != own:
                with _TakenOver(folder) as dead:
                    if dead:
                        self._recover(sorted(folder.glob(f"{self._table}.ndjson*")))
                        _remove_if_done(folder)
        self._journal = own / f"{self._table}.ndjson"
        self._out = _Appender(self._journal, reserve=True)

    def start(self) -> Self:
        self.recover()
        return super().start()

    def backlog(self) -> int:
        return len(self._rows)

    def _close(self) -> None:
        self.flush()
        with self._lock:
            if self._out is not None:
                self._out.close()
                self._out = None
            if self._journal is not None and not self._rows:
                self._journal.unlink(missing_ok=True)

    def _run(self) -> None:
        while not self._stopping.wait(self._interval_s):
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - store down: keep the rows, retry next tick
                logger.exception(
                    "%s writer: insert failed; %d rows kept", self._table, len(self._rows)
                )

    def _reserve(self) -> _Appender:
        """The next journal, made and mapped under a name of its own (`….next`)."""
        assert self._journal is not None
        return _Appender(self._journal.with_name(f"{self._journal.name}.next"), reserve=True)

    def _rotate(self, fresh: _Appender | None) -> _Appender:
        """With the queue lock held: set the journal aside and put `fresh` (or a new one) in
        its place; returns the old one, to be closed once the lock is let go."""
        assert self._journal is not None and self._out is not None
        retired = self._out
        rotated = self._journal.with_name(f"{self._journal.name}.{next(self._seq)}")
        self._journal.rename(rotated)
        self._rotated.append(rotated)
        if fresh is None:
            self._out = _Appender(self._journal)
        else:
            fresh.path.rename(self._journal)
            fresh.path = self._journal
            self._out = fresh
        return retired

    def _recover(self, files: list[Path]) -> None:
        at = [self._columns.index(name) for name in self._key]
        rows: dict[tuple[object, ...], tuple[object, ...]] = {}
        for path in files:
            for number, line in _lines(path):
                try:
                    row = _load(line)
                except orjson.JSONDecodeError:  # a line torn by the crash: it was never acked
                    logger.warning("%s:%d: unreadable journal line skipped", path, number)
                    continue
                rows[tuple(row[i] for i in at)] = row
        if rows:
            first = self._key[0]
            stored = set(
                self._store.query(
                    f"SELECT {', '.join(self._key)} FROM {self._table} "
                    f"WHERE {first} IN {{keys:Array(String)}}",
                    {"keys": sorted({str(k[0]) for k in rows})},
                )
            )
            missing = [row for k, row in rows.items() if k not in stored]
            # a journal an older Leash wrote has fewer columns (columns are only ever appended,
            # with defaults): its rows go in with the columns they have
            widths = sorted({len(row) for row in missing})
            for width in widths:
                same = [row for row in missing if len(row) == width]
                for start in range(0, len(same), FLUSH_MAX_ROWS):
                    self._store.insert(
                        self._table, same[start : start + FLUSH_MAX_ROWS], self._columns[:width]
                    )
            logger.warning(
                "%s: recovered %d journaled rows (%d were already stored)",
                self._table,
                len(missing),
                len(rows) - len(missing),
            )
        for path in files:
            path.unlink()


class JournalFolder:
    """One process's journal folder under `root` (`p<pid>-<ns>/`), its `lock` held until
    `close` — or until the process dies, which is what lets a successor take it over."""

    def __init__(self, root: Path) -> None:
        self.path = root.resolve() / f"p{os.getpid()}-{time.time_ns()}"
        self.path.mkdir(parents=True)
        self._fd = os.open(self.path / "lock", os.O_WRONLY | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


_PROCESS_FOLDERS: dict[Path, JournalFolder] = {}  # journal root -> this process's folder
_PROCESS_LOCK = threading.Lock()


def process_folder(root: Path) -> JournalFolder:
    """This process's journal folder under `root`, made on first use and kept for its life."""
    with _PROCESS_LOCK:
        key = root.resolve()
        if key not in _PROCESS_FOLDERS:
            _PROCESS_FOLDERS[key] = JournalFolder(key)
        return _PROCESS_FOLDERS[key]


class _TakenOver:
    """`with _TakenOver(folder) as dead:` — dead is True when no live process holds the folder
    (its lock could be taken), which is then held for the block."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._fd = -1

    def __enter__(self) -> bool:
        try:
            self._fd = os.open(self._folder / "lock", os.O_WRONLY | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # its owner is alive
        except FileNotFoundError:
            return False  # another process just finished it
        return True

    def __exit__(self, *exc: object) -> None:
        if self._fd >= 0:
            os.close(self._fd)


def unrecovered_rows(root: Path, table: str) -> list[tuple[object, ...]]:
    """Rows of `table` that stopped processes left journaled under `root` and no successor has
    inserted yet (read only: what the next start-up will store). Live processes' are skipped."""
    rows: list[tuple[object, ...]] = []
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    for folder in folders:
        with _TakenOver(folder) as dead:
            if not dead:
                continue
            for path in sorted(folder.glob(f"{table}.ndjson*")):
                for _, line in _lines(path):
                    try:
                        rows.append(_load(line))
                    except orjson.JSONDecodeError:  # torn by the crash: never acknowledged
                        continue
    return rows


class _Appender:
    """An append-only file written through a shared memory map (see the module): `write` copies
    into the map; the file and the map grow by CHUNK when full, and `close` cuts the padding.
    With `reserve` its first CHUNK is allocated and mapped at once (else at the first write):
    a journal is NUL padding after its last row until it is closed. Space is allocated,
    not only promised (posix_fallocate), so a full disk fails the growth with an OSError
    instead of killing the process with SIGBUS at a copy into a hole (review)."""

    def __init__(self, path: Path, *, reserve: bool = False) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self._map: mmap.mmap | None = None
        self._end = os.fstat(self._fd).st_size  # a new file: rotation renames the old one
        if reserve:
            self._map_to(_rounded(self._end + 1))
            assert self._map is not None
            # the first write into a page of a shared map faults it in (~0.4 ms here): taken
            # now for the first page, by whoever reserves, not by the first add
            self._map[self._end : self._end + 1] = b"\0"

    def write(self, data: bytes) -> None:
        end = self._end + len(data)
        if self._map is None or end > len(self._map):
            self._map_to(_rounded(end))
        assert self._map is not None
        self._map[self._end : end] = data
        self._end = end

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
            os.ftruncate(self._fd, self._end)
        os.close(self._fd)

    def discard(self) -> None:
        """Close and remove a reserved journal that was not used."""
        self.close()
        self.path.unlink(missing_ok=True)

    def _map_to(self, size: int) -> None:
        try:
            os.posix_fallocate(self._fd, 0, size)
        except OSError as exc:  # a filesystem that cannot allocate ahead: a sparse file
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise  # (a full disk: the add fails, as a write would have)
            os.ftruncate(self._fd, size)
        if self._map is None:
            self._map = mmap.mmap(self._fd, size)
        else:
            self._map.resize(size)


def _rounded(size: int) -> int:
    return -(-size // CHUNK) * CHUNK


def _lines(path: Path) -> list[tuple[int, bytes]]:
    """A journal's non-empty lines, numbered, without the NUL padding a killed writer left."""
    lines = path.read_bytes().split(b"\n")
    return [(n, line.strip(b"\0")) for n, line in enumerate(lines, 1) if line.strip(b"\0")]


def _remove_if_done(folder: Path) -> None:
    """Remove a dead process's folder once no journal of any table is left in it."""
    if all(entry.name == "lock" for entry in folder.iterdir()):
        shutil.rmtree(folder, ignore_errors=True)


def _dump(row: Sequence[object]) -> bytes:
    return orjson.dumps(
        row, default=_encode, option=orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_APPEND_NEWLINE
    )


def _encode(value: object) -> Any:
    if isinstance(value, datetime):
        return {_DT: round(value.timestamp() * 1000)}
    raise TypeError(f"cannot journal {type(value).__name__}")


def _load(line: bytes) -> tuple[object, ...]:
    return tuple(_decode(v) for v in orjson.loads(line))


def _decode(value: object) -> object:
    if isinstance(value, dict) and _DT in value:
        return datetime.fromtimestamp(value[_DT] / 1000, tz=UTC)
    return value
