"""Weak signs wait: volume and habits that are how work looks, beside what still pages."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

from detect.context.org import OrgMemory
from detect.context.triage import Triage
from detect.features import PrincipalState
from detect.findings import Finding
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, finding_on, make_event, mature_state, user_event

PERSON = {"role": "AWSReservedSSO_DeveloperAccess_5c1e2f", "session": "dana@example.com"}
AGENT = {"role": "billing-coding-agent", "session": "claude-81d2"}
WORKLOAD = {"role": "etl-nightly", "session": "etl", "userAgent": "Boto3/1.34.10 Python/3.12"}


def event(action: str, source: str, params: dict[str, Any], **who: Any) -> AuditEvent:
    return make_event(
        eventName=action,
        eventSource=f"{source}.amazonaws.com",
        requestParameters=params,
        at=BASE_TIME + timedelta(days=10),
        **who,
    )


def finding(rule: str, e: AuditEvent) -> Finding:
    return finding_on(e, rule)


def assess(rule: str, e: AuditEvent) -> Finding:
    return Triage(org=OrgMemory()).assess(finding(rule, e), e, mature_state(e), routine=False)


def test_refusals_trace_for_a_person_wait_for_an_agent_and_page_for_a_workload() -> None:
    """A console page asks for more than a person's role allows: a person's refusals join an
    incident as evidence but open none, even with another weak sign beside them. A coding
    agent exploring an account is refused too: its burst waits for a second sign. A workload
    does what it did yesterday: refused many different calls, its credentials are elsewhere."""
    denied = {"bucketName": "finance-exports"}
    person = event("GetBucketPolicy", "s3", denied, **PERSON)
    assert person.actor_kind == "human"
    assert assess("baseline:denied_burst", person).tier == "trace"
    agent = event("GetBucketPolicy", "s3", denied, **AGENT)
    assert agent.actor_kind == "agent"
    assert assess("baseline:denied_burst", agent).tier == "hold"
    workload = event("GetBucketPolicy", "s3", denied, **WORKLOAD)
    assert workload.actor_kind == "service"
    assert assess("baseline:denied_burst", workload).tier == "page"


def test_a_persons_burst_of_deletes_waits_an_agents_pages() -> None:
    """Twenty scratch objects deleted in ten minutes on a heavy day is a person's clean-up; it
    waits for a sign that is not volume (lasting deletes page alone). An agent's burst pages."""
    scratch = {"bucketName": "acme-staging-chat-reports", "key": "tmp/a.csv"}
    person = event("DeleteObject", "s3", scratch, **PERSON)
    assert assess("baseline:destructive_burst", person).tier == "hold"
    agent = event(
        "DeleteObject", "s3", {"bucketName": "acme-chat-reports", "key": "a.csv"}, **AGENT
    )
    assert assess("baseline:destructive_burst", agent).tier == "page"


def burst_tier(deletes: list[AuditEvent]) -> str:
    """The tier of a destructive burst raised on the last of `deletes` (all in one window)."""
    state = mature_state(deletes[-1])
    for e in deletes:
        state.observe(e)
    return (
        Triage(org=OrgMemory())
        .assess(
            finding("baseline:destructive_burst", deletes[-1]), deletes[-1], state, routine=False
        )
        .tier
    )


def test_an_agents_burst_of_dev_and_staging_deletes_waits_one_production_delete_pages() -> None:
    """Fresh seeds 1129, 1138: coding agents in their busiest hour deleted 11 and 22 objects of
    dev and staging buckets in ten minutes and paged critical. Every delete outside production
    and none of a resource meant to last: clean-up, held for a second sign. One object of a
    production bucket among them, a staging table (it was meant to last), or objects of a
    bucket whose name says nothing of its environment: the burst pages."""

    def delete(action: str, source: str, params: dict[str, Any], minute: int) -> AuditEvent:
        return make_event(
            eventName=action,
            eventSource=f"{source}.amazonaws.com",
            requestParameters=params,
            at=BASE_TIME + timedelta(days=10, minutes=minute),
            **AGENT,
        )

    def objects(bucket: str, n: int, start: int = 0) -> list[AuditEvent]:
        return [
            delete("DeleteObject", "s3", {"bucketName": bucket, "key": f"out/{i}.csv"}, start + i)
            for i in range(n)
        ]

    buckets = ("tyrell-staging-chat-reports", "tyrell-dev-payments-media")
    clean_up = [*objects(buckets[0], 6), *objects(buckets[1], 5, 6)]
    assert burst_tier(clean_up) == "hold"
    assert burst_tier([*clean_up[:-1], *objects("tyrell-prod-ledger", 1, 10)]) == "page"
    table = delete("DeleteTable", "dynamodb", {"tableName": "staging-orders"}, 9)
    assert burst_tier([*clean_up[:-2], table, clean_up[-1]]) == "page"
    assert burst_tier([*clean_up[:-1], *objects("tyrell-chat-reports", 1, 10)]) == "page"
    # the store decides, not the key: customer exports under it/ or qa/ keys are no clean-up
    # (review)
    for prefix in ("it", "qa", "test", "tmp"):
        exports = [
            delete(
                "DeleteObject", "s3", {"bucketName": "tyrell-exports", "key": f"{prefix}/{i}"}, i
            )
            for i in range(12)
        ]
        assert burst_tier(exports) == "page", prefix


