"""A sensitive call first made in an alert that paged is not learned until the alert is
resolved (detect.anomaly.vetting).

Fresh seed 1050: an AI agent's first EC2 Instance Connect key push to a production host paged;
nobody resolved the alert, and the same agent's next push a day later was held as its routine
-- the first one had taught Leash the call.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from detect.anomaly.vetting import MAX_ACTIONS, MAX_AGE_MS, Unvetted
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


def test_the_second_key_push_pages_while_the_first_ones_alert_is_open() -> None:
    engine = DetectionEngine(rules=load_rules())
    first = _opened(engine, [*_history(), _key_push(4.5)])
    assert len(first) == 1
    again = _opened(engine, [_key_push(5.5)])
    assert len(again) == 1 and again != first
    alert = engine.book.current(AGENT_KEY)
    assert alert is not None and "baseline:first_access_grant" in alert.rules


def test_once_the_alert_is_resolved_the_call_is_the_agents_own() -> None:
    engine = DetectionEngine(rules=load_rules())
    [first] = _opened(engine, [*_history(), _key_push(4.5)])
    engine.set_status(first, "resolved")
    assert _opened(engine, [_key_push(5.5)]) == []
    assert len(engine.unvetted) == 0


def test_acknowledging_is_not_resolving() -> None:
    engine = DetectionEngine(rules=load_rules())
    [first] = _opened(engine, [*_history(), _key_push(4.5)])
    engine.set_status(first, "acknowledged")
    assert len(_opened(engine, [_key_push(5.5)])) == 1


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


def test_unvetted_calls_lapse_after_a_week_and_are_bounded() -> None:
    book = Unvetted()
    book.record("p", "SendSSHPublicKey", "al_1", 0)
    assert "SendSSHPublicKey" in book.of("p", MAX_AGE_MS)
    assert book.of("p", MAX_AGE_MS + 1) == {}
    assert len(book) == 0
    for i in range(MAX_ACTIONS + 5):
        book.record("p", f"Call{i}", "al_2", 10)
    calls = book.of("p", 10)
    assert len(calls) == MAX_ACTIONS and "Call0" not in calls and f"Call{MAX_ACTIONS + 4}" in calls
    assert book.resolve("al_2") == MAX_ACTIONS and len(book) == 0


AGENT_KEY = _key_push(0).principal_key
