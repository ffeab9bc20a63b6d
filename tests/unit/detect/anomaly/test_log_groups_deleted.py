"""Deleting log groups destroys lasting resources as well as monitoring.

Seed 952: a person's SSO session deleted eight production log groups in 13 seconds, then five
production functions. DeleteLogGroup is evasion by its action class, so none of it counted
as lasting destruction, and the page came at the 10th damaging call. A log group of a function
deleted within the day is that function's clean-up, not a second loss.
"""

from __future__ import annotations

from datetime import timedelta

from detect.engine import DetectionEngine
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

PERSON = {
    "userIdentity": {
        "type": "IAMUser",
        "arn": "arn:aws:iam::123456789012:user/wen",
        "accountId": "123456789012",
        "userName": "wen",
        "principalId": "AIDAEXAMPLE",
    },
    "userAgent": "aws-cli/2.15.30 Python/3.11.8 Linux/6.5",
    "sourceIPAddress": "96.82.134.157",
}
DAY = timedelta(days=1)
START = BASE_TIME + 4 * DAY
APPS = ("chat-handler", "atlas-worker", "inventory-notify", "atlas-handler", "chat-sync")


def _history() -> list[AuditEvent]:
    """Four days of a person's reads."""
    return [
        make_event(
            eventName="DescribeLogGroups",
            eventSource="logs.amazonaws.com",
            at=BASE_TIME + day * DAY + timedelta(hours=1, minutes=minute),
            **PERSON,
        )
        for day in range(4)
        for minute in range(0, 60, 5)
    ]


def _delete(action: str, name: str, seconds: float) -> AuditEvent:
    source, key = (
        ("logs.amazonaws.com", "logGroupName")
        if action == "DeleteLogGroup"
        else ("lambda.amazonaws.com", "functionName")
    )
    return make_event(
        eventName=action,
        eventSource=source,
        readOnly=False,
        requestParameters={key: name},
        at=START + timedelta(seconds=seconds),
        **PERSON,
    )


def first_page(events: list[AuditEvent]) -> int | None:
    """How many deletes had been made when the first alert opened."""
    engine = DetectionEngine(rules=load_rules())
    deletes = 0
    for event in sorted(events, key=lambda e: e.event_time_ms):
        deletes += event.action.startswith("Delete")
        if [a for change, a in engine.process([event]).changes if change == "alert.opened"]:
            return deletes
    return None


def test_production_log_groups_deleted_in_seconds_page_as_lasting_destruction() -> None:
    groups = [
        _delete("DeleteLogGroup", f"/aws/lambda/prod-{app}", 2 * i) for i, app in enumerate(APPS)
    ]
    found = first_page([*_history(), *groups])
    assert found is not None and found <= 4


def test_the_log_groups_of_functions_deleted_that_day_are_clean_up() -> None:
    functions = [
        _delete("DeleteFunction20150331", f"prod-{app}", 3600 * i) for i, app in enumerate(APPS[:2])
    ]
    groups = [
        _delete("DeleteLogGroup", f"/aws/lambda/prod-{app}", 3600 * i + 30)
        for i, app in enumerate(APPS[:2])
    ]
    assert first_page([*_history(), *functions, *groups]) is None
