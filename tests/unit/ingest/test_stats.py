"""GET /v1/stats: the overview's counts computed in the store, over every stored event."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from ingest import schema
from ingest.runtime import Runtime
from tests.conftest import INGEST_KEY, READ_KEY, auth
from tests.factories import BASE_TIME, make_record
from tests.unit.ingest.test_api import wait_for_total


def _records() -> list[dict[str, Any]]:
    """6,000 reads over 50 minutes (more than the 5,000 a page of events holds), and deletes:
    7 by a cleanup agent in the window, 3 by a person, 2 by the agent two hours earlier."""
    reads = [
        make_record(eventName="DescribeInstances", at=BASE_TIME + timedelta(seconds=i / 2))
        for i in range(6000)
    ]
    deletes = [
        make_record(
            eventName="TerminateInstances",
            role="cleanup-agent",
            at=BASE_TIME + timedelta(minutes=10, seconds=i),
        )
        for i in range(7)
    ] + [
        make_record(
            eventName="DeleteBucket",
            eventSource="s3.amazonaws.com",
            arn="arn:aws:iam::123456789012:user/erin",
            userIdentity={
                "type": "IAMUser",
                "arn": "arn:aws:iam::123456789012:user/erin",
                "accountId": "123456789012",
                "userName": "erin",
            },
            requestParameters={"bucketName": f"old-reports-{i}"},
            at=BASE_TIME + timedelta(minutes=20, seconds=i),
        )
        for i in range(3)
    ]
    earlier = [
        make_record(
            eventName="TerminateInstances",
            role="cleanup-agent",
            at=BASE_TIME - timedelta(hours=2, seconds=i),
        )
        for i in range(2)
    ]
    return reads + deletes + earlier


def _alert(alert_id: str, severity: str, first: datetime) -> tuple[Any, ...]:
    return (alert_id, 1, first, first, "p", "agent", "rule", "r", ["r"], severity, 0.9,
            first, first, 1, ["e"], "s", "{}")  # fmt: skip


ALERT_COLUMNS = (
    "id", "version", "created_at", "updated_at", "principal", "actor_kind", "kind", "rule",
    "rules", "severity", "score", "first_event_time", "last_event_time", "event_count",
    "event_ids", "summary", "explanation",
)  # fmt: skip


def test_counts_cover_every_event_of_the_window_not_a_page(
    client: TestClient, runtime: Runtime
) -> None:
    alerts = [
        _alert("a1", "critical", BASE_TIME + timedelta(minutes=10)),
        _alert("a2", "high", BASE_TIME + timedelta(minutes=20)),
        _alert("a3", "high", BASE_TIME + timedelta(minutes=21)),
        _alert("a4", "high", BASE_TIME - timedelta(hours=2)),  # before the window
    ]
    runtime.store.insert(schema.ALERTS, alerts, ALERT_COLUMNS)
    records = _records()
    for start in range(0, len(records), 1000):
        chunk = {"Records": records[start : start + 1000]}
        assert client.post("/v1/events", json=chunk, headers=auth(INGEST_KEY)).status_code == 202
    wait_for_total(client, len(records))
    response = client.get("/v1/stats", params={"bucket_s": 600}, headers=auth(READ_KEY))
    assert response.status_code == 200
    stats = response.json()
    assert stats["total_events"] == 6012
    assert stats["newest_event_time"] == "2026-11-02T09:49:59.000+00:00"
    assert stats["events"] == 6010  # the last hour of event time: not the two earlier deletes
    assert stats["destructive"] == 10
    reads = [b for b in stats["per_bucket"] if b["action_class"] == "read"]
    assert [b["events"] for b in reads] == [1200] * 5
    assert reads[0]["time"].startswith("2026-11-02T09:00:00")
    top = stats["top_destructive"]
    assert [(t["principal_key"].rsplit("/", 1)[-1], t["destructive"]) for t in top] == [
        ("cleanup-agent", 7),
        ("erin", 3),
    ]
    assert stats["alerts_by_severity"] == {"critical": 1, "high": 2}
    wide = client.get(
        "/v1/stats", params={"window_s": 4 * 3600, "top": 1}, headers=auth(READ_KEY)
    ).json()
    assert wide["destructive"] == 12 and len(wide["top_destructive"]) == 1
    assert wide["top_destructive"][0]["destructive"] == 9


def test_an_until_outside_event_time_gets_400_not_an_overflow(client: TestClient) -> None:
    for until in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"):
        response = client.get("/v1/stats", params={"until": until}, headers=auth(READ_KEY))
        assert response.status_code == 400
        assert "until must fall between" in response.json()["detail"]


def test_too_many_buckets_get_400_saying_what_to_change(client: TestClient) -> None:
    params = {"window_s": 86_400, "bucket_s": 1}
    response = client.get("/v1/stats", params=params, headers=auth(READ_KEY))
    assert response.status_code == 400
    assert "widen bucket_s" in response.json()["detail"]


def test_stats_need_the_read_scope_and_an_empty_store_answers(client: TestClient) -> None:
    assert client.get("/v1/stats", headers=auth(INGEST_KEY)).status_code == 403
    empty = client.get("/v1/stats", headers=auth(READ_KEY)).json()
    assert (empty["total_events"], empty["events"], empty["newest_event_time"]) == (0, 0, None)
