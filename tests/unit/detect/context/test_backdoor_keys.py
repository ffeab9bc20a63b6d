"""Access keys for an IAM user made minutes ago, by a person whose work is not permissions.

Administrators create service users and their keys for integrations every week: their keys for
a bare new user wait for a second sign. A person who never did permission work (a security
auditor, a developer) creating a user and its key within a minute is making a way back in
(seed 870: a SecurityAudit session, 'aws-support-sync' and its key). A user made days ago is
judged as any other user's keys are.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from detect.context.org import OrgMemory
from detect.context.triage import Triage
from detect.engine import DetectionEngine
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event, mature_state, user_event

AUDITOR = {"role": "AWSReservedSSO_SecurityAudit_21dd7f25", "session": "mateo@example.com"}
ADMIN = {"role": "AWSReservedSSO_Admin_9c1e4f2a", "session": "alice@example.com"}
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


def iam(action: str, params: dict[str, object], at: datetime, who: dict[str, str]) -> AuditEvent:
    return make_event(
        eventSource="iam.amazonaws.com",
        eventName=action,
        requestParameters=params,
        readOnly=False,
        userAgent="aws-cli/2.14.32 Python/3.11.6 Linux/5.15",
        at=at,
        **who,
    )


def workdays(who: dict[str, str], *, permissions: bool) -> list[AuditEvent]:
    """Four days of reading; an administrator also makes a role and grants it each day."""
    events = []
    for day in range(4):
        start = BASE_TIME + day * DAY
        events += [
            make_event(eventName="DescribeInstances", at=start + timedelta(minutes=m), **who)
            for m in range(0, 60, 2)
        ]
        if permissions:
            role = {"roleName": f"app-{day}"}
            events.append(iam("CreateRole", role, start + timedelta(minutes=61), who))
            policy = role | {"policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}
            events.append(iam("AttachRolePolicy", policy, start + timedelta(minutes=62), who))
    return events


def backdoor(who: dict[str, str], made: datetime, keyed: datetime) -> list[AuditEvent]:
    user = {"userName": "aws-support-sync"}
    return [iam("CreateUser", user, made, who), iam("CreateAccessKey", user, keyed, who)]


def opened(events: list[AuditEvent]) -> list[str]:
    engine = DetectionEngine(rules=load_rules())
    changes = engine.process(sorted(events, key=lambda e: e.event_time_ms)).changes
    return [alert.rule for change, alert in changes if change == "alert.opened"]


def test_a_user_and_its_key_by_a_person_who_never_did_permission_work_pages() -> None:
    at = BASE_TIME + 4 * DAY + timedelta(hours=3)
    found = opened([*workdays(AUDITOR, permissions=False), *backdoor(AUDITOR, at, at + DAY / 1440)])
    assert found == ["redflag:access_key_for_other_user"]


def test_an_administrators_service_user_or_a_user_made_days_ago_waits() -> None:
    at = BASE_TIME + 4 * DAY + timedelta(hours=3)
    assert opened([*workdays(ADMIN, permissions=True), *backdoor(ADMIN, at, at + DAY / 1440)]) == []
    made_before = BASE_TIME + DAY + timedelta(hours=3)
    old_user = backdoor(AUDITOR, made_before, at)
    assert opened([*workdays(AUDITOR, permissions=False), *old_user]) == []


def test_a_user_made_again_is_a_new_user() -> None:
    """Fresh seed 1216: a backdoor user paged and was dealt with; the next day a developer's
    stolen session created a user of the same name and its key within a minute, and waited --
    the name's first creation, a day before, made the user look a day old. CreateUser succeeding
    says no such user existed: its latest creation is its birth."""
    first = BASE_TIME + DAY + timedelta(hours=3)
    removed = iam("DeleteUser", {"userName": "aws-support-sync"}, first + timedelta(hours=2), ADMIN)
    at = BASE_TIME + 4 * DAY + timedelta(hours=3)
    events = [
        *workdays(AUDITOR, permissions=False),
        iam("CreateUser", {"userName": "aws-support-sync"}, first, ADMIN),
        removed,
        *backdoor(AUDITOR, at, at + DAY / 1440),
    ]
    assert "redflag:access_key_for_other_user" in opened(events)


def _keys_for_a_colleague_after(namesake: AuditEvent) -> str:
    """The tier of keys made for fhaddad, who works here, an hour after `namesake` (another
    user called fhaddad was made): colleague credentials page unless she is a new hire."""
    org = OrgMemory()
    made = iam("CreateUser", {"userName": "fhaddad"}, BASE_TIME, ADMIN)
    org.observe(made)
    org.observe(user_event("fhaddad", "DescribeInstances", {}, 0))
    org.observe(namesake)
    keys = iam("CreateAccessKey", {"userName": "fhaddad"}, BASE_TIME + 10 * DAY + HOUR, AUDITOR)
    flag = next(
        f
        for rule in load_rules()
        if (f := rule.evaluate(keys)) is not None and f.rule == "redflag:access_key_for_other_user"
    )
    return Triage(org=org).assess(flag, keys, mature_state(keys), routine=False).tier


def test_a_namesake_in_another_account_or_service_does_not_make_a_colleague_new() -> None:
    """Review: a user of the same name made in another account, or an SFTP user (Transfer
    Family's CreateUser names a userName too), made keys for a colleague of ten days look like
    a new hire's set-up."""
    elsewhere = make_event(
        eventSource="iam.amazonaws.com",
        eventName="CreateUser",
        requestParameters={"userName": "fhaddad"},
        account="222222222222",
        at=BASE_TIME + 10 * DAY,
        **ADMIN,
    )
    sftp = make_event(
        eventSource="transfer.amazonaws.com",
        eventName="CreateUser",
        requestParameters={"serverId": "s-01234567890abcdef", "userName": "fhaddad"},
        at=BASE_TIME + 10 * DAY,
        **ADMIN,
    )
    assert _keys_for_a_colleague_after(elsewhere) == "page"
    assert _keys_for_a_colleague_after(sftp) == "page"
