"""The organisation's memory and the benign twins it recognises, on real-shaped records.

Each case is a benign look-alike (held) beside the attack it resembles (not held), so a twin
that grows too generous fails here as well as one that stops recognising its twin.
"""

from __future__ import annotations

import json
from datetime import timedelta

from detect.context.org import OrgMemory
from detect.context.triage import Triage
from detect.features import PrincipalState
from detect.findings import Finding
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, finding_on, make_event, mature_state, user_event

CI = {"role": "ci-deployer", "session": "gha-6579069370"}
CI_NEXT_RUN = {"role": "ci-deployer", "session": "gha-6579069999"}
OPS = {"role": "platform-ops", "session": "ops-bot"}
GUS = {  # an IAM user: no session ends his runs
    "userIdentity": {
        "type": "IAMUser",
        "arn": "arn:aws:iam::123456789012:user/gus.reyes",
        "accountId": "123456789012",
        "userName": "gus.reyes",
        "principalId": "AIDAEXAMPLEGUS",
    }
}


def at(minutes: float) -> dict[str, object]:
    return {"at": BASE_TIME + timedelta(minutes=minutes)}


def call(
    action: str, source: str, params: dict[str, object], minutes: float, **who: object
) -> AuditEvent:
    return make_event(
        eventName=action,
        eventSource=f"{source}.amazonaws.com",
        requestParameters=params,
        **at(minutes),
        **who,
    )


def terminate(instance: str, minutes: float, **who: object) -> AuditEvent:
    params = {"instancesSet": {"items": [{"instanceId": instance}]}}
    return call("TerminateInstances", "ec2", params, minutes, **who)


def delete_bucket(bucket: str, minutes: float, **who: str) -> AuditEvent:
    return call("DeleteBucket", "s3", {"bucketName": bucket}, minutes, **who)


# -- what counts as a lasting resource ---------------------------------------------------------
def test_a_run_tearing_down_temporary_resources_takes_its_nameless_instances_with_it() -> None:
    org = OrgMemory()
    before = terminate("i-0cec3ec35958a1b", 0, **CI)
    assert org.lasting(before) == ["i-0cec3ec35958a1b"]  # nothing says temporary yet
    for n in range(3):
        org.observe(delete_bucket(f"preview-pr-{n}-search", 1 + n, **CI))
    assert org.lasting(terminate("i-0ac6344d73d3ade", 5, **CI)) == []
    # another run of the same role has not torn anything down: its instance is lasting
    assert org.lasting(terminate("i-043fb6c19b26c4", 6, **CI_NEXT_RUN)) == ["i-043fb6c19b26c4"]
    # named resources never ride along: a production bucket in the same run is lasting
    assert org.lasting(delete_bucket("orders-prod-data", 7, **CI)) == ["orders-prod-data"]
    # and the run's licence lapses after an hour without temporary deletes
    assert org.lasting(terminate("i-0b7e06330a7be6", 90, **CI)) == ["i-0b7e06330a7be6"]


def test_deleting_objects_does_not_make_a_run_a_teardown() -> None:
    """An IAM user has no session: the daily clean-up of a dev bucket's objects must not make
    every instance they terminate afterwards a temporary one (seed 983)."""
    org = OrgMemory()
    for n in range(12):
        org.observe(
            call("DeleteObject", "s3", {"bucketName": "dev-uploads", "key": f"{n}"}, n, **GUS)
        )
        org.observe(call("DeleteObjects", "s3", {"bucketName": "dev-uploads"}, n + 0.5, **GUS))
    for n in range(4):
        instance = f"i-0{n}ec3ec35958a1b"
        assert org.lasting(terminate(instance, 20 + 10 * n, **GUS)) == [instance]
        org.observe(terminate(instance, 20 + 10 * n, **GUS))


def test_a_teardown_licence_is_not_renewed_by_the_deletes_it_excused() -> None:
    org = OrgMemory()
    for n in range(3):
        org.observe(delete_bucket(f"preview-pr-{n}-search", n, **CI))
    for minutes in (30, 60):  # excused: within the hour of the last temporary delete
        org.observe(terminate(f"i-0{minutes}c3ec35958a1b", minutes, **CI))
    assert org.lasting(terminate("i-0ac6344d73d3ade", 65, **CI)) == ["i-0ac6344d73d3ade"]


def test_a_run_without_a_session_starts_again_after_an_hour_without_temporary_deletes() -> None:
    org = OrgMemory()
    for n in range(3):
        org.observe(delete_bucket(f"preview-pr-{n}-search", n, **GUS))
    org.observe(delete_bucket("preview-pr-9-search", 200, **GUS))  # one, hours later
    assert org.lasting(terminate("i-0ac6344d73d3ade", 201, **GUS)) == ["i-0ac6344d73d3ade"]


