"""A permission change a principal first made today is not yet its routine.

Seed 1001: a person's console session (new network, no MFA) made a backdoor user -- CreateUser,
CreateAccessKey, AdministratorAccess attached -- and paged. Eight hours later the same person
made a second backdoor user the same way, and triage excused it as "routine action for this
principal": the calls were no longer new to them, because of the first incident.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from detect.engine import DetectionEngine
from detect.features import PrincipalState
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

PERSON = {
    "userIdentity": {
        "type": "IAMUser",
        "arn": "arn:aws:iam::123456789012:user/mateo",
        "accountId": "123456789012",
        "userName": "mateo",
        "principalId": "AIDAEXAMPLE",
    },
    "userAgent": "aws-cli/2.15.30 Python/3.11.8 Linux/6.5",
    "sourceIPAddress": "120.41.201.79",
}
DAY = timedelta(days=1)
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
PERSON_KEY = "arn:aws:iam::123456789012:user/mateo"


def _iam(action: str, params: dict[str, str], at: datetime, **extra: str) -> AuditEvent:
    return make_event(
        eventName=action,
        eventSource="iam.amazonaws.com",
        readOnly=False,
        requestParameters=params,
        at=at,
        **(PERSON | extra),
    )


def _backdoor(user: str, at: datetime, **extra: str) -> list[AuditEvent]:
    attach = {"userName": user, "policyArn": ADMIN}
    return [
        _iam("CreateUser", {"userName": user}, at, **extra),
        _iam("CreateAccessKey", {"userName": user}, at + timedelta(seconds=15), **extra),
        _iam("AttachUserPolicy", attach, at + timedelta(seconds=26), **extra),
    ]


def _run(gap: timedelta, **denied: str) -> tuple[set[str], list[AuditEvent], list[AuditEvent]]:
    """Four days of a person's reads, then two backdoor users `gap` apart (the first refused
    if `denied` names an errorCode): the event ids in alerts, and each backdoor's calls."""
    history = [
        make_event(
            eventName="ListRoles",
            eventSource="iam.amazonaws.com",
            at=BASE_TIME + d * DAY + timedelta(hours=9, minutes=m),
            **PERSON,
        )
        for d in range(4)
        for m in range(0, 120, 2)
    ]
    start = BASE_TIME + 4 * DAY + timedelta(hours=9, minutes=30)
    first = _backdoor("deploy-bot2", start, **denied)
    second = _backdoor("svc-metrics", start + gap)
    engine = DetectionEngine(rules=load_rules())
    ids: set[str] = set()
    for event in [*history, *first, *second]:
        for _, alert in engine.process([event]).changes:
            ids.update(alert.event_ids)
    return ids, first, second


def test_a_second_admin_user_the_same_day_is_not_excused_as_routine() -> None:
    ids, first, second = _run(timedelta(hours=8))
    assert first[-1].event_id in ids  # AdministratorAccess attached to a new user pages
    assert second[-1].event_id in ids  # and so does the second, eight hours later


def test_a_first_success_after_refused_tries_is_not_routine() -> None:
    """Refused the same call 20 hours earlier, the person had tried it -- never done it; a
    pipeline's second IAM change of its first day is its job, a person's is not yet."""
    at = BASE_TIME + 4 * DAY
    state = PrincipalState(PERSON_KEY, "human")
    attach = {"userName": "svc-metrics", "policyArn": ADMIN}
    state.observe(_iam("AttachUserPolicy", attach, at, errorCode="AccessDenied"))
    done = _iam("AttachUserPolicy", attach, at + timedelta(hours=20))
    assert state.privilege_new(done)
    state.observe(done)
    assert state.privilege_new(_iam("AttachUserPolicy", attach, at + timedelta(hours=21)))
    assert not state.privilege_new(_iam("AttachUserPolicy", attach, at + timedelta(hours=45)))
    pipeline = PrincipalState("arn:aws:iam::123456789012:role/gha-deploy", "service")
    pipeline.observe(done)
    assert not pipeline.privilege_new(_iam("AttachUserPolicy", attach, at + timedelta(hours=21)))
