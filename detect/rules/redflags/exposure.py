"""Red flags for exposure: public buckets, resource policies, shared snapshots, open ports, and
the account's paid AI models opened to whoever holds its keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from detect.rules.base import Hit, RedFlag
from detect.rules.record import field, public_statements
from detect.rules.redflags.field import (
    action_name,
    as_text,
    ec2_items,
    is_false,
    is_true,
    outside_accounts,
    own_account,
    param,
    red_flag,
)

__all__ = ["ADMIN_PORTS", "EXPOSURE"]

# Ports whose exposure to the internet is an incident on its own: remote admin and databases.
ADMIN_PORTS = {
    22: "ssh",
    23: "telnet",
    3389: "rdp",
    5900: "vnc",
    5985: "winrm",
    5986: "winrm",
    1433: "mssql",
    1521: "oracle",
    3306: "mysql",
    5432: "postgres",
    6379: "redis",
    9200: "elasticsearch",
    11211: "memcached",
    27017: "mongodb",
}
_PUBLIC_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
_PUBLIC_GRANTEES = ("groups/global/AllUsers", "groups/global/AuthenticatedUsers")
_POLICY_PATHS: dict[str, tuple[str, ...]] = {  # resource-policy API -> policy location
    "SetRepositoryPolicy": ("policyText",),
    "PutKeyPolicy": ("policy",),
    "CreateKey": ("policy",),
    "SetQueueAttributes": ("attributes", "Policy"),
    "CreateQueue": ("attributes", "Policy"),
    "CreateTopic": ("attributes", "Policy"),
    "PutResourcePolicy": ("resourcePolicy",),
    "CreateElasticsearchDomain": ("accessPolicies",),
    "UpdateElasticsearchDomainConfig": ("accessPolicies",),
    "CreateDomain": ("accessPolicies",),
    "UpdateDomainConfig": ("accessPolicies",),
    "SetVaultAccessPolicy": ("policy", "policy"),
}
_LAMBDA_SCOPES = ("sourceArn", "sourceAccount", "principalOrgID")


def _bucket_public(record: Mapping[str, Any]) -> Hit | None:
    bucket = as_text(param(record, "bucketName"))
    if action_name(record) == "PutBucketPolicy":
        policy = param(record, "bucketPolicy")
        if public_statements(policy):
            return Hit(bucket, "bucket policy allows anyone", "critical")
        outside = outside_accounts(policy, own_account(record))
        if outside:  # log-delivery buckets do this legitimately, hence a lower severity
            return Hit(bucket, "bucket policy grants account " + ", ".join(outside), "medium")
        return None
    acl = param(record, "x-amz-acl")
    canned = {str(a).casefold() for a in (acl if isinstance(acl, list) else [acl]) if a}
    grants = orjson.dumps(field(record, "requestParameters")).decode()
    if canned & _PUBLIC_ACLS or any(g in grants for g in _PUBLIC_GRANTEES):
        return Hit(bucket, "bucket ACL grants public access", "critical")
    return None


def _lambda_public(record: Mapping[str, Any]) -> Hit | None:
    function = as_text(param(record, "functionName"))
    if action_name(record) == "CreateFunctionUrlConfig":
        if as_text(param(record, "authType")).upper() == "NONE":
            return Hit(function, "function URL without authentication")
        return None
    if param(record, "principal") == "*" and not any(param(record, k) for k in _LAMBDA_SCOPES):
        return Hit(function, "function invocable by anyone")
    return None


def _resource_policy(record: Mapping[str, Any]) -> Hit | None:
    action = action_name(record)
    if action in ("AddPermission", "CreateFunctionUrlConfig"):
        return _lambda_public(record)
    if action == "SetTopicAttributes":
        is_policy = as_text(param(record, "attributeName")) == "Policy"
        policy = param(record, "attributeValue") if is_policy else None
    elif action == "PutResourcePolicy" and is_true(param(record, "blockPublicPolicy")):
        return None  # Secrets Manager rejects a public policy when this is set
    else:
        policy = param(record, *_POLICY_PATHS.get(action, ("-",)))
    if not public_statements(policy):
        return None
    service = as_text(field(record, "eventSource")).removesuffix(".amazonaws.com")
    return Hit("", f"{service} resource policy allows anyone")


def _shared(record: Mapping[str, Any]) -> Hit | None:
    action = action_name(record)
    if action in ("ModifyImageAttribute", "ModifySnapshotAttribute"):
        image = action == "ModifyImageAttribute"
        added = ec2_items(
            param(record, "launchPermission" if image else "createVolumePermission", "add")
        )
        public = any(as_text(field(i, "group")).casefold() == "all" for i in added)
        accounts = [as_text(field(i, "userId")) for i in added if field(i, "userId")]
        target = as_text(param(record, "imageId" if image else "snapshotId"))
    else:  # RDS: ModifyDBSnapshotAttribute / ModifyDBClusterSnapshotAttribute
        if as_text(param(record, "attributeName")) != "restore":
            return None
        values = [as_text(v) for v in param(record, "valuesToAdd") or ()]
        public, accounts = "all" in values, [v for v in values if v != "all"]
        keys = ("dBSnapshotIdentifier", "dBClusterSnapshotIdentifier")
        target = next((as_text(v) for k in keys if (v := param(record, k))), "")
    if public:
        return Hit(target, "shared publicly", "critical")
    return Hit(target, "shared with account " + ", ".join(accounts)) if accounts else None


def _port(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _open_ports(permission: Mapping[str, Any]) -> list[str]:
    cidrs = [field(permission, "cidrIp"), field(permission, "cidrIpv6")]
    cidrs += [field(r, "cidrIp") for r in ec2_items(field(permission, "ipRanges"))]
    cidrs += [field(r, "cidrIpv6") for r in ec2_items(field(permission, "ipv6Ranges"))]
    if not any(isinstance(c, str) and c.strip().endswith("/0") for c in cidrs):
        return []
    if as_text(field(permission, "ipProtocol")).casefold() in ("-1", "all"):
        return ["all ports"]
    low, high = _port(field(permission, "fromPort")), _port(field(permission, "toPort"))
    if low is None or low < 0:
        return []  # ICMP (-1) or no port range
    high = low if high is None else high
    return [f"{port}/{name}" for port, name in ADMIN_PORTS.items() if low <= port <= high]


def _security_group(record: Mapping[str, Any]) -> Hit | None:
    params = field(record, "requestParameters")
    if not isinstance(params, Mapping):
        return None
    ports = [
        p
        for perm in (params, *ec2_items(field(params, "ipPermissions")))
        for p in _open_ports(perm)
    ]
    if not ports:
        return None
    return Hit(as_text(field(params, "groupId")), "open to the internet on " + ", ".join(ports))


def _nacl(record: Mapping[str, Any]) -> Hit | None:
    if as_text(param(record, "ruleAction")).casefold() != "allow":
        return None
    cidr = as_text(param(record, "cidrBlock") or param(record, "ipv6CidrBlock"))
    if not is_false(param(record, "egress")) or not cidr.endswith("/0"):
        return None
    rule = as_text(param(record, "ruleNumber"))
    return Hit(as_text(param(record, "networkAclId")), f"rule {rule} allows {cidr} inbound")


def _rds_public(record: Mapping[str, Any]) -> Hit | None:
    if not is_true(param(record, "publiclyAccessible")):
        return None
    keys = ("dBInstanceIdentifier", "dBClusterIdentifier")
    return Hit(
        next((as_text(v) for k in keys if (v := param(record, k))), ""),
        "database made publicly accessible",
    )


def _user_data(record: Mapping[str, Any]) -> Hit | None:
    # The CLI's --user-data sends a userData key; --attribute userData sends the attribute name.
    if param(record, "userData") is None and param(record, "attribute") != "userData":
        return None
    return Hit(as_text(param(record, "instanceId")), "instance user data (boot script) replaced")


def _model_access(record: Mapping[str, Any]) -> Hit | None:
    """Access to a Bedrock foundation model turned on (its use-case form, its offer agreed, its
    entitlement): once per model and account for a team that adopts one, and what stolen keys
    do first to run models on the victim's bill ("LLMjacking"; Stratus Red Team's
    bedrock-invoke-model: the three calls, then InvokeModel)."""
    model = param(record, "modelId")
    model = model if isinstance(model, str) else ""
    if action_name(record) == "PutUseCaseForModelAccess":
        return Hit("-", "the account's use case for foundation models submitted (model access)")
    return Hit(model or "-", f"access to foundation model {model or '(unnamed)'} enabled")


EXPOSURE: tuple[RedFlag, ...] = (
    red_flag(
        "bucket_made_public",
        "critical",
        about=(
            "S3 bucket ACL or policy opened to everyone, or its policy to another account (medium)"
        ),
        sources="s3",
        actions="PutBucketAcl PutBucketPolicy",
        match=_bucket_public,
    ),
    red_flag(
        "resource_policy_public",
        "high",
        about="resource policy opened to any principal",
        sources="ecr kms sqs sns secretsmanager es glacier lambda",
        match=_resource_policy,
        actions=" ".join(
            [*_POLICY_PATHS, "SetTopicAttributes", "AddPermission", "CreateFunctionUrlConfig"]
        ),
    ),
    red_flag(
        "snapshot_shared",
        "high",
        about="EBS or RDS snapshot shared publicly or cross-account",
        sources="ec2 rds",
        match=_shared,
        actions=(
            "ModifySnapshotAttribute ModifyDBSnapshotAttribute ModifyDBClusterSnapshotAttribute"
        ),
    ),
    red_flag(
        "ami_shared",
        "high",
        about="AMI shared publicly or cross-account",
        sources="ec2",
        actions="ModifyImageAttribute",
        match=_shared,
    ),
    red_flag(
        "model_access_enabled",
        "high",
        about="access to a Bedrock foundation model enabled (the first step of running models "
        "on stolen keys)",
        sources="bedrock",
        actions=(
            "PutUseCaseForModelAccess CreateFoundationModelAgreement PutFoundationModelEntitlement"
        ),
        match=_model_access,
    ),
    red_flag(
        "security_group_open_admin_port",
        "high",
        about="security group opens an admin or database port to the internet",
        sources="ec2",
        actions="AuthorizeSecurityGroupIngress",
        match=_security_group,
    ),
    red_flag(
        "nacl_open_to_world",
        "medium",
        about="network ACL allows all inbound addresses",
        sources="ec2",
        actions="CreateNetworkAclEntry ReplaceNetworkAclEntry",
        match=_nacl,
    ),
    red_flag(
        "instance_user_data_modified",
        "medium",
        about="EC2 instance user data replaced, which runs as root at next boot",
        sources="ec2",
        actions="ModifyInstanceAttribute",
        match=_user_data,
    ),
    red_flag(
        "rds_made_public",
        "high",
        about="RDS instance or cluster made publicly accessible",
        sources="rds",
        actions="ModifyDBInstance ModifyDBCluster",
        match=_rds_public,
    ),
)
