"""A workload's first listing of the account's storage, then bulk reads: stolen credentials.

Fresh seeds 1113 and 1115: a CI role listed the buckets (it never had) and read 1,965 objects
in 7 minutes, held as volume alone; an ECS task did the same with 309 objects in 18 minutes,
under a workload's 10-minute floor. Neither paged.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from detect.anomaly.collection import AFTER_MS, RULE
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, alert_rules, make_event, object_reads
from tests.unit.detect.anomaly.test_slowreads import PERSON  # an IAM user at the CLI

WORKLOAD = {"role": "prod-orders-task", "session": "ecs-task", "userAgent": "Boto3/1.34.8"}
DAY = timedelta(days=1)
TODAY = BASE_TIME + 4 * DAY + timedelta(hours=14)


def _reads(start: datetime, count: int, minutes: float, who: dict[str, Any]) -> list[AuditEvent]:
    return object_reads(start, count, minutes, "acme-datalake-finance", who)


def _listing(at: datetime, who: dict[str, Any]) -> list[AuditEvent]:
    """The account's buckets, then one bucket's keys."""
    return [
        make_event(eventName="ListBuckets", eventSource="s3.amazonaws.com", at=at, **who),
        make_event(
            eventName="ListObjectsV2",
            eventSource="s3.amazonaws.com",
            requestParameters={"bucketName": "acme-datalake-finance", "list-type": "2"},
            at=at + timedelta(seconds=5),
            **who,
        ),
    ]


def _days(who: dict[str, Any], *, listing: bool = False) -> list[AuditEvent]:
    """Four working days of 240 reads over eight hours (~5 in 10 minutes, high ~6), and the
    listing each morning when `listing`."""
    days = []
    for day in range(4):
        start = BASE_TIME + day * DAY + timedelta(hours=9)
        days += [*(_listing(start, who) if listing else []), *_reads(start, 240, 480, who)]
    return sorted(days, key=lambda e: e.event_time_ms)


def test_a_workloads_first_listing_then_bulk_reads_page() -> None:
    pull = _reads(TODAY + timedelta(minutes=1), 150, 8, WORKLOAD)
    events = [*_days(WORKLOAD), *_listing(TODAY, WORKLOAD), *pull]
    assert events[0].actor_kind == "service"
    assert RULE in alert_rules(events)


def test_the_same_reads_without_the_listing_wait_for_a_second_sign() -> None:
    """150 reads in 8 minutes, 25x its high: a workload's surge alone is held (a quarter-end
    batch), so nothing pages."""
    assert alert_rules([*_days(WORKLOAD), *_reads(TODAY, 150, 8, WORKLOAD)]) == set()


def test_a_workload_that_lists_every_day_is_doing_its_job() -> None:
    pull = _reads(TODAY + timedelta(minutes=1), 150, 8, WORKLOAD)
    events = [*_days(WORKLOAD, listing=True), *_listing(TODAY, WORKLOAD), *pull]
    assert RULE not in alert_rules(events)


def test_its_usual_reads_after_a_first_listing_are_its_work() -> None:
    """A new release that lists its bucket once, then reads as it always did (and a few more:
    under MIN_READS), pages nothing."""
    pull = _reads(TODAY + timedelta(minutes=1), 60, 8, WORKLOAD)
    assert alert_rules([*_days(WORKLOAD), *_listing(TODAY, WORKLOAD), *pull]) == set()


def test_a_pipelines_first_sync_of_a_bucket_it_reads_is_its_work() -> None:
    """`aws s3 sync` lists the bucket's keys, then copies them: a new step of a pipeline, not a
    look at what the account holds."""
    sync = [_listing(TODAY, WORKLOAD)[1], *_reads(TODAY + timedelta(minutes=1), 150, 8, WORKLOAD)]
    assert RULE not in alert_rules([*_days(WORKLOAD), *sync])


def test_reads_long_after_the_listing_are_judged_alone() -> None:
    later = TODAY + timedelta(milliseconds=AFTER_MS) + timedelta(minutes=5)
    events = [*_days(WORKLOAD), *_listing(TODAY, WORKLOAD), *_reads(later, 150, 8, WORKLOAD)]
    assert RULE not in alert_rules(events)


def test_a_person_listing_and_downloading_is_judged_by_the_other_checks() -> None:
    """The console lists the buckets on every visit: a person's first listing is no sign."""
    pull = _reads(TODAY + timedelta(minutes=1), 150, 8, PERSON)
    assert RULE not in alert_rules([*_days(PERSON), *_listing(TODAY, PERSON), *pull])


