"""What CloudFormation deletes on a principal's request counts against the bars no missing
history excuses, as the principal's own deletes do: production going (CATASTROPHIC), and what
others made going at a newcomer's request (NEWCOMER_LASTING).

Fresh seed 1557: an AI agent first seen that morning -- its own spree had paged -- asked
CloudFormation to delete its production stack, and 27 resources went. Without two days of its
own history every finding on the stack's deletions only noted, and the open alert took none of
the stack's events.
"""

from __future__ import annotations

from datetime import timedelta

from detect.engine import DetectionEngine
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event
from tests.unit.detect.anomaly.test_newcomer_deletes import PLATFORM as PERSON  # a person at work

DAY = timedelta(days=1)
AGENT = {
    "role": "ops-agent",
    "session": "ops-agent",
    "userAgent": "Boto3/1.31.53 md/Botocore#1.31.53 ua/2.0 os/linux#6.1",
    "sourceIPAddress": "54.133.102.171",
}
CFN = {
    "role": "cfn-exec-role",
    "session": "AWSCloudFormation",
    "sourceIPAddress": "cloudformation.amazonaws.com",
    "userAgent": "cloudformation.amazonaws.com",
}


def reads(who: dict[str, object], days: range) -> list[AuditEvent]:
    return [
        make_event(eventName="DescribeStacks", at=BASE_TIME + d * DAY + timedelta(hours=h), **who)
        for d in days
        for h in range(1, 23, 2)
    ]


def stack_deleted(stack: str, day: int, action: str = "DeleteStack") -> list[AuditEvent]:
    """The agent's DeleteStack (or `action`) and the six resources CloudFormation deletes for
    it."""
    at = BASE_TIME + day * DAY + timedelta(hours=11)
    deletes = [
        ("DeleteFunction20150331", "lambda", "functionName", f"{stack}-handler"),
        ("DeleteFunction20150331", "lambda", "functionName", f"{stack}-worker"),
        ("DeleteTable", "dynamodb", "tableName", f"{stack}-orders"),
        ("DeleteTable", "dynamodb", "tableName", f"{stack}-events"),
        ("DeleteBucket", "s3", "bucketName", f"acme-{stack}-uploads"),
        ("DeleteBucket", "s3", "bucketName", f"acme-{stack}-exports"),
    ]
    return [
        make_event(
            eventName=action,
            eventSource="cloudformation.amazonaws.com",
            readOnly=False,
            requestParameters={"stackName": stack},
            at=at,
            **AGENT,
        ),
        *(
            make_event(
                eventName=action,
                eventSource=f"{source}.amazonaws.com",
                readOnly=False,
                requestParameters={key: name},
                at=at + timedelta(seconds=5 + 2 * i),
                **CFN,
            )
            for i, (action, source, key, name) in enumerate(deletes)
        ),
    ]


def opened(events: list[AuditEvent]) -> list[tuple[str, tuple[str, ...]]]:
    engine = DetectionEngine(rules=load_rules())
    changes = []
    for day in sorted({e.event_time_ms // 86_400_000 for e in events}):
        batch = [e for e in events if e.event_time_ms // 86_400_000 == day]
        changes += engine.process(sorted(batch, key=lambda e: e.event_time_ms)).changes
    return [(a.principal, a.event_ids) for kind, a in changes if kind == "alert.opened"]


def test_a_young_agents_production_stack_deleted_by_cloudformation_pages() -> None:
    """The install's second day; the agent there from its first hour (no newcomer), a day of
    its own history: immature, and yet production going pages, with the stack's deletions."""
    stack = stack_deleted("prod-ledger", 1)
    alerts = opened([*reads(PERSON, range(2)), *reads(AGENT, range(2)), *stack])
    assert len(alerts) == 1, alerts
    principal, ids = alerts[0]
    assert "ops-agent" in principal
    assert {e.event_id for e in stack[1:6]} <= set(ids)  # the fifth production resource pages


def test_a_young_agents_staging_stack_deleted_by_cloudformation_only_notes() -> None:
    """The same on staging: the agent's first day's work is still its baseline's to learn."""
    events = [
        *reads(PERSON, range(2)),
        *reads(AGENT, range(2)),
        *stack_deleted("staging-ledger", 1),
    ]
    assert opened(events) == []


def test_a_newcomers_stack_deleted_by_cloudformation_pages_outside_production_too() -> None:
    """A week watched, and the agent first seen today: what others made going at its request
    pages as its own deletes would (NEWCOMER_LASTING)."""
    stack = stack_deleted("staging-ledger", 8)
    alerts = opened([*reads(PERSON, range(9)), *reads(AGENT, range(8, 9)), *stack])
    assert len(alerts) == 1 and "ops-agent" in alerts[0][0], alerts
    assert {e.event_id for e in stack[1:6]} <= set(alerts[0][1])


def test_resources_an_update_replaces_only_note_for_a_young_principal() -> None:
    """Review: an update or a change set deletes the resources it replaces -- a young deploy
    role's release that replaced five production functions paged."""
    for action in ("UpdateStack", "ExecuteChangeSet"):
        update = stack_deleted("prod-ledger", 1, action)
        assert opened([*reads(PERSON, range(2)), *reads(AGENT, range(2)), *update]) == []
        update = stack_deleted("staging-ledger", 8, action)
        assert opened([*reads(PERSON, range(9)), *reads(AGENT, range(8, 9)), *update]) == []
