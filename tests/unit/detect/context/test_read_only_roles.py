"""A read-only role's session that deletes, or turns monitoring or permissions, pages.

A person's first use of a sensitive call waits for a second sign: people try things. But AWS's
read-only policies (ReadOnlyAccess, ViewOnlyAccess, SecurityAudit) allow no delete and no
monitoring or permission change, so such a call succeeding under a role named for reading
says the role was given more than its name says, or the call was not its owner's (fresh seeds
1214, 1226: an audit and a read-only session deleting CloudWatch alarms, held and missed).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from detect.engine import DetectionEngine
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

READ_ONLY = {"role": "AWSReservedSSO_ReadOnlyAccess_5f83f2a2", "session": "tariq@example.com"}
POWER_USER = {"role": "AWSReservedSSO_PowerUserAccess_9c1e4f2a", "session": "tariq@example.com"}


def days(who: dict[str, str]) -> list[AuditEvent]:
    return [
        make_event(eventName="DescribeAlarms", at=BASE_TIME + timedelta(days=d, minutes=m), **who)
        for d in range(4)
        for m in range(0, 240)
    ]


def delete_alarms(who: dict[str, str], **extra: str) -> AuditEvent:
    return make_event(
        eventSource="monitoring.amazonaws.com",
        eventName="DeleteAlarms",
        requestParameters={"alarmNames": ["prod-api-5xx"]},
        readOnly=False,
        at=BASE_TIME + timedelta(days=4, hours=1),
        **who,
        **extra,
    )


def opened(events: list[AuditEvent]) -> list[str]:
    engine = DetectionEngine(rules=load_rules())
    changes = engine.process(events).changes
    return [alert.rule for change, alert in changes if change == "alert.opened"]


def test_a_read_only_session_deleting_alarms_pages() -> None:
    event = delete_alarms(READ_ONLY)
    assert event.action_class == "defense_evasion"
    assert opened([*days(READ_ONLY), event]) != []


@pytest.mark.parametrize(
    ("who", "extra"),
    [(POWER_USER, {}), (READ_ONLY, {"errorCode": "AccessDenied"})],
    ids=["a power user's first", "refused"],
)
def test_a_power_users_first_or_a_refused_one_waits(
    who: dict[str, str], extra: dict[str, str]
) -> None:
    assert opened([*days(who), delete_alarms(who, **extra)]) == []
