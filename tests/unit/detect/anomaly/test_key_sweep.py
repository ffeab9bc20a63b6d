"""Decrypting under many different KMS keys in minutes is a credential sweep (seed 808).

A workload's envelope decryption reuses its one or two keys thousands of times a day; stolen
credentials opening whatever they can decrypt go through the account's keys one after another.
CloudTrail's Decrypt record names the key in `resources` (and in `requestParameters.keyId`
only when the caller passed it): both count.
"""

from __future__ import annotations

from datetime import timedelta

from detect.engine import DetectionEngine
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

ACCOUNT = "123456789012"
ROTATOR = {
    "role": "iam-key-rotator-role",
    "session": "iam-key-rotator",
    "userAgent": "Boto3/1.30.80",
}
DAY = timedelta(days=1)


def decrypt(key: str, at: timedelta, *, named: bool) -> AuditEvent:
    arn = f"arn:aws:kms:us-west-2:{ACCOUNT}:key/{key}"
    return make_event(
        eventName="Decrypt",
        eventSource="kms.amazonaws.com",
        requestParameters={"encryptionAlgorithm": "SYMMETRIC_DEFAULT"}
        | ({"keyId": arn} if named else {}),
        resources=[{"ARN": arn, "type": "AWS::KMS::Key", "accountId": ACCOUNT}],
        at=BASE_TIME + at,
        **ROTATOR,
    )


def workdays() -> list[AuditEvent]:
    """Five days of a job decrypting 60 times an hour under its own two keys."""
    return [
        decrypt(f"own-{n % 2}", day * DAY + timedelta(minutes=n), named=True)
        for day in range(5)
        for n in range(60)
    ]


def opened(events: list[AuditEvent]) -> list[str]:
    engine = DetectionEngine(rules=load_rules())
    changes = engine.process(sorted(events, key=lambda e: e.event_time_ms)).changes
    return [alert.rule for change, alert in changes if change == "alert.opened"]


def test_decrypting_under_dozens_of_keys_in_minutes_pages_a_workload() -> None:
    for named in (True, False):
        sweep = [
            decrypt(f"key-{n:03d}", 5 * DAY + timedelta(seconds=2 * n), named=named)
            for n in range(40)
        ]
        assert opened([*workdays(), *sweep]) == ["baseline:credential_sweep"], named


def test_its_usual_keys_many_times_over_do_not() -> None:
    busy = [
        decrypt(f"own-{n % 2}", 5 * DAY + timedelta(seconds=n), named=False) for n in range(400)
    ]
    assert opened([*workdays(), *busy]) == []
