"""The calls a slow delete first made before it paged are part of its alert, not the principal's
habit -- and a call its open alert holds unvetted is new again to the out-of-scope check.

Fresh seed 1139: a key-rotation role's stolen credentials deleted a log group, a table, a secret
and a bucket over half an hour; the alert opened on the second. Nobody resolved it. Next day the
same credentials deleted 48 production resources with the same calls, and it paged at the 6th
damaging call: the calls made before the first page had been learned, and even the unvetted ones
were not "calls it never deleted with" to the out-of-scope check, which remembered their first
use a day earlier.
"""

from __future__ import annotations

from datetime import timedelta

from detect.anomaly.vetting import RUNUP_MS, RunUp
from detect.engine import DetectionEngine
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

ROTATOR = {
    "role": "iam-key-rotator-role",
    "session": "iam-key-rotator",
    "userAgent": "Boto3/1.29.67 md/Botocore#1.29.67 ua/2.0 os/linux#5.10",
    "sourceIPAddress": "52.57.102.78",
}
DAY = timedelta(days=1)


def history(days: int = 4, minutes: int = 45) -> list[AuditEvent]:
    """The rotator's days: `minutes` of listing users' keys."""
    return [
        make_event(
            eventName="ListAccessKeys",
            eventSource="iam.amazonaws.com",
            requestParameters={"userName": f"svc-{m}"},
            at=BASE_TIME + d * DAY + timedelta(hours=3, minutes=m),
            **ROTATOR,
        )
        for d in range(days)
        for m in range(minutes)
    ]


def delete(action: str, name: str, at: timedelta) -> AuditEvent:
    source, key = {
        "DeleteLogGroup": ("logs", "logGroupName"),
        "DeleteTable": ("dynamodb", "tableName"),
        "DeleteSecret": ("secretsmanager", "secretId"),
        "DeleteBucket": ("s3", "bucketName"),
    }[action]
    return make_event(
        eventName=action,
        eventSource=f"{source}.amazonaws.com",
        readOnly=False,
        requestParameters={key: name},
        at=BASE_TIME + at,
        **ROTATOR,
    )


DAY4 = 4 * DAY + timedelta(hours=15)
DRIP = [  # a log group and a table before the secret that pages (the third in six hours)
    delete("DeleteLogGroup", "/ecs/prod-reports", DAY4),
    delete("DeleteTable", "prod-ledger-cache", DAY4 + timedelta(minutes=40)),
    delete("DeleteSecret", "prod/kyc/stripe-key", DAY4 + timedelta(minutes=55)),
]
DAY5 = 5 * DAY + timedelta(hours=12)
SPREE = [  # next day: log groups first, then tables and secrets
    delete(action, name, DAY5 + timedelta(seconds=20 * i))
    for i, (action, name) in enumerate(
        (
            ("DeleteLogGroup", "/ecs/prod-orders"),
            ("DeleteLogGroup", "/ecs/prod-users"),
            ("DeleteTable", "prod-orders"),
            ("DeleteSecret", "prod/orders/key"),
            ("DeleteTable", "prod-users"),
        )
    )
]


def pages(engine: DetectionEngine, events: list[AuditEvent]) -> list[int]:
    """Which of `events` (1-based) opened an alert."""
    return [
        n
        for n, event in enumerate(events, start=1)
        if any(kind == "alert.opened" for kind, _ in engine.process([event]).changes)
    ]


def test_the_next_days_spree_pages_at_its_second_delete_while_the_drip_is_unresolved() -> None:
    engine = DetectionEngine(rules=load_rules())
    engine.process(history())
    assert pages(engine, DRIP) == [3]
    key = DRIP[0].principal_key
    held = engine.unvetted.of(key, SPREE[0].event_time_ms)
    assert {"DeleteLogGroup", "DeleteTable", "DeleteSecret"} <= set(held)  # all three
    assert pages(engine, SPREE) == [2]


