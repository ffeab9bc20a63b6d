"""An AI agent's third lasting delete in ten minutes pages.

"Delete and recreate" of an environment by a coding agent starts with its function, its table
and its bucket (seed 987: a function, a table, five DeleteObjects batches and a DeleteBucket,
three log groups -- paged at the 8th damaging call when the 4th lasting delete paged;
seed 975: two buckets, paged at the 11th). Two lasting deletes are a refactor's tidy-up.
"""

from __future__ import annotations

from datetime import timedelta

from detect.engine import DetectionEngine
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

AGENT = {
    "role": "analytics-coding-agent",
    "session": "devin-session-d16699a2",
    "userAgent": "Boto3/1.34.74 md/Botocore#1.34.74 ua/2.0 os/linux#6.1",
    "sourceIPAddress": "34.204.242.161",
}
DAY = timedelta(days=1)
START = BASE_TIME + 4 * DAY


def history() -> list[AuditEvent]:
    """Four days of an agent's reads, its scratch objects' clean-up and its preview function
    and table torn down (it deletes with these calls by habit: they are in its scope)."""
    reads = [
        make_event(
            eventName="DescribeStacks", at=BASE_TIME + d * DAY + timedelta(minutes=m), **AGENT
        )
        for d in range(4)
        for m in range(0, 120, 4)
    ]
    scratch = [
        make_event(
            eventName="DeleteObject",
            eventSource="s3.amazonaws.com",
            readOnly=False,
            requestParameters={"bucketName": "analytics-agent-scratch", "key": f"run/{d}/{i}"},
            at=BASE_TIME + d * DAY + timedelta(minutes=30, seconds=i),
            **AGENT,
        )
        for d in range(4)
        for i in range(5)
    ]
    previews = [
        make_event(
            eventName=action,
            eventSource=f"{source}.amazonaws.com",
            readOnly=False,
            requestParameters={key: f"preview-{d}-media"},
            at=BASE_TIME + d * DAY + timedelta(minutes=40, seconds=i),
            **AGENT,
        )
        for d in range(4)
        for i, (action, source, key) in enumerate(
            (
                ("DeleteFunction20150331", "lambda", "functionName"),
                ("DeleteTable", "dynamodb", "tableName"),
                ("DeleteBucket", "s3", "bucketName"),
            )
        )
    ]
    return reads + scratch + previews


def call(action: str, source: str, params: dict[str, object], seconds: float) -> AuditEvent:
    return make_event(
        eventName=action,
        eventSource=f"{source}.amazonaws.com",
        readOnly=False,
        requestParameters=params,
        at=START + timedelta(seconds=seconds),
        **AGENT,
    )


SPREE = [
    call("DeleteFunction20150331", "lambda", {"functionName": "staging-media-handler"}, 0),
    call("DeleteTable", "dynamodb", {"tableName": "staging-media-ledger"}, 1),
    *(
        call("DeleteObjects", "s3", {"bucketName": "pied-staging-media", "delete": ""}, 2 + i)
        for i in range(5)
    ),
    call("DeleteBucket", "s3", {"bucketName": "pied-staging-media"}, 8),
]


def first_page(events: list[AuditEvent]) -> int | None:
    """How many deletes had been made when the first alert opened."""
    engine = DetectionEngine(rules=load_rules())
    deletes = 0
    for event in sorted(events, key=lambda e: e.event_time_ms):
        deletes += event.event_time_ms >= SPREE[0].event_time_ms and event.action.startswith(
            "Delete"
        )
        if [a for change, a in engine.process([event]).changes if change == "alert.opened"]:
            return deletes
    return None


def test_an_agents_function_table_and_bucket_deleted_in_seconds_page_by_the_third() -> None:
    found = first_page([*history(), *SPREE])
    assert found is not None and found <= 3


def test_an_agent_deleting_two_lasting_resources_is_not_paged_for_it() -> None:
    assert first_page([*history(), *SPREE[:2]]) is None
