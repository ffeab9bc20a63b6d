"""One suite for every Store backend: migrations, roundtrips, parameter binding, replay dedupe."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ingest import schema
from ingest.bus import Record
from ingest.events import SCHEMA_VERSION, encode_event
from ingest.migrate import apply_migrations, discover_migrations
from ingest.sink.columns import decode_batch
from ingest.sink.writer import STORED_COLUMNS, event_row
from ingest.store import Store, open_store
from ingest.store.chdb import ChdbStore
from tests.factories import make_event

T0 = datetime(2026, 11, 2, 9, 0, 0, tzinfo=UTC)  # CloudTrail eventTime has whole seconds
INGESTED = T0 + timedelta(seconds=1, milliseconds=123)  # ms precision of DateTime64(3)


@pytest.fixture(
    params=[
        "chdb",
        "clickhouse-connect-chdb",
        pytest.param("clickhouse", marks=pytest.mark.integration),
    ]
)
def any_store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """A migrated, empty store per backend; clickhouse-connect runs over chDB or a server."""
    database = f"leash_{uuid.uuid4().hex[:10]}"
    opened: Store
    if request.param == "chdb":
        opened = ChdbStore(None)
    elif request.param == "clickhouse-connect-chdb":
        opened = open_store(f"clickhouse://default@localhost/{database}?interface=chdb")
    else:
        server = request.getfixturevalue("clickhouse_server_url")
        opened = open_store(f"{server}/{database}")
    apply_migrations(opened)
    yield opened
    opened.close()


def test_migrations_apply_once_and_are_recorded(any_store: Store) -> None:
    ids = [m.id for m in discover_migrations()]
    rows = any_store.query(f"SELECT id FROM {schema.SCHEMA_MIGRATIONS} ORDER BY id")
    assert [r[0] for r in rows] == ids
    assert apply_migrations(any_store) == []


def test_event_rows_roundtrip_with_datetime64_and_arrays(any_store: Store) -> None:
    event = make_event(at=T0, requestParameters={"bucketName": "logs", "key": "a/b"})
    any_store.insert(schema.EVENTS, [event_row(event, INGESTED, "b1")], STORED_COLUMNS)
    rows = any_store.query(
        f"SELECT event_id, event_time, resources, schema_version, ingested_at FROM {schema.EVENTS}"
    )
    assert rows == [(event.event_id, T0, ["logs", "a/b"], SCHEMA_VERSION, INGESTED)]
    assert rows[0][1].tzinfo is not None


def test_arrow_rows_store_what_row_tuples_store(any_store: Store) -> None:
    """The sink's batches arrive as Arrow columns (ArrowRows): every backend stores them with
    the values the same events have as row tuples."""
    events = [
        make_event(at=T0 + timedelta(milliseconds=i * 333), requestParameters={"bucketName": "b"})
        for i in range(4)
    ]
    records = [Record("t", 0, i, b"k", encode_event(e), 0) for i, e in enumerate(events)]
    batch = decode_batch(records, ingested_at=INGESTED, batch_id="arrow")
    any_store.insert(schema.EVENTS, batch.rows, STORED_COLUMNS)
    any_store.insert(
        schema.EVENTS, [event_row(e, INGESTED, "rows") for e in events], STORED_COLUMNS
    )
    read = {
        batch_id: rows
        for batch_id in ("arrow", "rows")
        if (
            rows := any_store.query(
                f"SELECT * EXCEPT batch_id FROM {schema.EVENTS} WHERE batch_id = {{b:String}} "
                "ORDER BY event_id",
                {"b": batch_id},
            )
        )
    }
    assert len(read["arrow"]) == 4
    assert read["arrow"] == read["rows"]


def test_parameters_are_bound_server_side(any_store: Store) -> None:
    events = [make_event(at=T0 + timedelta(minutes=i), role=f"r{i}") for i in range(3)]
    any_store.insert(schema.EVENTS, [event_row(e, T0, "b") for e in events], STORED_COLUMNS)
    tricky = "x' OR '1'='1"
    rows = any_store.query(
        f"SELECT event_id FROM {schema.EVENTS} WHERE event_time >= {{since:DateTime64(3, 'UTC')}} "
        "AND principal != {p:String} ORDER BY event_time LIMIT {n:UInt32}",
        {"since": T0 + timedelta(minutes=1), "p": tricky, "n": 5},
    )
    assert [r[0] for r in rows] == [e.event_id for e in events[1:]]
    assert any_store.query("SELECT {p:String}", {"p": tricky}) == [(tricky,)]


def test_a_replayed_batch_is_stored_once(any_store: Store) -> None:
    events = [make_event() for _ in range(4)]
    for attempt in range(2):  # the second write is a replay after a lost commit
        any_store.insert(
            schema.EVENTS, [event_row(e, T0, f"b{attempt}") for e in events], STORED_COLUMNS
        )
    final = any_store.query(f"SELECT uniqExact(event_id), count() FROM {schema.EVENTS} FINAL")
    assert final == [(4, 4)]


def test_empty_insert_is_a_no_op_and_ping_answers(any_store: Store) -> None:
    any_store.insert(schema.EVENTS, [], STORED_COLUMNS)
    assert any_store.query(f"SELECT count() FROM {schema.EVENTS}") == [(0,)]
    assert any_store.ping() is True