def test_a_person_in_many_regions_waits_an_agent_pages() -> None:
    """A person's audit or clean-up script runs across every region; an AI agent fanning out
    over regions is not doing its job."""
    person = event("DescribeInstances", "ec2", {}, **PERSON)
    assert assess("baseline:region_spread", person).tier == "hold"
    agent = event("DescribeInstances", "ec2", {}, **AGENT)
    assert assess("baseline:region_spread", agent).tier == "page"


def test_more_deletes_than_usual_over_hours_waits_lasting_ones_page() -> None:
    for who in (AGENT, WORKLOAD):
        e = event("DeleteObject", "s3", {"bucketName": "scratch", "key": "a.parquet"}, **who)
        assert assess("baseline:slow_destructive", e).tier == "hold", who
        gone = event("DeleteDBInstance", "rds", {"dBInstanceIdentifier": "orders"}, **who)
        assert assess("baseline:slow_lasting_destruction", gone).tier == "page", who


def test_a_log_retention_of_a_week_or_more_is_housekeeping_a_day_is_evasion() -> None:
    def tier(params: dict[str, object]) -> tuple[str, str]:
        e = event(
            "PutRetentionPolicy", "logs", {"logGroupName": "/aws/lambda/api", **params}, **AGENT
        )
        found = assess("baseline:first_seen_evasion", e)
        return found.tier, found.twin

    assert tier({"retentionInDays": 30}) == ("trace", "logs kept for a week or more")
    assert tier({"retentionInDays": 7}) == ("trace", "logs kept for a week or more")
    assert tier({"retentionInDays": 1}) == ("page", "")
    assert tier({}) == ("page", "")  # nothing says how long: judged as the call it is
    assert tier({"retentionInDays": "a week"}) == ("page", "")


def test_a_database_resized_or_upgraded_waits_one_opened_or_unprotected_pages() -> None:
    """Sigma's "Modification or Deletion of an AWS RDS Cluster" fires on every ModifyDBCluster
    (Panther's expected-quiet fixture: an engine upgrade). A change of size, version or window
    waits for a second sign; a password, public access, backups or a parameter nobody listed
    pages as before."""

    def tier(action: str, params: dict[str, object]) -> tuple[str, str]:
        e = event(action, "rds", params, **WORKLOAD)
        found = assess("sigma:aws_rds_dbcluster_actions", e)
        return found.tier, found.twin

    upgrade = {"dBClusterIdentifier": "aurora", "engineVersion": "8.0.mysql_aurora.3.04.0"}
    held = ("hold", "a database resized, upgraded or rescheduled")
    assert tier("ModifyDBCluster", upgrade) == held
    assert tier("ModifyDBInstance", {"dBInstanceIdentifier": "db", "allocatedStorage": 200}) == held
    for risky in (
        {"masterUserPassword": "HIDDEN_DUE_TO_SECURITY_REASONS"},
        {"publiclyAccessible": True},
        {"backupRetentionPeriod": 0},
        {"deletionProtection": False},
        {"newDBClusterIdentifier": "aurora-old"},
        {"someFutureParameter": 1},
        {"monitoringInterval": 0},  # monitoring off hides the database (review)
        {"enablePerformanceInsights": False},
    ):
        assert tier("ModifyDBCluster", {**upgrade, **risky}) == ("page", ""), risky
    assert tier("DeleteDBCluster", {"dBClusterIdentifier": "aurora"}) == ("page", "")
    assert tier("ModifyDBCluster", {}) == ("page", "")  # nothing says what changed