def test_deleting_objects_is_not_deleting_a_lasting_resource() -> None:
    org = OrgMemory()
    objects = call(
        "DeleteObject", "s3", {"bucketName": "orders-prod-reports", "key": "a/b.png"}, 0, **OPS
    )
    assert org.lasting(objects) == []
    assert org.lasting(delete_bucket("orders-prod-reports", 1, **OPS)) == ["orders-prod-reports"]


def test_a_lasting_resource_deleted_and_made_again_is_still_lasting() -> None:
    """An agent "deletes and recreates" a production table, then deletes it again within the
    day: the second delete destroys the same production table, not a young one. A table made
    fresh in that hour is young, and deleting it is clean-up."""
    org = OrgMemory()
    for action, minutes in (("DeleteTable", 0), ("CreateTable", 5)):
        org.observe(call(action, "dynamodb", {"tableName": "orders-prod"}, minutes, **OPS))
        org.observe(call(action, "dynamodb", {"tableName": "orders-tmp"}, minutes, **OPS))
    again = call("DeleteTable", "dynamodb", {"tableName": "orders-prod"}, 60, **OPS)
    assert org.lasting(again) == ["orders-prod"]
    fresh = call("DeleteTable", "dynamodb", {"tableName": "orders-tmp"}, 60, **OPS)
    assert org.lasting(fresh) == [], "tmp is named temporary"
    org.observe(call("CreateTable", "dynamodb", {"tableName": "orders-archive"}, 5, **OPS))
    made = call("DeleteTable", "dynamodb", {"tableName": "orders-archive"}, 60, **OPS)
    assert org.lasting(made) == [], "made an hour ago and never lasting: clean-up"


def test_global_services_logging_in_us_east_1_do_not_put_it_in_use() -> None:
    """IAM, STS's global endpoint, console sign-in and S3's bucket list log in us-east-1 for an
    organisation that works in eu-west-1 only: deleting GuardDuty there is still clean-up of an
    unused region. EC2 calls in us-east-1 put it in use."""
    org = OrgMemory()
    triage = Triage(org=org)
    for n in range(300):
        for action, source in (
            ("GetUser", "iam"),
            ("ListBuckets", "s3"),
            ("GetCallerIdentity", "sts"),
        ):
            org.observe(call(action, source, {}, n / 10, **OPS))
        org.observe(call("DescribeInstances", "ec2", {}, n / 10, awsRegion="eu-west-1", **OPS))
    assert not org.region_in_use("us-east-1") and org.region_in_use("eu-west-1")
    delete = call("DeleteDetector", "guardduty", {"detectorId": "f6cf20c5"}, 40, **OPS)
    assert delete.region == "us-east-1"
    found = triaged(triage, delete)
    assert found and all(f.tier == "hold" for f in found), tiers(found)
    for n in range(300):
        org.observe(call("DescribeInstances", "ec2", {}, 50 + n / 10, **OPS))
    found = triaged(triage, call("DeleteDetector", "guardduty", {"detectorId": "f6"}, 90, **OPS))
    assert any(f.tier == "page" for f in found), tiers(found)


def test_a_tag_or_a_policy_is_not_a_birth() -> None:
    org = OrgMemory()
    org.observe(
        call(
            "CreateTags",
            "ec2",
            {"resourcesSet": {"items": [{"resourceId": "checkout-prod"}]}},
            0,
            **CI,
        )
    )
    org.observe(
        call(
            "PutBucketPolicy", "s3", {"bucketName": "orders-prod-data", "bucketPolicy": {}}, 0, **CI
        )
    )
    assert org.born("checkout-prod", BASE_TIME.timestamp() * 1000 + 60_000) is None
    assert org.born("orders-prod-data", BASE_TIME.timestamp() * 1000 + 60_000) is None
    org.observe(call("CreateBucket", "s3", {"bucketName": "orders-prod-data"}, 1, **CI))
    assert org.born("orders-prod-data", BASE_TIME.timestamp() * 1000 + 120_000) is not None


