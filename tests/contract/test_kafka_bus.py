"""Kafka-only behaviour: the packing codec, packed offsets, and an unreachable broker."""

from __future__ import annotations

import pytest

from ingest.bus import BusUnavailable
from ingest.bus.kafka import KafkaBus
from ingest.bus.kafka.config import PACK_MAGIC, pack, unpack
from tests.contract.kafka_broker import fast_kafka_settings, free_port
from tests.contract.test_bus_contract import POLL_S, drain, next_offsets

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
