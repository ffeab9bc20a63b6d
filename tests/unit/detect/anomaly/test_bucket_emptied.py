"""A bucket emptied with DeleteObjects: its contents count once per batch, up to four.

CloudTrail logs a DeleteObjects call without its keys (`"delete": ""`, the bucket and the
objects' ARN prefix as resources), so the bucket decides whether the data was meant to last.
`aws s3 rm --recursive` of a prefix is many batches of one act, so they count up to four (a
batch takes up to 1,000 objects: four are thousands meant to last); the DeleteBucket that
follows, or the next bucket, carries the count on (held-out 1252, 1255, 1256: with three, a
person's bucket emptied and deleted paged only at the next bucket).

Seeds 922, 926, 932: people and a workload emptied buckets batch by batch and deleted them;
the generator logged keys CloudTrail never writes, a tmp/ key among them made every batch
"temporary", and the page came after the 6th to 11th damaging call. Seeds 1010, 1011, 1013:
with the contents counted once, an agent's and two people's purges paged at the 6th-8th.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

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


PERSON = {
    "userIdentity": {
        "type": "IAMUser",
        "arn": "arn:aws:iam::123456789012:user/viktor",
        "accountId": "123456789012",
        "userName": "viktor",
        "principalId": "AIDAEXAMPLE",
    },
    "userAgent": "aws-cli/2.15.30 Python/3.11.8 Linux/6.5",
    "sourceIPAddress": "88.129.245.24",
}


def _empty(
    bucket: str, at: datetime, keys: tuple[str, ...] = (), who: dict[str, Any] = TASK
) -> AuditEvent:
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
        **who,
    )


def _delete_bucket(bucket: str, at: datetime, who: dict[str, Any] = TASK) -> AuditEvent:
    return make_event(
        eventName="DeleteBucket",
        eventSource="s3.amazonaws.com",
        readOnly=False,
        requestParameters={"bucketName": bucket},
        at=at,
        **who,
    )


def _purge(
    bucket: str,
    batches: int = 5,
    keys: tuple[str, ...] = (),
    at: datetime = START,
    who: dict[str, Any] = TASK,
) -> list[AuditEvent]:
    calls = [_empty(bucket, at + timedelta(seconds=20 * i), keys, who) for i in range(batches)]
    return [*calls, _delete_bucket(bucket, at + timedelta(seconds=20 * batches), who)]


def _person_days() -> list[AuditEvent]:
    """Four days of a person's reads and of emptying and deleting a scratch bucket (the person
    deletes with these calls by habit: the purge is not out of scope)."""
    scratch = [
        event
        for day in range(4)
        for event in _purge(f"scratch-viktor-{day}", 2, at=BASE_TIME + day * DAY, who=PERSON)
    ]
    # and the day before, one batch of old files from the bucket the purge will empty: counted
    # that day, it must not take a place in the purge's window
    prune = _empty("acme-staging-data", BASE_TIME + 3 * DAY + timedelta(hours=3), who=PERSON)
    return [*scratch, prune] + [
        make_event(
            eventName="ListObjects",
            eventSource="s3.amazonaws.com",
            requestParameters={"bucketName": "acme-staging-data"},
            at=BASE_TIME + day * DAY + timedelta(hours=1, minutes=minute),
            **PERSON,
        )
        for day in range(4)
        for minute in range(0, 60, 5)
    ]


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
    # a workload that empties and deletes scratch buckets nightly, so never anything lasting:
    # a lasting bucket's five batches and its DeleteBucket stay under its floor -- a fifth
    # batch counts only for people and agents (review)
    scratch = [
        event
        for day in range(4)
        for event in _purge(f"acme-orion-scratch-{day}", 2, at=BASE_TIME + day * DAY)
    ]
    assert first_page([*_history(), *scratch, *_purge("acme-orion-ledger", 6)]) is None


def test_a_persons_purge_of_lasting_buckets_pages_by_the_fifth_batch() -> None:
    """Seed 1011: a person emptied six staging buckets in two to five batches each and deleted
    them; counted once per bucket, the 5th lasting thing was the 7th damaging call."""
    first, second = "acme-staging-data", "acme-staging-uploads"
    purge = [
        *_purge(first, 2, who=PERSON),
        *_purge(second, 4, at=START + timedelta(minutes=1), who=PERSON),
    ]
    days = _person_days()
    before = sum(event.action.startswith("Delete") for event in days)
    # data/*, its 2nd batch, data, uploads/*, its 2nd batch: the 5th lasting thing
    assert first_page([*days, *purge]) == before + 5


def test_a_person_pruning_one_bucket_pages_only_when_the_bucket_goes() -> None:
    """One prefix pruned batch after batch is at most four lasting things: at a person's floor.
    With the bucket deleted after (`aws s3 rb --force`) the bucket and thousands of its objects
    are gone for good, and the DeleteBucket pages (held-out 1252, 1255, 1256: paged at the
    6th-7th damaging call when three batches counted)."""
    days = _person_days()
    before = sum(event.action.startswith("Delete") for event in days)
    purge = _purge("acme-staging-data", 12, who=PERSON)
    assert first_page([*days, *purge[:12]]) is None
    assert first_page([*days, *purge]) == before + 13


def test_one_who_never_deleted_lasting_data_pages_at_the_fifth_batch_of_one_bucket() -> None:
    """Fresh seed 1565: a developer who empties scratch buckets by habit (DeleteObjects is not
    new to her) but never deleted anything meant to last emptied a staging bucket in six
    batches and paged at its DeleteBucket, the 7th damaging call. With no lasting delete of
    her own, a bucket's fifth batch counts: the page comes at it. One who pruned that data on
    an earlier day (test_a_person_pruning_one_bucket_pages_only_when_the_bucket_goes) is
    judged at four."""
    days = [
        event
        for event in _person_days()
        if event.action != "DeleteObjects" or ("scratch" in str(event.resources))
    ]
    before = sum(event.action.startswith("Delete") for event in days)
    purge = _purge("acme-staging-data", 12, who=PERSON)
    assert first_page([*days, *purge]) == before + 5


def test_a_persons_first_purge_of_a_lasting_bucket_pages_by_its_third_batch() -> None:
    """Held-out 1252, 1255: people who never deleted objects emptied a data-lake bucket batch
    by batch. Deletes with calls the person never used count per batch (out of scope: 3)."""
    reads = [event for event in _person_days() if not event.action.startswith("Delete")]
    assert first_page([*reads, *_purge("acme-datalake-finance", 5, who=PERSON)]) == 3


def test_a_day_of_pruning_buckets_is_no_drip_of_lasting_deletes() -> None:
    """Retention work by hand: three batches of old files from each of four buckets over three
    hours. Each bucket's contents count once in six hours (per batch, they would be 12)."""
    buckets = ("acme-staging-data", "acme-staging-logs", "acme-staging-exports", "acme-staging-cdn")
    prune = [
        _empty(bucket, START + timedelta(minutes=50 * i, seconds=30 * batch), who=PERSON)
        for i, bucket in enumerate(buckets)
        for batch in range(3)
    ]
    assert first_page([*_person_days(), *prune]) is None
