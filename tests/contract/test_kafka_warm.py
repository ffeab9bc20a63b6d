"""Kafka-only: a member that takes a partition over first replays what the group processed.

A detector's state (its windows, held findings, open incidents) lives in its memory. When a
partition changes hands -- a second detector joins the group, one leaves or restarts -- the new
owner would start that partition's principals cold: a burst straddling the hand-over counted
from its middle, an incident the former owner paged opened again as a second alert. With
`warm_messages` the subscriber starts a partition it is given that many messages before the
group's commit and marks those records `replay` (state, not pages; never committed again).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from ingest.bus import Record
from ingest.bus.kafka import KafkaBus
from tests.contract.kafka_broker import TansuBroker, fast_kafka_settings, group_offsets
from tests.contract.test_bus_contract import POLL_S, drain, next_offsets, publish_each

pytestmark = pytest.mark.kafka


@pytest.fixture
def one_partition(kafka_url: str, topic: str) -> Iterator[KafkaBus]:
    bus = KafkaBus(kafka_url, options=fast_kafka_settings(partitions=1))
    bus.ensure_topics([topic])
    yield bus
    bus.close()


def processed_six_of_ten(bus: KafkaBus, topic: str, group: str) -> None:
    """Ten messages on the partition; a first member processes and commits six, then leaves."""
    publish_each(bus, topic, [(b"agent", f"v{i}".encode()) for i in range(10)])
    first = bus.subscriber([topic], group)
    got = drain(first, 6)[:6]
    first.commit(next_offsets(got))
    first.close()


def seen(records: list[Record]) -> list[tuple[bytes, bool]]:
    return [(r.value, r.replay) for r in records]


def test_a_member_taking_a_partition_over_replays_the_messages_before_the_commit(
    one_partition: KafkaBus, topic: str, tansu: TansuBroker
) -> None:
    group = f"g-{uuid.uuid4().hex[:8]}"
    processed_six_of_ten(one_partition, topic, group)
    second = one_partition.subscriber([topic], group, warm_messages=4, warm_s=3600)
    got = drain(second, 8)
    assert seen(got) == [
        *((f"v{i}".encode(), True) for i in range(2, 6)),
        *((f"v{i}".encode(), False) for i in range(6, 10)),
    ]
    second.commit(next_offsets([r for r in got if not r.replay]))
    assert second.poll(10, POLL_S) == []
    second.close()
    assert group_offsets(tansu, group, topic) == {0: 10}


def test_without_warm_up_or_past_its_age_a_member_starts_at_the_commit(
    one_partition: KafkaBus, topic: str
) -> None:
    group = f"g-{uuid.uuid4().hex[:8]}"
    processed_six_of_ten(one_partition, topic, group)
    time.sleep(0.3)  # the processed messages are now older than the warm-up below keeps
    for member in (
        one_partition.subscriber([topic], group),
        one_partition.subscriber([topic], group, warm_messages=4, warm_s=0.1),
    ):
        assert seen(drain(member, 4)) == [(f"v{i}".encode(), False) for i in range(6, 10)]
        assert member.poll(10, POLL_S) == []
        member.close()
