"""SinkWorker: a thread running the consumer loop (bus -> store) for one subscriber."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

from ingest.runtime import Runtime
from ingest.settings import Settings
from ingest.signing import ChainSigner
from ingest.sink.consumer import ConsumerStats, run_consumer
from ingest.sink.deadletter import dead_letter_hook
from ingest.sink.writer import BatchResult, EventWriter
from ingest.worker import ThreadWorker

__all__ = ["SinkWorker", "sink_chain"]


class SinkWorker(ThreadWorker):
    """A thread running run_consumer for one subscriber; `stop()` drains, commits and joins."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        group_id: str,
        on_batch: Callable[[BatchResult], None] | None = None,
    ) -> None:
        super().__init__(f"sink-{group_id}")
        settings = runtime.settings
        self.stats = ConsumerStats()
        self._sink_settings = settings.sink
        self._subscriber = runtime.bus.subscriber([settings.kafka.topic], group_id)
        self._writer = EventWriter(
            runtime.store,
            chain=sink_chain(settings, group_id),
            on_reject=dead_letter_hook(runtime.bus.publisher(), settings.kafka.dlq_topic),
            signer=ChainSigner.load_or_create(settings.signing_key_path),
        )
        metrics = runtime.metrics

        def observe(result: BatchResult) -> None:
            metrics.sink_events.inc(result.stored)
            metrics.sink_batch_rows.observe(result.stored + result.rejected)
            metrics.sink_insert_seconds.observe(self.stats.last_insert_s)
            if on_batch is not None:
                on_batch(result)

        self._observe = observe

    def backlog(self) -> int:
        return self._subscriber.lag()

    def stop(self, timeout_s: float = 30.0) -> None:
        super().stop(timeout_s)

    def _run(self) -> None:
        run_consumer(
            self._subscriber,
            self._writer,
            self._stopping,
            max_rows=self._sink_settings.max_rows,
            max_age_s=self._sink_settings.max_age_s,
            backlog_growth=self._sink_settings.backlog_growth,
            commit_interval_s=self._sink_settings.commit_interval_s,
            on_batch=self._observe,
            stats=self.stats,
        )

    def _close(self) -> None:
        self._subscriber.close()


def sink_chain(settings: Settings, group_id: str) -> str:
    """Hash-chain id of this sink: LEASH_SINK_ID, else one per process on a shared bus."""
    if settings.sink_id:
        return settings.sink_id
    if settings.embedded_bus:
        return group_id  # the one embedded sink of a data dir keeps its existing chain
    return f"{group_id}@{socket.gethostname()}:{os.getpid()}"
