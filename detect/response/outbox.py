"""Persistent webhook outbox (a store table) and its delivery worker (backoff with jitter)."""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import islice

import httpx

from detect.response.webhooks import WebhookEvent, post_delivery, public_endpoint
from ingest import schema
from ingest.store import Store
from ingest.worker import ThreadWorker

__all__ = ["Backoff", "Delivery", "Outbox", "OutboxWorker"]

logger = logging.getLogger(__name__)

COLUMNS = (
    "delivery_id",
    "message_id",
    "endpoint",
    "event_type",
    "body",
    "created_at",
    "status",
    "attempts",
    "next_attempt_at",
    "last_error",
    "version",
)
IDLE_WAIT_S = 1.0  # seconds; longest the worker waits before looking at the queue again
SEND_THREADS = 4  # concurrent deliveries, so one slow receiver does not hold up the others
TIMEOUT_S = 5.0  # seconds per HTTP attempt
MAX_PENDING = 10_000  # deliveries held for their next attempt; past it the oldest dead-letter
OVERFLOW_ERROR = (
    "outbox full: {n} deliveries were waiting for their receivers (LEASH_WEBHOOK_MAX_PENDING); "
    "retry it with POST /v1/webhooks/deliveries/{{id}}/retry once the receiver is back"
)


@dataclass(frozen=True)
class Delivery:
    """One message to one endpoint; `status` is pending, delivered or dead (dead-lettered)."""

    delivery_id: str
    message_id: str
    endpoint: str
    event_type: str
    body: bytes
    created_at_ms: int
    status: str
    attempts: int
    next_attempt_ms: int
    last_error: str = ""

    def row(self) -> tuple[object, ...]:
        return (
            self.delivery_id,
            self.message_id,
            self.endpoint,
            self.event_type,
            self.body.decode(),
            _dt(self.created_at_ms),
            self.status,
            self.attempts,
            _dt(self.next_attempt_ms),
            self.last_error,
            time.time_ns(),
        )


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with equal jitter: attempt n waits in [d/2, d], d = base * 2**(n-1)."""

    base_s: float = 1.0
    max_s: float = 600.0
    max_attempts: int = 10

    def delay_s(self, attempts: int, rng: random.Random) -> float:
        ceiling = min(self.max_s, self.base_s * 2.0 ** max(attempts - 1, 0))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


class Outbox:
    """Deliveries that must reach their endpoints; every state change is written through.

    `enqueue` persists before it returns, so a delivery survives a crash or restart; the pending
    set is reloaded from the store by `load`. Rows go through `write` (default: one store insert
    each; `leash` passes a JournaledWriter's `add`, with its `flush` for reads). Thread-safe.

    At most `max_pending` deliveries (bodies included) wait in memory: a receiver down through
    an alert storm must not grow the process without end. Past it the oldest are dead-lettered
    with an error that says so; they stay stored, listed and retryable like any dead one.
    """

    def __init__(
        self,
        store: Store,
        *,
        endpoints: Sequence[str],
        clock: Callable[[], float] = time.time,
        write: Callable[[tuple[object, ...]], None] | None = None,
        flush: Callable[[], object] = lambda: None,
        max_pending: int = MAX_PENDING,
    ) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self.max_pending = max_pending
        self._store = store
        self._write = write or (lambda row: store.insert(schema.WEBHOOK_OUTBOX, [row], COLUMNS))
        self._flush = flush
        self.endpoints = tuple(endpoints)
        self._clock = clock
        self._pending: dict[str, Delivery] = {}
        self._cond = threading.Condition()
        self.outcomes: list[Callable[[str], None]] = []  # delivered, retry or dead per attempt

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def load(self) -> int:
        """Reload pending deliveries; each is due at once (a restart is a natural retry point)."""
        rows = self._store.query(
            f"SELECT {', '.join(COLUMNS[:-1])} FROM {schema.WEBHOOK_OUTBOX} FINAL "
            "WHERE status = 'pending'"
        )
        now = self.now_ms()
        rows = sorted(rows, key=lambda r: r[5])  # oldest first: the first to overflow
        with self._cond:
            for r in rows:
                d = Delivery(
                    str(r[0]),
                    str(r[1]),
                    str(r[2]),
                    str(r[3]),
                    str(r[4]).encode(),
                    _ms(r[5]),
                    str(r[6]),
                    int(r[7]),
                    min(_ms(r[8]), now),
                    str(r[9]),
                )
                self._pending[d.delivery_id] = d
            overflow = self._overflow()
            self._cond.notify_all()
        self._dead_letter(overflow)
        return len(rows)

    def enqueue(self, event: WebhookEvent, endpoints: Sequence[str] | None = None) -> int:
        """Persist one delivery per endpoint (default: all configured); returns how many."""
        targets = self.endpoints if endpoints is None else tuple(endpoints)
        if not targets:
            return 0
        now, body = self.now_ms(), event.body()
        items = [
            Delivery(
                _delivery_id(event.id, url), event.id, url, event.type, body, now, "pending", 0, now
            )
            for url in targets
        ]
        for delivery in items:
            self._write(delivery.row())
        with self._cond:
            self._pending.update((d.delivery_id, d) for d in items)
            overflow = self._overflow()
            self._cond.notify_all()
        self._dead_letter(overflow)
        return len(items)

    def _overflow(self) -> list[Delivery]:
        """Take the oldest pending deliveries past `max_pending` out of memory (under _cond)."""
        excess = len(self._pending) - self.max_pending
        if excess <= 0:
            return []
        return [
            self._pending.pop(delivery_id) for delivery_id in list(islice(self._pending, excess))
        ]

    def _dead_letter(self, overflow: list[Delivery]) -> None:
        if not overflow:
            return
        error = OVERFLOW_ERROR.format(n=self.max_pending + len(overflow))
        for delivery in overflow:
            self._write(replace(delivery, status="dead", last_error=error).row())
            for observe in self.outcomes:
                observe("dead")
        logger.error(
            "webhook outbox full (%d waiting): dead-lettered the %d oldest deliveries; "
            "retry them with POST /v1/webhooks/deliveries/{id}/retry once the receivers are back",
            self.max_pending + len(overflow),
            len(overflow),
        )

    def due(self, limit: int = 100) -> list[Delivery]:
        now = self.now_ms()
        with self._cond:
            ready = [d for d in self._pending.values() if d.next_attempt_ms <= now]
        return sorted(ready, key=lambda d: d.next_attempt_ms)[:limit]

    def record(
        self, delivery: Delivery, error: str | None, *, backoff: Backoff, rng: random.Random
    ) -> Delivery:
        """Store the outcome of one attempt: delivered, retry later, or dead after max attempts.

        A delivery the outbox dead-lettered while this attempt was in flight (it overflowed
        `max_pending`) stays dead unless the attempt delivered it."""
        with self._cond:
            overflowed = delivery.delivery_id not in self._pending
        if overflowed and error is not None:
            return replace(delivery, status="dead", attempts=delivery.attempts + 1)
        attempts = delivery.attempts + 1
        if error is None:
            after = replace(delivery, status="delivered", attempts=attempts, last_error="")
        elif attempts >= backoff.max_attempts:
            after = replace(delivery, status="dead", attempts=attempts, last_error=error)
        else:
            wait_ms = int(backoff.delay_s(attempts, rng) * 1000)
            after = replace(
                delivery,
                attempts=attempts,
                last_error=error,
                next_attempt_ms=self.now_ms() + wait_ms,
            )
        self._write(after.row())
        with self._cond:
            if after.status == "pending":
                self._pending[after.delivery_id] = after
            else:
                self._pending.pop(after.delivery_id, None)
        outcome = "retry" if after.status == "pending" else after.status
        for observe in self.outcomes:
            observe(outcome)
        return after

    def backlog(self) -> int:
        """Deliveries waiting for their next attempt."""
        with self._cond:
            return len(self._pending)

    def retry(self, delivery_id: str) -> Delivery | None:
        """Put a dead delivery back in the queue (admin action); None if there is no such one."""
        found = self.list(status="dead", delivery_id=delivery_id)
        if not found:
            return None
        again = replace(found[0], status="pending", attempts=0, next_attempt_ms=self.now_ms())
        self._write(again.row())
        with self._cond:
            self._pending[again.delivery_id] = again
            overflow = self._overflow()
            self._cond.notify_all()
        self._dead_letter(overflow)
        return again

    def list(
        self, *, status: str | None = None, delivery_id: str | None = None, limit: int = 100
    ) -> list[Delivery]:
        self._flush()  # rows are inserted in batches: read them all
        rows = self._store.query(
            f"SELECT {', '.join(COLUMNS[:-1])} FROM {schema.WEBHOOK_OUTBOX} FINAL "
            "WHERE ({s:String} = '' OR status = {s:String}) "
            "AND ({d:String} = '' OR delivery_id = {d:String}) "
            "ORDER BY created_at DESC LIMIT {n:UInt32}",
            {"s": status or "", "d": delivery_id or "", "n": limit},
        )
        return [
            Delivery(
                str(r[0]),
                str(r[1]),
                str(r[2]),
                str(r[3]),
                str(r[4]).encode(),
                _ms(r[5]),
                str(r[6]),
                int(r[7]),
                _ms(r[8]),
                str(r[9]),
            )
            for r in rows
        ]

    def defer(self, delivery: Delivery, seconds: float) -> None:
        """Push an attempt back in memory only (used when the outcome could not be stored)."""
        later = replace(delivery, next_attempt_ms=self.now_ms() + int(seconds * 1000))
        with self._cond:
            if delivery.delivery_id in self._pending:
                self._pending[delivery.delivery_id] = later

    def pending_count(self) -> int:
        with self._cond:
            return len(self._pending)

    def wait(self, timeout_s: float) -> None:
        """Block until new work arrives or `timeout_s` passes."""
        with self._cond:
            self._cond.wait(timeout_s)

    def next_due_in_s(self) -> float:
        with self._cond:
            if not self._pending:
                return IDLE_WAIT_S
            soonest = min(d.next_attempt_ms for d in self._pending.values())
        return max(0.0, min(IDLE_WAIT_S, (soonest - self.now_ms()) / 1000))

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()


def _delivery_id(message_id: str, endpoint: str) -> str:
    return f"{message_id}:{hashlib.sha256(endpoint.encode()).hexdigest()[:12]}"


class OutboxWorker(ThreadWorker):
    """A thread that sends due deliveries (signed) and records each outcome in the outbox."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        secret: str | None,
        backoff: Backoff,
        client: httpx.Client | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__("webhook-outbox")
        self.outbox = outbox
        self._secret = secret
        self._backoff = backoff
        self._client = client or httpx.Client(timeout=TIMEOUT_S)
        self._rng = random.Random(seed)
        self._pool = ThreadPoolExecutor(SEND_THREADS, thread_name_prefix="webhook-send")

    def backlog(self) -> int:
        return self.outbox.pending_count()

    def _wake(self) -> None:
        self.outbox.wake()

    def _close(self) -> None:
        self._pool.shutdown(wait=True)
        self._client.close()

    def run_once(self) -> int:
        """Attempt every due delivery once; returns how many were attempted."""
        due = self.outbox.due()
        list(self._pool.map(self._attempt, due))
        return len(due)

    def _attempt(self, delivery: Delivery) -> None:
        error = post_delivery(
            self._client,
            endpoint=delivery.endpoint,
            secret=self._secret,
            msg_id=delivery.message_id,
            body=delivery.body,
        )
        try:
            after = self.outbox.record(delivery, error, backoff=self._backoff, rng=self._rng)
        except Exception:  # noqa: BLE001 - store down: the delivery stays pending in memory
            logger.exception("webhook outbox: cannot record %s", delivery.delivery_id)
            self.outbox.defer(delivery, self._backoff.base_s)
            return
        if after.status == "dead":
            logger.error(
                "webhook %s to %s dead-lettered after %d attempts: %s",
                delivery.event_type,
                public_endpoint(delivery.endpoint),
                after.attempts,
                error,
            )
        elif error:
            logger.warning(
                "webhook %s to %s failed (%s); attempt %d, next in %.1fs",
                delivery.event_type,
                public_endpoint(delivery.endpoint),
                error,
                after.attempts,
                (after.next_attempt_ms - self.outbox.now_ms()) / 1000,
            )

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                if self.run_once():
                    continue
            except Exception:  # noqa: BLE001 - keep delivering whatever one bad batch did
                logger.exception("webhook outbox loop failed; continuing")
            self.outbox.wait(self.outbox.next_due_in_s())
