"""Red-flag rules and load_rules: which single events fire, at what severity, and what they say."""

from __future__ import annotations

from typing import Any

import pytest

from detect.findings import SEVERITIES, Finding
from detect.rules.base import Rule
from detect.rules.catalogue import DEFAULT_EXCLUDED, load_rules
from detect.rules.redflags import RED_FLAGS
from ingest.events import AuditEvent, Normalizer
from tests.factories import make_event, make_record

ACCOUNT = "123456789012"
USER = {
    "type": "IAMUser",
    "principalId": "AIDAEXAMPLE",
    "accountId": ACCOUNT,
    "arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
    "userName": "alice",
}
ROOT = {
    "type": "Root",
    "principalId": ACCOUNT,
    "accountId": ACCOUNT,
    "arn": f"arn:aws:iam::{ACCOUNT}:root",
}
ADMIN_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"
ADMIN_DOC = '{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'


@pytest.fixture(scope="module")
def rules() -> list[Rule]:
    return load_rules()


def call(
    source: str, action: str, params: dict[str, Any] | None = None, **overrides: Any
) -> AuditEvent:
    return make_event(
        eventSource=f"{source}.amazonaws.com",
        eventName=action,
        requestParameters=params,
        readOnly=False,
        **overrides,
    )


def redflags(event: AuditEvent) -> dict[str, str]:
    """rule name -> severity of every red flag that fires."""
    found = (rule.evaluate(event) for rule in RED_FLAGS)
    return {f.rule: f.severity for f in found if f is not None}


def test_stop_logging_fires_critical_naming_principal_action_and_trail(rules: list[Rule]) -> None:
    event = call("cloudtrail", "StopLogging", {"name": "org-trail"})
    findings = [f for r in rules if (f := r.evaluate(event)) is not None]
    stop = next(f for f in findings if f.rule == "redflag:stop_logging")
    assert stop == Finding(
        principal=event.principal_key,
        actor_kind=event.actor_kind,
        kind="rule",
        rule="redflag:stop_logging",
        severity="critical",
        score=1.0,
        summary=stop.summary,
        event_ids=(event.event_id,),
        first_event_ms=event.event_time_ms,
        last_event_ms=event.event_time_ms,
        explanation=stop.explanation,
    )
    assert event.principal in stop.summary
    assert "cloudtrail:StopLogging" in stop.summary and "org-trail" in stop.summary
    assert stop.explanation["outcome"] == "ok"


def test_describe_instances_fires_nothing(rules: list[Rule]) -> None:
    event = make_event(eventName="DescribeInstances")
    assert [r.name for r in rules if r.evaluate(event) is not None] == []


def test_every_finding_is_well_formed(rules: list[Rule]) -> None:
    event = make_event(
        userIdentity=ROOT,
        eventSource="iam.amazonaws.com",
        eventName="AttachUserPolicy",
        readOnly=False,
        requestParameters={"userName": "bob", "policyArn": ADMIN_ARN},
    )
    findings = [f for r in rules if (f := r.evaluate(event)) is not None]
    assert {"redflag:root_activity", "redflag:admin_policy_attached"} <= {f.rule for f in findings}
    for finding in findings:
        assert finding.severity in SEVERITIES and 0 < finding.score <= 1
        assert finding.kind == "rule" and finding.event_ids == (event.event_id,)


