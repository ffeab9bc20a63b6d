"""Builders for test data: CloudTrail records and AuditEvents with overridable fields."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from detect.engine import DetectionEngine
from detect.features import PrincipalProfile, PrincipalState
from detect.findings import Finding
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent, Normalizer

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
_counter = itertools.count()
BASE_TIME = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def make_record(**overrides: Any) -> dict[str, Any]:
    """A CloudTrail record as AWS writes it; keyword overrides replace top-level fields.

    `arn=` and `session=` are shortcuts for the identity; `at=` (datetime) sets eventTime.
    """
    n = next(_counter)
    role = overrides.pop("role", "deploy-agent")
    session = overrides.pop("session", "agent-run-7f3a")
    account = overrides.pop("account", "123456789012")
    arn = overrides.pop("arn", f"arn:aws:sts::{account}:assumed-role/{role}/{session}")
    at = overrides.pop("at", BASE_TIME + timedelta(seconds=n))
    record: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": f"AROAEXAMPLE:{session}",
            "arn": arn,
            "accountId": account,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "arn": f"arn:aws:iam::{account}:role/{role}",
                    "userName": role,
                },
            },
        },
        "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "ec2.amazonaws.com",
        "eventName": "DescribeInstances",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.10",
        "userAgent": "aws-cli/2.15.0 Python/3.11",
        "requestParameters": None,
        "responseElements": None,
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    record.update(overrides)
    return record


def object_reads(
    start: datetime, count: int, minutes: float, bucket: str, who: dict[str, Any], **extra: Any
) -> list[AuditEvent]:
    """`count` GetObject calls on objects of `bucket` by `who` (make_event's principal keywords,
    with `extra` over them), spread evenly over `minutes` from `start`."""
    step = minutes * 60 / count
    return [
        make_event(
            eventName="GetObject",
            eventSource="s3.amazonaws.com",
            requestParameters={"bucketName": bucket, "key": f"q/{i}.csv"},
            at=start + timedelta(seconds=step * i),
            **(who | extra),
        )
        for i in range(count)
    ]


def db_deletes(start: datetime, count: int, *, first: int = 0) -> list[dict[str, Any]]:
    """`count` records of deploy-agent deleting production databases `prod-db-<first>`… one
    second apart from `start`: the destructive burst the response tests page on."""
    return [
        make_record(
            eventName="DeleteDBInstance",
            eventSource="rds.amazonaws.com",
            requestParameters={"dBInstanceIdentifier": f"prod-db-{i}"},
            at=start + timedelta(seconds=i),
            readOnly=False,
        )
        for i in range(first, first + count)
    ]


def make_event(normalizer: Normalizer | None = None, **overrides: Any) -> AuditEvent:
    return (normalizer or Normalizer()).normalize(make_record(**overrides))


def portal_step(user: str, at: datetime, **overrides: Any) -> AuditEvent:
    """An Identity Center portal step (GetRoleCredentials unless `eventName` says otherwise) as
    CloudTrail logs it: under the directory user (empty `arn`, the user in `onBehalfOf`), not
    the role session it opens."""
    fields: dict[str, Any] = {
        "eventSource": "sso.amazonaws.com",
        "eventName": "GetRoleCredentials",
        "userIdentity": {
            "type": "IdentityCenterUser",
            "arn": "",
            "accountId": "123456789012",
            "onBehalfOf": {
                "userId": f"r6zhbnyc-{user}",
                "identityStoreArn": "arn:aws:identitystore::123456789012:identitystore/d-90",
            },
        },
        "at": at,
    }
    return make_event(**{**fields, **overrides})


def finding_on(event: AuditEvent, rule: str, **fields: Any) -> Finding:
    """A detector's finding on `event` alone (an anomaly, high, score 0.8; `fields` override)."""
    values: dict[str, Any] = {
        "principal": event.principal_key,
        "actor_kind": event.actor_kind,
        "kind": "anomaly",
        "rule": rule,
        "severity": "high",
        "score": 0.8,
        "summary": rule,
        "event_ids": (event.event_id,),
        "first_event_ms": event.event_time_ms,
        "last_event_ms": event.event_time_ms,
    }
    return Finding(**(values | fields))


def mature_state(event: AuditEvent) -> PrincipalState:
    """The state of `event`'s principal with ten days of history (its own baseline is trusted)."""
    history = PrincipalProfile(
        key=event.principal_key,
        actor_kind=event.actor_kind,
        events=5000,
        minutes=2000,
        offhours=0,
        destructive=40,
        seen={},
        usual={},
        high={},
        active_days=10,
    )
    state = PrincipalState(event.principal_key, event.actor_kind, history)
    assert state.mature
    return state


def user_event(user: str, action: str, params: dict[str, object], minutes: float) -> AuditEvent:
    """An IAM user's call with the aws CLI, `minutes` after day 10 of BASE_TIME."""
    return make_event(
        eventName=action,
        eventSource="iam.amazonaws.com" if action != "DescribeInstances" else "ec2.amazonaws.com",
        requestParameters=params,
        userIdentity={
            "type": "IAMUser",
            "arn": f"arn:aws:iam::123456789012:user/{user}",
            "accountId": "123456789012",
            "userName": user,
            "principalId": "AIDAEXAMPLE",
        },
        userAgent="aws-cli/2.15.30 Python/3.11.8 Linux/6.5",
        at=BASE_TIME + timedelta(days=10, minutes=minutes),
    )


def alert_rules(events: list[AuditEvent]) -> set[str]:
    """The rules of every alert the events opened or grew, through an engine with the packaged
    rules, one event at a time (as the detector sees a stream)."""
    engine = DetectionEngine(rules=load_rules())
    found: set[str] = set()
    for event in events:
        for _, alert in engine.process([event]).changes:
            found.update(alert.rules)
    return found