def test_what_a_create_call_makes_something_in_is_not_its_birth() -> None:
    """Fresh seed 1125: an instance writing a function's logs (CreateLogStream in the group
    /aws/lambda/prod-reports-authorizer) made "prod-reports-authorizer" its own new resource, so
    its first UpdateFunctionCode on that production function was excused as work on something it
    had just made. The stream, the object and the snapshot are born; the group, the bucket and
    the volume they were made in or from are not."""
    org = OrgMemory()
    group = "/aws/lambda/prod-reports-authorizer"
    org.observe(
        call("CreateLogStream", "logs", {"logGroupName": group, "logStreamName": "d8a2"}, 0, **OPS)
    )
    put = {"bucketName": "orders-prod-data", "key": "in/2025/report.csv"}
    org.observe(call("PutObject", "s3", put, 0, **OPS))
    snap = call("CreateSnapshot", "ec2", {"volumeId": "vol-0a1b2c3d4e5f60718"}, 0, **OPS)
    assert snap.resources, "the snapshot call names its volume"
    org.observe(snap)
    later = BASE_TIME.timestamp() * 1000 + 60_000
    assert org.born("d8a2", later) is not None
    assert org.born("report.csv", later) is not None
    for parent in ("prod-reports-authorizer", "orders-prod-data", "vol-0a1b2c3d4e5f60718"):
        assert org.born(parent, later) is None, parent
    org.observe(call("CreateLogGroup", "logs", {"logGroupName": "/aws/lambda/pr-7"}, 1, **OPS))
    assert org.born("pr-7", later + 60_000) is not None


def test_a_created_database_is_born_whatever_else_its_call_names() -> None:
    """Review: ingest names every identifier of a request a resource, so CreateDBInstance names
    its subnet group and key as well -- the database is still what it made, and deleting it an
    hour later is clean-up. A database restored from a snapshot is born; the snapshot is not."""
    org = OrgMemory()
    create = {
        "dBInstanceIdentifier": "orders-analytics",
        "masterUsername": "admin",
        "dBSubnetGroupName": "private",
        "kmsKeyId": "alias/rds",
    }
    org.observe(call("CreateDBInstance", "rds", create, 0, **OPS))
    delete = call(
        "DeleteDBInstance", "rds", {"dBInstanceIdentifier": "orders-analytics"}, 60, **OPS
    )
    assert org.lasting(delete) == []
    restore = {
        "dBInstanceIdentifier": "orders-restored",
        "dBSnapshotIdentifier": "orders-prod-backup",
    }
    org.observe(call("RestoreDBInstanceFromDBSnapshot", "rds", restore, 0, **OPS))
    later = BASE_TIME.timestamp() * 1000 + 60_000
    assert org.born("orders-restored", later) is not None
    assert org.born("orders-prod-backup", later) is None
    backup = {"dBSnapshotIdentifier": "orders-prod-backup"}
    assert org.lasting(call("DeleteDBSnapshot", "rds", backup, 60, **OPS)) == ["orders-prod-backup"]


def observe_calls(org: OrgMemory, calls: list[tuple[str, str, dict[str, object]]]) -> float:
    """`org` observes each (call, service, requestParameters) by OPS; returns a minute later."""
    for action, source, params in calls:
        org.observe(call(action, source, params, 0, **OPS))
    return BASE_TIME.timestamp() * 1000 + 60_000


def test_a_create_call_makes_what_it_is_named_for_not_what_it_is_made_for() -> None:
    """Fresh seed 1058: a colleague's CreateFunctionUrlConfig on staging-recs-resize made the
    function "young", so an agent deleting it the next day among production resources was
    cleaning up. A URL, an alias or an event mapping is made *for* a function; an instance is
    run *from* an image in a subnet; an access key is made *for* a user; a policy version for
    a policy: none of those is born. What the call is named for is (the alias, the group)."""
    org = OrgMemory()
    calls = [
        ("CreateFunctionUrlConfig20211031", "lambda", {"functionName": "staging-recs-resize"}),
        ("CreateAlias20150331", "lambda", {"functionName": "prod-api", "name": "live"}),
        (
            "CreateEventSourceMapping20150331",
            "lambda",
            {"functionName": "prod-ingest", "eventSourceArn": "arn:aws:sqs:us-east-1:1:jobs"},
        ),
        ("RunInstances", "ec2", {"imageId": "ami-0a1b2c3d", "subnetId": "subnet-0a1b2c3d"}),
        ("CreateAccessKey", "iam", {"userName": "ops-robot"}),
        ("CreatePolicyVersion", "iam", {"policyArn": "arn:aws:iam::1:policy/prod-deploy"}),
        ("CreateSecurityGroup", "ec2", {"groupName": "web-sg", "vpcId": "vpc-0a1b2c3d"}),
    ]
    later = observe_calls(org, calls)
    for made_for in (
        "staging-recs-resize",
        "prod-api",
        "prod-ingest",
        "jobs",
        "ami-0a1b2c3d",
        "subnet-0a1b2c3d",
        "ops-robot",
        "prod-deploy",
        "vpc-0a1b2c3d",
    ):
        assert org.born(made_for, later) is None, made_for
    assert org.born("live", later) is not None
    assert org.born("web-sg", later) is not None
    delete = call("DeleteFunction20150331", "lambda", {"functionName": "staging-recs-resize"}, 90)
    assert org.lasting(delete) == ["staging-recs-resize"]