CASES = [
    # logging and guardrails
    pytest.param(
        "cloudtrail",
        "DeleteTrail",
        {"name": "t"},
        {},
        {"redflag:delete_trail": "critical"},
        id="delete trail",
    ),
    pytest.param(
        "cloudtrail",
        "StopLogging",
        {"name": "t"},
        {"errorCode": "AccessDenied"},
        {"redflag:stop_logging": "medium"},
        id="denied stop logging is a medium attempt",
    ),
    pytest.param(
        "cloudtrail",
        "StopLogging",
        {"name": "t"},
        {"errorCode": "TrailNotFoundException"},
        {},
        id="failed stop logging is nothing",
    ),
    pytest.param(
        "cloudtrail",
        "UpdateTrail",
        {"name": "t", "isMultiRegionTrail": False},
        {},
        {"redflag:trail_weakened": "high"},
        id="trail made single-region",
    ),
    pytest.param(
        "cloudtrail",
        "UpdateTrail",
        {"name": "t", "s3BucketName": "b"},
        {},
        {},
        id="ordinary trail update",
    ),
    pytest.param(
        "cloudtrail",
        "PutEventSelectors",
        {"eventSelectors": [{"includeManagementEvents": False, "readWriteType": "All"}]},
        {},
        {"redflag:event_selectors_reduced": "high"},
        id="selectors drop management",
    ),
    pytest.param(
        "cloudtrail",
        "PutEventSelectors",
        {"eventSelectors": [{"includeManagementEvents": True, "readWriteType": "All"}]},
        {},
        {},
        id="selectors keep everything",
    ),
    pytest.param(
        "guardduty",
        "UpdateDetector",
        {"detectorId": "d", "enable": False},
        {},
        {"redflag:guardduty_disabled": "high"},
        id="guardduty disabled",
    ),
    pytest.param(
        "guardduty",
        "UpdateDetector",
        {"detectorId": "d", "enable": True},
        {},
        {},
        id="guardduty enabled",
    ),
    pytest.param(
        "config",
        "StopConfigurationRecorder",
        {"configurationRecorderName": "default"},
        {},
        {"redflag:config_recording_stopped": "high"},
        id="config recorder stopped",
    ),
    pytest.param(
        "securityhub",
        "DisableSecurityHub",
        {},
        {},
        {"redflag:securityhub_disabled": "high"},
        id="security hub disabled",
    ),
    pytest.param(
        "sts",
        "GetFederationToken",
        {
            "name": "stratus_red_team",
            "policy": '{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}',
        },
        {},
        {"redflag:federation_token_admin": "high"},
        id="federation token allowing everything",
    ),
    pytest.param(
        "sts",
        "GetFederationToken",
        {
            "name": "reports",
            "policy": '{"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", '
            '"Resource": "arn:aws:s3:::reports/*"}]}',
        },
        {},
        {},
        id="federation token scoped to one bucket",
    ),
    pytest.param(
        "secretsmanager",
        "BatchGetSecretValue",
        {"filters": [{"key": "tag-key", "values": ["team"]}]},
        {},
        {"redflag:secrets_bulk_read": "high"},
        id="secrets read in bulk by filter",
    ),
    pytest.param(
        "secretsmanager",
        "BatchGetSecretValue",
        {"secretIdList": ["app/db", "app/api"]},
        {},
        {},
        id="two named secrets read together",
    ),
    pytest.param(
        "ssm",
        "StartSession",
        {"target": "i-0a1b2c3d4e5f"},
        {},
        {"redflag:host_access": "medium"},
        id="ssm session on a host",
    ),
    pytest.param(
        "ec2-instance-connect",
        "SendSSHPublicKey",
        {"instanceId": "i-0a1b2c3d4e5f", "instanceOSUser": "ec2-user"},
        {},
        {"redflag:host_access": "medium"},
        id="instance connect key pushed",
    ),
    pytest.param(
        "monitoring",
        "DeleteAlarms",
        {"alarmNames": ["prod-api-5xx", "prod-api-latency", "prod-db-cpu"]},
        {},
        {"redflag:alarms_silenced": "high"},
        id="three alarms deleted at once",
    ),
    pytest.param(
        "monitoring",
        "DisableAlarmActions",
        {"alarmNames": ["prod-api-5xx", "prod-api-latency", "prod-db-cpu", "prod-queue-age"]},
        {},
        {"redflag:alarms_silenced": "high"},
        id="four alarms muted at once",
    ),
    pytest.param(
        "monitoring",
        "DeleteAlarms",
        {"alarmNames": ["prod-api-5xx", "prod-api-latency"]},
        {},
        {},
        id="two alarms deleted (a service's own clean-up)",
    ),
    pytest.param(
        "monitoring",
        "DeleteAlarms",
        {"alarmNames": ["pr-41-api-5xx", "pr-41-api-latency", "pr-41-db-cpu"]},
        {},
        {},
        id="a preview environment's alarms deleted",
    ),
    pytest.param(
        "access-analyzer",
        "DeleteAnalyzer",
        {"analyzerName": "a"},
        {},
        {"redflag:access_analyzer_deleted": "high"},
        id="access analyzer deleted",
    ),
    pytest.param(
        "organizations",
        "LeaveOrganization",
        None,
        {"errorCode": "AccessDenied"},
        {"redflag:leave_organization": "high"},
        id="denied leave organization",
    ),
    pytest.param(
        "kms",
        "ScheduleKeyDeletion",
        {"keyId": "k", "pendingWindowInDays": 7},
        {},
        {"redflag:kms_key_loss": "high"},
        id="kms key scheduled for deletion",
    ),
    # identity
    pytest.param(
        "iam",
        "AttachRolePolicy",
        {"roleName": "r", "policyArn": ADMIN_ARN},
        {},
        {"redflag:admin_policy_attached": "high"},
        id="admin policy attached",
    ),
    pytest.param(
        "iam",
        "AttachRolePolicy",
        {"roleName": "r", "policyArn": ADMIN_ARN},
        {"errorCode": "AccessDenied"},
        {},
        id="denied admin attach is left to anomalies",
    ),
    pytest.param(
        "iam",
        "AttachUserPolicy",
        {"userName": "u", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
        {},
        {},
        id="read-only policy attached",
    ),
    pytest.param(
        "iam",
        "PutUserPolicy",
        {"userName": "u", "policyDocument": ADMIN_DOC},
        {},
        {"redflag:admin_policy_attached": "high"},
        id="inline star policy",
    ),
    pytest.param(
        "iam",
        "AttachRolePolicy",
        {"roleName": "AWSReservedSSO_AdministratorAccess_d40128d9", "policyArn": ADMIN_ARN},
        {},
        {
            "redflag:admin_policy_attached": "high",
            "redflag:identity_center_role_changed": "critical",
        },
        id="a permission set's role changed in IAM",
    ),
    pytest.param(
        "iam",
        "PutRolePolicy",
        {"roleName": "AWSReservedSSO_ReadOnly_5d64c619", "policyDocument": "{}"},
        {
            "sourceIPAddress": "sso.amazonaws.com",
            "userAgent": "sso.amazonaws.com",
            "userIdentity": {
                "type": "AssumedRole",
                "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSServiceRoleForSSO/sso",
                "invokedBy": "sso.amazonaws.com",
            },
        },
        {},
        id="Identity Center provisioning its permission set's role",
    ),
    pytest.param(
        "iam",
        "PutRolePermissionsBoundary",
        {"roleName": "awsreservedsso_ReadOnly_5d64c619", "permissionsBoundary": ADMIN_ARN},
        {},
        {"redflag:identity_center_role_changed": "critical"},
        id="a permission set's role named in another case",
    ),
    pytest.param(
        "iam",
        "CreateRole",
        {"roleName": "AWSReservedSSO_AdministratorAccess_0a1b2c3d", "path": "/"},
        {},
        {"redflag:identity_center_role_changed": "critical"},
        id="a look-alike of a permission set's role made outside Identity Center's path",
    ),
    pytest.param(
        "iam",
        "DetachRolePolicy",
        {"roleName": "AWSReservedSSO_ReadOnly_5d64c619", "policyArn": ADMIN_ARN},
        {},
        {},
        id="a permission set's role narrowed",
    ),
    pytest.param(
        "iam",
        "CreateAccessKey",
        {"userName": "bob"},
        {"userIdentity": USER},
        {"redflag:access_key_for_other_user": "medium"},
        id="access key for another user",
    ),
    pytest.param(
        "iam",
        "CreateAccessKey",
        {"userName": "alice"},
        {"userIdentity": USER},
        {},
        id="access key for oneself",
    ),
    pytest.param(
        "iam",
        "UpdateAssumeRolePolicy",
        {
            "roleName": "r",
            "policyDocument": '{"Statement":[{"Effect":"Allow","Principal":'
            '{"AWS":"arn:aws:iam::999999999999:root"},"Action":"sts:AssumeRole"}]}',
        },
        {},
        {"redflag:role_trust_external": "high"},
        id="role trusts another account",
    ),
    # exposure
    pytest.param(
        "s3",
        "PutBucketAcl",
        {
            "bucketName": "b",
            "AccessControlPolicy": {
                "Grant": [{"Grantee": {"URI": "http://acs.amazonaws.com/groups/global/AllUsers"}}]
            },
        },
        {},
        {"redflag:bucket_made_public": "critical"},
        id="bucket ACL to AllUsers",
    ),
    pytest.param(
        "s3",
        "PutBucketPolicy",
        {
            "bucketName": "b",
            "bucketPolicy": {
                "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}]
            },
        },
        {},
        {"redflag:bucket_made_public": "critical"},
        id="bucket policy to anyone",
    ),
    pytest.param(
        "s3",
        "PutBucketPolicy",
        {
            "bucketName": "b",
            "bucketPolicy": {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}},
                    }
                ]
            },
        },
        {},
        {},
        id="bucket policy pinned to a VPC endpoint",
    ),
    pytest.param(
        "s3",
        "PutBucketPublicAccessBlock",
        {"bucketName": "b", "PublicAccessBlockConfiguration": {"BlockPublicAcls": False}},
        {},
        {"redflag:public_access_block_removed": "high"},
        id="public access block off",
    ),
    pytest.param(
        "ec2",
        "AuthorizeSecurityGroupIngress",
        {
            "groupId": "sg-1",
            "ipPermissions": {
                "items": [
                    {
                        "ipProtocol": "tcp",
                        "fromPort": 3389,
                        "toPort": 3389,
                        "ipv6Ranges": {"items": [{"cidrIpv6": "::/0"}]},
                    }
                ]
            },
        },
        {},
        {"redflag:security_group_open_admin_port": "high"},
        id="rdp open to ::/0",
    ),
    pytest.param(
        "ec2",
        "AuthorizeSecurityGroupIngress",
        {
            "groupId": "sg-1",
            "ipPermissions": {
                "items": [
                    {
                        "ipProtocol": "tcp",
                        "fromPort": 443,
                        "toPort": 443,
                        "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]},
                    }
                ]
            },
        },
        {},
        {},
        id="https open to the world is not an admin port",
    ),
    pytest.param(
        "ec2",
        "ModifySnapshotAttribute",
        {"snapshotId": "snap-1", "createVolumePermission": {"add": {"items": [{"group": "all"}]}}},
        {},
        {"redflag:snapshot_shared": "critical"},
        id="snapshot made public",
    ),
    pytest.param(
        "ec2",
        "ModifyImageAttribute",
        {"imageId": "ami-1", "launchPermission": {"add": {"items": [{"userId": "999999999999"}]}}},
        {},
        {"redflag:ami_shared": "high"},
        id="ami shared with an account",
    ),
    pytest.param(
        "lambda",
        "AddPermission20150331v2",
        {"functionName": "f", "principal": "*", "action": "lambda:InvokeFunction"},
        {},
        {"redflag:resource_policy_public": "high"},
        id="lambda invocable by anyone",
    ),
]


