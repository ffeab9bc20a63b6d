"""JournaledWriter: batched inserts that lose no row on a crash and double none on recovery."""

from __future__ import annotations

import mmap
import os
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import detect.gate.approvals as approvals_mod
import detect.gate.service as decisions_mod
from ingest import schema
from ingest.store.chdb import ChdbStore
from ingest.store.journal import CHUNK, FLUSH_MAX_ROWS, JournaledWriter, JournalFolder

AT = datetime(2026, 11, 24, 1, 2, 3, 456000, tzinfo=UTC)


def decision_row(n: int) -> tuple[object, ...]:
    return (
        f"dec_{n:06d}",
        AT,
        "arn:aws:sts::1:assumed-role/a/b",
        "a/b",
        "agent",
        "rds.amazonaws.com",
        "DeleteDBInstance",
        "destructive",
        [f"db-{n}"],
        "require_approval",
        "ask first",
        "agent_destructive",
        "",
        "key1",
    )


class Process:
    """A stand-in for one Leash process: its own locked journal folder; `die` releases the lock
    as the kernel does when a process is killed (nothing is flushed, nothing is cleaned up)."""

    def __init__(self, root: Path) -> None:
        self.folder = JournalFolder(root)

    def die(self) -> None:
        self.folder.close()


def decisions_writer(store: ChdbStore, root: Path, process: Process) -> JournaledWriter:
    return JournaledWriter(
        store,
        table=schema.DECISIONS,
        columns=decisions_mod.COLUMNS,
        journal_dir=root,
        journal_folder=process.folder,
        interval_s=3600,
    )


def stored(store: ChdbStore, table: str = schema.DECISIONS) -> list[tuple[Any, ...]]:
    key = "decision_id" if table == schema.DECISIONS else "approval_id, version"
    return store.query(f"SELECT {key} FROM {table} ORDER BY {key}")


def test_rows_of_a_killed_process_are_recovered_once(store: ChdbStore, tmp_path: Path) -> None:
    killed = Process(tmp_path)
    first = decisions_writer(store, tmp_path, killed).start()
    for n in range(10):
        first.add(decision_row(n))
    first.flush()  # rows 0-9 stored
    for n in range(10, 25):
        first.add(decision_row(n))  # queued and journaled, never flushed
    killed.die()

    successor = Process(tmp_path)
    decisions_writer(store, tmp_path, successor).recover()

    ids = [r[0] for r in stored(store)]
    assert ids == [f"dec_{n:06d}" for n in range(25)]
    row = store.query(
        "SELECT toUnixTimestamp64Milli(decided_at), resources FROM decisions "
        "WHERE decision_id = 'dec_000012'"
    )
    assert row == [(int(AT.timestamp() * 1000), ["db-12"])]  # datetimes and arrays round-trip
    assert list(tmp_path.iterdir()) == [successor.folder.path]  # the dead one's folder is gone
    assert (successor.folder.path / "decisions.ndjson").read_bytes().strip(b"\0") == b""


