"""A person or an AI agent reading, by the hundred, a store it reads a little of, pages.

Held-out seeds 772, 1200, 1218, 1230 and 1251: people's sessions (an IAM user, SSO permission
sets) read 131-1,476 objects in ten minutes of a bucket they read 11-167 of on their busiest
day -- from their usual network and client, under their own 10-minute highs over all their
reads, so every other check held it as volume alone. A workload's (a quarter-end batch) does not.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from detect.anomaly.storesurge import MAX_STORES, StoreSurge
from detect.context.org import OrgMemory
from detect.engine import DetectionEngine
from detect.features import PrincipalState
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

PERSON: dict[str, Any] = {
    "userIdentity": {
        "type": "IAMUser",
        "arn": "arn:aws:iam::123456789012:user/mateo",
        "accountId": "123456789012",
        "userName": "mateo",
        "principalId": "AIDAEXAMPLE",
    },
    "userAgent": "aws-cli/2.15.30 Python/3.11.8 Linux/6.5",
    "sourceIPAddress": "88.129.245.24",
}
WORKLOAD = {"role": "etl-glue-role", "session": "GlueJobRunnerSession", "userAgent": "Boto3/1.34"}
BACKUPS, LAKE = "acme-prod-search-backups", "acme-datalake-curated"
RULE = "baseline:store_read_surge"
PERSON_KEY = "arn:aws:iam::123456789012:user/mateo"


def read(bucket: str, at: Any, n: int, who: dict[str, Any]) -> AuditEvent:
    key = f"exports/{n:05d}.json"
    return make_event(
        eventName="GetObject",
        eventSource="s3.amazonaws.com",
        requestParameters={"bucketName": bucket, "key": key},
        resources=[
            {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
            {"type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
        ],
        at=at,
        **who,
    )


def days(who: dict[str, Any], count: int = 5) -> list[AuditEvent]:
    """`count` days of 12 reads of the backups bucket and 300 of the lake over five hours."""
    events = []
    for day in range(count):
        start = BASE_TIME + timedelta(days=day, hours=9)
        events += [read(BACKUPS, start + timedelta(minutes=3 * i), i, who) for i in range(12)]
        events += [read(LAKE, start + timedelta(seconds=60 * i), i, who) for i in range(300)]
    return events


def pull(bucket: str, who: dict[str, Any], n: int = 150, after_days: int = 5) -> list[AuditEvent]:
    """`n` reads of `bucket` in five minutes, on the day after the history."""
    start = BASE_TIME + timedelta(days=after_days, hours=14)
    return [read(bucket, start + timedelta(seconds=2 * i), 1000 + i, who) for i in range(n)]


def surge_rules(events: list[AuditEvent]) -> set[str]:
    """The rules of every alert opened or grown by the store-read surge."""
    engine = DetectionEngine(rules=load_rules())
    found: set[str] = set()
    for start in range(0, len(events), 500):
        for _, alert in engine.process(events[start : start + 500]).changes:
            if RULE in alert.rules:
                found.update(alert.rules)
    return found


def test_a_person_pulling_a_store_they_read_a_little_of_pages() -> None:
    assert RULE in surge_rules([*days(PERSON), *pull(BACKUPS, PERSON)])


def test_the_same_volume_from_a_store_they_read_a_lot_of_does_not() -> None:
    # 150 lake objects in five minutes: under five times their busiest day there (300)
    assert not surge_rules([*days(PERSON), *pull(LAKE, PERSON)])


def test_a_workload_surge_or_a_store_read_on_too_few_days_does_not() -> None:
    # a quarter-end batch reads its stores several times its busiest day: a workload's
    # surge waits for a second sign (detect.anomaly.collection)
    assert not surge_rules([*days(WORKLOAD), *pull(BACKUPS, WORKLOAD)])
    # two days of a store are too few to know its busiest day
    assert not surge_rules([*days(PERSON, 2), *pull(BACKUPS, PERSON, after_days=2)])


def test_a_pull_of_a_store_they_only_glanced_at_pages_from_the_next_day() -> None:
    """Fresh seed 1476: a data scientist's session read 411 objects of a production reports
    bucket in 23 minutes (~180 per ten minutes) from her usual network and CLI -- a bucket she
    had opened one object of on each of two earlier days. Two days are too few to know a
    store's busiest day, and the pull stayed under her ten-minute high over all her reads
    (usual 7, floor 20: 200). A store never read at all pages (baseline:bulk_read_new_store);
    one read at most GLANCED objects a day is judged from the day after its first glance. One
    read a little more (four a day) is judged at YOUNG_DAY_RATIO until its third day (fresh seed
    1562); a pull paced under the ten-minute bar is judged over the hour, as a known store's is."""
    reports = "acme-prod-media-reports"

    def history(per_day: int, on: tuple[int, ...] = (2, 3)) -> list[AuditEvent]:
        """The five days of `days`, with `per_day` reports objects opened on days `on`."""
        opened = [
            read(
                reports, BASE_TIME + timedelta(days=day, hours=11, minutes=i), 50 * day + i, PERSON
            )
            for day in on
            for i in range(per_day)
        ]
        return sorted([*days(PERSON), *opened], key=lambda event: event.event_time_ms)

    assert RULE in surge_rules([*history(1), *pull(reports, PERSON)])
    assert RULE in surge_rules([*history(3, on=(4,)), *pull(reports, PERSON)])  # the next day
    assert not surge_rules([*history(1), *pull(reports, PERSON, n=90)])
    assert RULE in surge_rules([*history(4), *pull(reports, PERSON)])  # 150 > 20 x 4
    assert not surge_rules([*history(8), *pull(reports, PERSON)])  # 150 < 20 x 8
    assert RULE in surge_rules([*history(4, on=(4,)), *pull(reports, PERSON)])  # one day of it
    # paced under the ten-minute bar (60 per ten minutes for 50 minutes): the hour's bar
    start = BASE_TIME + timedelta(days=5, hours=14)
    paced = [read(reports, start + timedelta(seconds=10 * i), 1000 + i, PERSON) for i in range(300)]
    assert RULE in surge_rules([*history(1), *paced])


