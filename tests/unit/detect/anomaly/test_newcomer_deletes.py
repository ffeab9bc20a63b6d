"""A newcomer destroying what others made pages at its fifth lasting delete in ten minutes.

Without two days of its own history a principal's anomalies only note (detect.context.triage
`_immature`): on an install's first days everyone is new to Leash. Once Leash has watched the
account for a week (every weekly job has shown itself), a principal nobody has seen is new to the
account -- a new agent, a new hire, new credentials -- and destroying what others made is no less
an incident for it (fresh seed 1110: a coding agent first seen that day deleted a staging
environment's functions, its table and two buckets and paged at the 11th damaging call, by a
bucket-deleted Sigma rule, not by the destruction).
"""

from __future__ import annotations

from datetime import timedelta

from detect.engine import DetectionEngine
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

DAY = timedelta(days=1)
PLATFORM = {  # the person who built the staging environment, and works in the account daily
    "userIdentity": {
        "type": "IAMUser",
        "arn": "arn:aws:iam::123456789012:user/mira",
        "accountId": "123456789012",
        "userName": "mira",
        "principalId": "AIDAMIRA",
    },
    "userAgent": "aws-cli/2.15.30 Python/3.11.8 Linux/6.5",
    "sourceIPAddress": "81.2.69.160",
}
NEW_AGENT = {
    "role": "inventory-coding-agent",
    "session": "claude-0af141fc",
    "userAgent": "Boto3/1.31.53 md/Botocore#1.31.53 ua/2.0 os/linux#6.1",
    "sourceIPAddress": "118.209.199.64",
}
DEPLOYER = {  # a workload: a deploy pipeline's role
    "role": "inventory-deployer",
    "session": "GitHubActions",
    "userAgent": "Boto3/1.31.53 md/Botocore#1.31.53 ua/2.0 os/linux#6.1",
    "sourceIPAddress": "20.42.73.9",
}
FUNCTIONS = ("staging-inventory-notify", "staging-inventory-cron", "staging-inventory-handler")


def built(days: int, maker: dict[str, object] = PLATFORM) -> list[AuditEvent]:
    """The environment created by `maker` on day 0, then `days` days of a person's reads."""
    made = [
        make_event(
            eventName=action,
            eventSource=f"{source}.amazonaws.com",
            readOnly=False,
            requestParameters={key: name},
            at=BASE_TIME + timedelta(minutes=i),
            **maker,  # type: ignore[arg-type]
        )
        for i, (action, source, key, name) in enumerate(
            [
                *(("CreateFunction20150331", "lambda", "functionName", f) for f in FUNCTIONS),
                ("CreateTable", "dynamodb", "tableName", "staging-inventory-events"),
                ("CreateBucket", "s3", "bucketName", "acme-staging-inventory-artifacts"),
            ]
        )
    ]
    reads = [
        make_event(
            eventName="DescribeStacks",
            at=BASE_TIME + d * DAY + timedelta(hours=1, minutes=m),
            **PLATFORM,
        )
        for d in range(days + 1)
        for m in range(0, 60, 5)
    ]
    return made + reads


def spree(day: int, who: dict[str, str] = NEW_AGENT) -> list[AuditEvent]:
    """A principal never seen before deletes the environment, a call a second, on `day`."""
    calls = [
        *(("DeleteFunction20150331", "lambda", {"functionName": f}) for f in FUNCTIONS),
        ("DeleteTable", "dynamodb", {"tableName": "staging-inventory-events"}),
        *(
            ("DeleteObjects", "s3", {"bucketName": "acme-staging-inventory-artifacts"})
            for _ in range(3)
        ),
        ("DeleteBucket", "s3", {"bucketName": "acme-staging-inventory-artifacts"}),
    ]
    start = BASE_TIME + day * DAY + timedelta(hours=3)
    return [
        make_event(
            eventName=action,
            eventSource=f"{source}.amazonaws.com",
            readOnly=False,
            requestParameters=params,
            at=start + timedelta(seconds=i),
            **who,
        )
        for i, (action, source, params) in enumerate(calls)
    ]


def first_page(history: list[AuditEvent], deletes: list[AuditEvent]) -> int | None:
    """How many of `deletes` had been made when the newcomer's first alert opened."""
    engine = DetectionEngine(rules=load_rules())
    engine.process(history)
    for n, event in enumerate(deletes, start=1):
        opened = [a for kind, a in engine.process([event]).changes if kind == "alert.opened"]
        if any(a.principal == event.principal_key for a in opened):
            return n
    return None


def test_a_newcomer_destroying_what_others_made_in_a_watched_account_pages_by_the_fifth() -> None:
    for who in (NEW_AGENT, DEPLOYER):
        deletes = spree(day=8, who=who)
        assert deletes[0].actor_kind == ("agent" if who is NEW_AGENT else "service")
        assert first_page(built(days=8), deletes) == 5


def test_four_lasting_deletes_by_a_newcomer_do_not_page_for_it() -> None:
    assert first_page(built(days=8), spree(day=8)[:4]) is None


def test_in_the_installs_first_week_a_newcomer_is_only_new_to_leash() -> None:
    """Three days in, the deployer -- or an automation role named like an agent (seed 1110's
    `inventory-retention-agent`) -- may be a weekly job Leash has not met yet: still a note."""
    for who in (NEW_AGENT, DEPLOYER):
        found = first_page(built(days=3), spree(day=3, who=who))
        assert found is None or found > 5


def test_a_newcomer_deleting_what_it_made_itself_days_ago_is_not_a_newcomer_spree() -> None:
    """An agent that built the environment on day 0 and returns on day 8 to tear it down has
    no two active days of its own, but what it deletes is its own work."""
    found = first_page(built(days=8, maker=NEW_AGENT), spree(day=8))
    assert found is None or found > 5