def test_rows_journaled_before_a_kill_9_are_recovered(store: ChdbStore, tmp_path: Path) -> None:
    """The journal is written through a shared memory map: rows copied into it are in the file
    though the process is killed before it can write, flush or close anything -- across the
    map's growth, with the padding after the last row skipped."""
    rows = 2 * CHUNK // len(repr(decision_row(0)))  # well past one CHUNK of journal
    pid = os.fork()
    if pid == 0:  # the process that dies
        try:
            writer = decisions_writer(store, tmp_path, Process(tmp_path))
            writer.recover()  # opens its journal; there is nothing to recover yet
            for n in range(rows):
                writer.add(decision_row(n))
        finally:
            os.kill(os.getpid(), signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    [journal] = tmp_path.glob("*/decisions.ndjson")
    assert journal.stat().st_size % CHUNK == 0 and journal.stat().st_size > CHUNK  # padded

    decisions_writer(store, tmp_path, Process(tmp_path)).recover()

    assert store.query("SELECT count(), uniqExact(decision_id) FROM decisions") == [(rows, rows)]


def test_an_add_after_a_flush_only_copies_into_the_next_journal(
    store: ChdbStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The flush makes and maps the next journal before it takes the queue lock: the add that
    follows makes no call that gives up the GIL (review: the first add after every rotation
    made the file and its map -- at a few decisions per flush, every add)."""
    killed = Process(tmp_path)
    writer = decisions_writer(store, tmp_path, killed).start()
    writer.add(decision_row(0))
    assert writer.flush() == 1

    def refused(*_: object, **__: object) -> None:
        raise AssertionError("a file or map call on the add path")

    for module, name in ((os, "ftruncate"), (os, "posix_fallocate"), (os, "open"), (mmap, "mmap")):
        monkeypatch.setattr(module, name, refused)
    writer.add(decision_row(1))
    monkeypatch.undo()
    killed.die()

    decisions_writer(store, tmp_path, Process(tmp_path)).recover()

    assert [r[0] for r in stored(store)] == ["dec_000000", "dec_000001"]


def test_a_live_process_journal_is_left_alone(store: ChdbStore, tmp_path: Path) -> None:
    """`leash serve` and `leash detect` may share a data folder: neither replays the other."""
    serve = Process(tmp_path)
    writer = decisions_writer(store, tmp_path, serve).start()
    writer.add(decision_row(1))

    decisions_writer(store, tmp_path, Process(tmp_path)).recover()

    assert stored(store) == []  # not inserted by the other process...
    assert writer.flush() == 1  # ...and still the owner's to insert, once
    assert [r[0] for r in stored(store)] == ["dec_000001"]


def test_a_crash_between_insert_and_journal_delete_doubles_nothing(
    store: ChdbStore, tmp_path: Path
) -> None:
    killed = Process(tmp_path)
    writer = decisions_writer(store, tmp_path, killed).start()
    for n in range(5):
        writer.add(decision_row(n))
    journal = killed.folder.path / "decisions.ndjson"
    kept = tmp_path / "kept"
    kept.hardlink_to(journal)
    writer.flush()  # inserted, and the rotated journal deleted: the hard link keeps its rows
    kept.rename(killed.folder.path / "decisions.ndjson.7")  # as if the delete never happened
    killed.die()

    decisions_writer(store, tmp_path, Process(tmp_path)).recover()

    assert [r[0] for r in stored(store)] == [f"dec_{n:06d}" for n in range(5)]


def test_every_version_of_an_approval_is_recovered(store: ChdbStore, tmp_path: Path) -> None:
    def approvals_writer(process: Process) -> JournaledWriter:
        return JournaledWriter(
            store,
            table=schema.APPROVALS,
            columns=approvals_mod.COLUMNS,
            key=("approval_id", "version"),
            journal_dir=tmp_path,
            journal_folder=process.folder,
            interval_s=3600,
        )

    def approval(status: str, version: int) -> tuple[object, ...]:
        return (
            "apr_1",
            AT,
            AT,
            "arn:aws:sts::1:assumed-role/a/b",
            "a/b",
            "agent",
            "rds.amazonaws.com",
            "DeleteDBInstance",
            "destructive",
            ["db-1"],
            "ask first",
            "key1",
            status,
            "",
            "",
            AT,
            "",
            version,
            *((1, []) if version > 0 else ()),  # version 0: as Leash wrote it before quorums
        )

    killed = Process(tmp_path)
    writer = approvals_writer(killed).start()
    writer.add(approval("pending", 1))
    writer.flush()
    writer.add(approval("approved", 2))  # the kill comes before this one is inserted
    killed.die()

    approvals_writer(Process(tmp_path)).recover()

    assert stored(store, schema.APPROVALS) == [("apr_1", 1), ("apr_1", 2)]
    final = store.query("SELECT status FROM approvals FINAL WHERE approval_id = 'apr_1'")
    assert final == [("approved",)]

    # a journal an older Leash left (no required/approvers columns) is recovered with defaults
    older = Process(tmp_path)
    old_writer = approvals_writer(older).start()
    old_writer.add(approval("pending", 0))
    older.die()
    approvals_writer(Process(tmp_path)).recover()
    rows = store.query(
        "SELECT version, required, approvers FROM approvals WHERE approval_id = 'apr_1' "
        "ORDER BY version"
    )
    assert [tuple(r) for r in rows][0] == (0, 1, [])


def test_a_torn_last_line_is_skipped_and_the_rest_kept(store: ChdbStore, tmp_path: Path) -> None:
    killed = Process(tmp_path)
    writer = decisions_writer(store, tmp_path, killed).start()
    writer.add(decision_row(1))
    writer.add(decision_row(2))
    with (killed.folder.path / "decisions.ndjson").open("ab") as journal:
        journal.write(b'["dec_000003", {"$dt_ms": 17')  # the process died mid-write
    killed.die()

    decisions_writer(store, tmp_path, Process(tmp_path)).recover()

    assert [r[0] for r in stored(store)] == ["dec_000001", "dec_000002"]


def test_another_tables_journal_waits_for_its_own_writer(store: ChdbStore, tmp_path: Path) -> None:
    killed = Process(tmp_path)
    decisions_writer(store, tmp_path, killed).start().add(decision_row(1))
    (killed.folder.path / "approvals.ndjson").write_bytes(b"")
    killed.die()

    decisions_writer(store, tmp_path, Process(tmp_path)).recover()

    assert [r[0] for r in stored(store)] == ["dec_000001"]
    assert (killed.folder.path / "approvals.ndjson").exists()  # the approvals writer's to take


def test_stop_stores_everything_and_removes_the_journal(store: ChdbStore, tmp_path: Path) -> None:
    process = Process(tmp_path)
    writer = decisions_writer(store, tmp_path, process).start()
    for n in range(3):
        writer.add(decision_row(n))
    writer.stop()
    assert len(stored(store)) == 3
    assert [p.name for p in process.folder.path.iterdir()] == ["lock"]


class CountingStore:
    """A real chDB store that counts inserts (each one costs ~13 ms of CPU in chDB)."""

    def __init__(self, store: ChdbStore, during_insert: Callable[[], None] = lambda: None) -> None:
        self.store, self.inserts, self.during_insert = store, 0, during_insert
        self.shared = store.shared

    def insert(self, table: str, rows: Any, columns: Any) -> None:
        self.inserts += 1
        self.during_insert()
        self.store.insert(table, rows, columns)

    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        return self.store.query(sql, params)


def test_a_flush_does_not_chase_rows_that_arrive_meanwhile(store: ChdbStore) -> None:
    arriving = iter(range(100, 1000))

    def more_decisions_arrive() -> None:  # the gate keeps deciding while an insert runs
        for _ in range(50):
            writer.add(decision_row(next(arriving)))

    counting = CountingStore(store, during_insert=more_decisions_arrive)
    writer = JournaledWriter(
        counting,
        table=schema.DECISIONS,  # type: ignore[arg-type]
        columns=decisions_mod.COLUMNS,
        interval_s=3600,
    )
    for n in range(100):
        writer.add(decision_row(n))

    assert writer.flush() == 100
    assert counting.inserts == 1  # it used to loop, one tiny insert after another, for ever
    assert writer.pending() == 50
    assert writer.flush() == 50


def test_a_large_queue_is_inserted_in_bounded_batches(store: ChdbStore) -> None:
    counting = CountingStore(store)
    writer = JournaledWriter(
        counting,
        table=schema.DECISIONS,  # type: ignore[arg-type]
        columns=decisions_mod.COLUMNS,
        interval_s=3600,
    )
    for n in range(FLUSH_MAX_ROWS + 10):
        writer.add(decision_row(n))
    assert writer.flush() == FLUSH_MAX_ROWS + 10
    assert counting.inserts == 2
    assert store.query("SELECT count() FROM decisions") == [(FLUSH_MAX_ROWS + 10,)]
