"""A burst of denied calls is judged against the principal's own denials, over 10 minutes and
over one minute.

A deploy role whose Terraform plan is refused ten different calls over ten minutes every day
has made that its normal; the same role refused twenty different calls within thirty seconds
of a fresh session (stolen OIDC credentials enumerating what they may do, the shape of
Stratus' and Pacu's enumeration) has not.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from detect.engine import DetectionEngine
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

CI = {"role": "gha-chat-deploy", "session": "GitHubActions", "userAgent": "Boto3/1.34.0"}
CALLS = [
    ("iam", "ListPolicies"), ("rds", "DescribeDBInstances"), ("s3", "ListBuckets"),
    ("organizations", "ListAccounts"), ("iam", "ListGroups"), ("iam", "GetAccountSummary"),
    ("secretsmanager", "ListSecrets"), ("kms", "ListKeys"), ("ec2", "DescribeSecurityGroups"),
    ("ec2", "DescribeSnapshots"), ("iam", "ListRoles"), ("lambda", "ListFunctions20150331"),
    ("ssm", "DescribeParameters"), ("iam", "ListUsers"), ("iam", "GetAccountAuthorizationDetails"),
    ("sts", "GetCallerIdentity"), ("dynamodb", "ListTables"), ("sns", "ListTopics"),
    ("sqs", "ListQueues"), ("ecr", "DescribeRepositories"),
]  # fmt: skip


def refused(
    start: datetime, calls: int, seconds_apart: float, pool: list[tuple[str, str]] = CALLS
) -> list[AuditEvent]:
    """The first `calls` of `pool` refused to the CI role, `seconds_apart` from `start`."""
    return [
        make_event(
            eventName=name,
            eventSource=f"{service}.amazonaws.com",
            errorCode="AccessDenied",
            errorMessage="User is not authorized to perform this operation",
            at=start + timedelta(seconds=i * seconds_apart),
            **CI,
        )
        for i, (service, name) in enumerate(pool[:calls])
    ]


def deploy_day(day: int) -> list[AuditEvent]:
    start = BASE_TIME + timedelta(days=day)
    work = [
        make_event(eventName="DescribeStacks", at=start + timedelta(minutes=m), **CI)
        for m in range(0, 40, 2)
    ]
    return work + refused(start + timedelta(minutes=5), 10, 60)  # ten over ten minutes


def opened(events: list[AuditEvent]) -> list[str]:
    engine = DetectionEngine(rules=load_rules())
    changes = engine.process(sorted(events, key=lambda e: e.event_time_ms)).changes
    return [alert.rule for change, alert in changes if change == "alert.opened"]


HISTORY = [e for day in range(6) for e in deploy_day(day)]


def test_its_usual_slow_refusals_do_not_page() -> None:
    assert opened([*HISTORY, *deploy_day(6)]) == []


def test_twenty_refusals_in_thirty_seconds_page() -> None:
    burst = refused(BASE_TIME + timedelta(days=6, hours=3), 20, 1.5)
    assert opened([*HISTORY, *burst]) == ["baseline:denied_burst"]


OWN = CALLS[10:20]  # calls the role makes, and that work, every day


def working_day(day: int) -> list[AuditEvent]:
    start = BASE_TIME + timedelta(days=day)
    return [
        make_event(
            eventName=name,
            eventSource=f"{service}.amazonaws.com",
            at=start + timedelta(minutes=2 * i),
            **CI,
        )
        for i, (service, name) in enumerate(OWN)
    ]


def refused_own(start: datetime) -> list[AuditEvent]:
    return refused(start, len(OWN), 50, OWN)


def test_refusals_of_its_own_working_calls_are_a_changed_permission_not_a_probe() -> None:
    """Fresh seed 1058: a CI role refused nine of its own deploy calls in ten minutes (a
    permission that changed or ran out) paged as probing. A probe tries what the role does not
    do: the same ten refusals of calls it never made page."""
    history = [e for day in range(6) for e in working_day(day)]
    at = BASE_TIME + timedelta(days=6, hours=3)
    assert opened([*history, *refused_own(at)]) == []
    probe = refused(at, 10, 50)  # ten calls it never made, over the same ten minutes
    assert opened([*history, *probe]) == ["baseline:denied_burst"]
    # seed 982: a probe that tries one of the role's own calls among its unknown ones is still
    # a probe (counting only the unknown ones dropped it under the floor)
    mixed = [*refused(at, 8, 50), refused_own(at + timedelta(seconds=410))[0]]
    assert opened([*history, *mixed]) == ["baseline:denied_burst"]


def test_a_probe_padded_with_refusals_of_the_roles_own_calls_still_pages() -> None:
    """Review: stolen credentials can be refused the role's own calls cheaply (its calls on
    resources it may not touch). Ten unknown calls refused in fifty seconds page alone; the
    same ten interleaved with ten refusals of the role's own calls page too."""
    history = [e for day in range(6) for e in working_day(day)]
    at = BASE_TIME + timedelta(days=6, hours=3)
    probe = refused(at, 10, 5)
    assert opened([*history, *probe]) == ["baseline:denied_burst"]
    own = [
        replace(e, event_time_ms=probe[i].event_time_ms - 2_000)
        for i, e in enumerate(refused_own(at))
    ]
    assert opened([*history, *probe, *own]) == ["baseline:denied_burst"]
