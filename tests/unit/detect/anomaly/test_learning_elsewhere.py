"""A principal still being learned, reading a store wholesale from somewhere nobody works.

A person with one day learned has no usual to read against: every bucket is new to them, so
their first reads are not judged. But a network and a client both new to them, that nobody in
the organisation works from, with a network of their own the day before, is their credentials
in other hands (fresh seed 1305's shape: read-only describes from the CLI on day one, then 491
objects of the data lake pulled through boto3 at 02:52). From their own network, through a
browser, or from a network a colleague works from, it is a new hire's work.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from detect.engine import DetectionEngine
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event, object_reads

DAY = timedelta(days=1)
NEWCOMER = {
    "role": "AWSReservedSSO_ReadOnlyAccess_5d64",
    "session": "mira@example.com",
    "sourceIPAddress": "125.47.11.192",
    "userAgent": "aws-cli/2.20.39 md/awscrt#0.22.0 ua/2.0 os/macos#23.6.0",
}
COLLEAGUE = {
    "role": "AWSReservedSSO_PowerUserAccess_ba53",
    "session": "rosa@example.com",
    "sourceIPAddress": "146.56.20.7",
}
BOTO = "Boto3/1.31.49 md/Botocore#1.31.8 ua/2.0 os/linux#5.15.0"


def _days() -> list[AuditEvent]:
    """Four days of a colleague's work (the account is not new to Leash); the newcomer's first
    day, on day 3: ten minutes of describes from the CLI (too little to be learned)."""
    events = [
        make_event(
            eventName="DescribeInstances",
            at=BASE_TIME + day * DAY + timedelta(minutes=m),
            **COLLEAGUE,
        )
        for day in range(4)
        for m in range(0, 90, 3)
    ]
    events += [
        make_event(
            eventName="DescribeInstances", at=BASE_TIME + 3 * DAY + timedelta(minutes=m), **NEWCOMER
        )
        for m in range(10)
    ]
    return events


def opened(events: list[AuditEvent]) -> list[str]:
    engine = DetectionEngine(rules=load_rules())
    changes = engine.process(sorted(events, key=lambda e: e.event_time_ms)).changes
    return [alert.rule for change, alert in changes if change == "alert.opened"]


def _pull(**where: Any) -> list[AuditEvent]:
    start = BASE_TIME + 4 * DAY + timedelta(hours=2, minutes=52)
    return object_reads(start, 120, 1.5, "acme-datalake-raw", NEWCOMER, **where)


def test_a_newcomers_wholesale_reads_from_a_network_nobody_works_from_page() -> None:
    elsewhere = _pull(sourceIPAddress="203.0.113.44", userAgent=BOTO)
    assert opened([*_days(), *elsewhere]) == ["baseline:bulk_read_new_store"]


def test_from_their_own_network_a_browser_or_a_colleagues_network_they_do_not() -> None:
    own = _pull(userAgent=BOTO)
    browser = _pull(sourceIPAddress="203.0.113.44", userAgent="Mozilla/5.0 (Macintosh)")
    colleagues = _pull(sourceIPAddress="146.56.99.3", userAgent=BOTO)
    for reads in (own, browser, colleagues):
        assert "baseline:bulk_read_new_store" not in opened([*_days(), *reads])
