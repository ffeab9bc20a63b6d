"""Runtime: the opened backends and services of one Leash process; open_runtime() builds it."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from ingest import schema
from ingest.bus import Bus, open_bus
from ingest.dedupe import DedupeCache
from ingest.events import Normalizer
from ingest.identity import build_identity_rules
from ingest.metrics import IngestMetrics
from ingest.migrate import apply_migrations
from ingest.service import IngestService
from ingest.settings import Settings
from ingest.sink.consumer import ConsumerStats, run_consumer
from ingest.sink.deadletter import dead_letter_hook
from ingest.sink.writer import BatchResult, EventWriter
from ingest.store import Store, open_store

__all__ = ["Runtime", "SinkWorker", "Worker", "open_runtime"]

logger = logging.getLogger(__name__)

DEDUPE_SEED_ROWS = 1_000_000  # recent event ids loaded into the dedupe cache at start


class Worker(Protocol):
    """A background worker a process runs: stopped (drained) when the runtime closes."""

    def alive(self) -> bool: ...

    def lag(self) -> int: ...

    def stop(self, timeout_s: float = ...) -> None: ...


@dataclass
class Runtime:
    """Everything a process holds open; `extensions` lets later layers hang services on it."""

    settings: Settings
    bus: Bus
    store: Store
    service: IngestService
    metrics: IngestMetrics
    normalizer: Normalizer
    workers: list[Worker] = field(default_factory=list)
    extensions: dict[str, Any] = field(default_factory=dict)


class SinkWorker:
    """A thread running run_consumer for one subscriber; `stop()` drains, commits and joins."""

    def __init__(
        self, runtime: Runtime, *, group_id: str, on_batch: Callable[[BatchResult], None] | None
    ) -> None:
        settings = runtime.settings
        self.stats = ConsumerStats()
        self._stop = threading.Event()
        self._subscriber = runtime.bus.subscriber([settings.kafka.topic], group_id)
        self._writer = EventWriter(
            runtime.store,
            chain=sink_chain(settings, group_id),
            on_reject=dead_letter_hook(runtime.bus.publisher(), settings.kafka.dlq_topic),
        )
        metrics = runtime.metrics

        def observe(result: BatchResult) -> None:
            metrics.sink_events.inc(len(result.events))
            metrics.sink_batch_rows.observe(len(result.events) + result.rejected)
            metrics.sink_insert_seconds.observe(self.stats.last_insert_s)
            if on_batch is not None:
                on_batch(result)

        self._thread = threading.Thread(
            target=run_consumer,
            args=(self._subscriber, self._writer, self._stop),
            kwargs={
                "max_rows": settings.sink.max_rows,
                "max_age_s": settings.sink.max_age_s,
                "commit_interval_s": settings.sink.commit_interval_s,
                "on_batch": observe,
                "stats": self.stats,
            },
            name=f"sink-{group_id}",
            daemon=True,
        )

    def start(self) -> SinkWorker:
        self._thread.start()
        return self

    def lag(self) -> int:
        return self._subscriber.lag()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)
        self._subscriber.close()


def sink_chain(settings: Settings, group_id: str) -> str:
    """Hash-chain id of this sink: LEASH_SINK_ID, else one per process on a shared bus."""
    if settings.sink_id:
        return settings.sink_id
    if settings.bus_url.startswith("memory"):
        return group_id  # the one embedded sink of a data dir keeps its existing chain
    return f"{group_id}@{socket.gethostname()}:{os.getpid()}"


def _seed_dedupe(store: Store, cache: DedupeCache) -> None:
    rows = store.query(
        f"SELECT event_id FROM {schema.EVENTS} ORDER BY ingested_at DESC LIMIT {{n:UInt64}}",
        {"n": min(cache.capacity, DEDUPE_SEED_ROWS)},
    )
    cache.add_all(str(r[0]) for r in reversed(rows))


@contextmanager
def open_runtime(settings: Settings, *, sink: bool = False) -> Iterator[Runtime]:
    """Open bus and store, apply migrations, build the ingest service; `sink` runs the writer."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    durable_dir = settings.bus_dir if settings.bus_url.startswith("memory") else None
    bus = open_bus(
        settings.bus_url,
        data_dir=durable_dir,
        partitions=settings.kafka.partitions,
        options=settings.kafka,
    )
    store = open_store(settings.resolved_store_url)
    runtime: Runtime | None = None
    try:
        apply_migrations(store)
        bus.ensure_topics([settings.kafka.topic, settings.kafka.dlq_topic])
        normalizer = Normalizer(build_identity_rules(settings.identity))
        dedupe = DedupeCache(settings.dedupe_cache_size)
        _seed_dedupe(store, dedupe)
        service = IngestService(
            bus.publisher(),
            normalizer,
            dedupe,
            max_decompressed_bytes=settings.max_decompressed_bytes,
            max_records=settings.max_records_per_request,
            topic=settings.kafka.topic,
        )
        runtime = Runtime(settings, bus, store, service, IngestMetrics(), normalizer)
        if sink:
            runtime.workers.append(
                SinkWorker(runtime, group_id=settings.kafka.group_id, on_batch=None).start()
            )
        yield runtime
    finally:
        for worker in runtime.workers if runtime else []:
            worker.stop()
        bus.close()
        store.close()
