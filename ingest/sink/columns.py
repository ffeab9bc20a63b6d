"""Bus values -> the `events` table's Arrow columns in one pass (no AuditEvent, no row tuples).

The sink's hot path: each header is parsed once and its fields land straight in per-column
lists, which become typed Arrow arrays. Anything that is not a current-version header of the
usual shape goes through `decode_event`, so older versions and poison messages read exactly as
they always did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa

from ingest.bus import Record
from ingest.events import (
    EVENT_COLUMNS,
    HEADER_FIELDS,
    SCHEMA_VERSION,
    RecordError,
    decode_event,
    header_of,
)
from ingest.store import ArrowRows

__all__ = ["STORED_COLUMNS", "DecodedBatch", "decode_batch"]

STORED_COLUMNS = (*EVENT_COLUMNS, "ingested_at", "batch_id")  # the events table's insert order
_WIDTH = 1 + len(HEADER_FIELDS)  # the version, then the header fields
_RESOURCES = 1 + HEADER_FIELDS.index("resources")
_EVENT_ID = 1 + HEADER_FIELDS.index("event_id")
_TIME = 1 + HEADER_FIELDS.index("event_time_ms")
_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError)
_TIMESTAMP = pa.timestamp("ms", tz="UTC")
# the Arrow type of each column whose values are not strings (what pyarrow infers from a row
# of Python values, which the row path relied on)
_TYPES: dict[str, pa.DataType] = {
    "resources": pa.list_(pa.string()),
    "trusted": pa.bool_(),
    "schema_version": pa.int64(),
}


@dataclass(frozen=True)
class DecodedBatch:
    """A batch's events as insertable rows, the (event_id, raw) pairs the hash chain digests,
    and the records that are not Leash events with why."""

    rows: ArrowRows
    ids_and_raws: list[tuple[str, str]]
    poison: list[tuple[Record, str]]


def decode_batch(
    records: Sequence[Record], *, ingested_at: datetime, batch_id: str
) -> DecodedBatch:
    """Decode `records` into the events rows (STORED_COLUMNS), stamped `ingested_at`, `batch_id`."""
    headers: list[Sequence[Any]] = []
    raws: list[str] = []
    sources: list[Record] = []
    poison: list[tuple[Record, str]] = []
    for record in records:
        head, sep, raw = record.value.partition(b"\n")
        try:
            header = orjson.loads(head) if sep else None
            if (
                type(header) is list
                and len(header) == _WIDTH
                and type(header[0]) is int
                and header[0] == SCHEMA_VERSION
                and type(header[_RESOURCES]) is list
                and type(header[_TIME]) is int
            ):
                raws.append(raw.decode())
                headers.append(header)
                sources.append(record)
                continue
        except (orjson.JSONDecodeError, UnicodeDecodeError):
            pass
        try:  # another version, or not an event at all: read (or refused) as decode_event does
            event = decode_event(record.value)
        except RecordError as exc:
            poison.append((record, str(exc)))
            continue
        headers.append((event.schema_version, *header_of(event)))
        raws.append(event.raw)
        sources.append(record)
    try:
        table = _events_table(headers, raws, ingested_at=ingested_at, batch_id=batch_id)
    except _ARROW_ERRORS:
        # a header field of the wrong type: name the records that cannot be columns (the
        # dead-letter topic gets them) rather than failing the whole batch forever
        keep = []
        for i, (header, raw_text) in enumerate(zip(headers, raws, strict=True)):
            try:
                _events_table([header], [raw_text], ingested_at=ingested_at, batch_id=batch_id)
            except _ARROW_ERRORS as exc:
                poison.append((sources[i], f"header field of the wrong type: {exc}"))
                continue
            keep.append(i)
        headers, raws = [headers[i] for i in keep], [raws[i] for i in keep]
        table = _events_table(headers, raws, ingested_at=ingested_at, batch_id=batch_id)
    ids = [str(h[_EVENT_ID]) for h in headers]
    return DecodedBatch(ArrowRows(table), list(zip(ids, raws, strict=True)), poison)


def _events_table(
    headers: list[Sequence[Any]], raws: list[str], *, ingested_at: datetime, batch_id: str
) -> pa.Table:
    count = len(headers)
    transposed = list(zip(*headers, strict=True)) if headers else [()] * _WIDTH
    values: dict[str, Sequence[Any]] = dict(zip(HEADER_FIELDS, transposed[1:], strict=True))
    values.update(
        raw=raws,
        schema_version=transposed[0],
        ingested_at=[ingested_at] * count,
        batch_id=[batch_id] * count,
    )
    arrays = []
    for column in STORED_COLUMNS:
        if column == "event_time":  # ms since the epoch: the same instants as UTC datetimes
            times = pa.array(values["event_time_ms"], pa.int64())
            if times.null_count:
                raise ValueError("event_time_ms is null (the events table would store 1970)")
            arrays.append(times.cast(_TIMESTAMP))
        elif column == "ingested_at":
            arrays.append(pa.array(values[column], _TIMESTAMP))
        else:
            arrays.append(pa.array(values[column], _TYPES.get(column, pa.string())))
    return pa.Table.from_arrays(arrays, names=list(STORED_COLUMNS))
