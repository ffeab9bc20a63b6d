"""run_consumer: poll > decode > batch > insert > commit, with backoff and pause on store errors."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ingest.bus import Record, Subscriber, TopicPartition
from ingest.sink.batcher import RowBatcher
from ingest.sink.writer import BatchResult, EventWriter

__all__ = ["ConsumerStats", "run_consumer"]

logger = logging.getLogger(__name__)

POLL_TIMEOUT_S = 0.05  # seconds; short so the loop notices stop and batch age promptly
MAX_POLL_RECORDS = 2000
BACKOFF_START_S = 0.05  # seconds; first retry delay after a failed insert
BACKOFF_MAX_S = 5.0  # seconds; retry delay cap while the store is down


@dataclass
class ConsumerStats:
    batches: int = 0
    events: int = 0
    rejected: int = 0
    insert_failures: int = 0
    last_insert_s: float = 0.0
    last_batch_rows: int = 0
    store_healthy: bool = True
    extra: dict[str, float] = field(default_factory=dict)


def run_consumer(
    subscriber: Subscriber,
    writer: EventWriter,
    stop: threading.Event,
    *,
    max_rows: int = 5000,
    max_age_s: float = 1.0,
    backlog_growth: int = 1,
    commit_interval_s: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    on_batch: Callable[[BatchResult], None] | None = None,
    stats: ConsumerStats | None = None,
) -> ConsumerStats:
    """Consume until `stop` is set; then flush the last batch, commit and return.

    Offsets are committed only after the batch's insert returned and the writer sealed its chain
    records (at least once; one chain insert per commit, not per batch). While the store
    fails, the subscriber is paused (polls keep the group membership alive) and the insert is
    retried with capped exponential backoff; the loop never sleeps longer than the poll timeout.

    While polls come back full (more records are waiting: the sink is behind), a batch grows to
    `max_rows * backlog_growth` before it is inserted: a chDB insert has a fixed cost of ~10 ms
    and the sink's thread waits for the GIL around every call while the API is busy, so a sink
    that fell behind catches up with fewer, larger inserts. A short poll (caught up) brings the
    limit back to `max_rows`; `max_age_s` holds either way.
    """
    stats = stats or ConsumerStats()
    batcher: RowBatcher[Record] = RowBatcher(max_rows=max_rows, max_age_s=max_age_s, clock=clock)
    poll_size = min(MAX_POLL_RECORDS, max_rows)
    pending: dict[TopicPartition, int] = {}
    last_commit = clock()
    retry_at = 0.0
    backoff = BACKOFF_START_S
    while True:
        stopping = stop.is_set()
        if not stopping and len(batcher) < batcher.max_rows and retry_at == 0.0:
            polled = subscriber.poll(poll_size, POLL_TIMEOUT_S)
            batcher.extend(polled)
            behind = len(polled) == poll_size
            batcher.max_rows = max_rows * backlog_growth if behind else max_rows
        elif not stopping:
            subscriber.poll(0, POLL_TIMEOUT_S)  # keep-alive while paused or full
        if batcher.is_ready() or (stopping and len(batcher)):
            if clock() < retry_at and not stopping:
                continue
            records = batcher.drain()
            try:
                started = time.perf_counter()
                result = writer.write(records)
            except Exception as exc:  # noqa: BLE001 - any store failure: keep the batch, retry
                stats.insert_failures += 1
                stats.store_healthy = False
                logger.warning(
                    "sink insert of %d records failed (%s); retry in %.2fs",
                    len(records),
                    exc,
                    backoff,
                )
                batcher.extend(records)
                subscriber.pause()
                retry_at = clock() + backoff
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                if stopping:
                    logger.error(
                        "sink stopping with %d uncommitted records; they will replay", len(records)
                    )
                    break
                continue
            if retry_at:
                subscriber.resume()
                retry_at, backoff = 0.0, BACKOFF_START_S
            stats.store_healthy = True
            stats.last_insert_s = time.perf_counter() - started
            stats.batches += 1
            stats.events += result.stored
            stats.rejected += result.rejected
            stats.last_batch_rows = len(records)
            pending.update(result.offsets)
            if on_batch is not None:
                on_batch(result)
        if pending and (stopping or clock() - last_commit >= commit_interval_s):
            last_commit = clock()
            try:
                writer.seal()  # the chain records of the batches these offsets cover come first
                subscriber.commit(pending)
                pending = {}
            except Exception as exc:  # noqa: BLE001 - uncommitted offsets only mean a replay
                logger.warning(
                    "sink commit failed (%s); %s",
                    exc,
                    "they will replay" if stopping else "will retry",
                )
        if stopping and not len(batcher):
            break
    return stats
