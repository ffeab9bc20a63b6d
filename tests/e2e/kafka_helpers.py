"""Kafka-path helpers for e2e tests: a Tansu broker fixture, the LEASH_ env that points at it,
and what a consumer group has committed against what the topic holds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from kafka import KafkaConsumer, TopicPartition

from ingest import schema
from ingest.bus.kafka.config import unpack
from ingest.events import event_id_of
from tests.contract.kafka_broker import TansuBroker, group_offsets, running_tansu

__all__ = ["Message", "committed_offsets", "kafka_env", "read_topic", "tansu_broker"]

READ_TIMEOUT_S = 60.0  # seconds; hang guard for reading a topic to its end


def kafka_env(broker: TansuBroker, **extra: str) -> dict[str, str]:
    """Environment for a `leash` process on this broker, with short group and request timeouts."""
    return {
        "LEASH_BUS_URL": broker.url,
        "LEASH_KAFKA__PARTITIONS": "3",
        "LEASH_KAFKA__SESSION_TIMEOUT_MS": "2000",
        "LEASH_KAFKA__HEARTBEAT_INTERVAL_MS": "200",
        "LEASH_KAFKA__MAX_POLL_INTERVAL_MS": "10000",
        "LEASH_KAFKA__REQUEST_TIMEOUT_MS": "2000",
        **extra,
    }


@pytest.fixture
def tansu_broker() -> Iterator[TansuBroker]:
    """A fresh broker per test (memory storage: nothing leaks between tests)."""
    yield from running_tansu()


@dataclass(frozen=True)
class Message:
    """One Kafka message of the events topic: where it is and the event ids it packs."""

    partition: int
    offset: int
    event_ids: tuple[str, ...]


def committed_offsets(broker: TansuBroker, group: str) -> dict[int, int]:
    """The next offset `group` will read, per partition of the events topic (none: absent)."""
    return group_offsets(broker, group, schema.EVENTS_TOPIC)


def read_topic(broker: TansuBroker, topic: str = schema.EVENTS_TOPIC) -> list[Message]:
    """Every message of `topic` from the beginning, read outside any consumer group."""
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        messages: list[Message] = []
        deadline = time.monotonic() + READ_TIMEOUT_S
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for tp, batch in consumer.poll(timeout_ms=500).items():
                messages += [
                    Message(tp.partition, m.offset, tuple(map(event_id_of, unpack(m.value))))
                    for m in batch
                ]
    finally:
        consumer.close()
    return messages
