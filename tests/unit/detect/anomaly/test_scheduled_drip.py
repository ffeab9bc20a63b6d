"""A young AI agent's drip of lasting deletes at the hours it ran before waits for another sign
(fresh seed 1514's retention agent paged twice on the install's second day); stolen credentials
in the same hour, a drip begun off schedule and production still page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from detect.context.triage import SCHEDULED
from detect.engine import DetectionEngine
from detect.findings import Finding
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

MIDNIGHT = BASE_TIME.replace(hour=0)  # BASE_TIME is 09:00 UTC
JANITOR = {"role": "retention-agent", "session": "janitor", "userAgent": "Boto3/1.34.10"}


def calls(minutes: list[float], action: str = "DeleteSnapshot", **kw: Any) -> list[AuditEvent]:
    prefix = kw.pop("prefix", "snap")
    fields = {**JANITOR, **kw}
    return [
        make_event(
            eventName=action,
            eventSource="ec2.amazonaws.com",
            requestParameters={"snapshotId": f"{prefix}-{m:07.1f}"}
            if action == "DeleteSnapshot"
            else {},
            at=MIDNIGHT + timedelta(minutes=m),
            **fields,
        )
        for m in minutes
    ]


def second_day(events: list[AuditEvent]) -> tuple[list[str], list[Finding]]:
    """A retention agent's first day (5 snapshots at 10:00 and at 18:00, 40 minutes of reads:
    mature), then `events`; the rules of the alerts they open, and its findings waiting."""
    engine = DetectionEngine(rules=load_rules())
    first_day = sorted(
        calls([720 + m for m in range(40)], "DescribeSnapshots")
        + calls([600 + i / 3 for i in range(5)])
        + calls([1080 + i / 3 for i in range(5)]),
        key=lambda e: e.event_time_ms,
    )
    engine.process(first_day)
    opened = [a.rule for c, a in engine.process(events).changes if c == "alert.opened"]
    return opened, engine.pager.waiting(events[0].principal_key)


def run_at(hour: float, n: int = 45, step: float = 0.5, **kw: Any) -> list[AuditEvent]:
    return calls([1440 + 60 * hour + i * step for i in range(n)], **kw)


def test_a_young_agents_drip_on_schedule_is_held_and_off_schedule_pages() -> None:
    opened, waiting = second_day(run_at(10))
    assert opened == []
    held = [f for f in waiting if f.explanation.get("on_schedule")]
    assert held and {f.tier for f in held} == {"hold"} and {f.twin for f in held} == {SCHEDULED}
    assert second_day(run_at(14))[0] == ["baseline:slow_lasting_destruction"]


def test_the_same_hour_through_another_client_pages() -> None:
    """Stolen credentials at the job's hour, through the attacker's own CLI."""
    opened, _ = second_day(run_at(10, userAgent="aws-cli/2.15.30 Python/3.11.8 Linux/6.5"))
    assert "baseline:slow_lasting_destruction" in opened


def test_a_drip_begun_off_schedule_pages_when_it_reaches_the_hour() -> None:
    early = calls([1440 + 260 + 20 * i for i in range(17)])  # one every 20 min from 04:20
    opened, _ = second_day([*early, *run_at(10, n=10)])
    assert "baseline:slow_lasting_destruction" in opened


def test_production_on_schedule_pages() -> None:
    # one every 150 s: under production's catastrophic count (5 in 10 minutes)
    opened, _ = second_day(run_at(10, n=22, step=2.5, prefix="orders-prod-db-snap"))
    assert "baseline:slow_lasting_destruction" in opened
