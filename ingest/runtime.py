"""Runtime: the opened backends and services of one Leash process; open_runtime() builds it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ingest import schema
from ingest.bus import Bus, open_bus
from ingest.bus.embedded import EmbeddedBroker
from ingest.dedupe import DedupeCache
from ingest.events import Normalizer, event_id_of
from ingest.ledger import open_ledger
from ingest.metrics import IngestMetrics
from ingest.migrate import apply_migrations
from ingest.parsepool import ParseConfig
from ingest.service import IngestService
from ingest.settings import Settings
from ingest.signing import ChainSigner
from ingest.store import Store, open_store
from ingest.worker import Worker

__all__ = ["Runtime", "Worker", "open_runtime"]

logger = logging.getLogger(__name__)

DEDUPE_SEED_ROWS = 1_000_000  # recent event ids loaded into the dedupe cache at start


@dataclass
class Runtime:
    """Everything a process holds open: backends, the ingest service, and its running workers.

    `workers` are in start order; `open_runtime` stops them in reverse, so start a worker
    after the workers it feeds (see leash.app.start_workers).
    """

    settings: Settings
    bus: Bus
    store: Store
    service: IngestService
    metrics: IngestMetrics
    normalizer: Normalizer
    workers: list[Worker] = field(default_factory=list)


def _seed_dedupe(store: Store, bus: Bus, topic: str, cache: DedupeCache) -> None:
    """The ids of recent stored events, and of events durable on the embedded log but not yet
    stored (a client re-sending after a crash gets them counted as duplicates, not accepted)."""
    rows = store.query(
        f"SELECT event_id FROM {schema.EVENTS} ORDER BY ingested_at DESC LIMIT {{n:UInt64}}",
        {"n": min(cache.capacity, DEDUPE_SEED_ROWS)},
    )
    cache.add_all(str(r[0]) for r in reversed(rows))
    if isinstance(bus, EmbeddedBroker):  # (Kafka's unconsumed tail is not read at start)
        cache.add_all(i for value in bus.retained(topic) if (i := _event_id(value)))


def _event_id(value: bytes) -> str:
    try:
        return event_id_of(value)
    except (ValueError, IndexError, TypeError):  # not an event Leash wrote: nothing to seed
        return ""


@contextmanager
def open_runtime(settings: Settings) -> Iterator[Runtime]:
    """Open bus and store, apply migrations, build the ingest service; stop workers on exit.

    The runtime's store chains this process's ledger rows (ingest.ledger), signed with the
    data folder's signing key, and stores the last batch records when it closes."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    durable_dir = settings.bus_dir if settings.embedded_bus else None
    bus = open_bus(
        settings.bus_url,
        data_dir=durable_dir,
        partitions=settings.kafka.partitions,
        options=settings.kafka,
        min_free_bytes=settings.min_free_disk_mb * 2**20,
        memory_bytes=settings.bus_memory_mb * 2**20,
    )
    store = open_store(settings.resolved_store_url)
    runtime: Runtime | None = None
    try:
        apply_migrations(store)
        store = open_ledger(
            store,
            journal_dir=settings.journal_dir,
            signer=ChainSigner.load_or_create(settings.signing_key_path),
        )
        bus.ensure_topics([settings.kafka.topic, settings.kafka.dlq_topic])
        parsing = ParseConfig.from_settings(settings)  # what the parse pool builds too
        normalizer = parsing.normalizer()
        dedupe = DedupeCache(settings.dedupe_cache_size)
        _seed_dedupe(store, bus, settings.kafka.topic, dedupe)
        service = IngestService(
            bus.publisher(),
            normalizer,
            dedupe,
            max_decompressed_bytes=parsing.max_decompressed_bytes,
            max_records=parsing.max_records,
            topic=settings.kafka.topic,
        )
        runtime = Runtime(settings, bus, store, service, IngestMetrics(), normalizer)
        yield runtime
    finally:
        workers = runtime.workers if runtime else []
        logger.info("stopping: draining %d worker(s)", len(workers))
        # newest first: a worker stops before the ones it feeds drain (the detector's alerts
        # go to the services' webhook outbox and journals; stopped the other way round, the
        # rows of its last batch landed in closed journals and were lost)
        for worker in reversed(workers):
            worker.stop()
        bus.close()
        store.close()
        logger.info("stopped cleanly: workers drained, bus and store closed")
