"""EventWriter: one store insert per batch, hash-chained; the offsets it returns are safe to commit
once `seal` has stored the chain records of the batches they cover."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter

from ingest import schema
from ingest.bus import Record, TopicPartition
from ingest.chain import GENESIS_HASH, chain_hash, row_digest, rows_hash
from ingest.events import EVENT_FIELDS, AuditEvent
from ingest.signing import ChainSigner
from ingest.sink.columns import STORED_COLUMNS, decode_batch
from ingest.store import Store

__all__ = ["STORED_COLUMNS", "BatchResult", "EventWriter", "event_row"]

logger = logging.getLogger(__name__)

_row_of = attrgetter(*EVENT_FIELDS)
assert EVENT_FIELDS[:2] == ("event_id", "event_time_ms")  # event_row converts the second
REJECT_COLUMNS = ("received_at", "origin", "topic", "partition", "offset", "error", "raw")
BATCH_COLUMNS = (
    "chain",
    "seq",
    "batch_id",
    "created_at",
    "row_count",
    "event_ids",
    "rows_hash",
    "prev_hash",
    "hash",
    "signer",
    "signature",
)


@dataclass(frozen=True)
class BatchResult:
    offsets: dict[TopicPartition, int]
    stored: int  # events inserted
    rejected: int


def event_row(event: AuditEvent, ingested_at: datetime, batch_id: str) -> tuple[object, ...]:
    """The event's `events` row, in STORED_COLUMNS order (event time as a UTC datetime)."""
    event_id, event_time_ms, *rest = _row_of(event)
    when = datetime.fromtimestamp(event_time_ms / 1000, tz=UTC)
    return (event_id, when, *rest, ingested_at, batch_id)


class EventWriter:
    """Writes decoded bus records to the store.

    Each call to `write` issues one insert into `events` (plus at most one into `events_rejected`)
    and links the batch into the hash chain in memory; `seal` inserts the chain records of every
    batch written since the last seal into `ingest_batches`, in one insert. A chDB insert costs a
    fixed ~10 ms whatever its size (it writes a part), so a record per batch doubled the sink's
    fixed cost; sealed at each commit, there is one chain insert per commit interval however
    many batches it covers.

    The offsets `write` returns are safe to commit only after `seal` returned: a crash before
    then replays the batches, ReplacingMergeTree collapses their rows, and they are chained
    again after the stored chain head (a chain record that was never stored left no link to
    skip). A failed seal keeps its records, in order, for the next one.
    """

    def __init__(
        self,
        store: Store,
        *,
        chain: str = "default",
        on_reject: Callable[[Sequence[Record]], None] | None = None,
        signer: ChainSigner | None = None,
    ) -> None:
        self._store = store
        self.chain = chain
        self._signer = signer  # signs each batch hash (None: the chain is unsigned)
        self._on_reject = on_reject  # e.g. the dead-letter topic; raising keeps the batch
        self._seq, self._prev = self._chain_head()
        self._unsealed: list[tuple[object, ...]] = []  # chain records not yet stored, in order

    def _chain_head(self) -> tuple[int, str]:
        rows = self._store.query(
            f"SELECT seq, hash FROM {schema.BATCHES} WHERE chain = {{c:String}} "
            "ORDER BY seq DESC LIMIT 1",
            {"c": self.chain},
        )
        return (int(rows[0][0]), str(rows[0][1])) if rows else (0, GENESIS_HASH)

    def write(self, records: Sequence[Record]) -> BatchResult:
        now = datetime.now(UTC)
        batch_id = uuid.uuid4().hex
        offsets: dict[TopicPartition, int] = {}
        for record in records:
            offsets[(record.topic, record.partition)] = record.offset + 1
        batch = decode_batch(records, ingested_at=now, batch_id=batch_id)
        if batch.poison and self._on_reject is not None:
            self._on_reject([record for record, _ in batch.poison])
        if batch.poison:
            rejects = [
                (
                    now,
                    "bus",
                    record.topic,
                    record.partition,
                    record.offset,
                    error,
                    record.value.decode("utf-8", "replace"),
                )
                for record, error in batch.poison
            ]
            self._store.insert(schema.EVENTS_REJECTED, rejects, REJECT_COLUMNS)
            logger.warning(
                "sink: %d undecodable message(s) moved to %s", len(rejects), schema.EVENTS_REJECTED
            )
        if batch.ids_and_raws:
            self._store.insert(schema.EVENTS, batch.rows, STORED_COLUMNS)
            self._unsealed.append(self._chain_record(batch.ids_and_raws, now, batch_id))
        return BatchResult(offsets, len(batch.ids_and_raws), len(batch.poison))

    def seal(self) -> None:
        """Store the chain records of the batches written since the last seal (one insert)."""
        if self._unsealed:
            self._store.insert(schema.BATCHES, self._unsealed, BATCH_COLUMNS)
            self._unsealed = []

    def _chain_record(
        self, ids_and_raws: list[tuple[str, str]], now: datetime, batch_id: str
    ) -> tuple[object, ...]:
        digests = {event_id: row_digest(event_id, raw) for event_id, raw in ids_and_raws}
        body = rows_hash(list(digests.items()))
        seq = self._seq + 1
        digest = chain_hash(self._prev, seq, batch_id, body)
        record = (
            self.chain,
            seq,
            batch_id,
            now,
            len(digests),
            list(digests),
            body,
            self._prev,
            digest,
            self._signer.key_id if self._signer else "",
            self._signer.sign(digest) if self._signer else "",
        )
        self._seq, self._prev = seq, digest
        return record
