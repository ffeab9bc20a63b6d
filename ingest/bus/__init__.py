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
    url: str, *, data_dir: Path | None = None, partitions: int = 6, options: object = None
) -> Bus:
    """Open the bus named by `url`: `memory://` (durable under data_dir when given) or `kafka://h:p`."""
    parsed = urlparse(url)
    match parsed.scheme:
        case "memory":
            from ingest.bus.embedded import MemoryBroker

            return MemoryBroker(partitions=partitions, log_dir=data_dir)
        case "kafka":
            from ingest.bus.kafka import KafkaBus

            return KafkaBus(url, options=options)
        case _:
            raise ValueError(f"unsupported bus URL {url!r}: use memory:// or kafka://host:9092")
