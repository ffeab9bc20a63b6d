"""A bucket listed whole and then read object by object is a copy of it leaving.

`aws s3 sync s3://bucket .` and `aws s3 cp --recursive` list every key of the bucket at once
(ListObjectsV2 with no prefix and no delimiter) and then GET each object. A person browsing in
the console lists folder by folder (delimiter "/"); a batch reads the partitions it knows.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from detect.engine import DetectionEngine
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

DAY = timedelta(days=1)
BUCKET = "acme-datalake-raw"


def _who() -> dict[str, Any]:
    return {
        "userIdentity": {
            "type": "IAMUser",
            "arn": "arn:aws:iam::123456789012:user/treyes",
            "accountId": "123456789012",
            "userName": "treyes",
            "principalId": "AIDAEXAMPLE",
        },
        "userAgent": "aws-cli/2.15.30 Python/3.11.8 Linux/6.5",
        "sourceIPAddress": "198.51.100.7",
    }


def _s3(action: str, at: Any, **params: Any) -> AuditEvent:
    resources = []
    if "key" in params:
        arn = f"arn:aws:s3:::{BUCKET}/{params['key']}"
        resources = [{"type": "AWS::S3::Object", "ARN": arn}]
    return make_event(
        eventName=action,
        eventSource="s3.amazonaws.com",
        requestParameters={"bucketName": BUCKET, **params},
        resources=resources,
        at=at,
        **_who(),
    )


def _history() -> list[AuditEvent]:
    """Five working days of a person reading a few reports, browsing folder by folder."""
    events = []
    for day in range(5):
        at = BASE_TIME + day * DAY
        events.append(_s3("ListObjectsV2", at, prefix="", delimiter="/"))
        for i in range(30):
            key = f"reports/2026/{day:02d}/{i}.csv"
            events.append(_s3("GetObject", at + timedelta(minutes=1 + i), key=key))
    return events


def _copy(
    listing: dict[str, str], objects: int, after: timedelta = timedelta(seconds=5)
) -> list[AuditEvent]:
    at = BASE_TIME + 5 * DAY + timedelta(hours=2)
    events = [_s3("ListObjectsV2", at, **listing)]
    start = at + after
    for i in range(objects):
        key = f"{('events', 'exports', 'tmp')[i % 3]}/2025/{i % 12:02d}/{i}.parquet"
        events.append(_s3("GetObject", start + timedelta(seconds=i), key=key))
    return events


def opened(events: list[AuditEvent]) -> list[tuple[str, int]]:
    engine = DetectionEngine(rules=load_rules())
    changes = engine.process(sorted(events, key=lambda e: e.event_time_ms)).changes
    return [(a.rule, a.event_count) for change, a in changes if change == "alert.opened"]


def test_a_whole_bucket_listing_then_its_objects_read_one_by_one_pages() -> None:
    found = opened([*_history(), *_copy({"prefix": ""}, 160)])
    assert [rule for rule, _ in found] == ["baseline:bucket_copied"]


def test_browsing_folder_by_folder_or_reading_long_after_the_listing_does_not() -> None:
    assert opened([*_history(), *_copy({"prefix": "", "delimiter": "/"}, 160)]) == []
    assert opened([*_history(), *_copy({"prefix": "reports/"}, 160)]) == []
    assert opened([*_history(), *_copy({}, 160, after=timedelta(minutes=20))]) == []


def test_a_copy_below_the_floor_does_not() -> None:
    assert opened([*_history(), *_copy({}, 90)]) == []
