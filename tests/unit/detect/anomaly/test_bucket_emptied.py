"""A DeleteObjects batch on a lasting bucket deletes lasting data, even when a tmp/ key is
among the keys: only a batch of temporary keys (or a temporary bucket) is clean-up.

Seeds 922, 926, 932: people and a workload emptied buckets batch by batch and deleted them;
every batch had a tmp/ key among its exports, so none counted and the page came after the 6th
to 11th damaging call, at the DeleteBucket of an empty name.
"""

from __future__ import annotations

from datetime import timedelta

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
            events.append(_empty("acme-orion-outbox", at + timedelta(hours=2), 0))
    return events


def _empty(bucket: str, at: object, batch: int, prefixes: tuple[str, ...] = ()) -> AuditEvent:
    """A batch of 50 keys: exports with one tmp/ key among them, or all under `prefixes`."""
    if prefixes:
        keys = [f"{prefixes[i % len(prefixes)]}/{batch}/{i}.json" for i in range(50)]
    else:
        keys = [f"{'tmp' if i == 7 else 'exports'}/{batch}/{i}.json" for i in range(50)]
    return make_event(
        eventName="DeleteObjects",
        eventSource="s3.amazonaws.com",
        readOnly=False,
        requestParameters={
            "bucketName": bucket,
            "delete": {"objects": [{"key": key} for key in keys]},
        },
        at=at,
        **TASK,
    )


def _delete_bucket(bucket: str, at: object) -> AuditEvent:
    return make_event(
        eventName="DeleteBucket",
        eventSource="s3.amazonaws.com",
        readOnly=False,
        requestParameters={"bucketName": bucket},
        at=at,
        **TASK,
    )


def _purge(bucket: str, batches: int = 5, prefixes: tuple[str, ...] = ()) -> list[AuditEvent]:
    at = [START + timedelta(seconds=20 * i) for i in range(batches)]
    calls = [_empty(bucket, when, i, prefixes) for i, when in enumerate(at)]
    return [*calls, _delete_bucket(bucket, START + timedelta(seconds=20 * batches))]


def first_page(events: list[AuditEvent]) -> int | None:
    """The index (among `events`' damaging calls) of the call an alert opened on."""
    engine = DetectionEngine(rules=load_rules())
    damaging = 0
    for event in sorted(events, key=lambda e: e.event_time_ms):
        damaging += event.action.startswith("Delete")
        opened = [a for change, a in engine.process([event]).changes if change == "alert.opened"]
        if opened:
            return damaging
    return None


def test_emptying_a_lasting_bucket_pages_at_its_second_batch() -> None:
    """Two batches of a lasting bucket's data with a call the workload never deleted with:
    its out-of-scope floor (2) pages, however many tmp/ keys ride along."""
    assert first_page([*_history(), *_purge("acme-orion-ledger")]) == 2
    # as CloudTrail logs it: no keys, the bucket and the objects' ARN prefix as resources
    logged = [
        make_event(
            eventName="DeleteObjects",
            eventSource="s3.amazonaws.com",
            readOnly=False,
            requestParameters={"bucketName": "acme-orion-ledger", "delete": ""},
            resources=[
                {"type": "AWS::S3::Object", "ARNPrefix": "arn:aws:s3:::acme-orion-ledger/"},
                {"type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::acme-orion-ledger"},
            ],
            at=START + timedelta(seconds=20 * i),
            **TASK,
        )
        for i in range(3)
    ]
    assert first_page([*_history(), *logged]) == 2


def test_a_temporary_bucket_or_temporary_keys_or_a_routine_emptying_do_not() -> None:
    # the name says temporary (the DeleteBucket of a scratch bucket is clean-up too)
    assert first_page([*_history(), *_purge("acme-orion-scratch")]) is None
    # every key is under tmp/ or a preview's prefix: scratch data in a lasting bucket
    assert first_page([*_history(), *_purge("acme-orion-ledger", 3, ("tmp", "pr-12"))]) is None
    # a workload that empties a bucket every night: DeleteObjects is its own call; the
    # DeleteBucket is its one new lasting delete
    assert first_page([*_history(empties=True), *_purge("acme-orion-ledger", 3)]) is None
