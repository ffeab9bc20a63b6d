"""Kafka bus over kafka-python: KafkaBus, KafkaPublisher, packing codec; no kafka type escapes."""

from __future__ import annotations

import contextlib
import logging
import struct
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.partitioner.default import murmur2

from ingest.bus import BusUnavailable

if TYPE_CHECKING:
    from ingest.bus.kafka.subscriber import KafkaSubscriber

__all__ = ["KafkaBus", "KafkaConfig", "KafkaPublisher", "pack", "unpack"]

logger = logging.getLogger(__name__)

DEFAULT_PORT = 9092
PACK_MAGIC = b"\x00LPK1"  # first bytes of a packed value; an encoded event starts with "["
_FRAME = struct.Struct("<I")  # length prefix of one packed event
PACK_MAX_BYTES = 512 * 1024  # bytes per packed value, well under Kafka's 1 MB message default
PACK_MAX_EVENTS = 1000  # events per packed value
BATCH_BYTES = 256 * 1024  # bytes per partition batch the producer fills before sending
MAX_REQUEST_BYTES = 16 * 1024 * 1024  # bytes; one large record must fit (compose sets the broker)
REOPEN_COOLDOWN_S = 1.0  # seconds; publishes fail fast this long after a failed reconnect
PING_TIMEOUT_MS = 3000  # admin request bound for ping() and lag()
_PARTITION_CACHE_MAX = 100_000  # keys; the murmur2 cache is cleared past this


@dataclass(frozen=True)
class KafkaConfig:
    """kafka-python knobs (their own `_ms` names) read from ingest.settings.KafkaSettings."""

    bootstrap: tuple[str, ...]
    partitions: int = 6
    replication_factor: int = 1
    linger_ms: int = 5
    compression_type: str | None = "gzip"
    session_timeout_ms: int = 10000
    heartbeat_interval_ms: int = 1000
    max_poll_interval_ms: int = 60000
    request_timeout_ms: int = 15000
    pack_events: bool = True

    @classmethod
    def from_url(cls, url: str, options: object = None) -> KafkaConfig:
        netloc = urlparse(url).netloc
        hosts = tuple(h if ":" in h else f"{h}:{DEFAULT_PORT}" for h in netloc.split(",") if h)
        known = {
            name: getattr(options, name)
            for name in cls.__dataclass_fields__
            if name != "bootstrap" and hasattr(options, name)
        }
        return cls(bootstrap=hosts or (f"localhost:{DEFAULT_PORT}",), **known)

    def client(self) -> dict[str, Any]:
        return {
            "bootstrap_servers": list(self.bootstrap),
            "request_timeout_ms": self.request_timeout_ms,
            "bootstrap_timeout_ms": self.request_timeout_ms,
            "reconnect_backoff_max_ms": 1000,
        }


def pack(values: Sequence[bytes]) -> bytes:
    """Several events of one key in one Kafka value: magic, then length-prefixed events."""
    return PACK_MAGIC + b"".join(_FRAME.pack(len(v)) + v for v in values)


def unpack(value: bytes) -> list[bytes]:
    """Inverse of pack; a malformed pack comes back whole, as one value (the sink rejects it)."""
    if not value.startswith(PACK_MAGIC):
        return [value]
    out, pos = [], len(PACK_MAGIC)
    while pos + _FRAME.size <= len(value):
        (size,) = _FRAME.unpack_from(value, pos)
        pos += _FRAME.size
        out.append(value[pos : pos + size])
        pos += size
    return out if pos == len(value) and out else [value]


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


class KafkaBus:
    """Topics on a Kafka cluster; one admin client for topics, ping and lag, shared under a lock."""

    def __init__(self, url: str, *, options: object = None) -> None:
        self.config = KafkaConfig.from_url(url, options)
        self._admin: KafkaAdminClient | None = None
        self._lock = threading.Lock()
        self._closables: list[KafkaPublisher | KafkaSubscriber] = []

    def admin(self, call: Callable[[KafkaAdminClient], Any]) -> Any:
        """Run one admin call; a failure drops the client so the next call reconnects."""
        with self._lock:
            try:
                if self._admin is None:
                    self._admin = KafkaAdminClient(
                        **{**self.config.client(), "request_timeout_ms": PING_TIMEOUT_MS}
                    )
                return call(self._admin)
            except KafkaError as exc:
                self._drop_admin()
                raise BusUnavailable(f"kafka {','.join(self.config.bootstrap)}: {exc}") from exc

    def _drop_admin(self) -> None:
        if self._admin is not None:
            with contextlib.suppress(KafkaError):  # already broken; nothing left to release
                self._admin.close()
            self._admin = None

    def publisher(self) -> KafkaPublisher:
        publisher = KafkaPublisher(self.config)
        self._closables.append(publisher)
        return publisher

    def subscriber(self, topics: Sequence[str], group_id: str) -> KafkaSubscriber:
        from ingest.bus.kafka.subscriber import KafkaSubscriber  # the consuming half, own module

        subscriber = KafkaSubscriber(self, list(topics), group_id)
        self._closables.append(subscriber)
        return subscriber

    def ensure_topics(self, topics: Sequence[str]) -> None:
        existing = set(self.admin(lambda a: a.list_topics()))
        missing = [t for t in topics if t not in existing]
        if not missing:
            return
        new = [NewTopic(t, self.config.partitions, self.config.replication_factor) for t in missing]
        try:
            self.admin(lambda a: a.create_topics(new))
        except BusUnavailable as exc:
            if not isinstance(exc.__cause__, TopicAlreadyExistsError):  # lost a race: fine
                raise
        logger.info("created kafka topics %s (%d partitions)", missing, self.config.partitions)

    def ping(self) -> bool:
        try:
            self.admin(lambda a: a.list_topics())
        except BusUnavailable:
            return False
        return True

    def close(self) -> None:
        for item in reversed(self._closables):
            item.close()
        self._closables.clear()
        with self._lock:
            self._drop_admin()

    def __enter__(self) -> KafkaBus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
