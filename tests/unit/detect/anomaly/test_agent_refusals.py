"""An AI agent refused while it explores waits; refused like a script enumerating, it pages.

A model waits seconds for each answer: a coding agent refused ten different calls over a few
minutes is exploring (its burst waits for a second sign). Fifteen different calls refused
within one minute is a tool enumerating what the credentials may do (seeds 789, 800: CI
agents' stolen sessions were refused 17 different calls in 20 seconds, then read secrets).
"""

from __future__ import annotations

from datetime import timedelta

from detect.engine import DetectionEngine
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

AGENT = {"role": "gha-shipping-ci-agent", "session": "GitHubActions", "userAgent": "Boto3/1.28.27"}
PROBES = (
    "ListPolicies", "ListGroups", "ListUsers", "ListRoles", "ListKeys", "ListSecrets",
    "ListFunctions20150331", "GetAccountSummary", "DescribeParameters", "DescribeSnapshots",
    "DescribeSecurityGroups", "DescribeDBInstances", "GetBucketPolicy", "ListAccounts",
    "GetAccountAuthorizationDetails", "DescribeInstances", "ListBuckets",
)  # fmt: skip


def workdays() -> list[AuditEvent]:
    return [
        make_event(eventName="DescribeStacks", at=BASE_TIME + timedelta(days=d, minutes=m), **AGENT)
        for d in range(4)
        for m in range(0, 60, 2)
    ]


def refused(spacing_s: float, n: int) -> list[AuditEvent]:
    return [
        make_event(
            eventName=action,
            errorCode="AccessDenied",
            errorMessage="not authorized",
            at=BASE_TIME + timedelta(days=4, seconds=spacing_s * i),
            **AGENT,
        )
        for i, action in enumerate(PROBES[:n])
    ]


def opened(events: list[AuditEvent]) -> list[str]:
    engine = DetectionEngine(rules=load_rules())
    changes = engine.process(sorted(events, key=lambda e: e.event_time_ms)).changes
    return [alert.rule for change, alert in changes if change == "alert.opened"]


def test_an_agent_refused_seventeen_calls_in_twenty_seconds_pages() -> None:
    events = [*workdays(), *refused(1.2, 17)]
    assert events[-1].actor_kind == "agent"
    assert opened(events) == ["baseline:denied_burst"]


def test_an_agent_refused_twelve_calls_over_six_minutes_waits() -> None:
    assert opened([*workdays(), *refused(30.0, 12)]) == []


def test_an_agent_refused_seventeen_calls_among_hundreds_a_minute_waits() -> None:
    """Seed 880: a coding agent making two thousand calls a minute had sixteen different ones
    refused in one of them. Refused one call in a hundred it is a busy agent, not a script
    enumerating what its credentials may do."""
    busy = [
        make_event(
            eventName="DescribeStacks",
            at=BASE_TIME + timedelta(days=4, seconds=-30 + 0.2 * i),
            **AGENT,
        )
        for i in range(600)
    ]
    assert opened([*workdays(), *busy, *refused(1.2, 17)]) == []
