"""Kafka-only behaviour: the packing codec, packed offsets, and an unreachable broker."""

from __future__ import annotations

import time

import pytest

from ingest.bus import BusUnavailable, Record
from ingest.bus.kafka import KafkaBus
from ingest.bus.kafka.config import PACK_MAGIC, pack, unpack
from tests.contract.kafka_broker import fast_kafka_settings, free_port
from tests.contract.test_bus_contract import DEADLINE_S, POLL_S, drain, next_offsets

pytestmark = pytest.mark.kafka


@pytest.mark.parametrize(
    "values",
    [
        pytest.param([b"a"], id="one"),
        pytest.param([b"", b"x" * 1000, b"[1]\n{}"], id="mixed sizes"),
    ],
)
def test_pack_roundtrips(values: list[bytes]) -> None:
    assert unpack(pack(values)) == values


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(b"[1]\nplain", id="not packed"),
        pytest.param(PACK_MAGIC + b"\xff\xff\xff\x7fshort", id="truncated frame"),
        pytest.param(PACK_MAGIC, id="empty pack"),
    ],
)
def test_values_that_are_not_well_formed_packs_come_back_whole(value: bytes) -> None:
    assert unpack(value) == [value]


def test_a_packed_message_is_committed_only_after_its_last_event(
    kafka_url: str, topic: str
) -> None:
    bus = KafkaBus(kafka_url, options=fast_kafka_settings())
    bus.ensure_topics([topic])
    bus.publisher().publish(topic, [(b"k", f"e{i}".encode()) for i in range(5)]).result(10)
    first = bus.subscriber([topic], "g")
    got = drain(first, 5)
    assert [r.value for r in got] == [b"e0", b"e1", b"e2", b"e3", b"e4"]
    assert len({r.offset for r in got[:4]}) == 1 and got[4].offset == got[0].offset + 1
    first.commit(next_offsets(got[:3]))  # mid-pack: the whole pack must come again
    first.close()
    second = bus.subscriber([topic], "g")
    again = drain(second, 5)
    assert [r.value for r in again] == [r.value for r in got]
    second.commit(next_offsets(again))
    assert second.poll(10, POLL_S) == []
    assert second.lag() == 0
    second.close()
    bus.close()


@pytest.mark.parametrize(
    ("max_records", "sizes"),
    [
        pytest.param(4, [3, 3, 3], id="a poll stops before a pack that does not fit"),
        pytest.param(2, [2, 1, 2, 1, 2, 1], id="a pack larger than a poll is split"),
    ],
)
def test_a_poll_hands_out_whole_packs_so_its_commit_leaves_nothing_to_read_twice(
    kafka_url: str, topic: str, max_records: int, sizes: list[int]
) -> None:
    """A consumer that stops after any poll commits past every event it was given: a stopped
    sink or detector must not store or score the head of a pack again after its restart."""
    bus = KafkaBus(kafka_url, options=fast_kafka_settings())
    bus.ensure_topics([topic])
    publisher = bus.publisher()
    for n in range(3):  # three packs of three, one partition
        publisher.publish(topic, [(b"k", f"p{n}e{i}".encode()) for i in range(3)]).result(10)
    first = bus.subscriber([topic], "g")
    polls: list[list[Record]] = []
    deadline = time.monotonic() + DEADLINE_S
    while sum(map(len, polls)) < 9 and time.monotonic() < deadline:
        if got := first.poll(max_records, POLL_S):
            polls.append(got)
    assert [len(got) for got in polls] == sizes
    given = polls[0] if max_records > 3 else polls[0] + polls[1]  # the first pack, whole
    first.commit(next_offsets(given))
    first.close()
    second = bus.subscriber([topic], "g")
    again = drain(second, 6)
    assert [r.value for r in again] == [f"p{n}e{i}".encode() for n in (1, 2) for i in range(3)]
    assert second.poll(10, POLL_S) == []
    second.close()
    bus.close()


def test_unreachable_broker_fails_publish_with_bus_unavailable() -> None:
    bus = KafkaBus(
        f"kafka://127.0.0.1:{free_port()}", options=fast_kafka_settings(request_timeout_ms=500)
    )
    assert bus.ping() is False
    future = bus.publisher().publish("leash.events", [(b"k", b"v")])
    with pytest.raises(BusUnavailable):
        future.result(timeout=10)
    again = bus.publisher().publish("leash.events", [(b"k", b"v")])
    with pytest.raises(BusUnavailable):
        again.result(timeout=10)
    bus.close()
