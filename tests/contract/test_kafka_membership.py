"""Kafka-only: a slow member keeps its group membership, and its commits land after an eviction.

kafka-python enforces `max_poll_interval_ms` on the client: its heartbeat thread leaves the group
once that long passed without a `KafkaConsumer.poll`. These tests use 3 s and a consumer slower
than that, on the real wire protocol (Tansu).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from kafka import KafkaConsumer
from kafka.coordinator.assignors.abstract import (
    ConsumerProtocolAssignment,
    ConsumerProtocolSubscription,
)
from kafka.coordinator.assignors.range import RangePartitionAssignor

from ingest.bus.kafka import KafkaBus
from tests.contract.kafka_broker import TansuBroker, fast_kafka_settings, group_offsets
from tests.contract.test_bus_contract import DEADLINE_S, POLL_S, drain, next_offsets

pytestmark = pytest.mark.kafka

MAX_POLL_INTERVAL_MS = 3000  # the client leaves the group after this long between real polls
EVICTED_S = 4.5  # seconds; one "batch" that outlasts MAX_POLL_INTERVAL_MS
STEP_S = 0.8  # seconds per buffered poll in the slow reader; 8 of them outlast the interval
PACK_EVENTS = 8  # events per Kafka message
# seconds; Tansu holds a JoinGroup up to half the session timeout (3 s of 6 s), then the syncs;
# the joins are then younger than the 3 s a finished join is kept for (joins.KEEP_SHARE of 6 s)
JOINS_FINISH_S = 4.5


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
    assert group_offsets(tansu, group, topic) == {0: 2}
    sub.close()
    later = publish_packs(slow_bus, topic, b"k", ["p2"])
    second = slow_bus.subscriber([topic], group)
    assert [r.value for r in drain(second, len(later))] == later
    assert second.poll(100, POLL_S) == []
    second.close()


def test_a_member_evicted_mid_batch_rejoins_commits_and_rereads_only_what_it_had_not_handed_out(
    slow_bus: KafkaBus, tansu: TansuBroker, topic: str, group: str
) -> None:
    """The first pack is handed out and processed for longer than MAX_POLL_INTERVAL_MS while two
    more sit in the buffer: the member has left the group when it commits. The commit must still
    land (after a rejoin), and the two buffered packs come next, once each."""
    slow_bus.ensure_topics([topic])
    sent = publish_packs(slow_bus, topic, b"k", ["p0", "p1", "p2"])
    sub = slow_bus.subscriber([topic], group)
    first = drain(sub, PACK_EVENTS)
    assert [r.value for r in first] == sent[:PACK_EVENTS]
    threading.Event().wait(EVICTED_S)
    sub.commit(next_offsets(first))
    assert group_offsets(tansu, group, topic) == {0: 1}
    rest = drain(sub, 2 * PACK_EVENTS)
    assert [r.value for r in rest] == sent[PACK_EVENTS:]
    sub.commit(next_offsets(rest))
    assert sub.poll(100, POLL_S) == []
    assert group_offsets(tansu, group, topic) == {0: 3}
    sub.close()


class LeaderAssignor(RangePartitionAssignor):  # type: ignore[misc]
    """The assignor of the test's group leader. It is named "range", like every member's
    default, so the group runs it; it gives the partitions in `leader_keeps` to the leader and
    the rest to the other member (everything to the leader while it is alone). The leader must
    stay: Tansu 0.6 elects no new leader once the leader left a group that still has members."""

    name = "range"
    leader_keeps: ClassVar[set[int]] = set()

    @classmethod
    def metadata(cls, topics: Any) -> Any:
        return ConsumerProtocolSubscription(cls.version, list(topics), b"leader")

    @classmethod
    def assign(cls, cluster: Any, members: Any) -> dict[str, Any]:
        leader = next(m.member_id for m in members if m.metadata.user_data == b"leader")
        others = sorted(m.member_id for m in members if m.member_id != leader)
        shares: dict[str, dict[str, list[int]]] = {m.member_id: {} for m in members}
        for topic in {t for m in members for t in m.metadata.topics}:
            for partition in sorted(cluster.partitions_for_topic(topic)):
                owner = leader if partition in cls.leader_keeps or not others else others[0]
                shares[owner].setdefault(topic, []).append(partition)
        return {
            member: ConsumerProtocolAssignment(cls.version, sorted(topics.items()), b"")
            for member, topics in shares.items()
        }


def leader_member(
    broker: TansuBroker, group: str, topic: str, stop: threading.Event
) -> tuple[threading.Thread, threading.Event]:
    """A raw member running LeaderAssignor that reads nothing (it pauses whatever it owns)
    until `stop`; the event is set once it owns partitions, so it joined first: the leader."""
    joined = threading.Event()

    def run() -> None:
        consumer = KafkaConsumer(
            bootstrap_servers=broker.bootstrap,
            group_id=group,
            enable_auto_commit=False,
            session_timeout_ms=2000,
            heartbeat_interval_ms=200,
            partition_assignment_strategy=[LeaderAssignor],
        )
        consumer.subscribe([topic])
        while not stop.is_set():
            consumer.pause(*consumer.assignment())
            consumer.poll(timeout_ms=100)
            if consumer.assignment():
                joined.set()
        consumer.close(autocommit=False)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, joined


def test_an_evicted_member_commits_what_it_still_owns_and_warns_about_what_it_lost(
    kafka_url: str,
    tansu: TansuBroker,
    topic: str,
    group: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Member A reads both partitions (the leader gives it all), is evicted while processing,
    and rejoins when it commits; now the leader keeps partition 1. A's commit must land for
    partition 0 and, for partition 1, be dropped with a warning naming how many messages the
    new owner reads again; nothing of partition 1 is committed, so they are read again."""
    bus = KafkaBus(
        kafka_url,
        options=fast_kafka_settings(partitions=2, max_poll_interval_ms=MAX_POLL_INTERVAL_MS),
    )
    bus.ensure_topics([topic])
    sent: list[bytes] = []
    for key in (b"a", b"b", b"c", b"d"):  # murmur2: some of these land on each partition
        sent += publish_packs(bus, topic, key, [key.decode()])
    LeaderAssignor.leader_keeps = set()
    stop = threading.Event()
    thread, joined = leader_member(tansu, group, topic, stop)
    assert joined.wait(DEADLINE_S)
    a = bus.subscriber([topic], group)
    got = drain(a, len(sent))
    assert sorted({r.partition for r in got}) == [0, 1], "the keys must cover both partitions"
    done = next_offsets(got)
    LeaderAssignor.leader_keeps = {1}
    threading.Event().wait(EVICTED_S)
    with caplog.at_level(logging.WARNING, logger="ingest.bus.kafka.membership"):
        a.commit(done)
    assert group_offsets(tansu, group, topic) == {0: done[(topic, 0)]}
    assert f"will read {done[(topic, 1)]} message(s) again" in caplog.text
    assert a.poll(100, POLL_S) == []
    stop.set()
    thread.join(10)
    a.close()
    bus.close()


