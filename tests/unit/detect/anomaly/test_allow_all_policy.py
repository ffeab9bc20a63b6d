"""Administrator access through the organisation's own managed policy that allows everything.

The red flag on `AdministratorAccess` knows AWS's policy by name. A policy of the
organisation's own is known only by what its text allowed when Leash saw it made: attaching it
grants administrator access as much as AWS's does, and a version allowing everything made
without being the default, then set default (Rhino Security's SetDefaultPolicyVersion method),
makes every identity it is attached to an administrator without a call that names them.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from detect.engine import DetectionEngine
from detect.findings import ADMIN_POLICY_RULE
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

ACCOUNT = "123456789012"
POLICY = f"arn:aws:iam::{ACCOUNT}:policy/platform-deploy"
ADMIN = {"role": "AWSReservedSSO_AdministratorAccess_7a1b", "session": "ines@example.com"}
DEV = {"role": "AWSReservedSSO_DeveloperAccess_5c1e", "session": "tom@example.com"}
EVERYTHING = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
READS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}],
}
DAY = timedelta(days=1)


def _iam(
    action: str, params: dict[str, Any], at: timedelta, response: Any = None, **who: Any
) -> AuditEvent:
    return make_event(
        eventName=action,
        eventSource="iam.amazonaws.com",
        readOnly=False,
        requestParameters=params,
        responseElements=response,
        at=BASE_TIME + at,
        **who,
    )


def _version(document: dict[str, Any], version: str, at: timedelta, *, default: bool) -> AuditEvent:
    return _iam(
        "CreatePolicyVersion",
        {"policyArn": POLICY, "policyDocument": json.dumps(document), "setAsDefault": default},
        at,
        {"policyVersion": {"versionId": version, "isDefaultVersion": default}},
        **ADMIN,
    )


def _history() -> list[AuditEvent]:
    """Five days: an administrator whose job is permissions edits the deploy policy (a new
    default version, and a roll-back to an older one) and attaches policies; a developer
    reads instances."""
    events = []
    for day in range(5):
        at = day * DAY + timedelta(hours=10)
        events.append(_version(READS, f"v{day + 2}", at, default=True))
        events.append(
            _iam(
                "SetDefaultPolicyVersion",
                {"policyArn": POLICY, "versionId": "v1"},
                at + timedelta(minutes=5),
                **ADMIN,
            )
        )
        events.append(
            _iam(
                "AttachRolePolicy",
                {"roleName": f"team-{day}", "policyArn": POLICY},
                at + timedelta(minutes=9),
                **ADMIN,
            )
        )
        for minute in range(0, 60, 6):
            events.append(
                make_event(
                    eventName="DescribeInstances",
                    at=BASE_TIME + at + timedelta(minutes=minute),
                    **DEV,
                )
            )
    return events


def opened(events: list[AuditEvent]) -> list[str]:
    engine = DetectionEngine(rules=load_rules())
    changes = engine.process(sorted(events, key=lambda e: e.event_time_ms)).changes
    return [alert.rule for change, alert in changes if change == "alert.opened"]


def test_an_allow_all_version_set_default_later_pages_even_for_an_administrator() -> None:
    """The escalation split in two calls: the version that allows everything is made without
    being the default (nothing granted yet), then made the default -- by an administrator
    whose everyday work is this policy's versions. A default set to a version that does not
    allow everything is the roll-back it is every day."""
    made = _version(EVERYTHING, "v9", 6 * DAY + timedelta(hours=2), default=False)
    at = 6 * DAY + timedelta(hours=2, minutes=4)
    escalate = _iam(
        "SetDefaultPolicyVersion", {"policyArn": POLICY, "versionId": "v9"}, at, **ADMIN
    )
    assert opened([*_history(), made, escalate]) == [ADMIN_POLICY_RULE]
    roll_back = _iam(
        "SetDefaultPolicyVersion", {"policyArn": POLICY, "versionId": "v3"}, at, **ADMIN
    )
    assert opened([*_history(), made, roll_back]) == []
    # a version that allows everything but was never made (or was refused) names nothing
    assert opened([*_history(), escalate]) == []


def test_a_policy_of_the_organisations_own_that_allows_everything_attached_pages() -> None:
    """A developer who never did permission work creating a policy that allows everything and
    attaching it to a user: administrator access as AdministratorAccess would be, under a name
    no red flag knows. A policy that allows reads only grants no administrator."""
    at = 6 * DAY + timedelta(hours=3)
    ours = f"arn:aws:iam::{ACCOUNT}:policy/ci-helper"

    def attach(document: dict[str, Any]) -> list[AuditEvent]:
        create = _iam(
            "CreatePolicy",
            {"policyName": "ci-helper", "policyDocument": json.dumps(document)},
            at,
            {"policy": {"arn": ours, "defaultVersionId": "v1"}},
            **DEV,
        )
        grant = _iam(
            "AttachUserPolicy",
            {"userName": "svc-build", "policyArn": ours},
            at + timedelta(seconds=30),
            **DEV,
        )
        return [*_history(), create, grant]

    assert ADMIN_POLICY_RULE in opened(attach(EVERYTHING))
    assert ADMIN_POLICY_RULE not in opened(attach(READS))


def _policy(document: dict[str, Any], at: timedelta, **who: Any) -> AuditEvent:
    return _iam(
        "CreatePolicy",
        {"policyName": "ops-admin", "policyDocument": json.dumps(document)},
        at,
        {"policy": {"arn": f"arn:aws:iam::{ACCOUNT}:policy/ops-admin", "defaultVersionId": "v1"}},
        **(who or ADMIN),
    )


def test_what_a_policy_allows_follows_its_default_version() -> None:
    """Review: a policy once allowing everything was remembered so for good. Narrowed by a
    new default, or deleted and made again narrow, attaching it grants no administrator; set
    back to its first version (which allowed everything: Rhino's roll-back), it allows
    everything again. A policy written as everything but IAM (a power user's) is no admin's."""
    ours = f"arn:aws:iam::{ACCOUNT}:policy/ops-admin"
    at = 6 * DAY + timedelta(hours=1)
    admin_v1 = _policy(EVERYTHING, at)

    def narrowed(default: object) -> AuditEvent:
        return _iam(
            "CreatePolicyVersion",
            {"policyArn": ours, "policyDocument": json.dumps(READS), "setAsDefault": default},
            at + timedelta(minutes=1),
            {"policyVersion": {"versionId": "v2", "isDefaultVersion": True}},
            **ADMIN,
        )

    def attach(minutes: int) -> AuditEvent:
        grant = {"userName": "svc-build", "policyArn": ours}
        return _iam("AttachUserPolicy", grant, at + timedelta(minutes=minutes), **DEV)

    assert ADMIN_POLICY_RULE in opened([*_history(), admin_v1, attach(5)])
    for default in (True, "true"):  # (as CloudTrail may render it)
        assert opened([*_history(), admin_v1, narrowed(default), attach(5)]) == []
    deleted = _iam("DeletePolicy", {"policyArn": ours}, at + timedelta(minutes=2), **ADMIN)
    again = _policy(READS, at + timedelta(minutes=3))
    assert opened([*_history(), admin_v1, deleted, again, attach(5)]) == []
    roll_back = {"policyArn": ours, "versionId": "v1"}
    back = _iam("SetDefaultPolicyVersion", roll_back, at + timedelta(minutes=4), **DEV)
    assert opened([*_history(), admin_v1, narrowed(True), back]) == [ADMIN_POLICY_RULE]
    power_user = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": ["iam:*", "organizations:*"], "Resource": "*"},
        ],
    }
    assert opened([*_history(), _policy(power_user, at), attach(5)]) == []