def test_a_store_not_remembered_since_its_first_read_is_no_glance() -> None:
    """Reviews: the lake (300 objects a day) let go of when 64 other buckets were read after
    it, then one object of it that evening, came back as a one-object day; so did a store read
    on the day memory of the person's stores began (a restart, `forget`: the person comes back
    mature, no stores known). A store first read once 64 are remembered is still judged."""
    manifests = [
        read(
            f"acme-prod-team-{k:02d}", BASE_TIME + timedelta(days=4, hours=9, seconds=k), 0, PERSON
        )
        for k in range(MAX_STORES)
    ]
    evening = read(LAKE, BASE_TIME + timedelta(days=4, hours=10), 9000, PERSON)  # (UTC 19:00)
    assert not surge_rules([*days(PERSON, 4), *manifests, evening, *pull(LAKE, PERSON)])
    reports = "acme-prod-media-reports"
    glances = [read(reports, BASE_TIME + timedelta(days=d, hours=11), d, PERSON) for d in (3, 4)]
    earlier = [  # the 64 on day one: the reports bucket is first read when they fill the memory
        read(
            f"acme-prod-team-{k:02d}", BASE_TIME + timedelta(days=1, hours=20, seconds=k), 0, PERSON
        )
        for k in range(MAX_STORES)
    ]
    crowded = sorted([*days(PERSON), *earlier, *glances], key=lambda event: event.event_time_ms)
    assert RULE in surge_rules([*crowded, *pull(reports, PERSON)])
    engine = DetectionEngine(rules=load_rules())
    engine.process(days(PERSON, 4))
    engine.behaviour.forget(PERSON_KEY)
    engine.process([read(reports, BASE_TIME + timedelta(days=4, hours=1), 1, PERSON)])
    assert not any(rule == RULE for _, rule in engine.process(pull(reports, PERSON)).triggers)


def test_a_store_whose_only_earlier_day_paged_is_not_glanced_at() -> None:
    """Review: a new bucket's first pull paged (baseline:bulk_read_new_store) and was resolved
    as the person's new project; a paged day does not become the store's busiest, so it stayed
    at 0 and the same daily job paged every day after. A glance is a day that became the
    store's usual."""
    project = "acme-prod-newproject"
    engine = DetectionEngine(rules=load_rules())
    engine.process(days(PERSON))
    first = engine.process(pull(project, PERSON))
    assert [alert for _, alert in first.changes]
    for _, alert in first.changes:
        engine.set_status(alert.id, "resolved")
    engine.process([read(project, BASE_TIME + timedelta(days=6, hours=1), 1, PERSON)])
    for day in (7, 8, 9):  # (a day that opened one of its objects is no glance after 150)
        start = BASE_TIME + timedelta(days=day, hours=14)
        job = [
            read(project, start + timedelta(seconds=2 * i), day * 1000 + i, PERSON)
            for i in range(150)
        ]
        assert not any(rule == RULE for _, rule in engine.process(job).triggers)