@pytest.mark.parametrize(("source", "action", "params", "overrides", "expected"), CASES)
def test_red_flag_table(
    source: str,
    action: str,
    params: dict[str, Any] | None,
    overrides: dict[str, Any],
    expected: dict[str, str],
) -> None:
    assert redflags(call(source, action, params, **overrides)) == expected


@pytest.mark.parametrize(
    ("identity", "extra", "expected"),
    [
        pytest.param(
            ROOT, {"eventName": "CreateUser"}, {"redflag:root_activity": "high"}, id="root write"
        ),
        pytest.param(ROOT, {"eventName": "ListUsers", "readOnly": True}, {}, id="root read"),
        pytest.param(
            ROOT,
            {"eventName": "CreateUser", "eventType": "AwsServiceEvent"},
            {},
            id="service event on root",
        ),
    ],
)
def test_root_activity(
    identity: dict[str, Any], extra: dict[str, Any], expected: dict[str, str]
) -> None:
    event = make_event(
        userIdentity=identity, eventSource="iam.amazonaws.com", **{"readOnly": False, **extra}
    )
    assert redflags(event) == expected


def _federated(issuer: str, session: str, *, mfa: str) -> dict[str, Any]:
    """The identity of a console sign-in through an identity provider (SSO, SAML)."""
    return {
        "type": "AssumedRole",
        "principalId": f"AROAEXAMPLE:{session}",
        "accountId": ACCOUNT,
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{issuer}/{session}",
        "sessionContext": {
            "attributes": {"creationDate": "2026-11-02T09:00:00Z", "mfaAuthenticated": mfa},
            "sessionIssuer": {
                "type": "Role",
                "arn": f"arn:aws:iam::{ACCOUNT}:role/{issuer}",
                "userName": issuer,
            },
        },
    }