def test_a_copy_a_restore_a_replica_and_a_key_pair_are_what_their_calls_make() -> None:
    """Review: a copy or a restore names what it makes as its target, a read replica and a key
    pair are named by a parameter shorter than the call's noun, Glue wraps the table in its
    tableInput -- all are born (a restore drill deleting them is clean-up); the source they
    were made from, the user a password is made for, the document an association runs, the
    image an instance runs (named only among its items) and the target groups an Auto Scaling
    group joins are not."""
    org = OrgMemory()
    calls = [
        (
            "CopyDBSnapshot",
            "rds",
            {
                "sourceDBSnapshotIdentifier": "orders-prod-nightly",
                "targetDBSnapshotIdentifier": "orders-dr-copy",
            },
        ),
        (
            "RestoreTableFromBackup",
            "dynamodb",
            {"targetTableName": "orders-restore-test", "backupArn": "arn:aws:dynamodb:b/1"},
        ),
        (
            "CreateDBInstanceReadReplica",
            "rds",
            {
                "dBInstanceIdentifier": "orders-replica-ci",
                "sourceDBInstanceIdentifier": "orders-prod",
            },
        ),
        ("CreateKeyPair", "ec2", {"keyName": "ci-bastion-key"}),
        (
            "RestoreFromClusterSnapshot",
            "redshift",
            {"clusterIdentifier": "analytics-drill", "snapshotIdentifier": "analytics-prod-0"},
        ),
        ("CreateTable", "glue", {"databaseName": "analytics", "tableInput": {"name": "clicks"}}),
        ("CreateLoginProfile", "iam", {"userName": "billing-export"}),
        ("CreateAssociation", "ssm", {"name": "prod-hardening-doc"}),
        (  # names only inside its items: what it uses, not what it makes
            "CreateAssociationBatch",
            "ssm",
            {"entries": [{"name": "prod-patch-doc", "instanceId": "i-0abc12345678"}]},
        ),
        ("RunInstances", "ec2", {"instancesSet": {"items": [{"imageId": "ami-0feedface"}]}}),
        (
            "CreateAutoScalingGroup",
            "autoscaling",
            {
                "autoScalingGroupName": "web-asg-canary",
                "targetGroupARNs": [
                    "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/prod-web/50dc6c49"
                ],
            },
        ),
    ]
    later = observe_calls(org, calls)
    for made in (
        "orders-dr-copy",
        "orders-restore-test",
        "orders-replica-ci",
        "ci-bastion-key",
        "analytics-drill",
        "clicks",
        "web-asg-canary",
    ):
        assert org.born(made, later) is not None, made
    for source in (
        "orders-prod-nightly",
        "orders-prod",
        "analytics-prod-0",
        "analytics",
        "billing-export",
        "prod-hardening-doc",
        "prod-patch-doc",
        "i-0abc12345678",
        "ami-0feedface",
        "50dc6c49",
    ):
        assert org.born(source, later) is None, source


def test_a_change_set_updating_a_stack_is_not_its_birth() -> None:
    """Fresh seed 1046: a deploy's change set on the existing stack prod-atlas made
    "prod-atlas" young, so a CI role's deletion of the /ecs/prod-atlas log group half an hour
    later counted as clean-up. A change set is the stack's birth only with ChangeSetType
    CREATE (UPDATE is CloudFormation's default)."""
    org = OrgMemory()
    update = {"stackName": "prod-atlas", "changeSetName": "deploy-ab9eaea3"}
    org.observe(call("CreateChangeSet", "cloudformation", update, 0, **CI))
    logs = call("DeleteLogGroup", "logs", {"logGroupName": "/ecs/prod-atlas"}, 30, **OPS)
    assert org.lasting(logs) == ["prod-atlas"]
    assert org.born("deploy-ab9eaea3", BASE_TIME.timestamp() * 1000 + 60_000) is not None
    create = {"stackName": "pr-api", "changeSetName": "c1", "changeSetType": "CREATE"}
    org.observe(call("CreateChangeSet", "cloudformation", create, 0, **CI))
    assert org.born("pr-api", BASE_TIME.timestamp() * 1000 + 60_000) is not None


# -- benign twins through triage ---------------------------------------------------------------
def triaged(triage: Triage, event: AuditEvent) -> list[Finding]:
    """The red flags and Sigma rules `event` raises, with the tier triage gives each."""
    state = PrincipalState(event.principal_key, event.actor_kind)
    found = [f for rule in load_rules() if (f := rule.evaluate(event)) is not None]
    return [triage.assess(f, event, state, routine=False) for f in found]


