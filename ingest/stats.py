"""Aggregates over stored events and alerts, computed in the store (GET /v1/stats).

The dashboard's overview used to pull up to 5,000 raw events per window and count them in
pandas: wrong past 5,000 events and slow long before that. Here ClickHouse (or chDB) counts
every stored row of the window, per time bucket and action class, ranks the principals with
the most destructive calls, and counts the window's alerts by severity -- a few hundred rows
out, whatever is stored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ingest import schema
from ingest.events import event_time_iso
from ingest.store import Store

__all__ = ["MAX_BUCKETS", "event_stats"]

MAX_BUCKETS = 5000  # window / bucket: more rows than any chart can show


def event_stats(
    store: Store,
    *,
    until: datetime | None,
    window_s: int,
    bucket_s: int,
    top: int,
) -> dict[str, Any]:
    """The window [until - window_s, until): `until` defaults to just after the newest stored
    event (event time, so a replayed history reads like live traffic)."""
    total, newest_ms = store.query(
        f"SELECT count(), toUnixTimestamp64Milli(max(event_time)) FROM {schema.EVENTS} FINAL"
    )[0]
    if until is None:
        until = datetime.fromtimestamp((int(newest_ms or 0) + 1) / 1000, tz=UTC)
    since = until - timedelta(seconds=window_s)
    window = {"since": since, "until": until}
    where = (
        "event_time >= {since:DateTime64(3, 'UTC')} AND event_time < {until:DateTime64(3, 'UTC')}"
    )
    buckets = store.query(
        "SELECT toUnixTimestamp64Milli(toDateTime64(toStartOfInterval(event_time, "
        "toIntervalSecond({bucket:UInt32})), 3, 'UTC')) AS t, action_class, count() "
        f"FROM {schema.EVENTS} FINAL WHERE {where} "
        "GROUP BY t, action_class ORDER BY t, action_class",
        {**window, "bucket": bucket_s},
    )
    top_rows = store.query(
        "SELECT principal_key, any(actor_kind), count() AS n "
        f"FROM {schema.EVENTS} FINAL WHERE {where} AND action_class = 'destructive' "
        "GROUP BY principal_key ORDER BY n DESC, principal_key LIMIT {top:UInt32}",
        {**window, "top": top},
    )
    alert_rows = store.query(
        f"SELECT severity, count() FROM {schema.ALERTS} FINAL "
        "WHERE first_event_time >= {since:DateTime64(3, 'UTC')} "
        "AND first_event_time < {until:DateTime64(3, 'UTC')} GROUP BY severity",
        window,
    )
    per_bucket = [
        {"time": event_time_iso(int(t)), "action_class": str(c), "events": int(n)}
        for t, c, n in buckets
    ]
    return {
        "total_events": int(total),
        "newest_event_time": event_time_iso(int(newest_ms)) if total else None,
        "since": since.isoformat(timespec="milliseconds"),
        "until": until.isoformat(timespec="milliseconds"),
        "bucket_s": bucket_s,
        "events": sum(b["events"] for b in per_bucket),
        "destructive": sum(b["events"] for b in per_bucket if b["action_class"] == "destructive"),
        "per_bucket": per_bucket,
        "top_destructive": [
            {"principal_key": str(p), "actor_kind": str(k), "destructive": int(n)}
            for p, k, n in top_rows
        ],
        "alerts_by_severity": {str(s): int(n) for s, n in alert_rows},
    }