SSO_USER = _federated("AWSReservedSSO_admin_0123456789abcdef", "alice@example.com", mfa="false")
SAML_USER = _federated("OktaAdmin", "alice@example.com", mfa="false")
SAML_ARN = f"arn:aws:iam::{ACCOUNT}:saml-provider/Okta"
NO_MFA = {"redflag:console_login_without_mfa": "medium"}
ROOT_NO_MFA = {"redflag:console_login_without_mfa": "high", "redflag:root_activity": "high"}


@pytest.mark.parametrize(
    ("identity", "mfa", "outcome", "extra", "expected"),
    [
        pytest.param(USER, "No", "Success", {}, NO_MFA, id="user no mfa"),
        pytest.param(USER, "Yes", "Success", {}, {}, id="user with mfa"),
        pytest.param(USER, "No", "Failure", {}, {}, id="user no mfa, failed"),
        pytest.param(ROOT, "No", "Success", {}, ROOT_NO_MFA, id="root no mfa"),
        pytest.param(ROOT, "Yes", "Success", {}, {"redflag:root_activity": "high"}, id="root mfa"),
        pytest.param(ROOT, "No", "Failure", {}, {}, id="root no mfa, failed"),
        pytest.param(SSO_USER, "No", "Success", {}, {}, id="sso sign-in"),
        pytest.param(
            SAML_USER, "No", "Success", {"SamlProviderArn": SAML_ARN}, {}, id="saml sign-in"
        ),
        pytest.param(  # (Panther's expected-quiet fixture "MFA Login - SAML")
            USER, "No", "Success", {"SamlProviderArn": SAML_ARN}, {}, id="saml sign-in, iam user"
        ),
    ],
)
def test_console_login_without_mfa(
    identity: dict[str, Any],
    mfa: str,
    outcome: str,
    extra: dict[str, str],
    expected: dict[str, str],
) -> None:
    """Only a successful IAM-user or root password sign-in without MFA fires: a failed one
    changed nothing, and federated sign-ins carry MFA at the identity provider, where CloudTrail
    records MFAUsed "No" whatever the provider did."""
    event = make_event(
        userIdentity=identity,
        eventSource="signin.amazonaws.com",
        eventName="ConsoleLogin",
        eventType="AwsConsoleSignIn",
        readOnly=False,
        additionalEventData={
            "LoginTo": "https://console.aws.amazon.com/console/home",
            "MobileVersion": "No",
            "MFAUsed": mfa,
            **extra,
        },
        responseElements={"ConsoleLogin": outcome},
    )
    assert redflags(event) == expected


