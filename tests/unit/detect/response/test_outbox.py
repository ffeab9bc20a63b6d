"""The persistent webhook outbox: signed delivery, retries with backoff, dead letters, restarts."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from detect.response.outbox import Backoff, Outbox, OutboxWorker
from detect.response.webhooks import new_event, verify_signature
from ingest.migrate import apply_migrations
from ingest.store.chdb import ChdbStore
from tests.conftest import FakeClock
from tests.unit.detect.response.test_webhooks import SECRET, WebhookReceiver, free_port, receiver

__all__ = ["receiver"]  # the fixture, re-exported for pytest


def open_store(path: Path) -> ChdbStore:
    store = ChdbStore(str(path))
    apply_migrations(store)
    return store


@pytest.fixture
def wall() -> FakeClock:
    return FakeClock(start=1_800_000_000.0)


@pytest.mark.parametrize(
    ("attempts", "low", "high"),
    [
        pytest.param(1, 0.5, 1.0, id="first retry within a second"),
        pytest.param(4, 4.0, 8.0, id="doubles each attempt"),
        pytest.param(20, 300.0, 600.0, id="capped at max"),
    ],
)
def test_backoff_is_exponential_with_equal_jitter(attempts: int, low: float, high: float) -> None:
    rng = random.Random(7)
    delays = [Backoff(base_s=1.0, max_s=600.0).delay_s(attempts, rng) for _ in range(200)]
    assert low <= min(delays) and max(delays) <= high
    assert len(set(delays)) > 100  # jittered, not a fixed schedule


def test_delivers_to_every_endpoint_signed(store: ChdbStore, wall: FakeClock) -> None:
    first, second = WebhookReceiver(), WebhookReceiver()
    servers = [first.serve(), second.serve()]
    outbox = Outbox(store, endpoints=[first.url, second.url], clock=wall)
    worker = OutboxWorker(outbox, secret=SECRET, backoff=Backoff())
    try:
        assert outbox.enqueue(new_event("alert.opened", {"n": 1})) == 2
        assert worker.run_once() == 2
    finally:
        worker.stop()
        for server in servers:
            server.shutdown()
            server.server_close()
    for rec in (first, second):
        got = rec.wait_for(1)[0]
        verify_signature(SECRET, got.headers, got.body)
    assert first.received[0].headers["webhook-id"] == second.received[0].headers["webhook-id"]
    assert outbox.pending_count() == 0
    assert {d.status for d in outbox.list()} == {"delivered"}


def test_failed_attempts_back_off_then_dead_letter(
    store: ChdbStore, wall: FakeClock, receiver: WebhookReceiver
) -> None:
    receiver.status = 503
    outbox = Outbox(store, endpoints=[receiver.url], clock=wall)
    worker = OutboxWorker(outbox, secret=SECRET, backoff=Backoff(base_s=10, max_attempts=3), seed=1)
    outbox.enqueue(new_event("alert.opened", {}))
    try:
        assert worker.run_once() == 1
        assert worker.run_once() == 0  # not due yet: waits 5-10 s
        wall.advance(10)
        assert worker.run_once() == 1
        wall.advance(20)
        assert worker.run_once() == 1
        wall.advance(3600)
        assert worker.run_once() == 0  # dead-lettered after 3 attempts
    finally:
        worker.stop()
    assert len(receiver.wait_for(3)) == 3
    [dead] = outbox.list(status="dead")
    assert (dead.attempts, dead.last_error) == (
        3,
        f"HTTP 503 from http://127.0.0.1:{receiver.port}",
    )
    receiver.status = 200
    assert outbox.retry(dead.delivery_id) is not None
    worker = OutboxWorker(outbox, secret=SECRET, backoff=Backoff())
    assert worker.run_once() == 1
    worker.stop()
    assert outbox.list(status="dead") == []


def test_outbox_survives_a_restart_with_an_unreachable_receiver(
    tmp_path: Path, wall: FakeClock
) -> None:
    down = WebhookReceiver(port=free_port())  # nothing listens on this port yet
    store = open_store(tmp_path / "store")
    outbox = Outbox(store, endpoints=[down.url], clock=wall)
    worker = OutboxWorker(outbox, secret=SECRET, backoff=Backoff(base_s=60))
    event = new_event("principal.quarantined", {"principal": "p"})
    outbox.enqueue(event)
    assert worker.run_once() == 1
    worker.stop()
    store.close()

    store = open_store(tmp_path / "store")
    reopened = Outbox(store, endpoints=[down.url], clock=wall)
    assert reopened.load() == 1
    [pending] = reopened.due()
    assert (pending.attempts, pending.message_id) == (1, event.id)
    assert "ConnectError" in pending.last_error
    server = down.serve()
    worker = OutboxWorker(reopened, secret=SECRET, backoff=Backoff())
    try:
        assert worker.run_once() == 1
    finally:
        worker.stop()
        server.shutdown()
        server.server_close()
    got = down.wait_for(1)[0]
    verify_signature(SECRET, got.headers, got.body)
    assert got.headers["webhook-id"] == event.id
    store.close()
    store = open_store(tmp_path / "store")
    assert Outbox(store, endpoints=[down.url]).load() == 0
    store.close()


def test_worker_thread_delivers_without_being_driven(
    store: ChdbStore, receiver: WebhookReceiver
) -> None:
    outbox = Outbox(store, endpoints=[receiver.url])
    worker = OutboxWorker(outbox, secret=SECRET, backoff=Backoff()).start()
    try:
        outbox.enqueue(new_event("approval.requested", {"id": "apr_1"}))
        got = receiver.wait_for(1)
        assert worker.alive()
    finally:
        worker.stop()
    assert len(got) == 1 and not worker.alive()


def test_no_endpoints_means_nothing_is_stored(store: ChdbStore) -> None:
    outbox = Outbox(store, endpoints=[])
    assert outbox.enqueue(new_event("alert.opened", {})) == 0
    assert outbox.list() == []


def test_a_full_outbox_dead_letters_its_oldest_deliveries_and_keeps_them_retryable(
    tmp_path: Path, wall: FakeClock, receiver: WebhookReceiver
) -> None:
    """A receiver down through an alert storm: at most `max_pending` deliveries wait in memory;
    the oldest past it are dead-lettered with an error that says why and how to retry, stay
    stored, and are delivered once retried. A restart reloads no more than the bound either."""
    store = open_store(tmp_path / "store")
    outbox = Outbox(store, endpoints=[receiver.url], clock=wall, max_pending=3)
    outcomes: list[str] = []
    outbox.outcomes.append(outcomes.append)
    events = [new_event("alert.opened", {"n": i}) for i in range(5)]
    for event in events:
        wall.advance(1)
        outbox.enqueue(event)
    assert outbox.pending_count() == 3
    assert outcomes == ["dead", "dead"]
    dead = outbox.list(status="dead")
    assert sorted(d.message_id for d in dead) == sorted(e.id for e in events[:2])
    assert all("LEASH_WEBHOOK_MAX_PENDING" in d.last_error for d in dead)
    assert {d.message_id for d in outbox.due()} == {e.id for e in events[2:]}

    worker = OutboxWorker(outbox, secret=SECRET, backoff=Backoff())
    try:
        assert worker.run_once() == 3  # the receiver is back
        again = outbox.retry(dead[0].delivery_id)
        assert again is not None and outbox.pending_count() == 1
        assert worker.run_once() == 1
    finally:
        worker.stop()
    got = receiver.wait_for(4)
    assert dead[0].message_id in {r.headers["webhook-id"] for r in got}
    store.close()

    store = open_store(tmp_path / "store")
    held = Outbox(store, endpoints=[receiver.url], clock=wall)
    for event in (new_event("alert.opened", {"n": i}) for i in range(4)):
        wall.advance(1)
        held.enqueue(event)
    store.close()
    store = open_store(tmp_path / "store")
    reopened = Outbox(store, endpoints=[receiver.url], clock=wall, max_pending=2)
    assert reopened.load() == 4
    assert reopened.pending_count() == 2
    assert len(reopened.list(status="dead")) == 1 + 2  # the one never retried, two reloaded
    store.close()


def test_max_pending_must_hold_one(store: ChdbStore) -> None:
    with pytest.raises(ValueError, match="max_pending"):
        Outbox(store, endpoints=["http://127.0.0.1:1/"], max_pending=0)


def test_an_attempt_in_flight_when_its_delivery_overflowed_leaves_it_dead(
    store: ChdbStore, wall: FakeClock
) -> None:
    """Review: the worker took a delivery, the outbox overflowed meanwhile and dead-lettered it,
    then the attempt failed: recording a retry would bring it back past the bound (and count it
    dead and retried). It stays dead; an attempt that got through is recorded delivered."""
    outbox = Outbox(store, endpoints=["http://127.0.0.1:9/"], clock=wall, max_pending=2)
    outcomes: list[str] = []
    outbox.outcomes.append(outcomes.append)
    outbox.enqueue(new_event("alert.opened", {"n": 0}))
    [in_flight] = outbox.due()
    outbox.enqueue(new_event("alert.opened", {"n": 1}))
    outbox.enqueue(new_event("alert.opened", {"n": 2}))
    assert outcomes == ["dead"]
    outbox.record(in_flight, "HTTP 503", backoff=Backoff(), rng=random.Random(1))
    assert outbox.pending_count() == 2 and outcomes == ["dead"]
    [dead] = outbox.list(status="dead")
    assert dead.delivery_id == in_flight.delivery_id

    outbox.enqueue(new_event("alert.opened", {"n": 3}))  # overflows n=1 while it is sent
    [sent] = [d for d in outbox.list(status="dead") if d.delivery_id != in_flight.delivery_id]
    outbox.record(sent, None, backoff=Backoff(), rng=random.Random(1))
    assert {d.delivery_id for d in outbox.list(status="delivered")} == {sent.delivery_id}
