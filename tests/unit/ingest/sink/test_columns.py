"""The sink's column path stores exactly what the row path stored: the same Arrow table, and the
same rows read back, for real CloudTrail records, old bus versions and edge-case event times;
and a poison message is still refused with decode_event's own words."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from ingest import schema
from ingest.bus import Record
from ingest.events import (
    EVENT_FIELDS,
    HEADER_FIELDS,
    AuditEvent,
    Normalizer,
    Origin,
    RecordError,
    decode_event,
    encode_event,
)
from ingest.sink.columns import STORED_COLUMNS, decode_batch
from ingest.sink.writer import EventWriter, event_row
from ingest.store import ArrowRows
from ingest.store.chdb import ChdbStore, _to_arrow
from tests.factories import DATASETS, make_event, make_record

NORMALIZER = Normalizer()
INGESTED = datetime(2026, 12, 3, 16, 5, 7, 123456, tzinfo=UTC)  # microseconds: stored as ms
EDGE_TIMES_MS = [0, 1, 999, 1_000, 1_700_000_000_001, 1_700_000_000_999, 4_102_444_799_999]


def dataset_records() -> list[dict[str, Any]]:
    folder = DATASETS / "invictus-ir_aws_dataset" / "CloudTrail"
    paths = sorted(folder.glob("*.json"))
    if not paths:
        pytest.skip(f"the invictus-ir CloudTrail files are not in {folder} (../shared/datasets)")
    records: list[dict[str, Any]] = []
    for path in paths:
        records.extend(orjson.loads(path.read_bytes())["Records"])
    return records


def version_1(event: AuditEvent) -> bytes:
    """A bus value as Leash wrote it before provenance: the header's fields before raw."""
    values = [getattr(event, f) for f in EVENT_FIELDS[: EVENT_FIELDS.index("raw")]]
    return orjson.dumps([1, *values]) + b"\n" + event.raw.encode()


def bus_values() -> list[bytes]:
    events = [NORMALIZER.normalize(r) for r in dataset_records()]
    untrusted = Origin("firehose:collector", trusted=False)
    events.append(NORMALIZER.normalize(make_record(userAgent="zoë/1 ✓"), origin=untrusted))
    events += [replace(make_event(), event_time_ms=ms, resources=()) for ms in EDGE_TIMES_MS]
    return [encode_event(e) for e in events] + [version_1(make_event())]


def records_of(values: list[bytes]) -> list[Record]:
    return [Record("t", i % 3, i, b"k", v, 0) for i, v in enumerate(values)]


def old_rows(values: list[bytes], batch_id: str) -> list[tuple[object, ...]]:
    """What the sink inserted before: an AuditEvent per value, then a row tuple per event."""
    return [event_row(decode_event(v), INGESTED, batch_id) for v in values]


def test_columns_are_the_arrow_table_the_rows_made() -> None:
    values = bus_values()
    batch = decode_batch(records_of(values), ingested_at=INGESTED, batch_id="b1")
    expected = _to_arrow(old_rows(values, "b1"), STORED_COLUMNS)
    assert batch.poison == []
    assert batch.rows.table.schema == expected.schema
    assert batch.rows.table.equals(expected)
    events = [decode_event(v) for v in values]
    assert batch.ids_and_raws == [(e.event_id, e.raw) for e in events]


def test_stored_rows_are_the_same_as_through_the_row_path(store: ChdbStore) -> None:
    values = bus_values()
    store.command(f"CREATE TABLE events_by_rows AS {schema.EVENTS}")
    batch = decode_batch(records_of(values), ingested_at=INGESTED, batch_id="b1")
    store.insert(schema.EVENTS, batch.rows, STORED_COLUMNS)
    store.insert("events_by_rows", old_rows(values, "b1"), STORED_COLUMNS)
    columns = ", ".join(
        f"toUnixTimestamp64Milli({c})" if c in ("event_time", "ingested_at") else c
        for c in STORED_COLUMNS
    )
    new, old = (
        store.query(f"SELECT {columns} FROM {table} ORDER BY event_id")
        for table in (schema.EVENTS, "events_by_rows")
    )
    assert len(new) == len(values)  # every id is distinct: nothing collapsed
    assert new == old
    times = {row[1] for row in new}
    assert set(EDGE_TIMES_MS) <= times
    v1 = next(row for row in new if row[STORED_COLUMNS.index("schema_version")] == 1)
    assert v1[STORED_COLUMNS.index("origin")] == "" and v1[STORED_COLUMNS.index("trusted")]