def test_keys_for_a_colleague_page_for_a_service_user_or_a_new_hire_they_wait() -> None:
    """Credentials made for a person Leash saw working are a way into their identity; a
    service user's keys are rotated, a new hire's are onboarding."""
    org = OrgMemory()
    triage = Triage(org=org)
    admin = "AWSReservedSSO_SecurityAudit_1a2b3c"
    org.observe(user_event("fhaddad", "DescribeInstances", {}, 0))  # a colleague at work
    org.observe(event("CreateUser", "iam", {"userName": "new.hire"}, role=admin, session="o@x.io"))
    org.observe(user_event("new.hire", "DescribeInstances", {}, 5))  # the new hire's first day

    def tier(user: str) -> str:
        e = event("CreateAccessKey", "iam", {"userName": user}, role=admin, session="o@x.io")
        e = replace(e, event_time_ms=e.event_time_ms + 600_000)
        findings = [f for rule in load_rules() if (f := rule.evaluate(e)) is not None]
        flag = next(f for f in findings if f.rule == "redflag:access_key_for_other_user")
        return triage.assess(flag, e, mature_state(e), routine=False).tier

    assert tier("fhaddad") == "page"
    assert tier("svc-billing-sftp") == "hold"
    assert tier("new.hire") == "hold"


def test_a_key_rotation_job_rotating_a_service_users_key_is_held() -> None:
    """A workload that reads users' keys every day (its routine) creating a key for a service
    user is rotation; the same call for a colleague, or by an agent, pages."""
    org = OrgMemory()
    triage = Triage(org=org)
    org.observe(user_event("fhaddad", "DescribeInstances", {}, -60))  # a colleague at work
    rotator = {"role": "iam-key-rotator", "session": "rotate", "userAgent": "Boto3/1.34.10"}

    def tier(user: str, **who: Any) -> tuple[str, str]:
        e = event("CreateAccessKey", "iam", {"userName": user}, **who)
        state = mature_state(e)
        state.seen["action"].add("ListAccessKeys")
        found = assess_with(triage, "baseline:new_sensitive_actions", e, state)
        return found.tier, found.twin

    twin = "a key-rotation job rotating a service user's key"
    assert tier("svc-billing-sftp", **rotator) == ("hold", twin)
    assert tier("fhaddad", **rotator) == ("page", "")
    assert tier("svc-billing-sftp", **AGENT) == ("page", "")
    # a user the rotator made a minute before is no service user whose key it rotates (held-out
    # 1268: `admin-backup` and its key 11 s apart); one made two hours before may be
    for user, minutes in (("admin-backup", 1), ("svc-reports", 120)):
        made = event("CreateUser", "iam", {"userName": user}, **rotator)
        org.observe(replace(made, event_time_ms=made.event_time_ms - minutes * 60_000))
    assert tier("admin-backup", **rotator) == ("page", "")
    assert tier("svc-reports", **rotator) == ("hold", twin)


def test_a_console_password_set_by_software_for_someone_else_pages() -> None:
    """Seed 1076: a key-rotation role that rotated service users' keys twice gave `svc-legacy`
    a console password without a reset, and it waited as a medium red flag. Software has no
    use for a person's console password it knows; onboarding automation requires a reset (low,
    still waits), and a person setting one waits for a second sign."""
    rotator = {"role": "iam-key-rotator", "session": "rotate", "userAgent": "Boto3/1.34.10"}
    person = {"role": "AWSReservedSSO_SecurityAudit_1a2b3c", "session": "o@x.io"}

    def tier(action: str, reset: bool | None, **who: Any) -> str:
        params: dict[str, Any] = {"userName": "svc-legacy"}
        if reset is not None:
            params["passwordResetRequired"] = reset
        e = event(action, "iam", params, **who)
        [flag] = [
            f
            for rule in load_rules()
            if (f := rule.evaluate(e)) is not None
            and f.rule == "redflag:login_profile_for_other_user"
        ]
        return Triage(org=OrgMemory()).assess(flag, e, mature_state(e), routine=False).tier

    assert tier("CreateLoginProfile", False, **rotator) == "page"
    assert tier("UpdateLoginProfile", False, **AGENT) == "page"
    assert tier("CreateLoginProfile", True, **rotator) == "hold"
    assert tier("CreateLoginProfile", False, **person) == "hold"
    # an update that leaves the flag out keeps the profile's own (review): a rotation job
    assert tier("UpdateLoginProfile", None, **rotator) == "hold"


def assess_with(triage: Triage, rule: str, e: AuditEvent, state: PrincipalState) -> Finding:
    return triage.assess(finding(rule, e), e, state, routine=False)


