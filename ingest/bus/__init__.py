"""Bus role: Publisher/Subscriber protocols, Record, and open_bus(url), the only backend switch."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from ingest.bus.base import Bus, BusUnavailable, Publisher, Record, Subscriber, TopicPartition

__all__ = [
    "Bus",
    "BusUnavailable",
    "Publisher",
    "Record",
    "Subscriber",
    "TopicPartition",
    "open_bus",
]


def open_bus(
    url: str,
    *,
    data_dir: Path | None = None,
    partitions: int = 6,
    options: object = None,
    min_free_bytes: int = 0,
    memory_bytes: int | None = None,
) -> Bus:
    """Open the bus named by `url`: `embedded://` or `kafka://host:port[,host:port]`.

    `embedded://` (alias `memory://`, its name before it became durable) is the in-process broker
    over a segment log: fsynced under `data_dir` when one is given, in memory only otherwise;
    it refuses publishes while that disk has less than `min_free_bytes` free, and holds at most
    `memory_bytes` of unread records in memory (None: its default), reading older ones back
    from the log.
    """
    parsed = urlparse(url)
    match parsed.scheme:
        case "embedded" | "memory":
            from ingest.bus.embedded import DEFAULT_MEMORY_BYTES, EmbeddedBroker

            return EmbeddedBroker(
                partitions=partitions,
                log_dir=data_dir,
                min_free_bytes=min_free_bytes,
                memory_bytes=DEFAULT_MEMORY_BYTES if memory_bytes is None else memory_bytes,
            )
        case "kafka":
            from ingest.bus.kafka import KafkaBus

            return KafkaBus(url, options=options)
        case _:
            raise ValueError(f"unsupported bus URL {url!r}: use embedded:// or kafka://host:9092")