def tiers(findings: list[Finding]) -> dict[str, str]:
    return {f.rule: f.tier for f in findings}


def test_a_grant_on_a_resource_the_caller_just_created_is_held_not_one_someone_else_made() -> None:
    org = OrgMemory()
    triage = Triage(org=org)
    org.observe(call("CreateBucket", "s3", {"bucketName": "reports-share"}, 0, **OPS))
    public = {
        "bucketName": "reports-share",
        "bucketPolicy": {
            "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}]
        },
    }
    own = triaged(triage, call("PutBucketPolicy", "s3", public, 5, **OPS))
    assert own and all(f.tier == "hold" for f in own), tiers(own)
    assert all(f.twin == "a target created recently or named as temporary" for f in own)
    other = triaged(triage, call("PutBucketPolicy", "s3", public, 5, **CI))
    assert other and any(f.tier == "page" for f in other), tiers(other)


def test_opening_to_the_outside_is_excused_only_in_the_run_that_made_the_target() -> None:
    """A deploy creating a role and its trust is set-up; the pipeline's role of last week made
    to trust an account nobody here knows is a backdoor (seed 843)."""
    org = OrgMemory()
    triage = Triage(org=org)
    org.observe(call("CreateRole", "iam", {"roleName": "cfn-exec-role"}, 0, **CI))
    trust = {
        "roleName": "cfn-exec-role",
        "policyDocument": '{"Statement": [{"Effect": "Allow", "Principal": {"AWS": '
        '"arn:aws:iam::459597236355:root"}, "Action": "sts:AssumeRole"}]}',
    }
    at_birth = tiers(triaged(triage, call("UpdateAssumeRolePolicy", "iam", trust, 20, **CI)))
    assert at_birth.get("redflag:role_trust_external") == "hold", at_birth
    week_on = tiers(triaged(triage, call("UpdateAssumeRolePolicy", "iam", trust, 6 * 1440, **CI)))
    assert week_on.get("redflag:role_trust_external") == "page", week_on


def test_admin_for_an_identity_made_moments_ago_is_the_backdoor_not_a_young_target() -> None:
    org = OrgMemory()
    triage = Triage(org=org)
    org.observe(call("CreateRole", "iam", {"roleName": "support-temp"}, 0, **OPS))
    admin = {
        "roleName": "support-temp",
        "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess",
    }
    found = tiers(triaged(triage, call("AttachRolePolicy", "iam", admin, 1, **OPS)))
    assert found.get("redflag:admin_policy_attached") == "page", found


def test_flow_logs_of_a_network_the_caller_just_deleted_are_held() -> None:
    org = OrgMemory()
    triage = Triage(org=org)
    flow_logs = {"DeleteFlowLogsRequest": {"FlowLogId": {"tag": 1, "content": "fl-0a1b2c3d"}}}
    blind = tiers(triaged(triage, call("DeleteFlowLogs", "ec2", flow_logs, 0, **OPS)))
    assert blind.get("redflag:flow_logs_deleted") == "page", blind  # nothing was deleted first
    org.observe(call("DeleteVpc", "ec2", {"vpcId": "vpc-0a1b2c3d"}, 1, **OPS))
    cleanup = tiers(triaged(triage, call("DeleteFlowLogs", "ec2", flow_logs, 2, **OPS)))
    assert cleanup.get("redflag:flow_logs_deleted") == "hold", cleanup
    later = tiers(triaged(triage, call("DeleteFlowLogs", "ec2", flow_logs, 30, **OPS)))
    assert later.get("redflag:flow_logs_deleted") == "page", later  # long after: not clean-up


def test_keys_for_a_new_hire_are_onboarding_keys_for_a_bare_new_user_are_a_backdoor() -> None:
    admin = {"role": "AWSReservedSSO_Admin_4f2a9c1e", "session": "alice@example.com"}
    key = {"userName": "nadia.berg"}
    org = OrgMemory()
    triage = Triage(org=org)
    org.observe(call("CreateUser", "iam", {"userName": "nadia.berg"}, 0, **admin))
    bare = triaged(triage, call("CreateAccessKey", "iam", key, 1, **admin))
    assert bare and not any(f.twin for f in bare), tiers(bare)  # keys only: no benign twin
    org.observe(
        call("AddUserToGroup", "iam", {"userName": "nadia.berg", "groupName": "dev"}, 2, **admin)
    )
    hired = triaged(triage, call("CreateAccessKey", "iam", key, 3, **admin))
    assert any(f.twin == "a user a person just created (onboarding)" for f in hired), tiers(hired)