STRANGER = "210987654321"  # an account nobody in the organisation ever named
PARTNER = "555566667777"  # one a trust named weeks ago
BUCKET = "arn:aws:s3:::acme-prod-invoices"


def grant_tier(action: str, source: str, params: dict[str, Any], rule: str, **kw: Any) -> str:
    """The tier of `rule` (from the real rule set) on a grant by a mature developer (or an
    admin who changed permissions two days earlier), in an account Leash has watched for
    `watched_days`."""
    who = kw.pop("who", PERSON)
    routine = kw.pop("routine", False)
    watched_days = kw.pop("watched_days", 5)
    administers = kw.pop("administers", False)
    role_made_minutes_ago = kw.pop("role_made_minutes_ago", None)
    role_trust = kw.pop("role_trust", {"AWS": "arn:aws:iam::123456789012:root"})
    earlier = kw.pop("earlier", None)
    e = event(action, source, params, **who)
    org = OrgMemory()
    if role_made_minutes_ago is not None:
        trust = {"Statement": [{"Effect": "Allow", "Principal": role_trust, "Action": "sts:*"}]}
        made = make_event(
            eventName="CreateRole",
            eventSource="iam.amazonaws.com",
            requestParameters={
                "roleName": params["roleName"],
                "assumeRolePolicyDocument": json.dumps(trust),
            },
            at=BASE_TIME + timedelta(days=10, minutes=-role_made_minutes_ago),
            **who,
        )
        org.observe(made)
    if earlier is not None:  # the same call two days before
        org.observe(replace(e, event_time_ms=e.event_time_ms - 2 * 86_400_000))
    org.remember_account(e.account, e.event_time_ms - watched_days * 86_400_000)
    org.remember_account(PARTNER, e.event_time_ms - 20 * 86_400_000)
    state = mature_state(e)
    if administers:
        state.privilege_since["CreateRole"] = e.event_time_ms - 2 * 86_400_000
    flags = [f for r in load_rules() if (f := r.evaluate(e)) is not None and f.rule == rule]
    assert flags, f"{rule} did not fire on {action}"
    return Triage(org=org).assess(flags[0], e, state, routine=routine).tier


def trust(account: str) -> dict[str, Any]:
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    return {"roleName": "billing-reports", "policyDocument": json.dumps(doc)}


