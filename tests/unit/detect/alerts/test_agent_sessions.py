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
LANGCHAIN = "langchain/0.2.1 Boto3/1.34.0 md/Botocore#1.34.0"


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


def test_an_agents_sessions_are_one_incident_anyone_elses_their_own() -> None:
    """By name (the identity settings' agent patterns), not by the per-event actor kind."""
    for session in ("data-agent", "data-agent-42f5", "ops-7f3a"):
        assert incident_key(f"{ROLE}/{session}") == ROLE  # the role's name says agent
    ops = "arn:aws:sts::123456789012:assumed-role/ops"
    assert incident_key(f"{ops}/ops-agent-1ac1") == ops  # the session's name says agent
    for other in ("fleet-node/ip-10-0-1-23", "workers/worker-1", "backup/prune-2026-11-05"):
        key = f"arn:aws:sts::123456789012:assumed-role/{other}"
        assert incident_key(key) == key  # hosts, workers, jobs: each its own (review)
    sso = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Dev_1a2b"
    assert incident_key(f"{sso}/alice@acme.com") != incident_key(f"{sso}/bob@acme.com")
    support = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_SupportAgent_9f8e"
    assert incident_key(f"{support}/alice@acme.com") == f"{support}/alice@acme.com"  # people
    named = "arn:aws:sts::123456789012:assumed-role/agent-sandbox/maria@acme.com"
    assert incident_key(named) == named  # an e-mail session is a person's
    ssm = "arn:aws:sts::123456789012:assumed-role/fleet-ssm-agent/web-1"
    assert incident_key(ssm) == ssm  # a host's software agent, not an AI
    user = "arn:aws:iam::123456789012:user/ci-2"
    assert incident_key(user) == user


def test_a_spree_continued_from_a_per_run_session_is_the_same_alert() -> None:
    """`data-agent`, then `agent-run-7f3a` -- keyed by the role by ingest (review: a stem of the
    session name split these)."""
    first = spree("data-agent", timedelta(hours=2))
    second = spree("agent-run-7f3a", timedelta(hours=2, minutes=4))
    assert second[0].principal_key == ROLE
    opened, _ = opened_and_last(first + second)
    assert len(opened) == 1


def test_two_people_using_an_ai_tool_in_one_sso_role_are_two_alerts() -> None:
    """An AI tool's user agent makes a person's session an "agent" (ingest.identity), but two
    e-mail sessions are two people (review: by actor kind, they were merged)."""
    people = [
        make_event(
            eventName="DeleteTable",
            eventSource="dynamodb.amazonaws.com",
            readOnly=False,
            requestParameters={"tableName": f"prod-{who}-{n}"},
            role="AWSReservedSSO_Dev_1a2b",
            session=f"{who}@acme.com",
            userAgent=UA,
            at=BASE_TIME + timedelta(hours=2, minutes=4 * (who == "bob"), seconds=2 * n),
        )
        for who in ("alice", "bob")
        for n in range(8)
    ]
    assert {e.actor_kind for e in people} == {"agent"}
    opened, _ = opened_and_last(people)
    assert len(opened) == 2


def test_one_session_whose_tool_changes_its_kind_stays_one_alert() -> None:
    """A person's session at the CLI, then the same session driven by an agent framework: the
    kind changes per event (its user agent), the incident does not (review: keyed by kind, the
    second trail stopped opened a second alert)."""
    cli = "aws-cli/2.15.30 Python/3.11.8 Linux/6.5"

    def call(n: int, action: str, source: str, params: dict[str, str], ua: str) -> AuditEvent:
        return make_event(
            eventName=action,
            eventSource=f"{source}.amazonaws.com",
            readOnly=False,
            requestParameters=params,
            role="platform-admin",
            session="alice",
            userAgent=ua,
            at=BASE_TIME + timedelta(hours=2, seconds=2 * n),
        )

    calls = [
        *(
            call(n, "DeleteTable", "dynamodb", {"tableName": f"prod-orders-{n}"}, cli)
            for n in range(4)
        ),
        call(4, "StopLogging", "cloudtrail", {"name": "org-trail"}, cli),
        call(5, "StopLogging", "cloudtrail", {"name": "audit-trail"}, LANGCHAIN),
    ]
    assert [e.actor_kind for e in calls[4:]] == ["human", "agent"]
    opened, _ = opened_and_last(calls)
    assert len(opened) == 1


def test_resolving_the_one_alert_clears_both_sessions_compromise_marks() -> None:
    engine = DetectionEngine(rules=load_rules())
    stop = [
        make_event(
            eventName=action,
            eventSource="cloudtrail.amazonaws.com",
            readOnly=False,
            requestParameters={"name": "org-trail"},
            role="ai-data-claude-code",
            session=session,
            userAgent=UA,
            at=BASE_TIME + timedelta(hours=2, minutes=minute),
        )
        for action, session, minute in (
            ("StopLogging", "data-agent", 0),
            ("DeleteTrail", "data-agent-42f5", 2),
        )
    ]
    ids = {a.id for e in stop for _, a in engine.process([e]).changes}
    at = stop[-1].event_time_ms
    marked = [engine.org.compromised(e.principal_key, at) for e in stop]
    for alert_id in ids:
        engine.set_status(alert_id, "resolved")
    assert len(ids) == 1
    assert [engine.org.compromised(e.principal_key, at) for e in stop] == [False, False]
    assert marked == [True, True]


def test_after_a_restart_the_adopted_incident_takes_the_other_session() -> None:
    first = spree("data-agent", timedelta(hours=2))
    engine = DetectionEngine(rules=load_rules())
    alerts = [a for e in first for _, a in engine.process([e]).changes]
    book = AlertBook(quiet_gap_ms=30 * 60_000)
    book.adopt([alerts[-1]])
    assert book.current(f"{ROLE}/data-agent-42f5") == alerts[-1]
    assert book.current("arn:aws:sts::123456789012:assumed-role/etl-nightly/etl") is None
    engine2 = DetectionEngine(rules=load_rules())
    engine2.book.adopt([alerts[-1]])
    second = spree("data-agent-42f5", timedelta(hours=2, minutes=4))
    changes = [c for e in second for c in engine2.process([e]).changes]
    assert {a.id for _, a in changes} == {alerts[-1].id}
    assert [kind for kind, _ in changes][0] == "alert.updated"