def test_once_the_drip_is_resolved_its_calls_are_the_principals_own() -> None:
    engine = DetectionEngine(rules=load_rules())
    engine.process(history())
    opened = [a for e in DRIP for kind, a in engine.process([e]).changes if kind == "alert.opened"]
    engine.set_status(opened[0].id, "resolved")
    assert not engine.unvetted.of(DRIP[0].principal_key, SPREE[0].event_time_ms)
    assert 2 not in pages(engine, SPREE)


def test_a_young_principals_first_calls_are_its_first_days_work() -> None:
    """A day of ten minutes before this one: not mature, so a page does not unlearn what it did
    before it (an install-day janitor's first runs)."""
    engine = DetectionEngine(rules=load_rules())
    engine.process(history(days=1, minutes=10))
    for event in DRIP:
        engine.process([event])
        assert not engine.states[event.principal_key].mature
    assert len(engine.runup) == 0
    assert "DeleteLogGroup" not in engine.unvetted.of(DRIP[0].principal_key, SPREE[0].event_time_ms)


def test_an_unrelated_alert_does_not_take_the_run_up() -> None:
    """The rotator's first log-group delete, then 90 minutes later a trail stopped (its own
    alert, which does not hold the delete): the delete stays the rotator's own (review)."""
    engine = DetectionEngine(rules=load_rules())
    engine.process(history())
    engine.process([DRIP[0]])
    stop = make_event(
        eventName="StopLogging",
        eventSource="cloudtrail.amazonaws.com",
        readOnly=False,
        requestParameters={"name": "org-trail"},
        at=BASE_TIME + DAY4 + timedelta(minutes=90),
        **ROTATOR,
    )
    assert any(kind == "alert.opened" for kind, _ in engine.process([stop]).changes)
    held = engine.unvetted.of(stop.principal_key, stop.event_time_ms)
    assert "StopLogging" in held and "DeleteLogGroup" not in held


def test_an_install_day_page_does_not_make_a_janitors_calls_new_every_day() -> None:
    """A retention job whose first run paged on the install's first day (not mature: its calls
    are unvetted, but from its first days' work) does not page its later runs as "calls it
    never deleted with" (review: it paged every morning)."""
    janitor = {**ROTATOR, "role": "retention-janitor", "session": "nightly"}

    def run(day: int) -> list[AuditEvent]:
        at = BASE_TIME + day * DAY + timedelta(hours=2)
        return [
            make_event(
                eventName=action,
                eventSource=f"{source}.amazonaws.com",
                readOnly=False,
                requestParameters={key: f"{name}-{day}-{n}"},
                at=at + timedelta(seconds=10 * i),
                **janitor,
            )
            for i, (action, source, key, name, n) in enumerate(
                [
                    *(("DeleteTable", "dynamodb", "tableName", "prod-export", n) for n in range(6)),
                    *(("DeleteLogGroup", "logs", "logGroupName", "/etl/prod", n) for n in range(3)),
                ]
            )
        ]

    engine = DetectionEngine(rules=load_rules())
    opened = [pages(engine, run(day)) for day in range(6)]
    assert opened[0]  # the install day's first run pages
    assert opened[2:] == [[]] * 4  # its later runs, mature, do not


def test_the_run_up_keeps_only_its_window_and_a_few_calls() -> None:
    runup = RunUp()
    runup.note("p", "DeleteTable", "e1", 0)
    runup.note("p", "DeleteBucket", "e2", RUNUP_MS + 1)  # the table is past the window
    assert runup.take("p", {"e1", "e2"}) == [("DeleteBucket", RUNUP_MS + 1)]
    assert not runup
    for n in range(40):
        runup.note("q", f"Delete{n}", f"e{n}", n)
    assert len(runup) == 16
    assert runup.take("q", {"e5"}) == []  # the oldest were dropped to keep 16
    assert runup.take("q", {"e24", "e30"}) == [("Delete24", 24), ("Delete30", 30)]
    assert len(runup) == 14
