"""Pure summaries behind the charts: rates, top principals, severities, baseline, blast radius."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from dashboard import charts, summaries
from dashboard.models import Alert, EventPage, PipelineMetrics, Stats

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    events = [
        {
            "event_id": f"e{i}",
            "event_time": (T0 + row.pop("at")).isoformat(),
            "principal": row.get("principal_key", "p"),
            "principal_key": "p",
            "actor_kind": "agent",
            "action": "GetObject",
            "action_class": "read",
            "resources": [],
            **row,
        }
        for i, row in enumerate(rows)
    ]
    return EventPage.from_json({"total": len(events), "events": events}).events


def stats(per_bucket: list[dict[str, Any]], top: list[dict[str, Any]]) -> Stats:
    return Stats.from_json(
        {
            "total_events": 11,
            "newest_event_time": (T0 + timedelta(minutes=6)).isoformat(),
            "events": 11,
            "destructive": 1,
            "bucket_s": 300,
            "per_bucket": per_bucket,
            "top_destructive": top,
            "alerts_by_severity": {"high": 1},
        }
    )


def test_rate_is_per_minute_per_class_within_each_bucket() -> None:
    page = stats(
        [
            {"time": T0.isoformat(), "action_class": "read", "events": 10},  # 10 reads / 5 min
            {
                "time": (T0 + timedelta(minutes=5)).isoformat(),
                "action_class": "destructive",
                "events": 1,
            },
        ],  # fmt: skip
        [],
    )
    rates = summaries.rates_from_buckets(page.per_bucket, bucket=timedelta(minutes=5))
    rates = rates.set_index(["time", "action_class"])
    assert rates.loc[(pd.Timestamp(T0), "read"), "per_minute"] == pytest.approx(2.0)
    later = pd.Timestamp(T0 + timedelta(minutes=5))
    assert rates.loc[(later, "destructive"), "per_minute"] == pytest.approx(0.2)
    assert len(rates) == 2
    assert summaries.rates_from_buckets(stats([], []).per_bucket, bucket=timedelta(1)).empty


def test_top_destructive_keeps_the_servers_ranking_with_readable_names() -> None:
    top = [
        {"principal_key": "arn:aws:iam::1:role/cleanup-agent", "actor_kind": "agent",
         "destructive": 5},
        {"principal_key": "arn:aws:iam::1:user/erin", "actor_kind": "human", "destructive": 3},
    ]  # fmt: skip
    frame = summaries.top_from_stats(stats([], top).top_destructive)
    assert list(frame["name"]) == ["role/cleanup-agent", "user/erin"]
    assert list(frame["destructive"]) == [5, 3]
    assert summaries.top_from_stats(stats([], []).top_destructive).empty


def test_severity_counts_lists_every_severity_in_order() -> None:
    alerts = pd.DataFrame({"severity": ["critical", "low", "critical"]})
    counts = summaries.severity_counts(alerts)
    assert list(counts["severity"]) == ["low", "medium", "high", "critical"]
    assert list(counts["alerts"]) == [1, 0, 0, 2]
    assert list(summaries.severity_counts(pd.DataFrame())["alerts"]) == [0, 0, 0, 0]


def test_class_baseline_compares_the_latest_hour_with_the_usual_hour() -> None:
    usual = [{"at": timedelta(hours=h, minutes=m)} for h in range(3) for m in (5, 25)]
    burst = [
        {"at": timedelta(hours=3, minutes=m), "action_class": "destructive"} for m in range(12)
    ]
    baseline = summaries.class_baseline(frame(usual + burst)).set_index("action_class")
    assert baseline.loc["destructive", "now"] == 12
    assert baseline.loc["destructive", "usual"] == 0
    assert baseline.loc["read", "usual"] == 2


def test_blast_radius_counts_resources_and_destructive_touches() -> None:
    rows = [
        {"at": timedelta(seconds=1), "resources": ["arn:b1", "arn:b2"]},
        {
            "at": timedelta(seconds=2),
            "resources": ["arn:b1"],
            "action": "DeleteBucket",
            "action_class": "destructive",
        },
        {"at": timedelta(seconds=3), "resources": []},
    ]
    radius = summaries.blast_radius(frame(rows)).set_index("resource")
    assert radius.loc["arn:b1", "events"] == 2
    assert radius.loc["arn:b1", "destructive"] == 1
    assert radius.loc["arn:b1", "actions"] == "DeleteBucket, GetObject"
    assert list(radius.index) == ["arn:b1", "arn:b2"]


def test_window_includes_the_newest_event() -> None:
    since, until = summaries.WINDOWS[0].bounds(T0)
    assert since < T0 < until
    assert until - since == timedelta(hours=1)


def test_drivers_merge_forest_features_and_baseline_rules() -> None:
    alert = Alert.from_json(
        {
            "id": "al_1",
            "explanation": {
                "features": {"churn_10m": {"value": 4, "baseline": 0.5, "contribution": 0.2}},
                "rules": {
                    "baseline:destructive_burst": {
                        "destructive_10m": {"value": 30, "baseline": 1, "threshold": 5}
                    },
                    "rule:stop_logging": {"action": "StopLogging", "resources": []},
                },
            },
        }
    )
    drivers = alert.drivers().set_index("feature")
    assert drivers.loc["churn_10m", "usual"] == 0.5
    assert drivers.loc["destructive_10m", "threshold"] == 5
    assert "action" not in drivers.index
    chart = charts.drivers_chart(alert.drivers()).to_dict()
    assert [layer["mark"]["type"] for layer in chart["layer"]] == ["bar", "text"]


@pytest.mark.parametrize(
    ("accepted", "stored", "lag", "in_flight", "sink_here"),
    [
        pytest.param(100, 90, 10, 10, True, id="embedded sink behind"),
        pytest.param(100, 100, 0, 0, True, id="embedded sink caught up"),
        pytest.param(100, 0, 0, 100, False, id="API without a sink (compose)"),
        pytest.param(0, 0, 0, 0, True, id="nothing yet"),
        pytest.param(10, 30, 0, 0, True, id="sink replayed more than this process accepted"),
    ],
)
def test_ingest_lag_only_where_the_sink_runs(
    accepted: float, stored: float, lag: float, in_flight: float, sink_here: bool
) -> None:
    metrics = PipelineMetrics(accepted=accepted, stored=stored, consumer_lag=lag)
    assert metrics.in_flight == in_flight
    assert metrics.sink_in_process is sink_here