def test_the_day_befores_reads_delivered_late_count_toward_its_busiest() -> None:
    """Review: an evening's 120 reads delivered after a read just past midnight were not
    counted, so a store read that much looked glanced at (one object on an earlier day) and the
    next afternoon's 150 paged. Late reads of the day before count toward the busiest day."""
    reports = "acme-prod-media-reports"
    engine = DetectionEngine(rules=load_rules())
    glance = read(reports, BASE_TIME + timedelta(days=3, hours=11), 1, PERSON)
    engine.process(sorted([*days(PERSON), glance], key=lambda event: event.event_time_ms))
    midnight = BASE_TIME.replace(hour=0, minute=1) + timedelta(days=5)
    engine.process([read(reports, midnight, 999, PERSON)])
    evening = midnight - timedelta(minutes=31)
    late = [read(reports, evening + timedelta(seconds=15 * i), 100 + i, PERSON) for i in range(120)]
    engine.process(late)
    afternoon = pull(reports, PERSON)
    assert not any(rule == RULE for _, rule in engine.process(afternoon).triggers)


def paged_after_days() -> tuple[Callable[[list[AuditEvent]], list[str]], datetime]:
    """A StoreSurge that watched `days(PERSON)` (no finding), then a page of the person at
    08:00 on the day after; returns the rules its findings name for more events, and that
    page's time."""
    surge, state = StoreSurge(), PrincipalState(PERSON_KEY, "human")

    def found(events: list[AuditEvent]) -> list[str]:
        rules = []
        for event in events:
            state.observe(event)
            finding = surge.observe(state, event)
            rules += [finding.rule] if finding is not None else []
        return rules

    assert not found(days(PERSON))
    paged = BASE_TIME + timedelta(days=5, hours=8)
    surge.mark_flagged(PERSON_KEY, int(paged.timestamp() * 1000))
    return found, paged


def test_a_page_before_the_days_first_read_keeps_that_day_from_teaching() -> None:
    """Review (stop 55): a page before any read of the day flagged the principal's latest day
    of reads -- the day before -- and the paged day's reads became a store's busiest. A page
    at 08:00, then 60 backups objects that day (under the hundred, no page of their own): the
    next day's pull of 150 still pages against a busiest day of 12, not 60."""
    found, paged = paged_after_days()
    after = [
        read(BACKUPS, paged + timedelta(hours=2, seconds=5 * i), 2000 + i, PERSON)
        for i in range(60)
    ]
    reports = "acme-prod-media-reports"  # first read that day: a paged day's glance is none
    glance = [
        read(reports, paged + timedelta(hours=3, minutes=i), 3000 + i, PERSON) for i in range(2)
    ]
    assert not found([*after, *glance])
    assert found(pull(BACKUPS, PERSON, after_days=6)) == [RULE]
    assert not found(pull(reports, PERSON, after_days=6))  # (not one it only glanced at)


def test_late_reads_of_a_paged_day_do_not_make_its_busiest() -> None:
    """Reads of the day before that come after a read of today count toward a store's busiest
    day -- unless the principal paged that day."""
    found, paged = paged_after_days()
    today = [read(BACKUPS, BASE_TIME + timedelta(days=6, hours=-8), 4000, PERSON)]
    late = [
        read(BACKUPS, paged + timedelta(hours=5, seconds=5 * i), 4100 + i, PERSON)
        for i in range(60)
    ]
    assert not found([*today, *late])
    assert found(pull(BACKUPS, PERSON, after_days=6)) == [RULE]


def test_under_a_hundred_reads_does_not() -> None:
    assert not surge_rules([*days(PERSON), *pull(BACKUPS, PERSON, n=90)])


