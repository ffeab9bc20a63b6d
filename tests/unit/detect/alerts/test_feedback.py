"""False-positive feedback learns: the same pattern by that principal does not page again.

Measured on the engine with real rules: a person deleting a CloudTrail trail pages (an evasion
red flag); an analyst marks it false positive (their trail-rotation routine); the same call by the
same person a day later opens nothing, the same call by someone else still pages, and the
marked pattern joined by a different detector on another call pages again.
"""

from __future__ import annotations

from datetime import timedelta

from detect.alerts.alert import Alert, AlertStore
from detect.alerts.feedback import FalsePositives
from detect.engine import DetectionEngine
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.conftest import ADMIN_KEY, auth
from tests.factories import BASE_TIME, make_event
from tests.unit.detect.response.test_webhooks import ResponseEnv, env, make_alert

__all__ = ["env"]

PERSON = {"role": "AWSReservedSSO_Admin_4f2a9c1e", "session": "carol@example.com"}
OTHER = {"role": "AWSReservedSSO_Admin_4f2a9c1e", "session": "dave@example.com"}


def delete_trail(day: int, trail: str, who: dict[str, str] = PERSON) -> AuditEvent:
    return make_event(
        eventName="DeleteTrail",
        eventSource="cloudtrail.amazonaws.com",
        requestParameters={"name": trail},
        at=BASE_TIME + timedelta(days=day),
        **who,
    )


def attach_admin(day: int, who: dict[str, str] = PERSON) -> AuditEvent:
    return make_event(
        eventName="AttachUserPolicy",
        eventSource="iam.amazonaws.com",
        requestParameters={
            "userName": "svc-reporting",
            "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess",
        },
        at=BASE_TIME + timedelta(days=day, minutes=5),
        **who,
    )


def opened(engine: DetectionEngine, *events: AuditEvent) -> list[Alert]:
    """The alerts these events open (not the ones they only grow)."""
    changes = engine.process(list(events)).changes
    return [alert for change, alert in changes if change == "alert.opened"]


def test_a_false_positive_pattern_does_not_page_again_for_that_principal() -> None:
    verdicts = FalsePositives()
    engine = DetectionEngine(rules=load_rules(), false_positive=verdicts)
    (alert,) = opened(engine, delete_trail(0, "audit-2026-q1"))
    verdicts.add(alert.principal, alert.rules)  # what POST .../false-positive records
    engine.book.set_status(alert.id, "resolved")

    assert opened(engine, delete_trail(1, "audit-2026-q2")) == []  # same pattern, same person
    assert len(opened(engine, delete_trail(1, "audit-2026-q2", who=OTHER))) == 1  # not theirs
    # the held pattern is still evidence: a different detector on another call pages
    assert len(opened(engine, delete_trail(2, "audit-2026-q3"), attach_admin(2))) == 1


def test_without_the_verdict_the_same_pattern_pages_again() -> None:
    """The control: the second trail deletion pages when nobody marked the first."""
    engine = DetectionEngine(rules=load_rules())
    (first,) = opened(engine, delete_trail(0, "audit-2026-q1"))
    engine.book.set_status(first.id, "resolved")
    assert len(opened(engine, delete_trail(1, "audit-2026-q2"))) == 1


def test_the_api_verdict_reaches_detection_and_survives_a_restart(env: ResponseEnv) -> None:
    alerts = AlertStore(env.runtime.store)
    alert = make_alert(severity="high")
    alerts.save([alert])
    response = env.client.post(
        "/v1/alerts/al_test1/false-positive",
        json={"note": "trail rotation"},
        headers=auth(ADMIN_KEY),
    )
    assert response.status_code == 200, response.text
    for rule in alert.rules:
        assert env.services.false_positives(alert.principal, rule)
    restarted = FalsePositives()
    assert not restarted(alert.principal, alert.rule)
    assert restarted.load(env.runtime.store) == 1
    assert all(restarted(alert.principal, rule) for rule in alert.rules)