def test_lowercase_key_records_fire_the_same() -> None:
    record = {
        k.lower(): v
        for k, v in make_record(
            eventSource="cloudtrail.amazonaws.com",
            eventName="DeleteTrail",
            requestParameters={"name": "t"},
        ).items()
    }
    assert redflags(Normalizer().normalize(record)) == {"redflag:delete_trail": "critical"}


def test_rules_are_pure(rules: list[Rule]) -> None:
    event = call("cloudtrail", "StopLogging", {"name": "t"})
    first = [r.evaluate(event) for r in rules]
    assert [r.evaluate(event) for r in rules] == first


def test_load_rules_names_are_unique_and_exclusions_apply() -> None:
    everything = load_rules(exclude=())
    names = [r.name for r in everything]
    assert len(names) == len(set(names))
    assert {r.name for r in RED_FLAGS} <= set(names)
    assert sum(n.startswith("sigma:") for n in names) == 57
    default = {r.name for r in load_rules()}
    assert default == set(names) - DEFAULT_EXCLUDED


def test_rule_index_finds_exactly_what_evaluating_every_rule_finds() -> None:
    import orjson

    from detect.rules.catalogue import RuleIndex
    from tests.factories import DATASETS

    folder = DATASETS / "stratus-red-team_detonation-logs" / "detonation-logs"
    if not folder.is_dir():
        pytest.skip(f"datasets not found at {folder}")
    normalizer = Normalizer()
    events = [
        normalizer.normalize(r)
        for p in sorted(folder.glob("*.json"))
        for r in orjson.loads(p.read_bytes())
    ]
    events += [NORMALIZER_EVENT, *GATE_OPENERS]
    rules = load_rules()
    index = RuleIndex(rules)
    assert len(index) == len(rules)
    fired, names = 0, set()
    for event in events:
        everything = [f for r in rules if (f := r.evaluate(event)) is not None]
        candidates = index.candidates(event)
        indexed = [f for r in candidates if (f := r.evaluate(event)) is not None]
        assert indexed == everything, event.action
        fired += bool(everything)
        names.update(f.rule for f in everything)
    assert fired > 20  # the comparison covered events that do fire
    gated = {r.name for r in rules if _gated(r)}
    assert len(gated) >= 5 and gated <= names  # ... and each gated rule firing


