"""run_consumer over the in-process bus and chDB: batching, poison messages, store outages, stop."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from ingest import schema
from ingest.bus.embedded import EmbeddedBroker, EmbeddedSubscriber
from ingest.events import encode_event
from ingest.sink.consumer import ConsumerStats, run_consumer
from ingest.sink.verify import verify_store
from ingest.sink.writer import EventWriter
from ingest.store.chdb import ChdbStore
from tests.factories import make_event


class FlakyStore:
    """A real chDB store whose inserts fail while `down` is set (an outage, not a mock); with
    `tables`, only inserts into those tables fail. Every insert that returned is listed in
    `inserts` as (table, rows)."""

    def __init__(self, inner: ChdbStore, tables: frozenset[str] = frozenset()) -> None:
        self.inner = inner
        self.down = threading.Event()
        self.failures = 0
        self.tables = tables
        self.inserts: list[tuple[str, int]] = []

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        if self.down.is_set() and (not self.tables or table in self.tables):
            self.failures += 1
            raise ConnectionError("store is down")
        self.inner.insert(table, rows, columns)
        self.inserts.append((table, len(rows)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def count(store: ChdbStore, table: str = "events") -> int:
    return int(store.query(f"SELECT count() FROM {table} FINAL")[0][0])


def run_until(stop: threading.Event, predicate, timeout_s: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    waiter = threading.Event()
    for _ in range(int(timeout_s / 0.02)):
        if predicate():
            break
        waiter.wait(0.02)
    stop.set()


def start(
    broker: EmbeddedBroker,
    store: Any,
    stats: ConsumerStats,
    *,
    commit_interval_s: float = 0.0,
    backlog_growth: int = 1,
    max_age_s: float = 0.02,
) -> tuple[threading.Event, threading.Thread, EmbeddedSubscriber]:
    stop = threading.Event()
    sub = broker.subscriber(["leash.events"], "sink")
    thread = threading.Thread(
        target=run_consumer,
        args=(sub, EventWriter(store), stop),
        kwargs={
            "max_rows": 100,
            "max_age_s": max_age_s,
            "commit_interval_s": commit_interval_s,
            "backlog_growth": backlog_growth,
            "stats": stats,
        },
    )
    thread.start()
    return stop, thread, sub


def test_poison_message_goes_to_rejects_and_partition_keeps_flowing(
    broker: EmbeddedBroker, store: ChdbStore
) -> None:
    events = [make_event() for _ in range(5)]
    messages = [(b"k", encode_event(e)) for e in events[:2]]
    messages.append((b"k", b"\xff garbage that is no event"))
    messages += [(b"k", encode_event(e)) for e in events[2:]]
    broker.publish("leash.events", messages).result(timeout=5)
    stats = ConsumerStats()
    stop, thread, _ = start(broker, store, stats)
    run_until(stop, lambda: stats.events == 5)
    thread.join(10)
    assert count(store) == 5
    rejected = store.query("SELECT partition, offset, error FROM events_rejected")
    assert len(rejected) == 1 and "not a Leash event" in rejected[0][2]
    assert broker.subscriber(["leash.events"], "sink").lag() == 0


def test_store_outage_pauses_retries_and_loses_nothing(
    broker: EmbeddedBroker, store: ChdbStore
) -> None:
    flaky = FlakyStore(store)
    flaky.down.set()
    broker.publish("leash.events", [(b"k", encode_event(make_event())) for _ in range(30)]).result(
        5
    )
    stats = ConsumerStats()
    stop, thread, _ = start(broker, flaky, stats)
    run_until(threading.Event(), lambda: flaky.failures >= 2)
    assert count(store) == 0 and not stats.store_healthy
    flaky.down.clear()
    run_until(stop, lambda: stats.events == 30)
    thread.join(10)
    assert count(store) == 30 and stats.store_healthy


def test_stop_flushes_and_commits_the_last_batch(broker: EmbeddedBroker, store: ChdbStore) -> None:
    broker.publish("leash.events", [(b"k", encode_event(make_event())) for _ in range(7)]).result(5)
    stop = threading.Event()
    sub = broker.subscriber(["leash.events"], "sink")
    stats = ConsumerStats()
    thread = threading.Thread(
        target=run_consumer,
        args=(sub, EventWriter(store), stop),
        kwargs={"max_rows": 1000, "max_age_s": 3600, "stats": stats},
    )
    thread.start()
    run_until(stop, lambda: False, timeout_s=0.3)  # never ready by age or rows: only stop flushes
    thread.join(10)
    assert (count(store), stats.batches, sub.lag()) == (7, 1, 0)


def test_the_chain_records_of_a_commit_interval_go_in_one_insert(
    broker: EmbeddedBroker, store: ChdbStore
) -> None:
    """Five batches before the (only) commit: five events inserts, one chain insert of five
    records, and the chain verifies."""
    counting = FlakyStore(store)
    publish(broker, 500)
    stats = ConsumerStats()
    stop, thread, sink = start(broker, counting, stats, commit_interval_s=3600)
    run_until(stop, lambda: stats.events == 500)
    thread.join(10)
    assert stats.batches == 5
    assert [n for table, n in counting.inserts if table == schema.EVENTS] == [100] * 5
    assert [n for table, n in counting.inserts if table == schema.BATCHES] == [5]
    report = verify_store(store)
    assert report.ok and (report.batches, report.rows) == (5, 500)
    assert sink.lag() == 0


def test_no_offset_is_committed_before_its_batch_is_chained(
    broker: EmbeddedBroker, store: ChdbStore
) -> None:
    """While chain records cannot be stored the events are, but nothing is committed (a crash
    then would replay them, to be chained again); once the store takes them, the commit follows."""
    flaky = FlakyStore(store, tables=frozenset({schema.BATCHES}))
    flaky.down.set()
    publish(broker, 30)
    stats = ConsumerStats()
    stop, thread, sink = start(broker, flaky, stats)
    run_until(threading.Event(), lambda: stats.events == 30 and flaky.failures >= 2)
    assert stats.events == count(store) == 30
    assert store.query(f"SELECT count() FROM {schema.BATCHES}") == [(0,)]
    assert sink.lag() == 30
    flaky.down.clear()
    run_until(stop, lambda: sink.lag() == 0)
    thread.join(10)
    assert sink.lag() == 0
    report = verify_store(store)
    assert report.ok and report.rows == 30


def test_a_sink_behind_inserts_larger_batches_until_it_caught_up(
    broker: EmbeddedBroker, store: ChdbStore
) -> None:
    """Polls of 100 that come back full let a batch grow to 4 x 100; the first short poll (the
    sink caught up) inserts what it holds."""
    counting = FlakyStore(store)
    publish(broker, 1000)
    stats = ConsumerStats()
    stop, thread, sink = start(broker, counting, stats, commit_interval_s=3600, backlog_growth=4)
    run_until(stop, lambda: stats.events == 1000)
    thread.join(10)
    assert [n for table, n in counting.inserts if table == schema.EVENTS] == [400, 400, 200]
    assert verify_store(store).ok and sink.lag() == 0


def test_a_short_poll_inserts_at_max_rows_again(broker: EmbeddedBroker, store: ChdbStore) -> None:
    """Polls of 100, 100, then 50 (caught up): the 250 held are inserted at once -- neither
    kept for the grown limit nor left to wait for their age (an hour here)."""
    counting = FlakyStore(store)
    publish(broker, 250)
    stats = ConsumerStats()
    stop, thread, _ = start(
        broker, counting, stats, commit_interval_s=3600, backlog_growth=4, max_age_s=3600
    )
    run_until(threading.Event(), lambda: stats.events == 250)
    assert stats.events == 250  # before the stop below: the short poll flushed them
    stop.set()
    thread.join(10)
    assert [n for table, n in counting.inserts if table == schema.EVENTS] == [250]


def publish(broker: EmbeddedBroker, n: int) -> None:
    messages = [(b"k", encode_event(make_event())) for _ in range(n)]
    broker.publish("leash.events", messages).result(timeout=5)
