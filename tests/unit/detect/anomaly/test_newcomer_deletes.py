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

from detect.context.org import OrgMemory
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


def built(days: int, maker: dict[str, object] = PLATFORM, on_day: int = 0) -> list[AuditEvent]:
    """The environment created by `maker` on `on_day`, and `days` days of a person's reads."""
    made = [
        make_event(
            eventName=action,
            eventSource=f"{source}.amazonaws.com",
            readOnly=False,
            requestParameters={key: name},
            at=BASE_TIME + on_day * DAY + timedelta(minutes=i),
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


def test_in_the_installs_first_week_a_new_workload_is_only_new_to_leash() -> None:
    """Three days in, the deployer may be a weekly job Leash has not met yet: still a note."""
    found = first_page(built(days=3), spree(day=3, who=DEPLOYER))
    assert found is None or found > 5


def test_in_the_installs_first_week_a_new_agent_deleting_live_resources_pages() -> None:
    """An AI agent first seen on the install's third day that deletes functions, a table and a
    bucket others made is judged as a newcomer already (fresh seed 1543: a new coding agent
    deleted eight staging functions and a table in 10 s, twice -- notes only, and the first
    spree became its baseline for the second)."""
    assert first_page(built(days=3), spree(day=3)) == 5
    assert first_page(built(days=3), spree(day=3)[:4]) is None


COPIES = [
    *(("DeleteSnapshot", "ec2", {"snapshotId": f"snap-0{n:016x}"}) for n in range(8)),
    *(("DeregisterImage", "ec2", {"imageId": f"ami-0{n:016x}"}) for n in range(3)),
    *(("DeleteLogGroup", "logs", {"logGroupName": f"/aws/lambda/old-{n}"}) for n in range(3)),
]


def test_in_the_installs_first_week_an_agent_there_from_its_first_day_is_new_to_leash() -> None:
    """An agent Leash met within its first day of watching the account may be one it simply
    had not met yet (an install's first hours show everyone at once): its deletes a day later
    only note -- where one that first showed after a watched day is a newcomer's."""
    history = built(days=1)
    early = make_event(eventName="DescribeStacks", at=BASE_TIME + timedelta(hours=12), **NEW_AGENT)
    spree_then = spree(day=1)
    found = first_page(sorted([*history, early], key=lambda e: e.event_time_ms), spree_then)
    assert found is None or found > 5
    assert first_page(history, spree_then) == 5  # never seen before it: a newcomer


def pruning(day: int, calls: list[tuple[str, str, dict[str, str]]] = COPIES) -> list[AuditEvent]:
    """A new retention agent's run of `calls` on `day` (snapshots, images and old log groups),
    one per 5 s."""
    start = BASE_TIME + day * DAY + timedelta(hours=3)
    janitor = {**NEW_AGENT, "role": "inventory-retention-agent", "session": "run-0af1"}
    return [
        make_event(
            eventName=action,
            eventSource=f"{source}.amazonaws.com",
            readOnly=False,
            requestParameters=params,
            at=start + timedelta(seconds=5 * i),
            **janitor,
        )
        for i, (action, source, params) in enumerate(calls)
    ]


def test_in_the_installs_first_week_a_new_agent_pruning_copies_is_only_new_to_leash() -> None:
    """... but one that deletes snapshots, images and old log groups does what a retention job
    does on its schedule -- an automation role named like an agent (fresh seed 1110's
    `inventory-retention-agent`, 6 to 26 deletes a run) that Leash may not have met yet."""
    run = pruning(day=3)
    assert run[0].actor_kind == "agent"
    found = first_page(built(days=3), run)
    assert found is None or found > 5
    # a week in, the same run is a newcomer's: the exemption is the install's first week's
    assert first_page(built(days=8), pruning(day=8)) == 5


def test_in_the_installs_first_week_old_versions_and_automated_backups_are_pruning() -> None:
    """Review: a Lambda delete with a qualifier removes one old version, not the function, and
    RDS's automated backups are copies -- a new retention agent's run of either is a note."""
    runs = {
        "versions": [
            ("DeleteFunction20150331", "lambda", {"functionName": f, "qualifier": "3"})
            for f in (*FUNCTIONS, "staging-inventory-sync", "staging-inventory-api")
        ],
        "backups": [
            ("DeleteDBInstanceAutomatedBackup", "rds", {"dbiResourceId": f"db-{n:026X}"})
            for n in range(6)
        ],
    }
    for calls in runs.values():
        found = first_page(built(days=3), pruning(3, calls))
        assert found is None or found > 5


def test_a_newcomer_deleting_what_it_made_itself_days_ago_is_not_a_newcomer_spree() -> None:
    """An agent that built the environment on day 0 and returns on day 8 to tear it down has
    no two active days of its own, but what it deletes is its own work."""
    found = first_page(built(days=8, maker=NEW_AGENT), spree(day=8))
    assert found is None or found > 5


def test_a_new_session_of_a_role_the_account_has_long_shown_is_no_newcomer() -> None:
    """A job whose session is named by the date (`prune-2026-11-10`) is a new principal every
    day and never mature -- but its role has worked in the account for a week (review)."""
    janitor = {**NEW_AGENT, "role": "backup-janitor", "session": "prune-2026-11-02"}
    days = [
        make_event(
            eventName="DescribeStacks",
            at=BASE_TIME + d * DAY + timedelta(hours=2),
            **{**janitor, "session": f"prune-2026-11-{2 + d:02d}"},
        )
        for d in range(8)
    ]
    today = {**janitor, "session": "prune-2026-11-10"}
    found = first_page(built(days=8) + days, spree(day=8, who=today))
    assert found is None or found > 5  # (its DeleteBucket still meets the Sigma rule)


def test_what_another_session_of_its_role_made_is_its_own() -> None:
    """A new agent role built the environment yesterday as `data-agent` and tears it down today
    from another session: the role is new, what it deletes is its own."""
    builder = {**NEW_AGENT, "session": "data-agent"}
    found = first_page(built(days=8, maker=builder, on_day=7), spree(day=8, who=NEW_AGENT))
    assert found is None or found > 5


def test_a_buckets_batches_are_one_resource() -> None:
    """Emptying two buckets in three batches each is two resources others made, not six."""
    batches = [
        make_event(
            eventName="DeleteObjects",
            eventSource="s3.amazonaws.com",
            readOnly=False,
            requestParameters={"bucketName": bucket},
            at=BASE_TIME + 8 * DAY + timedelta(hours=3, seconds=i),
            **DEPLOYER,
        )
        for i, bucket in enumerate(["acme-staging-inventory-artifacts", "acme-staging-media"] * 3)
    ]
    assert first_page(built(days=8), batches) is None


def test_an_account_named_in_a_trust_policy_is_not_watched_until_its_own_events() -> None:
    org = OrgMemory()
    trust = make_event(
        eventName="UpdateAssumeRolePolicy",
        eventSource="iam.amazonaws.com",
        readOnly=False,
        requestParameters={"roleName": "audit", "policyDocument": '{"AWS": "210987654321"}'},
        at=BASE_TIME,
        **PLATFORM,
    )
    org.observe(trust)
    later = int((BASE_TIME + 8 * DAY).timestamp() * 1000)
    assert org.known_account("210987654321", later)  # named: an account we deal with
    assert org.watched_ms("210987654321", later) == 0  # but none of its own events read
    assert org.watched_ms(trust.account, later) == 8 * DAY // timedelta(milliseconds=1)


def test_a_new_hire_in_a_permission_set_colleagues_use_is_a_newcomer() -> None:
    """Identity Center sessions are people: a colleague's week in the permission set does not
    make the new hire known (review: cut to the role, the new hire paged at the 8th)."""
    sso = {"role": "AWSReservedSSO_PlatformAdmin_5c1e2f", "userAgent": "aws-cli/2.15.30"}
    colleague = [
        make_event(
            eventName="DescribeStacks",
            at=BASE_TIME + d * DAY + timedelta(hours=1),
            **{**sso, "session": "dana@acme.com"},
        )
        for d in range(8)
    ]
    new_hire = spree(day=8, who={**sso, "session": "newhire@acme.com"})
    assert new_hire[0].actor_kind == "human"
    assert first_page(built(days=8) + colleague, new_hire) == 5
