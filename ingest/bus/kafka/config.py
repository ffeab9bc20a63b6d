"""Kafka connection settings from the bus URL and options, and the codec that packs events."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

__all__ = [
    "DEFAULT_PORT",
    "PACK_MAGIC",
    "PACK_MAX_BYTES",
    "PACK_MAX_EVENTS",
    "KafkaConfig",
    "pack",
    "unpack",
]

DEFAULT_PORT = 9092


PACK_MAGIC = b"\x00LPK1"  # first bytes of a packed value; an encoded event starts with "["


_FRAME = struct.Struct("<I")  # length prefix of one packed event


PACK_MAX_BYTES = 512 * 1024  # bytes per packed value, well under Kafka's 1 MB message default


PACK_MAX_EVENTS = 1000  # events per packed value


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
