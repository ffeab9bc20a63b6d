"""Hash-chained batches: `verify_store` names batches whose rows were changed or removed."""

from __future__ import annotations

from ingest.bus import Record
from ingest.events import encode_event
from ingest.sink.verify import verify_store
from ingest.sink.writer import EventWriter
from ingest.store.chdb import ChdbStore
from tests.factories import make_event


def write_batches(store: ChdbStore, batches: int, size: int) -> list[list[str]]:
    writer = EventWriter(store)
    ids = []
    offset = 0
    for _ in range(batches):
        events = [make_event() for _ in range(size)]
        records = []
        for event in events:
            records.append(Record("t", 0, offset, b"k", encode_event(event), 0))
            offset += 1
        writer.write(records)
        ids.append([e.event_id for e in events])
    return ids


def test_untouched_store_verifies(store: ChdbStore) -> None:
    write_batches(store, 3, 4)
    report = verify_store(store)
    assert report.ok and (report.batches, report.rows) == (3, 12)


def test_chain_continues_across_writer_restarts(store: ChdbStore) -> None:
    write_batches(store, 2, 2)
    write_batches(store, 2, 2)  # a new EventWriter picks up the chain head
    report = verify_store(store)
    assert report.ok and report.batches == 4


def test_deleted_row_names_its_batch(store: ChdbStore) -> None:
    ids = write_batches(store, 3, 4)
    store.command(f"DELETE FROM events WHERE event_id = '{ids[1][2]}'")
    report = verify_store(store)
    assert not report.ok
    assert len(report.problems) == 1
    assert "batch 2" in report.problems[0] and "removed" in report.problems[0]


def test_changed_row_names_its_batch(store: ChdbStore) -> None:
    ids = write_batches(store, 2, 3)
    store.command(
        "ALTER TABLE events UPDATE raw = replace(raw, 'DescribeInstances', 'Nothing') "
        f"WHERE event_id = '{ids[0][0]}' SETTINGS mutations_sync = 1"
    )
    report = verify_store(store)
    assert [p for p in report.problems if "batch 1" in p and "changed" in p]


def test_removed_batch_record_breaks_the_link(store: ChdbStore) -> None:
    write_batches(store, 3, 2)
    store.command("DELETE FROM ingest_batches WHERE seq = 2")
    report = verify_store(store)
    assert any("batch 3" in p and "link broken" in p for p in report.problems)
