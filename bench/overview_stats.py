"""Overview aggregates on a big store: GET /v1/stats' queries vs the old raw-page pull.

Usage: python -m bench.overview_stats [EVENTS]   (default 1,000,000)

Fills a fresh on-disk chDB store with EVENTS synthetic stored events over 7 days (1,333
principals, 6 % destructive, a few hundred alerts), then times, for each overview window, the
store-side aggregates behind `GET /v1/stats` (ingest.stats.event_stats) beside what the
overview did before: two pages of up to 5,000 raw events plus their counts, aggregated in
pandas (and wrong past 5,000 events in a window). Median of 5 runs each, in one process.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

from ingest import schema
from ingest.api import _event_page, event_filters
from ingest.events import EVENT_COLUMNS
from ingest.migrate import apply_migrations
from ingest.runtime import Runtime
from ingest.sink.writer import STORED_COLUMNS
from ingest.stats import event_stats
from ingest.store.chdb import ChdbStore

T_END = datetime(2026, 11, 30, tzinfo=UTC)
CLASSES = ("read", "read", "read", "write", "write", "destructive", "privilege")
WINDOWS = (
    ("1 h", 3600, 60),
    ("6 h", 6 * 3600, 300),
    ("24 h", 86_400, 900),
    ("7 d", 7 * 86_400, 3600),
)
CHUNK = 100_000


def fill(store: ChdbStore, n: int) -> None:
    rng = random.Random(7)
    span_ms = 7 * 86_400_000
    assert STORED_COLUMNS[: len(EVENT_COLUMNS)] == EVENT_COLUMNS
    for start in range(0, n, CHUNK):
        rows = []
        for i in range(start, min(n, start + CHUNK)):
            cls = "destructive" if rng.random() < 0.06 else rng.choice(CLASSES)
            p = rng.randrange(1333)
            when = T_END - timedelta(milliseconds=rng.randrange(span_ms))
            row = {
                "event_id": f"ev-{i:09d}",
                "event_time": when,
                "principal": f"arn:aws:sts::123456789012:assumed-role/role-{p}/s",
                "principal_key": f"arn:aws:iam::123456789012:role/role-{p}",
                "actor_kind": ("agent", "human", "service")[p % 3],
                "account": "123456789012",
                "region": "us-east-1",
                "source": "ec2.amazonaws.com",
                "action": "TerminateInstances" if cls == "destructive" else "DescribeInstances",
                "action_class": cls,
                "resources": [f"i-{i:012x}"],
                "error_code": "",
                "source_ip": "203.0.113.10",
                "user_agent": "Boto3/1.34.0",
                "raw": '{"eventVersion":"1.08"}',
                "schema_version": 1,
                "ingested_at": T_END,
                "batch_id": f"b{start}",
            }
            rows.append(tuple(row[c] for c in STORED_COLUMNS))
        store.insert(schema.EVENTS, rows, STORED_COLUMNS)
        print(f"  stored {min(n, start + CHUNK):,} events", file=sys.stderr, flush=True)


def old_overview(runtime: Runtime, until: datetime, window_s: int) -> None:
    """What views/overview.py did: the newest page, then two pages of up to 5,000 raw events
    (all, destructive) with their counts."""
    since = until - timedelta(seconds=window_s)
    store = runtime.store
    store.query(f"SELECT count() FROM {schema.EVENTS} FINAL")
    for action_class in (None, "destructive"):
        where, params = event_filters(
            runtime, principal=None, action=None, action_class=action_class, actor_kind=None,
            q=None, since=since, until=until,
        )  # fmt: skip
        store.query(f"SELECT count() FROM {schema.EVENTS} FINAL WHERE {where}", params)
        _event_page(runtime, where, params, after=None, limit=5000, offset=0)


def median_ms(fn, runs: int = 5) -> float:  # type: ignore[no-untyped-def]
    took = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        took.append((time.perf_counter() - start) * 1000)
    return statistics.median(took)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        store = ChdbStore(tmp)
        apply_migrations(store)
        started = time.perf_counter()
        fill(store, n)
        print(f"filled {n:,} events in {time.perf_counter() - started:.0f} s", file=sys.stderr)

        class _Identity:
            def principal_key(self, principal: str) -> str:
                return principal

        class _Normalizer:
            identity = _Identity()

        runtime = type("R", (), {"store": store, "normalizer": _Normalizer()})()
        until = T_END + timedelta(milliseconds=1)
        print(f"overview aggregates over {n:,} stored events (median of 5, ms)")
        print(f"{'window':<6} {'/v1/stats':>10} {'old: 5k raw pages':>18}")
        for label, window_s, bucket_s in WINDOWS:
            new = median_ms(
                lambda w=window_s, b=bucket_s: event_stats(
                    store, until=None, window_s=w, bucket_s=b, top=10
                )
            )
            old = median_ms(lambda w=window_s: old_overview(runtime, until, w))
            print(f"{label:<6} {new:>10.0f} {old:>18.0f}")
        store.close()


if __name__ == "__main__":
    main()