def test_a_grant_to_itself_is_a_drill_for_a_person_and_an_attack_for_an_agent_or_workload() -> None:
    """A break-glass role's session a person opened keeps the twin; an AI agent's session or a
    workload's (a read-only dashboards role elevating itself) pages."""
    triage = Triage(org=OrgMemory())
    admin = {"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}
    person = {"role": "breakglass-admin", "session": "alice@example.com"}
    agent = {"role": "catalog-coding-agent", "session": "claude-15981787-afee"}
    workload = {
        "role": "dashboards-ro",
        "session": "grafana",
        "userAgent": "aws-sdk-go/1.44.327 (go1.21.6; linux; amd64) grafana/10.2.3",
    }
    drill = triaged(
        triage,
        call("AttachRolePolicy", "iam", {**admin, "roleName": "breakglass-admin"}, 0, **person),
    )
    assert drill[0].actor_kind == "human"
    assert {f.twin for f in drill} >= {"a grant to itself, not after a denial"}, tiers(drill)
    for who in (agent, workload):
        own = {**admin, "roleName": who["role"]}
        attack = triaged(triage, call("AttachRolePolicy", "iam", own, 0, **who))
        assert attack[0].actor_kind != "human", who
        assert tiers(attack).get("redflag:admin_policy_attached") == "page", (who, tiers(attack))


def test_a_person_granting_their_own_user_admin_is_a_drill_only_for_a_user_kept_for_it() -> None:
    """A developer's IAM user attaching AdministratorAccess to itself is the escalation; the
    same call by someone who changed permissions days before waits like a drill while the user
    is one Leash has barely seen work (a break-glass user) -- and pages from the user an
    administrator works with every day (seed 794)."""
    admin = {"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess", "userName": "jkowalski"}
    grant = user_event("jkowalski", "AttachUserPolicy", admin, 0)
    assert grant.actor_kind == "human"
    developer = PrincipalState(grant.principal_key, grant.actor_kind)
    found = [triage_with(developer, grant)]
    assert tiers(found) == {"redflag:admin_policy_attached": "page"}
    earlier = {"roleName": "reporting-task", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}
    administrator = PrincipalState(grant.principal_key, grant.actor_kind)
    administrator.observe(user_event("jkowalski", "AttachRolePolicy", earlier, -3 * 24 * 60))
    found = [triage_with(administrator, grant)]
    assert tiers(found) == {"redflag:admin_policy_attached": "hold"}
    assert found[0].twin == "a grant to itself, not after a denial"
    everyday = mature_state(grant)
    everyday.observe(user_event("jkowalski", "AttachRolePolicy", earlier, -3 * 24 * 60))
    assert tiers([triage_with(everyday, grant)]) == {"redflag:admin_policy_attached": "page"}


def test_a_person_granting_their_everyday_role_admin_is_a_drill_only_if_they_administer() -> None:
    """A developer's federated role they work with every day attaching AdministratorAccess to
    itself (seed 764) is the escalation; a role rarely assumed (a break-glass role: young
    history), or the same call by someone who changed permissions days before, waits like a
    drill -- but never for a permission set's own role (AWSReservedSSO_), which Identity Center
    keeps: break-glass is for when the directory is down (fresh seed 1287)."""
    for role, drills in (
        ("okta-DeveloperAccess", True),
        ("AWSReservedSSO_DeveloperAccess_f184050e", False),
    ):
        who = {"role": role, "session": "zoe@example.com"}
        grant = call(
            "AttachRolePolicy",
            "iam",
            {"roleName": role, "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
            0,
            **who,
        )
        assert grant.actor_kind == "human"
        everyday = [triage_with(mature_state(grant), grant)]
        assert tiers(everyday) == {"redflag:admin_policy_attached": "page"}
        drill = "a grant to itself, not after a denial" if drills else ""
        rarely = [triage_with(PrincipalState(grant.principal_key, grant.actor_kind), grant)]
        assert rarely[0].twin == drill, role
        administrator = mature_state(grant)
        earlier = {
            "roleName": "reporting-task",
            "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess",
        }
        administrator.observe(call("PutRolePolicy", "iam", earlier, -3 * 24 * 60, **who))
        assert triage_with(administrator, grant).twin == drill, role


def test_a_grant_to_itself_right_after_a_refusal_is_never_a_drill() -> None:
    """Stolen credentials of an administrator's SSO role refused, then granting it admin: the
    self-grant detector says it came after a denial, and the break-glass twin does not hold
    that (without the refusal it would: this person administers permissions)."""
    who = {"role": "okta-PlatformAdmin", "session": "jonas@example.com"}
    grant = {"roleName": who["role"], "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}
    event = call("AttachRolePolicy", "iam", grant, 0, **who)
    state = mature_state(event)
    earlier = {"roleName": "reporting-task", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}
    state.observe(call("PutRolePolicy", "iam", earlier, -3 * 24 * 60, **who))

    def self_grant(after_denial: bool) -> Finding:
        found = finding_on(
            event,
            "baseline:self_grant",
            summary="AttachRolePolicy on its own identity",
            explanation={"after_denial": after_denial},
            tier="page",  # as the red flag on the same call is
        )
        return Triage(org=OrgMemory()).assess(found, event, state, routine=False)

    assert self_grant(after_denial=True).tier == "page"
    assert self_grant(after_denial=False).twin == "a grant to itself, not after a denial"


def triage_with(state: PrincipalState, event: AuditEvent) -> Finding:
    rule = next(r for r in load_rules() if r.name == "redflag:admin_policy_attached")
    found = rule.evaluate(event)
    assert found is not None
    return Triage(org=OrgMemory()).assess(found, event, state, routine=False)


def test_a_role_session_a_person_opened_grants_itself_as_a_drill_whatever_its_name() -> None:
    org = OrgMemory()
    triage = Triage(org=org)
    drill = {"role": "breakglass-admin", "session": "breakglass-drill-1104"}
    grant = {
        "roleName": "breakglass-admin",
        "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess",
    }
    before = triaged(triage, call("AttachRolePolicy", "iam", grant, 0, **drill))
    assert before[0].actor_kind == "service"
    assert tiers(before).get("redflag:admin_policy_attached") == "page", tiers(before)
    opened = {
        "roleArn": "arn:aws:iam::123456789012:role/breakglass-admin",
        "roleSessionName": "breakglass-drill-1104",
    }
    person = {"role": "AWSReservedSSO_SecurityAudit_a97457f5", "session": "lars@example.com"}
    org.observe(call("AssumeRole", "sts", opened, 1, **person))
    after = triaged(triage, call("AttachRolePolicy", "iam", grant, 2, **drill))
    assert {f.twin for f in after} >= {"a grant to itself, not after a denial"}, tiers(after)


def test_a_trust_edit_on_a_role_an_outside_account_signs_in_to_waits_on_the_install_days() -> None:
    """On Leash's first days a person adding an account to the trust of a vendor's integration
    role (the vendor already signs in to it) waits for a second sign (seeds 799, 802); the same
    edit making an inside role trust an outside account pages. Later, an edit that keeps the
    vendor's account and adds another (its second account: seeds 891, 894) still waits, and one
    that drops the vendor's account for another (the role redirected) pages."""
    org = OrgMemory()
    triage = Triage(org=org)
    vendor = make_event(
        eventName="AssumeRole",
        eventSource="sts.amazonaws.com",
        sourceIPAddress="3.8.229.134",
        userIdentity={
            "type": "AWSAccount",
            "principalId": "AROAVENDOR:scan",
            "accountId": "867089763127",
        },
        requestParameters={
            "roleArn": "arn:aws:iam::123456789012:role/lacework-integration",
            "roleSessionName": "scan",
        },
        at=BASE_TIME + timedelta(days=10, hours=-1),  # Leash's first sight of the account
    )
    org.observe(vendor)
    trust = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {
                    "AWS": ["arn:aws:iam::867089763127:root", "arn:aws:iam::636868483107:root"]
                },
            }
        ]
    }

    redirected = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::636868483107:root"}},
            # the vendor's id named where it grants nothing is no keeping of the vendor
            {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::867089763127:root"}},
        ]
    }

    def edit(role: str, minutes: float, doc: object = trust) -> dict[str, str]:
        params = {"roleName": role, "policyDocument": json.dumps(doc)}
        event = user_event("eli", "UpdateAssumeRolePolicy", params, minutes)
        return tiers(triaged(triage, event))

    assert edit("lacework-integration", 60).get("redflag:role_trust_external") == "hold"
    assert edit("orders-api-task", 60).get("redflag:role_trust_external") == "page"
    later = 3 * 24 * 60
    assert edit("lacework-integration", later).get("redflag:role_trust_external") == "hold"
    assert edit("orders-api-task", later).get("redflag:role_trust_external") == "page"
    assert edit("lacework-integration", later, redirected)["redflag:role_trust_external"] == "page"