def test_athena_reading_for_them_one_object_polled_or_a_late_batch_does_not() -> None:
    """The review's cases: reads AWS makes for the person (an Athena query), one object read
    again and again, and a delayed batch of the morning's reads arriving after a newer read."""
    athena = {**PERSON, "sourceIPAddress": "athena.amazonaws.com"}
    assert not surge_rules([*days(PERSON), *pull(BACKUPS, athena)])
    start = BASE_TIME + timedelta(days=5, hours=14)
    polled = [read(BACKUPS, start + timedelta(seconds=2 * i), 7, PERSON) for i in range(150)]
    assert not surge_rules([*days(PERSON), *polled])
    morning = BASE_TIME + timedelta(days=5, hours=8)
    late = [read(BACKUPS, morning + timedelta(minutes=2 * i), 2000 + i, PERSON) for i in range(125)]
    after = read(BACKUPS, BASE_TIME + timedelta(days=5, hours=14), 3000, PERSON)
    engine = DetectionEngine(rules=load_rules())
    engine.process(days(PERSON))
    engine.process([after])
    changes = engine.process(late).changes
    assert not any(RULE in alert.rules for _, alert in changes)


def test_one_finding_per_ten_minutes_of_a_long_pull() -> None:
    engine = DetectionEngine(rules=load_rules())
    engine.process(days(PERSON))
    out = engine.process(pull(BACKUPS, PERSON, n=250))
    assert sum(rule == RULE for _, rule in out.triggers) == 1


def test_a_pull_paced_under_the_ten_minute_bar_pages_within_the_hour() -> None:
    """Fresh seeds 1328, 1355, 1363: people's pulls paced at ~180 objects per ten minutes for
    half an hour or more, each 11x their busiest day of the bucket, stayed under a ten-minute bar
    of 5x that day. 300 backups objects over 50 minutes (60 per ten minutes, under the floor of
    100) page, past the hour's floor of 200; the lake read at the same pace (300 a day before)
    does not, nor an ordinary hour of 120 backups objects (review: a floor of 100 made any hour
    of a lightly read store a page)."""
    start = BASE_TIME + timedelta(days=5, hours=14)
    slow = [read(BACKUPS, start + timedelta(seconds=10 * i), 1000 + i, PERSON) for i in range(300)]
    assert RULE in surge_rules([*days(PERSON), *slow])
    lake = [read(LAKE, start + timedelta(seconds=10 * i), 1000 + i, PERSON) for i in range(300)]
    assert not surge_rules([*days(PERSON), *lake])
    hour = [read(BACKUPS, start + timedelta(seconds=30 * i), 1000 + i, PERSON) for i in range(120)]
    assert not surge_rules([*days(PERSON), *hour])