def test_a_gated_rule_is_not_a_candidate_for_events_its_gate_turns_away() -> None:
    from detect.rules.catalogue import RuleIndex

    rules = load_rules()
    gated = {r.name for r in rules if _gated(r)}
    plain = {r.name for r in RuleIndex(rules).candidates(make_event(eventName="ListBuckets"))}
    assert not gated & plain
    opened = {
        r.name
        for event in GATE_OPENERS
        for r in RuleIndex(rules).candidates(event)
        if r.name in gated
    }
    assert opened == gated


IMDS_ARN = "arn:aws:sts::111122223333:assumed-role/aws:ec2-instance/i-0abc"


@pytest.mark.parametrize(
    "overrides",
    [  # fields a rule reads as other than the normaliser's text of them (review's repros)
        {
            "userIdentity": {"type": "AssumedRole", "principalId": "AROA1:i-0"},
            "userIdentity.arn": IMDS_ARN,
        },
        {"userAgent": ["TruffleHog"]},
        {"userIdentity": {"type": "AssumedRole", "principalId": "AROA1:i-0", "arn": [IMDS_ARN]}},
        {"eventName": "PutObject", "readOnly": False, "userAgent": ["\tpacu"]},
        {"sourceIPAddress": ["203.0.113.5"], "userAgent": {"k": "TruffleHog"}},
    ],
)
def test_gates_open_where_the_events_fields_are_not_the_records_text(
    overrides: dict[str, Any],
) -> None:
    from detect.rules.catalogue import RuleIndex, plain_fields

    event = Normalizer().normalize(make_record(**overrides))
    rules = load_rules()
    everything = [f.rule for r in rules if (f := r.evaluate(event)) is not None]
    indexed = [f.rule for r in RuleIndex(rules).candidates(event) if (f := r.evaluate(event))]
    assert not plain_fields(event) and indexed == everything


def _gated(rule: Rule) -> bool:
    """A rule for every eventName that a gate keeps from most events."""
    return not getattr(rule, "actions", None) and getattr(rule, "gate", None) is not None


GATE_OPENERS = [  # an event each gated rule (a rule without eventNames) fires on
    make_event(userAgent="aws-cli/1.22.34 Python/3.9.11 Linux/5.15.0-kali3-amd64 botocore/1.24"),
    make_event(userAgent="TruffleHog"),
    make_event(
        eventSource="ec2.amazonaws.com",
        eventName="RunInstances",
        readOnly=False,
        userIdentity={"type": "Root", "arn": "arn:aws:iam::111122223333:root"},
    ),
    make_event(
        userIdentity={
            "type": "AssumedRole",
            "arn": "arn:aws:sts::111122223333:assumed-role/aws:ec2-instance/i-0abc",
        }
    ),
    make_event(
        eventSource="lambda.amazonaws.com",
        eventName="UpdateFunctionConfiguration20150331v2",
        requestParameters={"functionName": "f", "layers": ["arn:aws:lambda:l:1"]},
    ),
]