def bucket_grant(account: str) -> dict[str, Any]:
    doc = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": [f"{BUCKET}/*", BUCKET],
            }
        ]
    }
    return {"bucketName": "acme-prod-invoices", "bucketPolicy": doc}


def test_a_role_trusting_an_account_nobody_named_pages_unless_an_admin_or_a_new_install() -> None:
    """A developer making a role assumable from an unknown account hands it to that account's
    owner; the organisation's partners, its admins' vendor work and an install's first days
    (every account is unknown) wait for a second sign."""
    rule = "redflag:role_trust_external"

    def tier(account: str, **kw: Any) -> str:
        return grant_tier("UpdateAssumeRolePolicy", "iam", trust(account), rule, **kw)

    assert tier(STRANGER) == "page"
    assert tier(STRANGER, who=AGENT) == "page"
    assert tier(PARTNER) == "hold"
    assert tier(STRANGER, administers=True) == "hold"
    assert tier(STRANGER, watched_days=1) == "hold"


def test_a_bucket_opened_to_an_account_nobody_named_pages() -> None:
    """A bucket policy granting reads to another account is a medium red flag that waits; to
    an account the organisation never dealt with, it is the data leaving."""
    rule = "redflag:bucket_made_public"

    def tier(account: str, **kw: Any) -> str:
        return grant_tier("PutBucketPolicy", "s3", bucket_grant(account), rule, **kw)

    assert tier(STRANGER) == "page"
    assert tier(PARTNER) == "hold"
    assert tier(STRANGER, watched_days=1) == "hold"


def test_a_temporary_bucket_made_public_still_pages() -> None:
    """A dev bucket's name excuses deleting it, not opening it to the world (a dev copy holds
    real data too)."""
    params = {"bucketName": "acme-dev-exports", "x-amz-acl": ["public-read"], "acl": ""}
    assert grant_tier("PutBucketAcl", "s3", params, "redflag:bucket_made_public") == "page"


def test_a_deploy_role_attaching_admin_to_itself_is_not_its_routine() -> None:
    """A CI role that attaches policies every day (its app's roles) is excused for that; the
    same call making itself administrator is the escalation."""
    ci = {"role": "gha-portal-deploy", "session": "github-8157034855"}
    admin = "arn:aws:iam::aws:policy/AdministratorAccess"

    def tier(role: str) -> str:
        e = event("AttachRolePolicy", "iam", {"roleName": role, "policyArn": admin}, **ci)
        flag = next(
            f
            for r in load_rules()
            if (f := r.evaluate(e)) is not None and f.rule == "redflag:admin_policy_attached"
        )
        return Triage(org=OrgMemory()).assess(flag, e, mature_state(e), routine=True).tier

    assert tier("portal-lambda-exec") == "hold"
    assert tier("gha-portal-deploy") == "page"


def test_a_persons_first_code_push_to_a_function_outside_production_only_traces() -> None:
    """Seeds 806, 812: developers deploying to a staging function for the first time (from a
    client new to them) paged as "a way into running code". For a person new code outside
    production is their work: it joins an incident but opens or corroborates none. In
    production it pages, and an AI agent's or a workload's first push pages anywhere."""
    staging = {"functionName": "staging-portal-resize"}

    def first_push(on_prod: bool, who: dict[str, Any]) -> str:
        e = event("UpdateFunctionCode20150331v2", "lambda", staging, **who)
        found = replace(
            finding("baseline:first_access_grant", e),
            explanation={"action": e.action, "host_or_production": on_prod},
        )
        return Triage(org=OrgMemory()).assess(found, e, mature_state(e), routine=False).tier

    assert first_push(False, PERSON) == "trace"
    assert first_push(True, PERSON) == "page"
    assert first_push(False, AGENT) == "page"
    assert first_push(False, WORKLOAD) == "page"


def test_hours_of_dev_and_staging_deletes_only_note_one_lasting_or_production_delete_holds() -> (
    None
):
    """Fresh seed 1235: a coding agent deleted 16 objects of dev and staging buckets over two
    hours (its usual up to 6 in six hours) and paged when its runner moved to a new network --
    a clean-up day and a new network, two notes of nothing. Over six hours of such deletes the
    finding only notes, whoever deletes; one production object or one staging table earlier in
    the six hours -- long out of the 10-minute window -- and it waits for a second sign again."""

    def delete(bucket: str, minute: int, **who: Any) -> AuditEvent:
        return make_event(
            eventName="DeleteObject",
            eventSource="s3.amazonaws.com",
            requestParameters={"bucketName": bucket, "key": f"out/{minute}.gz"},
            at=BASE_TIME + timedelta(days=10, minutes=minute),
            **who,
        )

    def slow_tier(deletes: list[AuditEvent]) -> str:
        state = mature_state(deletes[-1])
        for e in deletes:
            state.observe(e)
        last = deletes[-1]
        assessed = Triage(org=OrgMemory()).assess(
            finding("baseline:slow_destructive", last), last, state, routine=False
        )
        return assessed.tier

    for who in (AGENT, PERSON, WORKLOAD):
        buckets = ("apertureio-staging-ledger-media", "apertureio-dev-checkout-artifacts")
        day = [delete(buckets[i % 2], i * 8, **who) for i in range(16)]
        assert slow_tier(day) == "note", who
        assert slow_tier([delete("apertureio-prod-ledger-media", 0, **who), *day[1:]]) == "hold"
        table = make_event(
            eventName="DeleteTable",
            eventSource="dynamodb.amazonaws.com",
            requestParameters={"tableName": "staging-orders"},
            at=BASE_TIME + timedelta(days=10),
            **who,
        )
        assert slow_tier([table, *day[1:]]) == "hold", who
        assert slow_tier([delete("apertureio-ledger-media", 0, **who), *day[1:]]) == "hold"
        # an object's versions are gone for good, scratch bucket or not (review)
        versions = make_event(
            eventName="DeleteObjectVersion",
            eventSource="s3.amazonaws.com",
            requestParameters={"bucketName": buckets[0], "key": "out/1.gz", "versionId": "v1"},
            at=BASE_TIME + timedelta(days=10, minutes=1),
            **who,
        )
        assert slow_tier([day[0], versions, *day[1:]]) == "hold", who
        # a production delete that arrives after newer ones, too late for its ten minutes,
        # still counts (review)
        late = delete("apertureio-prod-media", 60, **who)
        assert slow_tier([*day, late]) == "hold", who
        # deletes of six hours ago and more no longer count: the window moved on
        late = delete("apertureio-staging-ledger-media", 16 * 8 + 6 * 60, **who)
        assert slow_tier([delete("apertureio-prod-ledger", 0, **who), *day[1:], late]) == "note"


def test_an_admin_rewriting_a_managed_policy_to_allow_everything_pages() -> None:
    """Attaching AdministratorAccess is an administrator's work and waits for a second sign; a
    managed policy's new default version allowing everything elevates whoever it is attached
    to without naming them, and pages whoever makes it (held-out seeds 928, 1221)."""
    rule = "redflag:admin_policy_attached"
    everything = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    version = {
        "policyArn": "arn:aws:iam::123456789012:policy/dana-policy",
        "policyDocument": json.dumps(everything),
        "setAsDefault": True,
    }
    attach = {"roleName": "breakglass", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}
    assert grant_tier("AttachRolePolicy", "iam", attach, rule, administers=True) == "hold"
    assert grant_tier("CreatePolicyVersion", "iam", version, rule, administers=True) == "page"
    assert grant_tier("CreatePolicyVersion", "iam", version, rule, routine=True) == "page"
    # a policy already seen allowing everything: nobody new becomes an administrator (review)
    assert (
        grant_tier("CreatePolicyVersion", "iam", version, rule, routine=True, earlier=1) != "page"
    )
    assert grant_tier("CreatePolicyVersion", "iam", version, rule) == "page"


def test_an_admin_making_a_role_administrator_within_the_hour_it_was_made_pages() -> None:
    """An administrator attaching AdministratorAccess to an existing role (a break-glass drill)
    waits for a second sign; to a role made minutes before, it is a new administrator identity
    -- the way back in an attacker with an admin's session leaves (held-out 1267)."""
    rule = "redflag:admin_policy_attached"
    admin = "arn:aws:iam::aws:policy/AdministratorAccess"

    def tier(**kw: Any) -> str:
        attach = {"roleName": "ops2", "policyArn": admin}
        return grant_tier("AttachRolePolicy", "iam", attach, rule, administers=True, **kw)

    assert tier() == "hold"
    assert tier(role_made_minutes_ago=1) == "page"
    assert tier(role_made_minutes_ago=120) == "hold"
    # an administrator who attaches policies every day: routine excuses the existing role only
    assert tier(routine=True) == "hold"
    assert tier(routine=True, role_made_minutes_ago=1) == "page"
    # a pipeline that creates and elevates roles on every run keeps its routine
    assert tier(routine=True, role_made_minutes_ago=1, who=WORKLOAD) == "hold"
    # an execution role only AWS services assume (`cdk bootstrap`'s): no identity (review)
    service_trust = {"Service": "cloudformation.amazonaws.com"}
    assert tier(role_made_minutes_ago=1, role_trust=service_trust) == "hold"


def test_a_workloads_keys_for_the_first_user_it_made_within_the_hour_page() -> None:
    """Held-out 1268: a key rotator's session made `admin-backup` and its key 11 s apart. Its
    routine (keys every day) and the rotation twin excuse keys for users that are there; a
    user it made minutes ago is a way back in -- unless making users is its job (a
    provisioning pipeline that made users before)."""
    rotator = {"role": "iam-key-rotator", "session": "rotate", "userAgent": "Boto3/1.34.10"}
    rule = "redflag:access_key_for_other_user"

    def tier(user: str, made_before: tuple[tuple[str, int], ...]) -> str:
        org = OrgMemory()
        e = event("CreateAccessKey", "iam", {"userName": user}, **rotator)
        for name, minutes in made_before:
            made = event("CreateUser", "iam", {"userName": name}, **rotator)
            org.observe(replace(made, event_time_ms=made.event_time_ms - minutes * 60_000))
        state = mature_state(e)
        state.seen["action"].add("ListAccessKeys")
        flag = next(f for r in load_rules() if (f := r.evaluate(e)) is not None and f.rule == rule)
        return Triage(org=org).assess(flag, e, state, routine=True).tier

    assert tier("admin-backup", (("admin-backup", 1),)) == "page"
    assert tier("svc-reports", ()) != "page"  # a service user that was there: rotation
    assert tier("svc-reports", (("svc-reports", 120),)) != "page"
    # a pipeline that made users before: its new user's key is its work -- also when it makes
    # the same user again on every run (review)
    assert tier("svc-new", (("svc-old", 3 * 24 * 60), ("svc-new", 1))) != "page"
    assert tier("svc-smoke", (("svc-smoke", 3 * 24 * 60), ("svc-smoke", 1))) != "page"
