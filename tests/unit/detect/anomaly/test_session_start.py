"""A workload session refused credential reads in its first minutes pages with no history.

The shape of stolen or freshly assumed credentials being tried out (Stratus'
ec2-get-password-data and ec2-download-user-data: dozens of denied calls seconds after
AssumeRole). People explore and get denied as part of their work, and agents hit their
permission boundary on all sorts of calls: neither pages for it.
"""

from __future__ import annotations

from datetime import timedelta

from detect.engine import DetectionEngine
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

ROLE = {"role": "reporting-task", "session": "aws-go-sdk-1722375070115152000"}
PERSON = {"role": "AWSReservedSSO_Developer_4f2a9c1e", "session": "erin@example.com"}


def denied(
    n: int, seconds_apart: float, action: str = "GetPasswordData", **who: str
) -> list[AuditEvent]:
    return [
        make_event(
            eventName=action,
            eventSource="ec2.amazonaws.com",
            errorCode="Client.UnauthorizedOperation",
            requestParameters={"instanceId": "i-0a1b2c3d4e5f"},
            at=BASE_TIME + timedelta(seconds=i * seconds_apart),
            **who,
        )
        for i in range(n)
    ]


def opened(events: list[AuditEvent]) -> list[str]:
    engine = DetectionEngine(rules=load_rules())
    changes = engine.process(events).changes
    return [alert.rule for change, alert in changes if change == "alert.opened"]


def test_ten_refusals_in_a_new_sessions_first_minutes_page() -> None:
    assert opened(denied(12, 10, **ROLE)) == ["baseline:denied_session_start"]


def test_refusals_spread_past_the_first_minutes_do_not() -> None:
    assert opened(denied(12, 60, **ROLE)) == []


def test_a_person_getting_refusals_does_not_page_for_it() -> None:
    assert opened(denied(12, 10, **PERSON)) == []


def test_an_agent_refused_ordinary_calls_does_not() -> None:
    assert opened(denied(12, 10, action="DescribeSecurityGroups", **ROLE)) == []