def steady(bucket: str, per_day: int, burst: int = 1) -> list[AuditEvent]:
    """Five days of `per_day` reads of `bucket` over the working day, `burst` at a time (the
    bursts 10 minutes apart), beside the history of `days`."""
    reads = [
        read(
            bucket,
            BASE_TIME + timedelta(days=day, hours=8, minutes=10 * (i // burst), seconds=i % burst),
            100 * day + i,
            PERSON,
        )
        for day in range(5)
        for i in range(per_day)
    ]
    return sorted([*days(PERSON), *reads], key=lambda event: event.event_time_ms)


def test_a_days_worth_read_faster_than_ever_pages() -> None:
    """Fresh seed 1617: an IAM user who read 50-75 objects a day of a production bucket, never
    more than 13 in ten minutes, read 168 of it in 11 minutes from his usual network and CLI --
    2.2x his busiest day, under its bar of 5x, and nothing paged. Two days' worth in ten minutes
    (PEAK_DAYS), and PEAK_RATIO times the busiest ten minutes, pages; a pull under either does
    not: a store read 300 a day (the lake, one a minute), or read in bursts of 20, or a store
    named as staging."""
    auth = "acme-prod-auth-data"
    assert RULE in surge_rules([*steady(auth, 70), *pull(auth, PERSON, n=150)])
    engine = DetectionEngine(rules=load_rules())
    engine.process(steady(auth, 70))
    opened = [a for _, a in engine.process(pull(auth, PERSON, n=150)).changes if RULE in a.rules]
    assert "and at most 1 in any ten minutes" in opened[0].summary
    # once paged, the same pull is no longer "never read so fast" (review: a daily sync paged
    # every day -- a paged day teaches the busiest ten minutes, not the busiest day)
    again = engine.process(pull(auth, PERSON, n=150, after_days=6)).changes
    assert not [a for _, a in again if RULE in a.rules]
    # the lake, read 300 a day one a minute: 150 is half a day's worth
    assert not surge_rules([*steady(auth, 70), *pull(LAKE, PERSON, n=150)])
    # a staging store: people copy their working data there in bulk
    staging = "acme-staging-auth-data"
    assert not surge_rules([*steady(staging, 70), *pull(staging, PERSON, n=150)])
    # under two days' worth (140), or read 20 at a time before (8x: 160)
    assert not surge_rules([*steady(auth, 70), *pull(auth, PERSON, n=135)])
    assert not surge_rules([*steady(auth, 70, burst=20), *pull(auth, PERSON, n=150)])


def test_reads_delivered_late_across_midnight_may_have_been_its_busiest_ten_minutes() -> None:
    """Review: a nightly 60 objects read just before midnight and delivered after a read of the
    next day counted toward the busiest day but not its ten minutes (left at 1): a pull of 130
    paged at 2x the busiest day, "at most 1 in any ten minutes". A day's late reads are taken as
    one ten minutes (their most)."""
    nightly = "acme-prod-billing-exports"
    stream: list[tuple[int, AuditEvent]] = []
    for night in range(5):
        midnight = BASE_TIME.replace(hour=0) + timedelta(days=night + 1)
        after = read(nightly, midnight + timedelta(seconds=30), 9000 + night, PERSON)
        stream.append((after.event_time_ms, after))
        for i in range(60):  # read 23:53-23:59, delivered after the 00:00:30 read
            at = midnight - timedelta(minutes=7) + timedelta(seconds=6 * i)
            stream.append((after.event_time_ms + 1, read(nightly, at, 100 * night + i, PERSON)))
    stream += [(event.event_time_ms, event) for event in days(PERSON, count=6)]
    history = [event for _, event in sorted(stream, key=lambda pair: pair[0])]
    assert not surge_rules([*history, *pull(nightly, PERSON, n=130, after_days=6)])


def test_a_pull_under_both_floors_is_not_put_down_to_its_busiest_ten_minutes() -> None:
    """Review: a store read at most 10 a day has both bars at the floor (100); the day's bar
    fired, and the summary named the busiest ten minutes."""
    small = "acme-prod-small"
    reads = [
        read(small, BASE_TIME + timedelta(days=day, hours=9, minutes=30 * i), 100 * day + i, PERSON)
        for day in range(5)
        for i in range(10)
    ]
    engine = DetectionEngine(rules=load_rules())
    engine.process(sorted([*days(PERSON), *reads], key=lambda event: event.event_time_ms))
    opened = [a for _, a in engine.process(pull(small, PERSON, n=150)).changes if RULE in a.rules]
    assert opened
    assert "in any ten minutes" not in opened[0].summary


def test_re_reads_after_a_pull_raise_nothing_new() -> None:
    """Review: an hour's count stays over the bar after a pull; reading one of its objects
    again in later ten minutes is not more of the pull (it raised a finding each time)."""
    engine = DetectionEngine(rules=load_rules())
    engine.process(days(PERSON))
    pulled = pull(BACKUPS, PERSON, n=250)
    assert sum(rule == RULE for _, rule in engine.process(pulled).triggers) == 1
    last = pulled[-1].event_time_ms
    again = [
        read(BACKUPS, BASE_TIME + timedelta(days=5, hours=14, minutes=12 + 10 * k), 1000, PERSON)
        for k in range(4)
    ]
    assert all(event.event_time_ms > last for event in again)
    assert not any(rule == RULE for _, rule in engine.process(again).triggers)


def table_read(at: Any, action: str = "GetItem", **params: Any) -> AuditEvent:
    """`action` on the customers table, with `params` as CloudTrail logs them (key values as
    written, without DynamoDB's type tags; expression values left out)."""
    return make_event(
        eventName=action,
        eventSource="dynamodb.amazonaws.com",
        requestParameters={"tableName": "customers", **params},
        resources=[
            {
                "type": "AWS::DynamoDB::Table",
                "ARN": "arn:aws:dynamodb:us-east-1:123456789012:table/customers",
            }
        ],
        at=at,
        **PERSON,
    )


def item(n: int) -> dict[str, str]:
    return {"customerId": f"c-{n:05d}"}


def table_days() -> list[AuditEvent]:
    """Five days of ten items of the customers table read a day (the busiest day: 10)."""
    return [
        table_read(BASE_TIME + timedelta(days=day, hours=10, minutes=5 * i), key=item(day * 9 + i))
        for day in range(5)
        for i in range(10)
    ]


def test_a_table_dumped_item_by_item_or_page_by_page_pages() -> None:
    """Stop 51's review: a table's reads were counted by the table's ARN, so a DynamoDB dump
    stayed at one read and the surge never fired on a table. Now each item (GetItem's key)
    counts once, and so does each table request -- the same request again within seconds is its
    next page (a paginator's pages, a Query per partition key whose values CloudTrail leaves
    out, can be logged alike) and counts again."""
    history = table_days()
    start = BASE_TIME + timedelta(days=5, hours=14)
    at = [start + timedelta(milliseconds=800 * i) for i in range(300)]
    items = [table_read(at[i], key=item(1000 + i)) for i in range(150)]
    assert RULE in surge_rules([*history, *items])
    pages = [table_read(at[i], "Scan", limit=1000) for i in range(150)]
    assert RULE in surge_rules([*history, *pages])
    query = {"keyConditionExpression": "#pk = :pk", "expressionAttributeNames": {"#pk": "id"}}
    queries = [table_read(at[i], "Query", **query) for i in range(300)]
    assert RULE in surge_rules([*history, *queries])


def test_a_table_polled_does_not() -> None:
    """One item read again and again, one Query or Scan asked every few seconds, and a PartiQL
    statement whose only change is the time it asks from are one read each, not a pull."""
    history = table_days()
    start = BASE_TIME + timedelta(days=5, hours=14)
    at = [start + timedelta(seconds=4 * i) for i in range(150)]
    assert not surge_rules([*history, *(table_read(t, key=item(7)) for t in at)])
    assert not surge_rules([*history, *(table_read(t, "Scan", limit=10) for t in at)])
    statements = [
        table_read(
            t,
            "ExecuteStatement",
            statement=f"SELECT * FROM customers WHERE id = 'job-7' AND at > '{t.isoformat()}'",
        )
        for t in at
    ]
    assert not surge_rules([*history, *statements])


def twice(day: int, i: int) -> datetime:
    """The time of a day's `i`th read of 50 taken 25 at a time (an hour apart) from 13:00: the
    busiest ten minutes hold 25, so a pull of 150 stays under PEAK_RATIO times them."""
    return BASE_TIME + timedelta(days=day, hours=13 + i // 25, seconds=20 * (i % 25))


def test_from_a_network_nobody_here_works_from_a_lower_bar_pages() -> None:
    """Fresh seeds 1387 and 1422: stolen keys pulled 258 and 327 objects of a bucket in a minute
    or two from a network nobody in the organisation works from (a Tor exit), through the
    person's usual CLI: 4.0x and 4.9x their busiest day there, under the 5x bar. From such a
    network the bar is NOWHERE_DAY_RATIO (2.5x); from the person's own, 5x as before -- or the
    busiest ten minutes' bar where it is lower: 150 from home after a history of one a minute
    (ten in ten minutes) pages there (test_a_days_worth_read_faster_than_ever_pages), so this
    history reads 25 at a time."""
    reports = "acme-prod-kyc-reports"
    history = []
    for day in range(5):  # 50 objects a day, 25 at a time, in the afternoon, from home
        history += [read(reports, twice(day, i), 5000 + i, PERSON) for i in range(50)]
    tor = {**PERSON, "sourceIPAddress": "192.42.116.16"}
    assert RULE in surge_rules([*history, *pull(reports, tor, n=150)])  # 3x, from nowhere
    assert not surge_rules([*history, *pull(reports, PERSON, n=150)])  # 3x, from home
    assert not surge_rules([*history, *pull(reports, tor, n=110)])  # 2.2x, from nowhere
    roaming = []  # review: a person on another network every day -- a new one is no news
    for day in range(5):
        where = {**PERSON, "sourceIPAddress": f"{81 + day}.20.30.40"}
        roaming += [read(reports, twice(day, i), 5000 + i, where) for i in range(50)]
    assert not surge_rules([*roaming, *pull(reports, tor, n=150)])


def test_the_lower_bar_waits_for_a_day_of_the_organisations_network_memory() -> None:
    """Review: after a restart the network memory is empty and every network is nobody else's
    -- a colleague's office too. The person's state (here: learned, as a trained profile
    would seed it) stays; the organisation's memory starts over."""
    reports = "acme-prod-kyc-reports"
    engine = DetectionEngine(rules=load_rules())
    for day in range(5):
        engine.process([read(reports, twice(day, i), 5000 + i, PERSON) for i in range(50)])
    engine.behaviour.org = OrgMemory()  # (the memory a restart starts with)
    tor = {**PERSON, "sourceIPAddress": "192.42.116.16"}
    found = {r for _, r in engine.process(pull(reports, tor, n=150)).triggers}
    assert RULE not in found
