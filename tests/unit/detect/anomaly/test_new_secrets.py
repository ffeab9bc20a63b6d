"""Secrets a known principal never read, opened in a row, are context that corroborates."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from detect.anomaly.behaviour import BehaviourDetector, Novelty
from detect.context.org import OrgMemory
from detect.features import PrincipalState
from detect.findings import Finding
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

PERSON: dict[str, Any] = {
    "role": "AWSReservedSSO_DeveloperAccess_5c1e2f",
    "session": "dana@example.com",
}


def secret(name: str, day: int, minute: float) -> AuditEvent:
    return make_event(
        eventName="GetSecretValue",
        eventSource="secretsmanager.amazonaws.com",
        requestParameters={"secretId": name},
        at=BASE_TIME + timedelta(days=day, minutes=minute),
        **PERSON,
    )


def run(events: list[AuditEvent]) -> list[list[Finding]]:
    detector = BehaviourDetector(OrgMemory())
    state = PrincipalState(events[0].principal_key, events[0].actor_kind)
    out = []
    for e in events:
        new = Novelty.of(state, e)
        state.observe(e)
        out.append(
            [f for f in detector.evaluate(state, e, new) if f.rule == "baseline:new_secrets"]
        )
    return out


def history() -> list[AuditEvent]:
    """Four days of reading the team's two secrets, 40 minutes a day."""
    return [
        secret(name, day, minute)
        for day in range(4)
        for minute in range(0, 40, 2)
        for name in ("dev/reports/db", "dev/reports/api-key")
    ]


def test_three_secrets_never_read_before_make_a_note() -> None:
    names = ("stripe", "oauth", "smtp")
    new = [secret(f"prod/payments/{n}", 4, 10 + i) for i, n in enumerate(names)]
    found = run([*history(), *new])
    notes = [f for fs in found[-3:] for f in fs]
    assert [f.summary.split()[0] for f in notes] == ["3"]
    assert notes[0].event_ids == tuple(e.event_id for e in new)


def test_the_usual_secrets_and_a_young_principals_first_reads_do_not() -> None:
    usual = [secret("dev/reports/db", 4, 10 + n) for n in range(5)]
    assert not any(run([*history(), *usual])[-5:])
    first_day = [secret(f"prod/payments/{n}", 0, n) for n in range(6)]
    assert not any(run(first_day))
