"""Kafka-only: a slow member keeps its group membership while it serves its buffer.

kafka-python enforces `max_poll_interval_ms` on the client: its heartbeat thread leaves the group
once that long passed without a `KafkaConsumer.poll`. These tests use 3 s and a consumer slower
than that, on the real wire protocol (Tansu).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator

import pytest
from kafka import KafkaAdminClient

from ingest.bus.kafka import KafkaBus
from tests.contract.kafka_broker import TansuBroker, fast_kafka_settings
from tests.contract.test_bus_contract import POLL_S, drain, next_offsets

pytestmark = pytest.mark.kafka

MAX_POLL_INTERVAL_MS = 3000  # the client leaves the group after this long between real polls
EVICTED_S = 4.5  # seconds; one "batch" that outlasts MAX_POLL_INTERVAL_MS
STEP_S = 0.8  # seconds per buffered poll in the slow reader; 8 of them outlast the interval
PACK_EVENTS = 8  # events per Kafka message


@pytest.fixture
def slow_bus(kafka_url: str) -> Iterator[KafkaBus]:
    bus = KafkaBus(
        kafka_url,
        options=fast_kafka_settings(partitions=1, max_poll_interval_ms=MAX_POLL_INTERVAL_MS),
    )
    yield bus
    bus.close()


@pytest.fixture
def group() -> str:
    return f"g-{uuid.uuid4().hex[:8]}"


def publish_packs(bus: KafkaBus, topic: str, key: bytes, names: list[str]) -> list[bytes]:
    """One Kafka message per name, each packing PACK_EVENTS events; the events, in order."""
    sent: list[bytes] = []
    for name in names:
        values = [f"{name}e{i}".encode() for i in range(PACK_EVENTS)]
        bus.publisher().publish(topic, [(key, v) for v in values]).result(10)
        sent += values
    return sent


def committed(broker: TansuBroker, group: str, topic: str) -> dict[int, int]:
    """The group's committed next offset per partition of `topic`, as the admin API reports it."""
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
    finally:
        admin.close()
    return {
        tp.partition: m.offset for tp, m in offsets.items() if tp.topic == topic and m.offset >= 0
    }


def test_a_member_serving_its_buffer_slowly_stays_in_the_group_and_its_commits_land(
    slow_bus: KafkaBus,
    tansu: TansuBroker,
    topic: str,
    group: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two packed messages come in one fetch and are handed out two events at a time, one poll
    every STEP_S: serving them takes twice MAX_POLL_INTERVAL_MS without a fetch. Keep-alive polls
    must hold the membership, so every commit lands; a new member resumes after the last one."""
    slow_bus.ensure_topics([topic])
    sent = publish_packs(slow_bus, topic, b"k", ["p0", "p1"])
    sub = slow_bus.subscriber([topic], group)
    got = drain(sub, 2)
    sub.commit(next_offsets(got))
    with caplog.at_level(logging.WARNING, logger="ingest.bus.kafka"):
        while len(got) < len(sent):
            threading.Event().wait(STEP_S)  # the batch's processing
            records = sub.poll(2, POLL_S)
            got += records
            sub.commit(next_offsets(records))
    # no failed commit, no rejoin: the membership held throughout
    assert [r.message for r in caplog.records if r.name.startswith("ingest.")] == []
    assert [r.value for r in got] == sent
    assert committed(tansu, group, topic) == {0: 2}
    sub.close()
    later = publish_packs(slow_bus, topic, b"k", ["p2"])
    second = slow_bus.subscriber([topic], group)
    assert [r.value for r in drain(second, len(later))] == later
    assert second.poll(100, POLL_S) == []
    second.close()
