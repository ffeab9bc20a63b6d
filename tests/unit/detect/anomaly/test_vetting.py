"""A sensitive call first made in an alert that paged is not learned until the alert is
resolved (detect.anomaly.vetting).

Fresh seed 1050: an AI agent's first EC2 Instance Connect key push to a production host paged;
nobody resolved the alert, and the same agent's next push a day later was held as its routine
-- the first one had taught Leash the call.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from detect.anomaly.vetting import MAX_ACTIONS, MAX_AGE_MS, MAX_ALERTS, Unvetted
from detect.engine import DetectionEngine
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

AGENT = {"role": "ops-agent", "session": "agent-run-5e1c", "userAgent": "Boto3/1.34.0"}
DAY = timedelta(days=1)


def _history() -> list[AuditEvent]:
    """Four quiet days of the agent listing instances."""
    return [
        make_event(
            eventName="DescribeInstances",
            at=BASE_TIME + day * DAY + timedelta(minutes=minute),
            **AGENT,
        )
        for day in range(4)
        for minute in range(0, 40, 4)
    ]


def _key_push(day: float, instance: str = "i-0prod-api-1", **who: Any) -> AuditEvent:
    return make_event(
        eventName="SendSSHPublicKey",
        eventSource="ec2-instance-connect.amazonaws.com",
        readOnly=False,
        requestParameters={
            "instanceId": instance,
            "instanceOSUser": "ec2-user",
            "sSHPublicKey": "ssh-ed25519 AAAA",
        },
        resources=[{"ARN": f"arn:aws:ec2:us-east-1:123456789012:instance/{instance}"}],
        at=BASE_TIME + timedelta(days=day),
        **(who or AGENT),
    )


def _opened(engine: DetectionEngine, events: list[AuditEvent]) -> list[str]:
    changes = engine.process(sorted(events, key=lambda e: e.event_time_ms)).changes
    return [alert.id for kind, alert in changes if kind == "alert.opened"]


def _grown(engine: DetectionEngine, events: list[AuditEvent]) -> list[str]:
    """The alerts the events opened or grew, each once: `alert.opened`/`alert.updated` ids."""
    changes = engine.process(sorted(events, key=lambda e: e.event_time_ms)).changes
    return list(dict.fromkeys(alert.id for _, alert in changes))


def test_the_push_a_day_later_grows_the_first_alert_while_it_is_open() -> None:
    """Not held as routine (1050), and not a second page either (fresh seed 1391: an agent's
    first push of a function's code, never resolved, opened an alert a day for five days --
    one question, five pages): the repeat is evidence in the alert that asked it."""
    engine = DetectionEngine(rules=load_rules())
    [first] = _opened(engine, [*_history(), _key_push(4.5)])
    repeat = _key_push(5.5, "i-0prod-api-2")
    changes = engine.process([repeat]).changes
    assert [(kind, alert.id) for kind, alert in changes] == [("alert.updated", first)]
    alert = changes[0][1]
    assert repeat.event_id in alert.event_ids and alert.event_count == 2
    assert alert.last_event_ms == repeat.event_time_ms
    assert "baseline:first_access_grant" in alert.rules


def test_a_repeat_grows_only_itself_into_the_old_alert_and_what_follows_pages() -> None:
    """Review: the resumed incident became the open one, and the agent's StopLogging minutes
    after the repeat grew the days-old alert instead of opening one. The repeat is evidence in
    the old alert; what the session does next pages on its own."""
    engine = DetectionEngine(rules=load_rules())
    [first] = _opened(engine, [*_history(), _key_push(4.5)])
    assert _grown(engine, [_key_push(5.5)]) == [first]
    stop = make_event(
        eventName="StopLogging",
        eventSource="cloudtrail.amazonaws.com",
        readOnly=False,
        requestParameters={"name": "org-trail"},
        at=BASE_TIME + timedelta(days=5.5, minutes=3),
        **AGENT,
    )
    [opened] = _opened(engine, [stop])
    assert opened != first


def test_the_same_call_from_a_network_new_to_the_agent_or_a_second_grant_pages_anew() -> None:
    """Review: the agent's key pushed again, but from a network it never used, is someone else
    asking; a permission grant to a second user is a second act (only calls that run code or
    open a host resume, and none from a network the principal first used within a day)."""
    engine = DetectionEngine(rules=load_rules())
    [first] = _opened(engine, [*_history(), _key_push(4.5)])
    elsewhere = {**AGENT, "sourceIPAddress": "198.51.100.77"}
    [again] = _opened(engine, [_key_push(6.5, **elsewhere)])
    assert again != first

    def admin_to(user: str, day: float) -> AuditEvent:
        return make_event(
            eventName="AttachUserPolicy",
            eventSource="iam.amazonaws.com",
            readOnly=False,
            requestParameters={
                "userName": user,
                "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess",
            },
            at=BASE_TIME + timedelta(days=day),
            **AGENT,
        )

    engine = DetectionEngine(rules=load_rules())
    [first] = _opened(engine, [*_history(), admin_to("ci-bot", 4.5)])
    [second] = _opened(engine, [admin_to("backdoor", 6.5)])
    assert second != first


def test_once_the_alert_is_resolved_the_call_is_the_agents_own() -> None:
    engine = DetectionEngine(rules=load_rules())
    [first] = _opened(engine, [*_history(), _key_push(4.5)])
    engine.set_status(first, "resolved")
    assert _grown(engine, [_key_push(5.5)]) == []
    assert len(engine.unvetted) == 0


def test_acknowledging_is_not_resolving() -> None:
    engine = DetectionEngine(rules=load_rules())
    [first] = _opened(engine, [*_history(), _key_push(4.5)])
    engine.set_status(first, "acknowledged")
    assert _grown(engine, [_key_push(5.5)]) == [first]


def test_a_repeat_grows_its_alert_past_another_alert_opened_in_between() -> None:
    """The agent's own alert about something else opened that morning; the push in the
    afternoon asks the first alert's question, and grows that one -- and the next day's too,
    when both incidents have been let go."""
    engine = DetectionEngine(rules=load_rules())
    [first] = _opened(engine, [*_history(), _key_push(4.5)])
    other = make_event(
        eventName="PutBucketPolicy",
        eventSource="s3.amazonaws.com",
        readOnly=False,
        requestParameters={
            "bucketName": "prod-exports",
            "bucketPolicy": {
                "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}]
            },
        },
        at=BASE_TIME + timedelta(days=5.2),
        **AGENT,
    )
    [morning] = _opened(engine, [other])
    assert morning != first
    assert _grown(engine, [_key_push(5.5)]) == [first]
    assert _grown(engine, [_key_push(6.5)]) == [first]  # (both let go by then: still found)


def test_the_alerts_id_is_watched_for_its_status_after_the_incident_closes() -> None:
    """With a shared store other API processes resolve alerts; the worker polls the ids the
    engine names. A day later the incident is closed, but its alert still vets the call."""
    engine = DetectionEngine(rules=load_rules())
    [first] = _opened(engine, [*_history(), _key_push(4.5)])
    engine.process([make_event(eventName="DescribeInstances", at=BASE_TIME + 5.4 * DAY, **AGENT)])
    assert first not in engine.book.open_ids()
    assert first in engine.watched_alert_ids()


def test_repeats_inside_the_open_incident_join_it() -> None:
    """The agent pushing keys to three hosts in a row: one alert, not one per host."""
    engine = DetectionEngine(rules=load_rules())
    pushes = [_key_push(4.5 + i / 1440, f"i-0prod-api-{i}") for i in range(3)]
    assert len(_opened(engine, [*_history(), *pushes])) == 1


def test_a_daily_repeat_grows_its_alert_for_a_week_from_its_first_page_then_is_learned() -> None:
    """Review: each repeat re-recorded its time, so a benign agent's daily key push would page
    every day for ever while nobody resolved anything. The week runs from the first page."""
    engine = DetectionEngine(rules=load_rules())
    [first] = _opened(engine, [*_history(), _key_push(4.5)])
    days = [_grown(engine, [_key_push(day + 0.5)]) for day in range(5, 16)]
    assert days[:7] == [[first]] * 7  # days 5.5 to 11.5: within a week of the first page
    assert days[7:] == [[]] * 4


def test_resolving_the_alert_vets_the_call_after_repeats_grew_it() -> None:
    """Review: when each repeat opened an alert of its own, resolving the first (the one an
    analyst opens) vetted nothing. The repeats grow the first, and resolving it vets them."""
    engine = DetectionEngine(rules=load_rules())
    [first] = _opened(engine, [*_history(), _key_push(4.5)])
    assert _grown(engine, [_key_push(5.5)]) == [first]
    assert first in engine.watched_alert_ids()
    engine.set_status(first, "resolved")
    assert _grown(engine, [_key_push(6.5)]) == []


def test_unvetted_calls_lapse_a_week_after_their_first_page_and_are_bounded() -> None:
    book = Unvetted()
    book.record("p", "SendSSHPublicKey", "al_1", 0)
    book.record("p", "SendSSHPublicKey", "al_2", MAX_AGE_MS - 10)  # a repeat keeps the start
    assert book.of("p", MAX_AGE_MS)["SendSSHPublicKey"] == (("al_1", "al_2"), 0)
    assert book.of("p", MAX_AGE_MS + 1) == {}
    assert len(book) == 0
    for i in range(MAX_ACTIONS + 5):
        book.record("p", f"Call{i}", "al_3", 10)
    calls = book.of("p", 10)
    assert len(calls) == MAX_ACTIONS and "Call0" not in calls and f"Call{MAX_ACTIONS + 4}" in calls
    assert book.resolve("al_3") == MAX_ACTIONS and len(book) == 0
    for i in range(MAX_ALERTS + 2):
        book.record("q", "DeleteStack", f"al_{i}", 10)
    assert len(book.of("q", 10)["DeleteStack"][0]) == MAX_ALERTS
    book.record("q", "PutUserPolicy", "", 10)  # its page is not named yet
    book.discard("q", "PutUserPolicy")  # ... and was suppressed
    book.discard("q", "DeleteStack")  # named by alerts: kept
    assert set(book.of("q", 10)) == {"DeleteStack"}


AGENT_KEY = _key_push(0).principal_key


def test_a_first_use_on_production_leaves_the_call_elsewhere_the_principals_own() -> None:
    """Fresh seed 1100: a coding agent that pushes code to staging functions all day pushed to a
    production one, which paged. The whole call was left unvetted, so each later push to
    staging was a "first" too and paged, the next day as a new alert. Only what was new --
    the call on production -- stays unvetted: the next push to production pages, staging not."""
    staging = [_key_push(day + 0.2, "i-0staging-web-1") for day in range(4)]
    engine = DetectionEngine(rules=load_rules())
    assert len(_opened(engine, [*_history(), *staging, _key_push(4.5)])) == 1
    assert _grown(engine, [_key_push(5.3, "i-0staging-web-2")]) == []
    assert len(_grown(engine, [_key_push(5.5)])) == 1


def test_a_call_its_context_excused_is_not_the_principals_own_elsewhere() -> None:
    """Fresh seed 1106: a security auditor deleted the GuardDuty detectors of two regions the
    organisation never uses (a clean-up: held), then, 13 minutes later, the detector of the
    region everyone works in -- held as "routine": the clean-up had taught Leash the call.
    A call excused only by its context stays unvetted (here: the next clean-up is held again,
    the main region's deletion pages)."""
    auditor = {"role": "AWSReservedSSO_SecurityAudit_f307", "session": "fatima.sato@example.com"}
    work = [
        make_event(
            eventName="DescribeInstances",
            awsRegion="eu-west-2",
            at=BASE_TIME + day * DAY + timedelta(minutes=minute),
            **auditor,
        )
        for day in range(5)
        for minute in range(0, 240, 3)
    ]

    def delete_detector(minutes: float, region: str) -> AuditEvent:
        return make_event(
            eventName="DeleteDetector",
            eventSource="guardduty.amazonaws.com",
            readOnly=False,
            awsRegion=region,
            requestParameters={"detectorId": f"d{int(minutes)}"},
            at=BASE_TIME + 5 * DAY + timedelta(minutes=minutes),
            **auditor,
        )

    engine = DetectionEngine(rules=load_rules())
    cleanup = [delete_detector(0, "us-west-1"), delete_detector(1.5, "eu-west-1")]
    assert _opened(engine, [*work, *cleanup]) == []
    assert _opened(engine, [delete_detector(5, "sa-east-1")]) == []
    assert len(_opened(engine, [delete_detector(14, "eu-west-2")])) == 1


def test_each_call_lapses_a_week_after_its_own_first_page_whatever_came_later() -> None:
    day = 86_400_000
    book = Unvetted()
    for i, action in enumerate("ABC"):
        book.record("p", action, f"al_{i}", i * day)
    assert set(book.of("p", MAX_AGE_MS)) == {"A", "B", "C"}
    assert set(book.of("p", MAX_AGE_MS + 1)) == {"B", "C"}  # A's week is over
    assert set(book.of("p", day + MAX_AGE_MS + 1)) == {"C"}  # then B's, not yet C's
    assert book.of("p", 2 * day + MAX_AGE_MS + 1) == {}
    book.record("p", "D", "al_3", 20 * day)  # a principal back after its calls lapsed
    book.record("p", "E", "al_4", 21 * day)
    assert set(book.of("p", 20 * day + MAX_AGE_MS + 1)) == {"E"}