NORMALIZER_EVENT = make_event(
    eventSource="lambda.amazonaws.com",
    eventName="AddPermission20150331v2",  # versioned eventName
    requestParameters={"functionName": "f", "principal": "*"},
)


def test_a_database_deleted_with_no_final_snapshot_is_a_red_flag() -> None:
    gone = {"dBInstanceIdentifier": "staging-kyc-db", "skipFinalSnapshot": True}
    assert redflags(call("rds", "DeleteDBInstance", gone)) == {
        "redflag:database_deleted_unrecoverably": "high"
    }
    cluster = {"dBClusterIdentifier": "orders", "skipFinalSnapshot": "true"}
    assert redflags(call("rds", "DeleteDBCluster", cluster)) == {
        "redflag:database_deleted_unrecoverably": "high"
    }
    backups = gone | {"deleteAutomatedBackups": True}
    finding = next(
        f
        for r in RED_FLAGS
        if (f := r.evaluate(call("rds", "DeleteDBInstance", backups))) is not None
    )
    assert "staging-kyc-db" in finding.summary and "automated backups" in finding.summary
    kept = {
        "dBInstanceIdentifier": "staging-kyc-db",
        "skipFinalSnapshot": False,
        "finalDBSnapshotIdentifier": "staging-kyc-db-final",
    }
    assert redflags(call("rds", "DeleteDBInstance", kept)) == {}


def test_calls_from_attack_tools_are_a_red_flag_ordinary_clients_are_not() -> None:
    tools = (
        "Boto3/1.9.253 Python/3.8.10 Linux/5.15.0-kali3-amd64 Botocore/1.12.253",
        "aws-cli/1.18.69 Python/2.7.18 Linux/5.10.0-parrot1-amd64 botocore/1.16.19",
        "Boto3/1.26.0 Python/3.10.12 Linux/6.2.0 Botocore/1.29.0 Pacu/1.5.3",
        "aws-sdk-go/1.44.0 (go1.20; linux; amd64) S3Scanner",
    )
    for agent in tools:
        found = redflags(
            make_event(eventName="ListBuckets", eventSource="s3.amazonaws.com", userAgent=agent)
        )
        assert found == {"redflag:offensive_tool_client": "high"}, agent
    denied = make_event(eventName="ListUsers", userAgent=tools[2], errorCode="AccessDenied")
    handover = make_event(eventName="AssumeRoleWithWebIdentity", userAgent=tools[2])
    assert redflags(handover) == {}  # the session that calls with them gets it (one incident)
    assert redflags(denied) == {"redflag:offensive_tool_client": "high"}
    ordinary = (
        "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-1016-aws exe/x86_64.ubuntu.22",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
        "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.1.0-18-cloud-amd64 lang/python#3.11",
        "aws-sdk-java/1.12.600 Linux/5.10.205-195.807.amzn2.x86_64 OpenJDK_64-Bit_Server_VM",
    )
    for agent in ordinary:
        assert redflags(make_event(eventName="ListBuckets", userAgent=agent)) == {}, agent


def test_turning_on_a_foundation_model_is_a_red_flag_using_one_is_not() -> None:
    """LLMjacking's first steps on stolen keys (Stratus Red Team's bedrock-invoke-model): the
    model's use-case form, its offer agreed, its entitlement -- once per model and account for
    a team that adopts one. Invoking or listing models is the work itself."""
    model = {"modelId": "anthropic.claude-3-sonnet-20240229-v1:0"}
    for action in ("CreateFoundationModelAgreement", "PutFoundationModelEntitlement"):
        assert redflags(call("bedrock", action, model)) == {"redflag:model_access_enabled": "high"}
    form = next(
        f
        for r in RED_FLAGS
        if (f := r.evaluate(call("bedrock", "PutUseCaseForModelAccess"))) is not None
    )
    assert "use case" in form.summary
    for action in ("InvokeModel", "GetFoundationModelAvailability", "ListFoundationModels"):
        assert redflags(call("bedrock", action, model)) == {}
