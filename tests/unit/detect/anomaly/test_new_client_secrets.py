"""An AI agent's or a workload's secrets read through a client it never used page.

Seed 930: a coding agent's ECS session read 18 secrets and 9 parameter sets through curl in four
minutes -- fewer than its busiest ten minutes, from its usual network -- and only a note said
"a new client". Its keys were in another tool's hands.
"""

from __future__ import annotations

from datetime import timedelta

from detect.engine import DetectionEngine
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

AGENT = {"role": "coding-agent", "session": "devin-session-89a7", "sourceIPAddress": "10.0.3.7"}
PERSON = {
    "userIdentity": {
        "type": "IAMUser",
        "arn": "arn:aws:iam::123456789012:user/uma",
        "accountId": "123456789012",
        "userName": "uma",
        "principalId": "AIDAEXAMPLE",
    },
    "sourceIPAddress": "96.82.134.157",
}
BOTO = "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.1.0"
CURL = "curl/8.5.0"
DAY = timedelta(days=1)
START = BASE_TIME + 4 * DAY


def _history(who: dict[str, object]) -> list[AuditEvent]:
    """Four days through Boto3 (and once the aws CLI), reading two secrets now and then."""
    events = []
    for day in range(4):
        for minute in range(0, 60, 3):
            events.append(
                make_event(
                    eventName="DescribeInstances",
                    userAgent="aws-cli/2.15.30" if (day, minute) == (0, 0) else BOTO,
                    at=BASE_TIME + day * DAY + timedelta(minutes=minute),
                    **who,
                )
            )
        events += [_secret(f"app/{day}/{i}", BASE_TIME + day * DAY, BOTO, who) for i in range(2)]
    return events


def _secret(name: str, at: object, agent: str, who: dict[str, object]) -> AuditEvent:
    return make_event(
        eventName="GetSecretValue",
        eventSource="secretsmanager.amazonaws.com",
        requestParameters={"secretId": name},
        userAgent=agent,
        at=at,
        **who,
    )


def _sweep(
    client: str, who: dict[str, object], n: int = 5, *, identify: bool = True
) -> list[AuditEvent]:
    """`n` secrets through `client`, after a GetCallerIdentity (or starting with them)."""
    first = make_event(eventName="GetCallerIdentity", userAgent=client, at=START, **who)
    reads = [
        _secret(f"prod/payments/{i}", START + timedelta(seconds=20 * (i + 1)), client, who)
        for i in range(n)
    ]
    return [first, *reads] if identify else reads


def opened(events: list[AuditEvent]) -> list[str]:
    engine = DetectionEngine(rules=load_rules())
    changes = engine.process(sorted(events, key=lambda e: e.event_time_ms)).changes
    return [alert.rule for change, alert in changes if change == "alert.opened"]


WORKLOAD = {"role": "kyc-task", "session": "9f3c0e1d", "sourceIPAddress": "10.0.8.21"}


def test_an_agents_or_a_workloads_secrets_read_through_a_new_client_page() -> None:
    for who in (AGENT, WORKLOAD):
        sweep = _sweep(CURL, who)
        assert opened([*_history(who), *sweep]) == ["baseline:new_client_secrets"]
    assert opened([*_history(AGENT), *_sweep(CURL, AGENT, n=4)]) == []  # fewer: a note
    # the first call through the new client is itself one of the five
    first = _sweep("python-requests/2.31.0", AGENT, identify=False)
    assert opened([*_history(AGENT), *first]) == ["baseline:new_client_secrets"]


def test_aws_tooling_new_to_the_principal_does_not() -> None:
    """A service moved from aws-sdk-go to aws-sdk-go-v2, or an agent's first Terraform plan,
    reads its configuration through tooling."""
    for client in ("aws-sdk-go-v2/1.30.3", "APN/1.0 HashiCorp/1.0 Terraform/1.8.5"):
        assert opened([*_history(AGENT), *_sweep(client, AGENT)]) == [], client


def test_the_same_reads_through_its_own_client_or_by_a_person_do_not() -> None:
    assert opened([*_history(AGENT), *_sweep(BOTO, AGENT)]) == []
    # people change tools (a new laptop, a script): a new client is no sign of theirs
    assert opened([*_history(PERSON), *_sweep(CURL, PERSON)]) == []
