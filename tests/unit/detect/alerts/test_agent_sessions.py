"""An AI agent's spree that goes on in a new session is one alert.

A role session with a stable name is its own principal (ingest.identity): `data-agent` and
`data-agent-42f5` are two. For people that is right (two people in one SSO role are two), but an
agent that carries on from a new session is the same actor doing the same thing (fresh seeds
1158 and 1160: one agent's deletes across two sessions, minutes apart, paged twice).
"""

from __future__ import annotations

from datetime import timedelta

from detect.alerts.incidents import AlertBook, incident_key
from detect.engine import DetectionEngine
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

ROLE = "arn:aws:sts::123456789012:assumed-role/ai-data-claude-code"
UA = "claude-code/1.0.23 Boto3/1.32.1 md/Botocore#1.32.1 ua/2.0 os/linux#6.1"


def delete(session: str, n: int, at: timedelta) -> AuditEvent:
    return make_event(
        eventName="DeleteTable",
        eventSource="dynamodb.amazonaws.com",
        readOnly=False,
        requestParameters={"tableName": f"prod-ledger-{session}-{n}"},
        role="ai-data-claude-code",
        session=session,
        userAgent=UA,
        sourceIPAddress="44.253.36.73",
        at=BASE_TIME + at,
    )


def spree(session: str, start: timedelta) -> list[AuditEvent]:
    return [delete(session, n, start + timedelta(seconds=2 * n)) for n in range(8)]


def opened_and_last(events: list[AuditEvent]) -> tuple[list[str], dict[str, object]]:
    engine = DetectionEngine(rules=load_rules())
    opened, last = [], {}
    for event in events:
        for kind, alert in engine.process([event]).changes:
            if kind == "alert.opened":
                opened.append(alert.id)
            last = dict(alert.explanation)
    return opened, last


def test_an_agents_spree_continued_from_a_new_session_is_one_alert_naming_both() -> None:
    first = spree("data-agent", timedelta(hours=2))
    second = spree("data-agent-42f5", timedelta(hours=2, minutes=4))
    assert {e.actor_kind for e in first + second} == {"agent"}
    assert first[0].principal_key != second[0].principal_key  # two principals to detection
    opened, explanation = opened_and_last(first + second)
    assert len(opened) == 1
    assert explanation["principals"] == sorted({first[0].principal_key, second[0].principal_key})


def test_a_person_s_sessions_of_one_role_stay_their_own() -> None:
    alice = f"{ROLE.replace('ai-data-claude-code', 'AWSReservedSSO_Dev_1a2b')}/alice@acme.com"
    bob = alice.replace("alice", "bob")
    assert incident_key(alice, "human") == alice
    assert incident_key(bob, "human") != incident_key(alice, "human")
    assert incident_key(f"{ROLE}/data-agent-42f5", "agent") == ROLE
    assert incident_key("arn:aws:iam::123456789012:user/ci", "agent") == (
        "arn:aws:iam::123456789012:user/ci"
    )


def test_after_a_restart_the_adopted_incident_takes_the_other_session() -> None:
    first = spree("data-agent", timedelta(hours=2))
    engine = DetectionEngine(rules=load_rules())
    alerts = [a for e in first for _, a in engine.process([e]).changes]
    book = AlertBook(quiet_gap_ms=30 * 60_000)
    book.adopt([alerts[-1]])
    other = f"{ROLE}/data-agent-42f5"
    assert book.current(other, "agent") == alerts[-1]
    assert book.current(other, "service") is None