def test_arrow_rows_read_as_the_rows_they_stand_for() -> None:
    values = bus_values()[-3:]
    batch = decode_batch(records_of(values), ingested_at=INGESTED, batch_id="b1")
    rows = batch.rows
    assert isinstance(rows, ArrowRows) and len(rows) == 3
    expected = old_rows(values, "b1")
    ms = [row[1].timestamp() * 1000 for row in rows]  # type: ignore[attr-defined]
    assert ms == [row[1].timestamp() * 1000 for row in expected]  # type: ignore[attr-defined]
    plain = [tuple(list(v) if isinstance(v, tuple) else v for v in row) for row in expected]
    assert [row[2:-2] for row in rows] == [row[2:-2] for row in plain]
    assert rows[0][0] == expected[0][0] and rows[1:][0] == rows[1]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(b"no header line", id="no newline"),
        pytest.param(b"{not json\n{}", id="header not JSON"),
        pytest.param(b"[9, 1]\n{}", id="unknown version"),
        pytest.param(b'[2, "a"]\n{}', id="too few fields"),
        pytest.param(encode_event(make_event()).replace(b"\n{", b"\n\xff{"), id="raw not UTF-8"),
    ],
)
def test_poison_is_refused_with_decode_events_reason(value: bytes, store: ChdbStore) -> None:
    good = encode_event(make_event())
    batch = decode_batch(records_of([good, value]), ingested_at=INGESTED, batch_id="b1")
    with pytest.raises(RecordError) as refused:
        decode_event(value)
    assert [(r.offset, why) for r, why in batch.poison] == [(1, str(refused.value))]
    assert len(batch.rows) == 1
    result = EventWriter(store).write(records_of([good, value]))
    assert (result.stored, result.rejected) == (1, 1)
    rejected = store.query(f"SELECT offset, error FROM {schema.EVENTS_REJECTED}")
    assert rejected == [(1, str(refused.value))]


def test_an_empty_batch_builds_an_empty_table() -> None:
    batch = decode_batch([], ingested_at=INGESTED, batch_id="b1")
    assert len(batch.rows) == 0 and batch.rows.table.column_names == list(STORED_COLUMNS)


def _header_and_raw(event: AuditEvent) -> tuple[list[Any], bytes]:
    head, _, raw = encode_event(event).partition(b"\n")
    return orjson.loads(head), raw


def test_a_header_without_its_raw_line_is_refused_as_decode_event_refuses_it() -> None:
    head, _ = _header_and_raw(make_event())
    value = orjson.dumps(head)  # a valid header alone, no newline and no raw record
    with pytest.raises(RecordError) as refused:
        decode_event(value)
    batch = decode_batch(records_of([value]), ingested_at=INGESTED, batch_id="b1")
    assert [why for _, why in batch.poison] == [str(refused.value)]
    assert len(batch.rows) == 0


@pytest.mark.parametrize(
    ("field", "bad"),
    [("event_time_ms", None), ("event_id", 42), ("account", 123456789012)],
)
def test_a_header_field_of_the_wrong_type_is_named_and_its_neighbours_kept(
    field: str, bad: object
) -> None:
    """A null time was stored as 1970 and a number where text belongs failed the whole batch
    (retried forever): now the record is named poison and the rest of the batch is stored."""
    good = encode_event(make_event())
    head, raw = _header_and_raw(make_event())
    head[1 + HEADER_FIELDS.index(field)] = bad
    value = orjson.dumps(head) + b"\n" + raw
    batch = decode_batch(records_of([good, value, good]), ingested_at=INGESTED, batch_id="b1")
    assert [record.offset for record, _ in batch.poison] == [1]
    assert len(batch.rows) == 2
