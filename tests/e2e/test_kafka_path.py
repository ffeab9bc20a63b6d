"""Faults on the Kafka path (Tansu broker): sink crash, broker outage, poison message, full ship."""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingest import schema
from ingest.bus.kafka import KafkaBus
from ingest.events import encode_event
from ingest.migrate import apply_migrations
from ingest.sink.consumer import ConsumerStats, run_consumer
from ingest.sink.deadletter import dead_letter_hook
from ingest.sink.verify import verify_store
from ingest.sink.writer import EventWriter
from ingest.store import Store
from ingest.store.chdb import ChdbStore
from tests.contract.kafka_broker import TansuBroker, fast_kafka_settings
from tests.contract.test_bus_contract import drain
from tests.e2e.conftest import LeashProcess, start_leash, wait_for_total
from tests.e2e.kafka_helpers import kafka_env, tansu_broker
from tests.factories import DATASETS, make_event, make_record

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]
__all__ = ["tansu_broker"]  # the fixture, imported for pytest

TOPIC = schema.EVENTS_TOPIC
DEADLINE_S = 60.0  # seconds; hang guard for waits that normally take one or two


class Crash(BaseException):
    """Stands in for kill -9: run_consumer catches Exception only, so this ends it uncommitted."""


class CrashAfterEventsInsert:
    """The real store, except that the first events insert is followed by the process 'dying'."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self.crashed = False

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        self._inner.insert(table, rows, columns)
        if table == schema.EVENTS and not self.crashed:
            self.crashed = True
            raise Crash

    def command(self, sql: str) -> None:
        self._inner.command(sql)

    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        return self._inner.query(sql, params)

    def ping(self) -> bool:
        return self._inner.ping()

    def close(self) -> None:
        """The inner store belongs to the test."""


def consume_until(
    bus: KafkaBus, writer: EventWriter, until: Callable[[ConsumerStats], bool]
) -> ConsumerStats:
    """run_consumer in a thread until `until(stats)`; a Crash ends it with nothing committed."""
    stop, stats = threading.Event(), ConsumerStats()
    sub = bus.subscriber([TOPIC], "leash-sink")

    def target() -> None:
        with contextlib.suppress(Crash):
            run_consumer(
                sub, writer, stop, max_rows=500, max_age_s=0.1, commit_interval_s=0.0, stats=stats
            )

    thread = threading.Thread(target=target)
    thread.start()
    deadline = time.monotonic() + DEADLINE_S
    while not until(stats) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(DEADLINE_S)
    sub.close()
    return stats


def stored(store: Store) -> tuple[int, int]:
    """(distinct event ids, rows as read through FINAL, which collapses a replayed batch)."""
    rows = store.query(f"SELECT uniqExact(event_id), count() FROM {schema.EVENTS} FINAL")
    return int(rows[0][0]), int(rows[0][1])


def raw_rows(store: Store) -> int:
    """Rows as inserted (no FINAL): a batch stored twice counts twice here."""
    return int(store.query(f"SELECT count() FROM {schema.EVENTS}")[0][0])


def test_sink_dying_between_insert_and_commit_loses_and_doubles_nothing(
    tansu_broker: TansuBroker,
) -> None:
    bus = KafkaBus(tansu_broker.url, options=fast_kafka_settings())
    bus.ensure_topics([TOPIC])
    events = [make_event(role=f"role-{i % 7}") for i in range(300)]
    publisher = bus.publisher()
    for start in range(0, 300, 100):
        chunk = events[start : start + 100]
        publisher.publish(
            TOPIC, [(e.principal_key.encode(), encode_event(e)) for e in chunk]
        ).result(timeout=10)
    store = ChdbStore(None)
    apply_migrations(store)
    crashing = CrashAfterEventsInsert(store)
    consume_until(bus, EventWriter(crashing, chain="sink-1"), lambda _: crashing.crashed)
    landed = raw_rows(store)
    assert crashing.crashed and landed > 0  # rows landed, offsets were not committed

    again = consume_until(bus, EventWriter(store, chain="sink-2"), lambda s: s.events >= 300)
    assert again.events == 300  # the crashed batch was read again...
    # ...inserted a second time (at least once; a background merge may already have collapsed
    # some), never more than the replayed batch...
    assert 300 <= raw_rows(store) <= 300 + landed
    assert stored(store) == (300, 300)  # ...and collapses: nothing lost, nothing counted twice
    assert verify_store(store).ok
    store.close()
    bus.close()


def post(leash: LeashProcess, records: list[dict[str, Any]]) -> httpx.Response:
    with leash.client() as client:
        return client.post("/v1/events", json={"Records": records})


def test_leash_up_killed_mid_stream_keeps_every_acknowledged_event_once(
    tansu_broker: TansuBroker, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    leash = start_leash(data_dir, extra_env=kafka_env(tansu_broker))
    acked: set[str] = set()
    for _ in range(20):
        records = [make_record() for _ in range(50)]
        assert post(leash, records).status_code == 202
        acked |= {r["eventID"] for r in records}
    leash.stop(signal.SIGKILL)
    again = start_leash(data_dir, extra_env=kafka_env(tansu_broker))
    try:
        assert wait_for_total(again, len(acked)) == len(acked)
        with again.client() as client:
            page = client.get("/v1/events", params={"limit": 5000}).json()
        assert {e["event_id"] for e in page["events"]} == acked
    finally:
        again.stop()


def test_broker_outage_answers_503_with_retry_after_and_heals(
    tansu_broker: TansuBroker, tmp_path: Path
) -> None:
    leash = start_leash(tmp_path / "data", extra_env=kafka_env(tansu_broker))
    try:
        assert post(leash, [make_record()]).status_code == 202
        tansu_broker.stop()
        down = post(leash, [make_record()])
        assert down.status_code == 503 and down.headers["Retry-After"].isdigit()
        assert post(leash, [make_record()]).status_code == 503  # fast path while still down
        assert httpx.get(f"{leash.url}/healthz", timeout=10).json()["bus"] is False

        tansu_broker.start()  # same port; memory storage, so restore the topics it "kept"
        KafkaBus(tansu_broker.url, options=fast_kafka_settings()).ensure_topics(
            [schema.EVENTS_TOPIC, schema.DLQ_TOPIC]
        )
        record = make_record()
        codes: list[int] = []
        deadline = time.monotonic() + DEADLINE_S
        while (not codes or codes[-1] != 202) and time.monotonic() < deadline:
            codes.append(post(leash, [record]).status_code)
            time.sleep(0.2)
        assert codes[-1] == 202 and set(codes) <= {202, 503}
        with leash.client() as client:
            deadline = time.monotonic() + DEADLINE_S
            while time.monotonic() < deadline:
                found = client.get("/v1/events", params={"q": record["eventID"]}).json()
                if found["total"]:
                    break
                time.sleep(0.1)
        assert found["total"] == 1
    finally:
        leash.stop()


def test_poison_message_goes_to_the_dlq_and_its_partition_keeps_flowing(
    tansu_broker: TansuBroker,
) -> None:
    bus = KafkaBus(tansu_broker.url, options=fast_kafka_settings())
    bus.ensure_topics([TOPIC, schema.DLQ_TOPIC])
    good = [make_event(), make_event()]
    key = good[0].principal_key.encode()
    publisher = bus.publisher()
    for value in (encode_event(good[0]), b"\x00not an event", encode_event(good[1])):
        publisher.publish(TOPIC, [(key, value)]).result(timeout=10)  # one partition, in order
    store = ChdbStore(None)
    apply_migrations(store)
    writer = EventWriter(
        store, chain="sink", on_reject=dead_letter_hook(bus.publisher(), schema.DLQ_TOPIC)
    )
    stats = consume_until(bus, writer, lambda s: s.events + s.rejected >= 3)
    assert stored(store) == (2, 2) and stats.rejected == 1
    assert store.query(f"SELECT raw FROM {schema.EVENTS_REJECTED}") == [("\x00not an event",)]
    dlq = bus.subscriber([schema.DLQ_TOPIC], "dlq-reader")
    assert [(r.key, r.value) for r in drain(dlq, 1)] == [(key, b"\x00not an event")]
    dlq.close()
    store.close()
    bus.close()


def test_shipping_the_datasets_stores_every_accepted_record_exactly_once(
    tansu_broker: TansuBroker, tmp_path: Path
) -> None:
    if not DATASETS.is_dir():
        pytest.skip(f"the real datasets are not at {DATASETS}")
    leash = start_leash(tmp_path / "data", extra_env=kafka_env(tansu_broker))
    try:
        shipped = subprocess.run(
            [
                sys.executable,
                "-m",
                "leash.cli",
                "ship",
                "--url",
                leash.url,
                "--api-key",
                leash.key,
                "--quiet",
                str(DATASETS),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        match = re.search(r"(\d+) accepted", shipped.stdout)
        assert match, shipped.stdout + shipped.stderr
        accepted = int(match.group(1))
        assert accepted > 3000
        assert wait_for_total(leash, accepted, timeout_s=120) == accepted
        ids: list[str] = []
        with leash.client() as client:
            while page := client.get(
                "/v1/events", params={"limit": 5000, "offset": len(ids)}
            ).json()["events"]:
                ids.extend(e["event_id"] for e in page)
        assert len(ids) == len(set(ids)) == accepted
    finally:
        leash.stop()
