"""Bus role: Publisher/Subscriber protocols, Record, and open_bus(url), the only backend switch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

__all__ = [
    "Bus",
    "BusUnavailable",
    "Publisher",
    "Record",
    "Subscriber",
    "TopicPartition",
    "open_bus",
]

TopicPartition = tuple[str, int]


class BusUnavailable(RuntimeError):
    """The bus cannot accept or deliver messages right now; the caller may retry later."""


@dataclass(frozen=True, slots=True)
class Record:
    """One message as a subscriber sees it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int


class Publisher(Protocol):
    """Appends keyed messages to a topic.

    `publish` returns a future that resolves once every message of the call is durable (fsynced
    log, or acknowledged by all in-sync Kafka replicas). Messages with the same key land in the same
    partition, in call order. A failed future means none of the messages may be assumed stored.
    """

    def publish(self, topic: str, messages: Sequence[tuple[bytes, bytes]]) -> Future[None]: ...

    def close(self) -> None: ...


class Subscriber(Protocol):
    """Reads a topic as a member of a consumer group.

    Offsets committed are the *next* offset to read per partition (last processed + 1). After a
    restart or rebalance, reading resumes from the committed offset, so processing is at least once.
    """

    def poll(self, max_records: int, timeout_s: float) -> list[Record]: ...

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def lag(self) -> int: ...

    def close(self) -> None: ...


class Bus(Protocol):
    """A connection to one bus; hands out publishers and subscribers and closes with them."""

    def publisher(self) -> Publisher: ...

    def subscriber(self, topics: Sequence[str], group_id: str) -> Subscriber: ...

    def ensure_topics(self, topics: Sequence[str]) -> None: ...

    def ping(self) -> bool: ...

    def close(self) -> None: ...


def open_bus(
    url: str, *, data_dir: Path | None = None, partitions: int = 6, options: object = None
) -> Bus:
    """Open the bus named by `url`: `memory://` (durable under data_dir when given) or `kafka://h:p`."""
    parsed = urlparse(url)
    match parsed.scheme:
        case "memory":
            from ingest.bus.embedded import MemoryBroker

            return MemoryBroker(partitions=partitions, log_dir=data_dir)
        case "kafka":
            from ingest.bus.kafka.bus import KafkaBus

            return KafkaBus(url, options=options)
        case _:
            raise ValueError(f"unsupported bus URL {url!r}: use memory:// or kafka://host:9092")
