"""Real Kafka and ClickHouse server (Docker): commit/resume, and the sink path end to end."""

from __future__ import annotations

import threading
import time
import uuid

from ingest import schema
from ingest.bus.kafka import KafkaBus
from ingest.events import encode_event
from ingest.migrate import apply_migrations
from ingest.sink.consumer import ConsumerStats, run_consumer
from ingest.sink.writer import EventWriter
from ingest.store import open_store
from tests.contract.kafka_broker import fast_kafka_settings
from tests.contract.test_bus_contract import drain, next_offsets
from tests.factories import make_event

DEADLINE_S = 120.0  # seconds; hang guard (a real broker's first group join is slower than Tansu)


def test_kafka_commit_and_resume(kafka_container_url: str) -> None:
    topic = f"t-{uuid.uuid4().hex[:8]}"
    bus = KafkaBus(
        kafka_container_url,
        options=fast_kafka_settings(session_timeout_ms=6000, heartbeat_interval_ms=500),
    )
    bus.ensure_topics([topic])
    publisher = bus.publisher()
    for i in range(5):
        publisher.publish(topic, [(b"k", f"v{i}".encode())]).result(timeout=30)
    first = bus.subscriber([topic], "g")
    got = drain(first, 5)
    first.commit(next_offsets(got[:2]))
    assert first.lag() == 3
    first.close()
    second = bus.subscriber([topic], "g")
    assert [r.value for r in drain(second, 3)] == [b"v2", b"v3", b"v4"]
    second.close()
    bus.close()


def test_events_flow_from_kafka_into_clickhouse_once(
    kafka_container_url: str, clickhouse_server_url: str
) -> None:
    bus = KafkaBus(
        kafka_container_url,
        options=fast_kafka_settings(session_timeout_ms=6000, heartbeat_interval_ms=500),
    )
    topic = f"events-{uuid.uuid4().hex[:8]}"
    bus.ensure_topics([topic])
    events = [make_event(role=f"r{i % 5}") for i in range(200)]
    messages = [(e.principal_key.encode(), encode_event(e)) for e in events]
    bus.publisher().publish(topic, messages + messages[:50]).result(timeout=30)  # 50 replays
    store = open_store(f"{clickhouse_server_url}/leash_{uuid.uuid4().hex[:8]}")
    apply_migrations(store)
    stop, stats = threading.Event(), ConsumerStats()
    sub = bus.subscriber([topic], "sink")
    thread = threading.Thread(
        target=run_consumer,
        args=(sub, EventWriter(store), stop),
        kwargs={"max_age_s": 0.2, "stats": stats},
    )
    thread.start()
    deadline = time.monotonic() + DEADLINE_S
    while stats.events < 250 and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    thread.join(30)
    sub.close()
    rows = store.query(f"SELECT uniqExact(event_id), count() FROM {schema.EVENTS} FINAL")
    assert rows == [(200, 200)]
    assert store.ping()
    store.close()
    bus.close()
