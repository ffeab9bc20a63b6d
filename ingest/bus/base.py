"""The bus role's types: Record, the Publisher/Subscriber/Bus protocols and BusUnavailable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Bus", "BusUnavailable", "Publisher", "Record", "Subscriber", "TopicPartition"]

TopicPartition = tuple[str, int]


class BusUnavailable(RuntimeError):
    """The bus cannot accept or deliver messages right now; the caller may retry later."""


@dataclass(frozen=True, slots=True)
class Record:
    """One message as a subscriber sees it.

    `replay` marks a record the group had already processed, handed to a member that took its
    partition over so it can rebuild what the records before the group's commit left in memory
    (Bus.subscriber's `warm_messages`): it is not processed again for its effects, and its
    offset is never committed."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int
    replay: bool = False


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

    def subscriber(
        self,
        topics: Sequence[str],
        group_id: str,
        *,
        warm_messages: int = 0,
        warm_s: float = 0.0,
    ) -> Subscriber:
        """A member of `group_id`. With `warm_messages`, a partition this member is given
        starts up to that many messages before the group's commit, those published within
        `warm_s` seconds handed out first as `Record.replay` (Kafka only: the embedded bus
        keeps no record every group has processed)."""
        ...

    def ensure_topics(self, topics: Sequence[str]) -> None: ...

    def ping(self) -> bool: ...

    def close(self) -> None: ...