def test_a_trust_under_an_external_id_waits_on_the_installs_first_hours() -> None:
    """Seeds 884, 902, 930, 954, 962, 964: in Leash's first hours an administrator edited a
    vendor's integration role to trust the vendor's accounts, before the vendor's first
    sign-in, and it paged. Vendors set their roles up under the external id they hand out
    (sts:ExternalId); a backdoor trust (Stratus's, Pacu's) has none. Once the account has
    days, the vendor's sign-ins decide, as before."""
    org = OrgMemory()
    triage = Triage(org=org)
    org.observe(make_event(eventName="DescribeInstances", at=BASE_TIME + timedelta(days=10)))

    def statement(account: str, external_id: str = "") -> dict[str, object]:
        st: dict[str, object] = {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
            "Action": "sts:AssumeRole",
        }
        if external_id:
            st["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
        return st

    def edit(*statements: dict[str, object], minutes: float = 60) -> str:
        doc = {"Version": "2012-10-17", "Statement": list(statements)}
        params = {"roleName": "orca-integration", "policyDocument": json.dumps(doc)}
        event = user_event("eli", "UpdateAssumeRolePolicy", params, minutes)
        return tiers(triaged(triage, event)).get("redflag:role_trust_external", "")

    vendor = statement("867089763127", "a1b2c3d4e5")
    assert edit(vendor) == "hold"
    assert edit(statement("867089763127")) == "page"  # no external id: a backdoor's shape
    # one account under an external id, another without: the other is not the vendor's
    assert edit(vendor, statement("636868483107")) == "page"


def test_a_role_dressed_as_a_permission_sets_pages_however_routine_the_call() -> None:
    """Fresh seed 1287: an administrator who attaches policies every day attached
    AdministratorAccess to a role named as his permission set's; the red flag was held as his
    routine. IAM refuses changes to Identity Center's own roles, so no routine covers it."""
    who = {"role": "AWSReservedSSO_AdministratorAccess_d40128d9", "session": "sam@example.com"}
    grant = call(
        "AttachRolePolicy",
        "iam",
        {"roleName": who["role"], "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
        0,
        **who,
    )
    rule = next(r for r in load_rules() if r.name == "redflag:identity_center_role_changed")
    found = rule.evaluate(grant)
    assert found is not None and found.severity == "critical"
    state = mature_state(grant)
    assessed = Triage(org=OrgMemory()).assess(found, grant, state, routine=True)
    assert assessed.tier == "page", assessed.explanation
    admin = next(r for r in load_rules() if r.name == "redflag:admin_policy_attached")
    usual = admin.evaluate(grant)
    assert usual is not None
    assert Triage(org=OrgMemory()).assess(usual, grant, state, routine=True).tier != "page"


def test_on_the_installs_first_days_first_sensitive_calls_at_the_office_only_join_alerts() -> None:
    """Fresh seed 1336: on the install's first morning an administrator's session, from the
    office, wrote a role's inline policy, then edited the trust of a vendor's integration role
    (held: the vendor signs in to it). Her "first" permission calls -- every call is a first
    one on an install's first days -- were noted, and the note corroborated the held edit: it
    paged. From where colleagues work they only join an alert there. From a network nobody
    here uses (a session stolen on day one, backdooring a role from a Tor exit: review) the
    note stays, and so does it in an account Leash has watched for weeks, where a principal
    with no day of its own is new to the account."""
    admin = {"role": "AWSReservedSSO_AdministratorAccess_3674", "session": "uma@example.com"}
    office = "93.71.187.187"

    def call(ip: str) -> AuditEvent:
        return make_event(
            eventName="PutRolePolicy",
            eventSource="iam.amazonaws.com",
            readOnly=False,
            requestParameters={"roleName": "reports-task", "policyName": "s3-read"},
            sourceIPAddress=ip,
            at=BASE_TIME + timedelta(days=10),
            **admin,
        )

    def tier(org: OrgMemory, event: AuditEvent) -> str:
        first = finding_on(event, "baseline:new_sensitive_actions", severity="medium")
        unlearned = PrincipalState(event.principal_key, event.actor_kind)
        assert not unlearned.mature and not unlearned.learned_days
        return Triage(org=org).assess(first, event, unlearned, routine=False).tier

    def org_with_colleague(days_ago: float) -> OrgMemory:
        org = OrgMemory()
        colleague = make_event(
            role="AWSReservedSSO_DataScientist_c4d8",
            session="fatima@example.com",
            sourceIPAddress="93.71.187.20",
            at=BASE_TIME + timedelta(days=10 - days_ago),
        )
        org.observe(colleague)
        return org

    assert tier(org_with_colleague(0.1), call(office)) == "trace"
    assert tier(org_with_colleague(0.1), call("185.220.101.7")) == "note"  # a Tor exit
    assert tier(org_with_colleague(21), call(office)) == "note"  # a watched account
