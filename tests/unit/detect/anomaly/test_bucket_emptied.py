"""A bucket emptied with DeleteObjects is one lasting thing destroyed, however many batches.

CloudTrail logs a DeleteObjects call without its keys (`"delete": ""`, the bucket and the
objects' ARN prefix as resources), so the bucket decides whether the data was meant to last,
and its contents count once per window: `aws s3 rm --recursive` of a prefix is many batches of
one act. The DeleteBucket that follows, or the next bucket, carries the count.

Seeds 922, 926, 932: people and a workload emptied buckets batch by batch and deleted them;
the generator logged keys CloudTrail never writes, a tmp/ key among them made every batch
"temporary", and the page came after the 6th to 11th damaging call.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from detect.engine import DetectionEngine
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

TASK = {"role": "orion-task", "session": "0d4f8b3f7674", "userAgent": "Boto3/1.34.0"}
DAY = timedelta(days=1)
START = BASE_TIME + 4 * DAY


def _history(*, empties: bool = False) -> list[AuditEvent]:
    """Four days of a workload's reads (and, if `empties`, its nightly DeleteObjects)."""
    events = []
    for day in range(4):
        at = BASE_TIME + day * DAY
        for minute in range(0, 60, 3):
            events.append(
                make_event(
                    eventName="GetObject",
                    eventSource="s3.amazonaws.com",
                    requestParameters={"bucketName": "acme-orion-data", "key": f"in/{minute}"},
                    at=at + timedelta(minutes=minute),
                    **TASK,
                )
            )
        if empties:
            events.append(_empty("acme-orion-outbox", at + timedelta(hours=2)))
    return events


def _empty(bucket: str, at: datetime, keys: tuple[str, ...] = ()) -> AuditEvent:
    """One DeleteObjects batch as CloudTrail logs it, or naming `keys` (other log sources)."""
    return make_event(
        eventName="DeleteObjects",
        eventSource="s3.amazonaws.com",
        readOnly=False,
        requestParameters={
            "bucketName": bucket,
            "delete": {"objects": [{"key": key} for key in keys]} if keys else "",
        },
        resources=[
            {"type": "AWS::S3::Object", "ARNPrefix": f"arn:aws:s3:::{bucket}/"},
            {"type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
        ],
        at=at,
        **TASK,
    )


def _delete_bucket(bucket: str, at: datetime) -> AuditEvent:
    return make_event(
        eventName="DeleteBucket",
        eventSource="s3.amazonaws.com",
        readOnly=False,
        requestParameters={"bucketName": bucket},
        at=at,
        **TASK,
    )


def _purge(
    bucket: str, batches: int = 5, keys: tuple[str, ...] = (), at: datetime = START
) -> list[AuditEvent]:
    calls = [_empty(bucket, at + timedelta(seconds=20 * i), keys) for i in range(batches)]
    return [*calls, _delete_bucket(bucket, at + timedelta(seconds=20 * batches))]


def first_page(events: list[AuditEvent]) -> int | None:
    """How many delete calls (history included) had been made when the first alert opened."""
    engine = DetectionEngine(rules=load_rules())
    deletes = 0
    for event in sorted(events, key=lambda e: e.event_time_ms):
        deletes += event.action.startswith("Delete")
        opened = [a for change, a in engine.process([event]).changes if change == "alert.opened"]
        if opened:
            return deletes
    return None


def test_a_bucket_emptied_then_deleted_pages_at_the_delete() -> None:
    """Five batches are the bucket's contents once; with the DeleteBucket that is two lasting
    things destroyed with calls the workload never deleted with: its floor (2)."""
    assert first_page([*_history(), *_purge("acme-orion-ledger")]) == 6
    # emptying a second bucket pages at its first batch, if the first was only emptied
    second = _purge("acme-orion-media", 2, at=START + timedelta(minutes=3))
    assert first_page([*_history(), *_purge("acme-orion-ledger")[:5], *second]) == 6


def test_a_tmp_prefix_emptied_in_many_batches_is_one_act() -> None:
    """`aws s3 rm --recursive` of a prefix: many batches, one bucket's contents."""
    assert first_page([*_history(), *_purge("acme-orion-ledger", 12)[:12]]) is None


def test_a_temporary_bucket_or_temporary_keys_or_a_routine_emptying_do_not() -> None:
    # the name says temporary (the DeleteBucket of a scratch bucket is clean-up too)
    assert first_page([*_history(), *_purge("acme-orion-scratch")]) is None
    # a source that names keys: every key under tmp/ or a preview's prefix is scratch data;
    # one tmp/ key among exports is not
    scratch = ("tmp/a.json", "pr-12/b.json")
    assert first_page([*_history(), *_purge("acme-orion-ledger", 3, scratch)[:3]]) is None
    mixed = ("exports/a.json", "tmp/b.json")
    assert first_page([*_history(), *_purge("acme-orion-ledger", 3, mixed)]) == 4
    # a workload that empties a bucket every night: DeleteObjects is its own call; the
    # DeleteBucket is its one new lasting delete
    assert first_page([*_history(empties=True), *_purge("acme-orion-ledger", 3)]) is None