def test_a_refused_listing_first_does_not_disarm_it() -> None:
    """Review: a listing refused first (a bad argument) made the call one the workload "had
    made", so the successful listing after it was no news."""
    refused = make_event(
        eventName="ListBuckets",
        eventSource="s3.amazonaws.com",
        errorCode="InvalidArgument",
        errorMessage="Invalid Argument",
        at=TODAY - timedelta(seconds=30),
        **WORKLOAD,
    )
    pull = _reads(TODAY + timedelta(minutes=1), 150, 8, WORKLOAD)
    assert RULE in alert_rules([*_days(WORKLOAD), refused, *_listing(TODAY, WORKLOAD), *pull])


def test_listing_through_the_tagging_api_counts() -> None:
    """Every bucket of the account through the Resource Groups Tagging API is the same look."""
    tagging = make_event(
        eventName="GetResources",
        eventSource="tagging.amazonaws.com",
        requestParameters={"resourceTypeFilters": ["s3"]},
        at=TODAY,
        **WORKLOAD,
    )
    pull = _reads(TODAY + timedelta(minutes=1), 150, 8, WORKLOAD)
    assert RULE in alert_rules([*_days(WORKLOAD), tagging, *pull])


def test_reads_paced_under_the_ten_minute_bar_for_half_an_hour_page() -> None:
    """Review: reads paced over the half hour after the listing, ~90 in any ten minutes, stay
    under the bar of 100; twice the bar since the listing pages."""
    pull = _reads(TODAY + timedelta(minutes=1), 250, 28, WORKLOAD)
    assert RULE in alert_rules([*_days(WORKLOAD), *_listing(TODAY, WORKLOAD), *pull])


def test_a_later_first_listing_arms_it_again() -> None:
    """A listing long ago that no reads followed does not keep a later first look from
    counting (review of the stale entry)."""
    tagging = make_event(
        eventName="GetResources",
        eventSource="tagging.amazonaws.com",
        requestParameters={"resourceTypeFilters": ["s3"]},
        at=TODAY,
        **WORKLOAD,
    )
    early = _listing(TODAY - timedelta(hours=2), WORKLOAD)[:1]
    pull = _reads(TODAY + timedelta(minutes=1), 150, 8, WORKLOAD)
    assert RULE in alert_rules([*_days(WORKLOAD), *early, tagging, *pull])


LAKE = [f"acme-datalake-{n}" for n in range(12)]


def _lake_days(who: dict[str, Any], count: int = 4) -> list[AuditEvent]:
    """Four days of an ETL role reading twelve lake buckets in an hour's run each morning: 60
    objects of each bucket a day (its busiest day of any one), ~240 reads in ten minutes over
    all of them -- a 10-minute bar of 720 after a listing."""
    days = []
    for day in range(count):
        start = BASE_TIME + day * DAY + timedelta(hours=6)
        runs = [object_reads(start, 60, 60, bucket, who) for bucket in LAKE]
        days += [event for run in runs for event in run]
    return sorted(days, key=lambda e: e.event_time_ms)


def test_after_a_first_listing_one_store_read_past_twice_its_busiest_day_pages() -> None:
    """Fresh seed 1552: a Glue role listed the buckets for the first time and read 446 objects
    of one lake bucket in 26 minutes, 3.8x its busiest day there -- under its 10-minute and
    half-hour bars over all its stores."""
    pull = object_reads(TODAY + timedelta(minutes=1), 150, 20, LAKE[3], WORKLOAD)
    events = [*_lake_days(WORKLOAD), *_listing(TODAY, WORKLOAD), *pull]
    assert RULE in alert_rules(events)
    assert RULE not in alert_rules([*_lake_days(WORKLOAD), *pull])  # (the listing is the sign)


def test_after_a_first_listing_a_store_read_as_on_its_days_is_work() -> None:
    """A busy hour of one bucket after the listing (110 objects: under twice its busiest day
    there, 60), and 150 objects of a bucket it read on no earlier day (not judged by days it
    has none of)."""
    usual = object_reads(TODAY + timedelta(minutes=1), 110, 20, LAKE[3], WORKLOAD)
    fresh = object_reads(TODAY + timedelta(minutes=1), 150, 20, "acme-datalake-new", WORKLOAD)
    for reads in (usual, fresh):
        events = [*_lake_days(WORKLOAD), *_listing(TODAY, WORKLOAD), *reads]
        assert RULE not in alert_rules(events)


def test_a_pull_across_midnight_is_judged_by_the_days_before_it() -> None:
    """Review: at midnight the day's reads became the store's busiest day -- the pull's own
    reads among them -- and raised its bar mid-pull (120 to 200 here): it never paged."""
    midnight = (BASE_TIME + 5 * DAY).replace(hour=0)  # (after day 4's run, UTC)
    listing = midnight - timedelta(minutes=10)
    pull = object_reads(listing + timedelta(minutes=1), 150, 20, LAKE[3], WORKLOAD)
    events = [*_lake_days(WORKLOAD, 5), *_listing(listing, WORKLOAD), *pull]
    assert RULE in alert_rules(sorted(events, key=lambda e: e.event_time_ms))
