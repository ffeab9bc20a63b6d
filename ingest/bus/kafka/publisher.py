"""KafkaPublisher: keyed, packed, ordered publishing from one background thread (acks=all)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError
from kafka.partitioner.default import murmur2

from ingest.bus.base import BusUnavailable
from ingest.bus.kafka.config import _FRAME, PACK_MAX_BYTES, PACK_MAX_EVENTS, KafkaConfig, pack

logger = logging.getLogger(__name__)

__all__ = ["KafkaPublisher"]

BATCH_BYTES = 256 * 1024  # bytes per partition batch the producer fills before sending


MAX_REQUEST_BYTES = 16 * 1024 * 1024  # bytes; one large record must fit (compose sets the broker)


REOPEN_COOLDOWN_S = 1.0  # seconds; publishes fail fast this long after a failed reconnect


_PARTITION_CACHE_MAX = 100_000  # keys; the murmur2 cache is cleared past this


def _group_by_key(messages: Sequence[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Pack same-key messages, in order, into values within PACK_MAX_BYTES / PACK_MAX_EVENTS."""
    groups: dict[bytes, list[list[bytes]]] = {}
    sizes: dict[bytes, int] = {}
    for key, value in messages:
        chunks = groups.setdefault(key, [[]])
        if len(chunks[-1]) >= PACK_MAX_EVENTS or sizes.get(key, 0) + len(value) > PACK_MAX_BYTES:
            chunks.append([])
            sizes[key] = 0
        chunks[-1].append(value)
        sizes[key] = sizes.get(key, 0) + len(value) + _FRAME.size
    return [
        (key, chunk[0] if len(chunk) == 1 else pack(chunk))
        for key, chunks in groups.items()
        for chunk in chunks
        if chunk
    ]


class KafkaPublisher:
    """Sends from one background thread, so `publish` never blocks the caller and keeps call order.

    A send failure fails the call's future with BusUnavailable and retires the producer; the next
    publish opens a new one (at most once per REOPEN_COOLDOWN_S), so a returning broker is picked
    up without a restart, even after it lost the idempotent producer's id.
    """

    def __init__(self, config: KafkaConfig) -> None:
        self._config = config
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafka-publish")
        self._producer: KafkaProducer | None = None
        self._broken = False
        self._retry_at = 0.0
        self._closed = False
        self._partition_of: dict[tuple[bytes, int], int] = {}

    def publish(self, topic: str, messages: Sequence[tuple[bytes, bytes]]) -> Future[None]:
        outer: Future[None] = Future()
        try:
            if self._closed:
                raise RuntimeError("closed")
            self._executor.submit(self._send, topic, list(messages), outer)
        except RuntimeError:  # closed, or closing under our feet: the executor refuses work
            outer.set_exception(BusUnavailable("kafka publisher is closed"))
        return outer

    def _send(self, topic: str, messages: list[tuple[bytes, bytes]], outer: Future[None]) -> None:
        try:
            producer = self._open()
            partitions = len(producer.partitions_for(topic))
            values = _group_by_key(messages) if self._config.pack_events else messages
            futures = [
                producer.send(topic, key=k, value=v, partition=self._partition(k, partitions))
                for k, v in values
            ]
        except (KafkaError, BusUnavailable, TypeError) as exc:
            self._fail(outer, exc)
            return
        _Gather(futures, outer, self._fail)

    def _open(self) -> KafkaProducer:
        if self._producer is not None and not self._broken:
            return self._producer
        if time.monotonic() < self._retry_at:
            raise BusUnavailable("kafka unreachable moments ago; retry later")
        if self._producer is not None:
            self._producer.close(timeout=0)
            self._producer = None
        try:
            self._producer = KafkaProducer(
                **self._config.client(),
                acks="all",
                enable_idempotence=True,
                compression_type=self._config.compression_type,
                linger_ms=self._config.linger_ms,
                batch_size=BATCH_BYTES,
                max_request_size=MAX_REQUEST_BYTES,
                max_block_ms=self._config.request_timeout_ms,
                delivery_timeout_ms=self._config.request_timeout_ms + self._config.linger_ms,
            )
        except KafkaError as exc:
            self._retry_at = time.monotonic() + REOPEN_COOLDOWN_S
            raise BusUnavailable(f"cannot reach kafka: {exc}") from exc
        self._broken = False
        return self._producer

    def _partition(self, key: bytes, partitions: int) -> int:
        # kafka-python's pure-Python murmur2 costs ~30 us per send; keys (principals) repeat
        cached = self._partition_of.get((key, partitions))
        if cached is None:
            if len(self._partition_of) > _PARTITION_CACHE_MAX:
                self._partition_of.clear()
            cached = (murmur2(key) & 0x7FFFFFFF) % partitions  # the Java client's choice
            self._partition_of[(key, partitions)] = cached
        return cached

    def _fail(self, outer: Future[None], exc: BaseException) -> None:
        self._broken = True
        if not outer.done():
            outer.set_exception(
                exc if isinstance(exc, BusUnavailable) else BusUnavailable(f"kafka send: {exc}")
            )

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._executor.shutdown(wait=True)
        if self._producer is not None:
            self._producer.close(timeout=self._config.request_timeout_ms / 1000)


class _Gather:
    """Resolves `outer` once every Kafka future is acknowledged, or fails it on the first error."""

    def __init__(
        self,
        futures: list[Any],
        outer: Future[None],
        fail: Callable[[Future[None], Exception], None],
    ) -> None:
        self._left = len(futures)
        self._lock = threading.Lock()
        self._outer = outer
        self._fail = fail
        if not futures:
            outer.set_result(None)
        for future in futures:
            future.add_callback(self._acked).add_errback(self._failed)

    def _acked(self, _metadata: object) -> None:
        with self._lock:
            self._left -= 1
            done = self._left == 0
        if done and not self._outer.done():
            self._outer.set_result(None)

    def _failed(self, exc: Exception) -> None:
        self._fail(self._outer, exc)
