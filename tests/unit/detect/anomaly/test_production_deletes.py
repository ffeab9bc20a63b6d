"""A pipeline that never deletes anything meant to last, deleting production: paged at the 4th.

Fresh seed 1026: a CI role that tears down preview environments every day (so DeleteFunction,
DeleteTable and DeleteObjects are its own calls) deleted a production function, two
production tables and emptied the production backups bucket batch by batch. A workload's floor
of lasting deletes in 10 minutes is 5 (its clean-up runs wide), so the page came at the 6th
damaging call. Four different production resources in 10 minutes by a workload whose own days
never deleted one page; staging is not production, and a release pruning one artifacts bucket
in batches beside two old functions is three resources (review).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from detect.engine import DetectionEngine
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

CI = {"role": "gha-pricing-deploy", "session": "GitHubActions", "userAgent": "Boto3/1.34.0"}
DAY = timedelta(days=1)
START = BASE_TIME + 4 * DAY + timedelta(hours=6)


def _delete(action: str, source: str, params: dict[str, object], at: datetime) -> AuditEvent:
    return make_event(
        eventName=action,
        eventSource=source,
        readOnly=False,
        requestParameters=params,
        at=at,
        **CI,
    )


def _env(env: str, at: datetime) -> list[AuditEvent]:
    """A function, two tables, two batches of a bucket's contents: one env, 20 s apart."""
    calls = [
        ("DeleteFunction20150331", "lambda.amazonaws.com", {"functionName": f"{env}-cron"}),
        ("DeleteTable", "dynamodb.amazonaws.com", {"tableName": f"{env}-users"}),
        ("DeleteTable", "dynamodb.amazonaws.com", {"tableName": f"{env}-jobs"}),
        ("DeleteObjects", "s3.amazonaws.com", {"bucketName": f"acme-{env}-backups", "delete": ""}),
        ("DeleteObjects", "s3.amazonaws.com", {"bucketName": f"acme-{env}-backups", "delete": ""}),
    ]
    return [
        _delete(action, source, params, at + timedelta(seconds=20 * i))
        for i, (action, source, params) in enumerate(calls)
    ]


def _days() -> list[AuditEvent]:
    """Four days of deploys that read stacks and tear down a pull request's preview."""
    events: list[AuditEvent] = []
    for day in range(4):
        at = BASE_TIME + day * DAY + timedelta(hours=6)
        events += [
            make_event(eventName="DescribeStacks", at=at + timedelta(minutes=m), **CI)
            for m in range(0, 40, 2)
        ]
        events += _env(f"pr-{100 + day}", at + timedelta(minutes=45))
    return events


def first_page(events: list[AuditEvent]) -> int | None:
    """How many of today's deletes had been made when the first alert opened."""
    engine = DetectionEngine(rules=load_rules())
    deletes = 0
    for event in sorted(events, key=lambda e: e.event_time_ms):
        today = event.event_time_ms >= int(START.timestamp() * 1000)
        deletes += today and event.action.startswith("Delete")
        opened = [a for change, a in engine.process([event]).changes if change == "alert.opened"]
        if opened:
            return deletes
    return None


def test_a_pipeline_deleting_four_production_resources_pages_at_the_fourth() -> None:
    """A function, two tables, and the backups' contents (its first batch)."""
    assert first_page([*_days(), *_env("prod-ingest", START)]) == 4


def test_a_release_pruning_one_production_bucket_and_two_old_functions_does_not_page() -> None:
    release = [
        _delete(
            "DeleteObjects",
            "s3.amazonaws.com",
            {"bucketName": "acme-prod-artifacts", "delete": ""},
            START + timedelta(seconds=20 * i),
        )
        for i in range(3)
    ] + [
        _delete(
            "DeleteFunction20150331",
            "lambda.amazonaws.com",
            {"functionName": f"prod-api-v{40 + i}"},
            START + timedelta(minutes=2, seconds=20 * i),
        )
        for i in range(2)
    ]
    assert first_page([*_days(), *release]) is None


def test_five_lasting_staging_resources_stay_under_a_pipelines_floor() -> None:
    assert first_page([*_days(), *_env("staging-ingest", START)]) is None
