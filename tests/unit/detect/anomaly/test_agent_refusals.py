"""An AI agent refused while it explores waits; refused like a script enumerating, it pages.

A model waits seconds for each answer: a coding agent refused ten different calls over a few
minutes is exploring (its burst waits for a second sign). Fifteen different calls refused
within one minute is a tool enumerating what the credentials may do (seeds 789, 800: CI
agents' stolen sessions were refused 17 different calls in 20 seconds, then read secrets).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from detect.engine import DetectionEngine
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

BASE_MS = int(BASE_TIME.timestamp() * 1000)
DAY_MS = 86_400_000

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


def busy_hour(ip: str) -> list[AuditEvent]:
    """Its usual reads (20 objects every 10 minutes) for four days; then 600 calls in 24 s,
    one in five an object read (6x its own high), from `ip`, and 17 different calls refused
    (under 3% of its calls, as a busy hour's: 1% on 1031 and 1033)."""
    usual = [
        make_event(
            eventName="GetObject",
            eventSource="s3.amazonaws.com",
            requestParameters={"bucketName": "build-cache", "key": f"k{d}-{n}"},
            at=BASE_TIME + timedelta(days=d, seconds=30 * n + 15),
            **AGENT,
        )
        for d in range(4)
        for n in range(120)
    ]
    hour = [
        make_event(
            eventName="GetObject" if i % 5 == 0 else "DescribeStacks",
            eventSource="s3.amazonaws.com" if i % 5 == 0 else "cloudformation.amazonaws.com",
            requestParameters={"bucketName": "build-cache", "key": f"now-{i}"},
            at=BASE_TIME + timedelta(days=4, seconds=-5 + 0.04 * i),
            sourceIPAddress=ip,
            **AGENT,
        )
        for i in range(600)
    ]
    refusals = [replace(e, source_ip=ip) for e in refused(1.2, 17)]
    return [*workdays(), *usual, *hour, *refusals]


def test_a_busy_agents_refusals_and_reads_are_one_busy_hour_not_two_signs() -> None:
    """Fresh seeds 1031, 1033: a coding agent's busy hour -- 1,400 calls a minute, sixteen
    different ones refused among them, ten times its usual object reads -- paged as refusals
    corroborated by reads. Both rose with its volume: one sign, which waits. The same hour
    from a network the agent never used pages."""
    assert opened(busy_hour("203.0.113.10")) == []
    assert opened(busy_hour("198.51.100.77")) != []


def _download(n: int, start_s: float, step_s: float) -> list[AuditEvent]:
    return [
        make_event(
            eventName="GetObject",
            eventSource="s3.amazonaws.com",
            requestParameters={"bucketName": "build-cache", "key": f"x-{i}"},
            at=BASE_TIME + timedelta(days=4, seconds=start_s + step_s * i),
            **AGENT,
        )
        for i in range(n)
    ]


def test_an_agent_downloading_while_enumerating_from_its_own_network_pages() -> None:
    """A prompt-injected agent on its own runner: 150 objects (7x its high: held) and 17
    different calls refused in 20 s. Its download dilutes the refused share to 10%: not the
    1% of a busy hour, so the refusals still corroborate the reads (review of e942a23)."""
    usual = [e for e in busy_hour("203.0.113.10") if e.event_time_ms < BASE_MS + 4 * DAY_MS]
    assert opened([*usual, *_download(150, -10, 0.2), *refused(1.2, 17)]) != []


def test_a_quiet_agents_slow_probe_after_a_download_pages() -> None:
    """Nine different calls refused over nine minutes, each among ten calls that work (2 of
    its last 12 calls refused), after a 150-object download (review of e942a23)."""
    probe: list[AuditEvent] = []
    for i, action in enumerate(PROBES[:9]):
        at = 120 + 60 * i
        probe.append(
            make_event(
                eventName=action,
                errorCode="AccessDenied",
                errorMessage="not authorized",
                at=BASE_TIME + timedelta(days=4, seconds=at),
                **AGENT,
            )
        )
        probe += [
            make_event(
                eventName="GetCallerIdentity",
                eventSource="sts.amazonaws.com",
                at=BASE_TIME + timedelta(days=4, seconds=at + 3 + 4 * j),
                **AGENT,
            )
            for j in range(10)
        ]
    usual = [e for e in busy_hour("203.0.113.10") if e.event_time_ms < BASE_MS + 4 * DAY_MS]
    assert opened([*usual, *_download(150, 0, 0.4), *probe]) != []
