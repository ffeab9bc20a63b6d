"""Launching mining-sized compute in a region the organisation never works in pages.

GPU instances anywhere new have paged for long; CPU miners rent the biggest general machines
instead (c5.24xlarge, m6i.32xlarge, metal), and a stolen session launching one in a region
nobody in the organisation uses is the same hijack (seed 842: a person's SSO session from a
new network, `c5.24xlarge` in ap-east-1). The same machine in the organisation's own region is
a workload's, a small one elsewhere is a test, and on an install's first days every region is
one nobody used yet.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from detect.engine import DetectionEngine
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

ACCOUNT = "123456789012"
PERSON = {
    "type": "IAMUser",
    "arn": f"arn:aws:iam::{ACCOUNT}:user/quinn",
    "accountId": ACCOUNT,
    "userName": "quinn",
    "principalId": "AIDAEXAMPLEQUINN",
}
DAY = timedelta(days=1)


def call(action: str, at: datetime, *, region: str = "us-east-1", **params: object) -> AuditEvent:
    return make_event(
        eventName=action,
        eventSource="ec2.amazonaws.com",
        awsRegion=region,
        readOnly=action.startswith("Describe"),
        requestParameters=params or None,
        userIdentity=PERSON,
        userAgent="aws-cli/2.15.30 Python/3.11.8 Linux/6.5",
        at=at,
    )


def workdays(days: int) -> list[AuditEvent]:
    """The person's days in the organisation's one region (us-east-1)."""
    return [
        call("DescribeInstances", BASE_TIME + day * DAY + timedelta(minutes=3 * n))
        for day in range(days)
        for n in range(80)
    ]


def launch(instance_type: str, region: str, at: datetime) -> AuditEvent:
    return call("RunInstances", at, region=region, instanceType=instance_type, minCount=4)


def opened(events: list[AuditEvent]) -> list[str]:
    engine = DetectionEngine(rules=load_rules())
    changes = engine.process(sorted(events, key=lambda e: e.event_time_ms)).changes
    return [alert.rule for change, alert in changes if change == "alert.opened"]


def test_mining_sized_cpu_machines_in_an_unused_region_page() -> None:
    for big in ("c5.24xlarge", "m6i.32xlarge", "c6i.metal", "r5.8xlarge"):
        at = BASE_TIME + 4 * DAY + timedelta(hours=5)
        assert opened([*workdays(4), launch(big, "ap-east-1", at)]) == [
            "baseline:compute_hijack"
        ], big


def test_the_same_machines_at_home_a_small_one_elsewhere_or_on_day_one_do_not() -> None:
    at = BASE_TIME + 4 * DAY + timedelta(hours=5)
    assert opened([*workdays(4), launch("c5.24xlarge", "us-east-1", at)]) == []
    assert opened([*workdays(4), launch("t3.large", "ap-east-1", at)]) == []
    assert opened([*workdays(4), launch("c5.4xlarge", "ap-east-1", at)]) == []
    first_day = BASE_TIME + timedelta(hours=5)
    assert opened([*workdays(1), launch("c5.24xlarge", "ap-east-1", first_day)]) == []
