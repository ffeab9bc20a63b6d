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
from kafka.errors import KafkaTimeoutError

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


def owned(member: object) -> set[int]:
    return {tp.partition for tp in member._consumer.assignment()}  # type: ignore[attr-defined]


def test_a_partition_back_from_another_member_replays_nothing_this_member_had(
    kafka_url: str, topic: str
) -> None:
    """Review: A processed everything of two partitions; B joined (taking one) and left without
    processing any; A got it back and replayed what its own engine already held -- every one of
    those counted twice. What a member handed out itself is never replayed to it."""
    bus = KafkaBus(kafka_url, options=fast_kafka_settings(partitions=2))
    bus.ensure_topics([topic])
    try:
        group = f"g-{uuid.uuid4().hex[:8]}"
        publish_each(bus, topic, [(f"k{i}".encode(), f"v{i}".encode()) for i in range(20)])
        a = bus.subscriber([topic], group, warm_messages=1000, warm_s=3600)
        first = drain(a, 20)
        a.commit(next_offsets(first))
        b = bus.subscriber([topic], group, warm_messages=1000, warm_s=3600)
        again = _until(lambda: bool(owned(b)) and len(owned(a)) == 1, [a, b])
        b.close()
        again += _until(lambda: len(owned(a)) == 2, [a])
        again += [r for _ in range(5) for r in a.poll(100, POLL_S)]
        assert [r.value for r in again if r.replay] == []
        a.close()
    finally:
        bus.close()


def test_a_failed_commit_lookup_starts_the_partition_where_the_group_left_it(
    one_partition: KafkaBus, topic: str
) -> None:
    """Review: reading the group's commits can fail while the coordinator moves (as it does in
    rebalances); the poll raised, killing the detector's thread, and the records it had
    fetched were never handed out. Now the partition starts cold, with a warning."""
    group = f"g-{uuid.uuid4().hex[:8]}"
    processed_six_of_ten(one_partition, topic, group)
    second = one_partition.subscriber([topic], group, warm_messages=4, warm_s=3600)
    real = second._membership.committed
    failures = [KafkaTimeoutError("coordinator moving")]

    def flaky(partitions: object) -> dict[object, int]:
        if failures:
            raise failures.pop()
        return real(partitions)  # type: ignore[arg-type]

    second._membership.committed = flaky  # type: ignore[assignment]
    assert seen(drain(second, 4)) == [(f"v{i}".encode(), False) for i in range(6, 10)]
    second.close()


def _until(condition: object, members: list[object], timeout_s: float = 120.0) -> list[Record]:
    """Poll every member (each takes part in the rebalance) until `condition()`; what the
    first one got meanwhile. (A liveness bound, not a speed target: a rebalance through Tansu
    took over 40 s once, in a full suite on this 2-core machine.)"""
    got: list[Record] = []
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the group did not rebalance"
        for i, member in enumerate(members):
            records = member.poll(100, 0.05)  # type: ignore[attr-defined]
            if i == 0:
                got.extend(records)
    return got