def _owned(member: object) -> set[int]:
    return {tp.partition for tp in member._consumer.assignment()}  # type: ignore[attr-defined]


def test_a_join_that_finishes_between_two_polls_is_kept(kafka_url: str, topic: str) -> None:
    """kafka-python 3.0 ran a member's join on its IO thread and, when it finished while the
    member was not inside a poll, sent a new JoinGroup instead of taking the assignment -- a
    fresh rebalance for the whole group. Two members polling in short spells kept restarting
    each other's joins (a Tansu group took 30-120 s to settle under load; CI failed on it).
    Here both joins finish while neither member polls: the next short poll must take them."""
    bus = KafkaBus(kafka_url, options=fast_kafka_settings(partitions=2, session_timeout_ms=6000))
    bus.ensure_topics([topic])
    try:
        group = f"g-{uuid.uuid4().hex[:8]}"
        a = bus.subscriber([topic], group)
        deadline = time.monotonic() + DEADLINE_S
        while _owned(a) != {0, 1}:
            assert time.monotonic() < deadline, "the first member never joined"
            a.poll(10, POLL_S)
        b = bus.subscriber([topic], group)
        b.poll(10, 0.05)  # b's JoinGroup goes out: a rebalance begins
        for _ in range(10):  # a hears of it by a heartbeat and rejoins
            a.poll(10, 0.05)
        time.sleep(JOINS_FINISH_S)  # the broker answers both joins; nobody is polling
        for member in (a, b):
            member.poll(10, 0.3)
        assert (_owned(a), _owned(b)) in [({0}, {1}), ({1}, {0})]
        a.close()
        b.close()
    finally:
        bus.close()


def test_a_finished_join_older_than_the_session_is_let_go(
    kafka_url: str, tansu: TansuBroker, topic: str, group: str
) -> None:
    """Review: heartbeats are off while a join is outstanding, so a member that does not poll
    for a session timeout after its join finished is dropped by the broker, which gives its
    partitions to the others. Keeping that join made the member own -- and hand out records
    of -- partitions the group had given the leader. A join that old is let go: the member
    joins again and owns nothing meanwhile."""
    bus = KafkaBus(kafka_url, options=fast_kafka_settings(partitions=2))
    bus.ensure_topics([topic])
    for key in (b"a", b"b", b"c", b"d"):
        bus.publisher().publish(topic, [(key, key * 3)]).result(10)
    LeaderAssignor.leader_keeps = set()
    stop = threading.Event()
    thread, joined = leader_member(tansu, group, topic, stop)
    try:
        assert joined.wait(DEADLINE_S)
        a = bus.subscriber([topic], group)
        deadline = time.monotonic() + DEADLINE_S
        while a._consumer._coordinator._join_task is None:  # A's JoinGroup goes out
            assert time.monotonic() < deadline, "the member never sent its join"
            a.poll(10, 0.05)
        time.sleep(7.0)  # A is busy: its join finishes, then the broker drops it (2 s session)
        assert a.poll(10, 0.1) == []
        assert _owned(a) == set()
        a.close()
    finally:
        stop.set()
        thread.join(10)
        bus.close()
