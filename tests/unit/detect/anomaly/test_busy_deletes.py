"""Deletes that rose with an AI agent's whole volume are a busy hour, not a spree.

Fresh seed 1129, a baseline day: a coding agent's busiest hour made 3,637 calls in ten minutes
(its usual high 1,688), 22 of them deletes of scratch objects (its usual 7), and paged critical
on the count of deletes alone. The same deletes as a fifth of what the session does page.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from detect.anomaly.baseline import BUSY_DELETE_SHARE
from detect.engine import DetectionEngine
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

AGENT = {"role": "coding-agent", "session": "agent-run-dc5c12b6", "userAgent": "Boto3/1.34.0"}
RULE = "baseline:destructive_burst"
DAY = timedelta(days=1)


CI = {"role": "ci-deployer", "session": "gha-6579069370", "userAgent": "Boto3/1.34.0"}


def _object(action: str, key: str, at: datetime, who: dict[str, str]) -> AuditEvent:
    return make_event(
        eventName=action,
        eventSource="s3.amazonaws.com",
        requestParameters={"bucketName": "acme-staging-builds", "key": key},
        at=at,
        **who,
    )


def _session(start: datetime, calls: int, deletes: int) -> list[AuditEvent]:
    """`calls` calls over nine minutes, `deletes` of them deletes of the build outputs the CI
    wrote an hour before (not lasting: made within the day, by someone else), the rest reads."""
    step = 540 / calls
    every = calls // max(deletes, 1)
    written = [
        _object("PutObject", f"out/{n}.json", start - timedelta(hours=1), CI)
        for n in range(deletes)
    ]
    work = [
        _object(
            "DeleteObject" if i % every == 0 and i // every < deletes else "GetObject",
            f"out/{i // every}.json" if i % every == 0 else f"src/{i}.json",
            start + timedelta(seconds=step * i),
            AGENT,
        )
        for i in range(calls)
    ]
    return [*written, *work]


def _days() -> list[AuditEvent]:
    """Four days, each with a busy ten minutes: 600 calls, 7 of them deletes; and two hours of
    lighter work so the agent's minutes add up."""
    events = []
    for day in range(4):
        start = BASE_TIME + day * DAY + timedelta(hours=9)
        events += _session(start, 600, 7)
        events += _session(start + timedelta(hours=2), 120, 2)
        events += _session(start + timedelta(hours=4), 120, 2)
    return events


def _rules(events: list[AuditEvent]) -> set[str]:
    engine = DetectionEngine(rules=load_rules())
    found: set[str] = set()
    for event in events:
        for _, alert in engine.process([event]).changes:
            found.update(alert.rules)
    return found


def test_a_busy_hours_deletes_wait_for_a_second_sign() -> None:
    """30 deletes, over 3x its usual 7 (an agent deleting daily pages at 3x), among 2,000
    calls (1.5%)."""
    today = _session(BASE_TIME + 4 * DAY + timedelta(hours=9), 2000, 30)
    assert today[-1].actor_kind == "agent"
    assert BUSY_DELETE_SHARE * 2000 >= 30
    assert RULE not in _rules([*_days(), *today])


def test_the_same_deletes_as_a_fifth_of_the_session_page() -> None:
    today = _session(BASE_TIME + 4 * DAY + timedelta(hours=9), 150, 30)
    assert RULE in _rules([*_days(), *today])
