"""Built-in red-flag rules: logging off, guardrails gone, admin grants, exposure, root use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from detect.rules import (
    Hit,
    Matcher,
    RedFlag,
    allows,
    base_action,
    caller_names,
    field,
    has_star,
    public_statements,
    statements,
)

__all__ = ["RED_FLAGS"]

# Ports whose exposure to the internet is an incident on its own: remote admin and databases.
ADMIN_PORTS = {
    22: "ssh", 23: "telnet", 3389: "rdp", 5900: "vnc", 5985: "winrm", 5986: "winrm",
    1433: "mssql", 1521: "oracle", 3306: "mysql", 5432: "postgres", 6379: "redis",
    9200: "elasticsearch", 11211: "memcached", 27017: "mongodb",
}
_PUBLIC_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
_PUBLIC_GRANTEES = ("groups/global/AllUsers", "groups/global/AuthenticatedUsers")
_PAB_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
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


def _param(record: Mapping[str, Any], *path: str) -> Any:
    return field(record, "requestParameters", *path)


def _action(record: Mapping[str, Any]) -> str:
    return base_action(_text(field(record, "eventName")))


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)


def _is_false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.casefold() == "false")


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.casefold() == "true")


def _items(node: Any) -> list[Mapping[str, Any]]:
    """EC2's {"items": [...]} wrapper or a plain list, as a list of mappings."""
    if isinstance(node, Mapping):
        node = field(node, "items")
    return [n for n in node if isinstance(n, Mapping)] if isinstance(node, list) else []


def _always(detail: str, *keys: str) -> Matcher:
    """Every (successful) call is the red flag; the resource is the first of `keys` present."""

    def match(record: Mapping[str, Any]) -> Hit:
        return Hit(next((_text(v) for k in keys if (v := _param(record, k))), ""), detail)

    return match


# -- logging and guardrails -------------------------------------------------------------------
def _trail_weakened(record: Mapping[str, Any]) -> Hit | None:
    flags = ("isMultiRegionTrail", "includeGlobalServiceEvents", "enableLogFileValidation")
    off = [f for f in flags if _is_false(_param(record, f))]
    if not off:
        return None
    return Hit(_text(_param(record, "name")), "trail updated with " + ", ".join(off) + " off")


def _selectors_reduced(record: Mapping[str, Any]) -> Hit | None:
    trail = _text(_param(record, "trailName"))
    for sel in _items(_param(record, "eventSelectors")):
        if _is_false(field(sel, "includeManagementEvents")):
            return Hit(trail, "management events excluded from the trail")
        if field(sel, "excludeManagementEventSources"):
            return Hit(trail, "management event sources excluded from the trail")
        if _text(field(sel, "readWriteType")).casefold() == "readonly":
            return Hit(trail, "write events excluded from the trail (ReadOnly)")
    advanced = _param(record, "advancedEventSelectors")
    if isinstance(advanced, list) and advanced and "Management" not in _text(advanced):
        return Hit(trail, "advanced selectors log no management events")
    return None


def _bucket_logging_off(record: Mapping[str, Any]) -> Hit | None:
    status = _param(record, "BucketLoggingStatus")
    if not isinstance(status, Mapping) or field(status, "LoggingEnabled") is not None:
        return None  # no status at all is a malformed call, not a change
    return Hit(_text(_param(record, "bucketName")), "bucket access logging disabled")


def _guardduty(record: Mapping[str, Any]) -> Hit | None:
    action = _action(record)
    detector = _text(_param(record, "detectorId"))
    if action == "UpdateDetector":
        return Hit(detector, "detector disabled") if _is_false(_param(record, "enable")) else None
    return Hit(detector, f"GuardDuty {action}")


def _macie(record: Mapping[str, Any]) -> Hit | None:
    if _action(record) == "DisableMacie":
        return Hit("macie", "Macie disabled")
    if _text(_param(record, "status")).casefold() == "paused":
        return Hit("macie", "Macie session paused")
    return None


def _kms(record: Mapping[str, Any]) -> Hit:
    key = _text(_param(record, "keyId"))
    if _action(record) == "DisableKey":
        return Hit(key, "KMS key disabled", "medium")
    days = _text(_param(record, "pendingWindowInDays")) or "?"
    return Hit(key, f"KMS key scheduled for deletion in {days} days")


# -- identity -----------------------------------------------------------------------------------
def _other_user(kind: str) -> Matcher:
    def match(record: Mapping[str, Any]) -> Hit | None:
        target = _param(record, "userName")
        if not isinstance(target, str) or not target or target.casefold() in caller_names(record):
            return None
        if _is_true(_param(record, "passwordResetRequired")):
            return Hit(target, f"{kind} set for another user (reset required)", "low")
        return Hit(target, f"{kind} created for another user")

    return match


def _root(record: Mapping[str, Any]) -> Hit | None:
    identity = field(record, "userIdentity")
    if _text(field(identity, "type")) != "Root":
        return None
    action = _action(record)
    if (
        _text(field(record, "eventType")) == "AwsServiceEvent"
        or field(identity, "invokedBy")
        or field(record, "readOnly") is True
        or action.startswith(("Get", "List", "Describe", "Head", "Lookup"))
        or action == "CreateServiceLinkedRole"  # AWS creates these when a console feature is used
    ):
        return None
    return Hit(_text(field(identity, "arn")) or "root", "root account used")


def _login_without_mfa(record: Mapping[str, Any]) -> Hit | None:
    kind = _text(field(record, "userIdentity", "type"))
    if kind not in ("IAMUser", "Root"):
        return None  # federated and SSO sign-ins carry MFA at the identity provider
    if _text(field(record, "additionalEventData", "MFAUsed")).casefold() != "no":
        return None
    if _text(field(record, "responseElements", "ConsoleLogin")) != "Success":
        return None
    who = _text(field(record, "userIdentity", "userName")) or kind
    return Hit(who, "console login without MFA", "high" if kind == "Root" else None)


def _admin_statement(statement: Mapping[str, Any]) -> bool:
    action = field(statement, "Action")
    wildcard = has_star(action) or "*:*" in (action if isinstance(action, list) else [action])
    return allows(statement) and wildcard and has_star(field(statement, "Resource"))


def _admin_policy(record: Mapping[str, Any]) -> Hit | None:
    action = _action(record)
    keys = ("userName", "roleName", "groupName", "policyArn")
    target = next((_text(v) for k in keys if (v := _param(record, k))), "")
    if action.startswith("Attach"):
        if _text(_param(record, "policyArn")).endswith(":policy/AdministratorAccess"):
            return Hit(target, "AdministratorAccess attached")
        return None
    if action == "CreatePolicyVersion" and not _is_true(_param(record, "setAsDefault")):
        return None
    if any(_admin_statement(st) for st in statements(_param(record, "policyDocument"))):
        return Hit(target, "policy grants every action on every resource")
    return None


def _account_of(principal: str) -> str:
    if principal.isdigit():
        return principal
    parts = principal.split(":")
    return parts[4] if len(parts) > 4 and principal.startswith("arn:") else ""


def _own_account(record: Mapping[str, Any]) -> str:
    return _text(field(record, "recipientAccountId") or field(record, "userIdentity", "accountId"))


def _outside_accounts(policy: Any, own: str) -> list[str]:
    """Accounts other than `own` named as AWS principals in the policy's Allow statements."""
    outside: set[str] = set()
    for st in statements(policy):
        aws = field(field(st, "Principal"), "AWS") if allows(st) else None
        for principal in aws if isinstance(aws, list) else [aws]:
            account = _account_of(principal) if isinstance(principal, str) else ""
            if account and account != own:
                outside.add(account)
    return sorted(outside)


def _role_trust(record: Mapping[str, Any]) -> Hit | None:
    document = _param(record, "policyDocument") or _param(record, "assumeRolePolicyDocument")
    role = _text(_param(record, "roleName"))
    if public_statements(document):
        return Hit(role, "role trust policy lets any AWS principal assume it", "critical")
    outside = _outside_accounts(document, _own_account(record))
    return Hit(role, "role trusts another account: " + ", ".join(outside)) if outside else None


# -- exposure -----------------------------------------------------------------------------------
def _bucket_public(record: Mapping[str, Any]) -> Hit | None:
    bucket = _text(_param(record, "bucketName"))
    if _action(record) == "PutBucketPolicy":
        policy = _param(record, "bucketPolicy")
        if public_statements(policy):
            return Hit(bucket, "bucket policy allows anyone", "critical")
        outside = _outside_accounts(policy, _own_account(record))
        if outside:  # log-delivery buckets do this legitimately, hence a lower severity
            return Hit(bucket, "bucket policy grants account " + ", ".join(outside), "medium")
        return None
    acl = _param(record, "x-amz-acl")
    canned = {str(a).casefold() for a in (acl if isinstance(acl, list) else [acl]) if a}
    grants = orjson.dumps(field(record, "requestParameters")).decode()
    if canned & _PUBLIC_ACLS or any(g in grants for g in _PUBLIC_GRANTEES):
        return Hit(bucket, "bucket ACL grants public access", "critical")
    return None


def _public_access_block(record: Mapping[str, Any]) -> Hit | None:
    action = _action(record)
    account = "account " + _text(field(record, "recipientAccountId"))
    target = _text(_param(record, "bucketName")) or account
    if action.startswith("Delete"):
        account_wide = "Account" in action
        return Hit(target, "public access block removed", "critical" if account_wide else None)
    config = _param(record, "PublicAccessBlockConfiguration")
    off = [flag for flag in _PAB_FLAGS if _is_false(field(config, flag))]
    return Hit(target, "public access block relaxed: " + ", ".join(off) + " off") if off else None


def _lambda_public(record: Mapping[str, Any]) -> Hit | None:
    function = _text(_param(record, "functionName"))
    if _action(record) == "CreateFunctionUrlConfig":
        if _text(_param(record, "authType")).upper() == "NONE":
            return Hit(function, "function URL without authentication")
        return None
    if _param(record, "principal") == "*" and not any(_param(record, k) for k in _LAMBDA_SCOPES):
        return Hit(function, "function invocable by anyone")
    return None


def _resource_policy(record: Mapping[str, Any]) -> Hit | None:
    action = _action(record)
    if action in ("AddPermission", "CreateFunctionUrlConfig"):
        return _lambda_public(record)
    if action == "SetTopicAttributes":
        is_policy = _text(_param(record, "attributeName")) == "Policy"
        policy = _param(record, "attributeValue") if is_policy else None
    elif action == "PutResourcePolicy" and _is_true(_param(record, "blockPublicPolicy")):
        return None  # Secrets Manager rejects a public policy when this is set
    else:
        policy = _param(record, *_POLICY_PATHS.get(action, ("-",)))
    if not public_statements(policy):
        return None
    service = _text(field(record, "eventSource")).removesuffix(".amazonaws.com")
    return Hit("", f"{service} resource policy allows anyone")


def _shared(record: Mapping[str, Any]) -> Hit | None:
    action = _action(record)
    if action in ("ModifyImageAttribute", "ModifySnapshotAttribute"):
        image = action == "ModifyImageAttribute"
        added = _items(_param(record, "launchPermission" if image else "createVolumePermission",
                              "add"))
        public = any(_text(field(i, "group")).casefold() == "all" for i in added)
        accounts = [_text(field(i, "userId")) for i in added if field(i, "userId")]
        target = _text(_param(record, "imageId" if image else "snapshotId"))
    else:  # RDS: ModifyDBSnapshotAttribute / ModifyDBClusterSnapshotAttribute
        if _text(_param(record, "attributeName")) != "restore":
            return None
        values = [_text(v) for v in _param(record, "valuesToAdd") or ()]
        public, accounts = "all" in values, [v for v in values if v != "all"]
        keys = ("dBSnapshotIdentifier", "dBClusterSnapshotIdentifier")
        target = next((_text(v) for k in keys if (v := _param(record, k))), "")
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
    cidrs += [field(r, "cidrIp") for r in _items(field(permission, "ipRanges"))]
    cidrs += [field(r, "cidrIpv6") for r in _items(field(permission, "ipv6Ranges"))]
    if not any(isinstance(c, str) and c.strip().endswith("/0") for c in cidrs):
        return []
    if _text(field(permission, "ipProtocol")).casefold() in ("-1", "all"):
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
    ports = [p for perm in (params, *_items(field(params, "ipPermissions")))
             for p in _open_ports(perm)]
    if not ports:
        return None
    return Hit(_text(field(params, "groupId")), "open to the internet on " + ", ".join(ports))


def _nacl(record: Mapping[str, Any]) -> Hit | None:
    if _text(_param(record, "ruleAction")).casefold() != "allow":
        return None
    cidr = _text(_param(record, "cidrBlock") or _param(record, "ipv6CidrBlock"))
    if not _is_false(_param(record, "egress")) or not cidr.endswith("/0"):
        return None
    rule = _text(_param(record, "ruleNumber"))
    return Hit(_text(_param(record, "networkAclId")), f"rule {rule} allows {cidr} inbound")


def _rds_public(record: Mapping[str, Any]) -> Hit | None:
    if not _is_true(_param(record, "publiclyAccessible")):
        return None
    keys = ("dBInstanceIdentifier", "dBClusterIdentifier")
    return Hit(next((_text(v) for k in keys if (v := _param(record, k))), ""),
               "database made publicly accessible")


def _user_data(record: Mapping[str, Any]) -> Hit | None:
    # The CLI's --user-data sends a userData key; --attribute userData sends the attribute name.
    if _param(record, "userData") is None and _param(record, "attribute") != "userData":
        return None
    return Hit(_text(_param(record, "instanceId")), "instance user data (boot script) replaced")


def _flag(
    name: str, severity: str, *, about: str, sources: str, actions: str, match: Matcher,
    denied: str | None = None,
) -> RedFlag:
    """One table row: `sources` are service prefixes, `actions` eventNames, space-separated."""
    return RedFlag(
        name=f"redflag:{name}", severity=severity, description=about,
        sources=frozenset(f"{s}.amazonaws.com" for s in sources.split()),
        actions=frozenset(actions.split()), match=match, denied_severity=denied,
    )


_LOGGING = (
    _flag("stop_logging", "critical", about="CloudTrail logging stopped", sources="cloudtrail",
          actions="StopLogging", match=_always("trail logging stopped", "name"), denied="medium"),
    _flag("delete_trail", "critical", about="CloudTrail trail deleted", sources="cloudtrail",
          actions="DeleteTrail", match=_always("trail deleted", "name"), denied="medium"),
    _flag("trail_weakened", "high", about="trail updated to log less", sources="cloudtrail",
          actions="UpdateTrail", match=_trail_weakened, denied="medium"),
    _flag("event_selectors_reduced", "high", about="trail event selectors drop management events",
          sources="cloudtrail", actions="PutEventSelectors", match=_selectors_reduced,
          denied="medium"),
    _flag("flow_logs_deleted", "high", about="VPC flow logs deleted", sources="ec2",
          actions="DeleteFlowLogs", match=_always("flow logs deleted", "flowLogIds"),
          denied="medium"),
    _flag("dns_query_logs_deleted", "high", about="Route 53 resolver query logging removed",
          sources="route53resolver", denied="medium",
          actions="DeleteResolverQueryLogConfig DisassociateResolverQueryLogConfig",
          match=_always("DNS query logging removed", "resolverQueryLogConfigId")),
    _flag("config_recording_stopped", "high", about="AWS Config recording stopped or removed",
          sources="config", denied="medium",
          actions="StopConfigurationRecorder DeleteConfigurationRecorder DeleteDeliveryChannel",
          match=_always("Config recording stopped", "configurationRecorderName",
                        "deliveryChannelName")),
    _flag("bucket_logging_disabled", "medium", about="S3 server access logging turned off",
          sources="s3", actions="PutBucketLogging", match=_bucket_logging_off),
)
_GUARDRAILS = (
    _flag("guardduty_disabled", "high", about="GuardDuty detector deleted, disabled or detached",
          sources="guardduty", match=_guardduty, denied="medium",
          actions="DeleteDetector UpdateDetector DisassociateFromMasterAccount "
                  "DisassociateFromAdministratorAccount"),
    _flag("securityhub_disabled", "high", about="Security Hub disabled or detached",
          sources="securityhub", denied="medium", match=_always("Security Hub disabled"),
          actions="DisableSecurityHub BatchDisableStandards DisassociateFromMasterAccount "
                  "DisassociateFromAdministratorAccount"),
    _flag("access_analyzer_deleted", "high", about="IAM Access Analyzer deleted",
          sources="access-analyzer", actions="DeleteAnalyzer", denied="medium",
          match=_always("access analyzer deleted", "analyzerName")),
    _flag("macie_disabled", "high", about="Macie disabled or paused", sources="macie macie2",
          actions="DisableMacie UpdateMacieSession", match=_macie, denied="medium"),
    _flag("leave_organization", "critical",
          about="account left or tried to leave its AWS Organization",
          sources="organizations", actions="LeaveOrganization", denied="high",
          match=lambda r: Hit(_text(field(r, "recipientAccountId")), "left the organization")),
    _flag("public_access_block_removed", "high", about="S3 Block Public Access removed or relaxed",
          sources="s3 s3-control", match=_public_access_block,
          actions="DeleteBucketPublicAccessBlock DeleteAccountPublicAccessBlock "
                  "PutBucketPublicAccessBlock PutAccountPublicAccessBlock"),
    _flag("kms_key_loss", "high", about="KMS key scheduled for deletion or disabled", sources="kms",
          actions="ScheduleKeyDeletion DisableKey", match=_kms),
    _flag("serial_console_enabled", "medium", about="EC2 serial console access enabled",
          sources="ec2", actions="EnableSerialConsoleAccess",
          match=_always("serial console access enabled for the account")),
)
_IDENTITY = (
    _flag("root_activity", "high", about="root user performed a non-read action", sources="",
          actions="", match=_root),
    _flag("console_login_without_mfa", "medium", about="IAM or root console login without MFA",
          sources="signin", actions="ConsoleLogin", match=_login_without_mfa),
    _flag("admin_policy_attached", "high", about="administrator access granted to an identity",
          sources="iam", match=_admin_policy,
          actions="AttachUserPolicy AttachRolePolicy AttachGroupPolicy PutUserPolicy "
                  "PutRolePolicy PutGroupPolicy CreatePolicyVersion"),
    _flag("access_key_for_other_user", "medium",
          about="access key created for a different IAM user",
          sources="iam", actions="CreateAccessKey", match=_other_user("access key")),
    _flag("login_profile_for_other_user", "medium", about="console password set for another user",
          sources="iam", actions="CreateLoginProfile UpdateLoginProfile",
          match=_other_user("login profile")),
    _flag("roles_anywhere_trust_anchor", "medium", about="IAM Roles Anywhere trust anchor created: "
          "an outside certificate authority can obtain role credentials",
          sources="rolesanywhere", actions="CreateTrustAnchor",
          match=_always("trust anchor created", "name")),
    _flag("role_trust_external", "high",
          about="role trust policy opened to another account or anyone",
          sources="iam", actions="UpdateAssumeRolePolicy CreateRole", match=_role_trust),
)
_EXPOSURE = (
    _flag("bucket_made_public", "critical", about="S3 bucket ACL or policy opened to everyone, or "
          "its policy to another account (medium)",
          sources="s3", actions="PutBucketAcl PutBucketPolicy", match=_bucket_public),
    _flag("resource_policy_public", "high", about="resource policy opened to any principal",
          sources="ecr kms sqs sns secretsmanager es glacier lambda", match=_resource_policy,
          actions=" ".join([*_POLICY_PATHS, "SetTopicAttributes", "AddPermission",
                            "CreateFunctionUrlConfig"])),
    _flag("snapshot_shared", "high", about="EBS or RDS snapshot shared publicly or cross-account",
          sources="ec2 rds", match=_shared,
          actions="ModifySnapshotAttribute ModifyDBSnapshotAttribute "
                  "ModifyDBClusterSnapshotAttribute"),
    _flag("ami_shared", "high", about="AMI shared publicly or cross-account", sources="ec2",
          actions="ModifyImageAttribute", match=_shared),
    _flag("security_group_open_admin_port", "high", about="security group opens an admin or "
          "database port to the internet", sources="ec2",
          actions="AuthorizeSecurityGroupIngress", match=_security_group),
    _flag("nacl_open_to_world", "medium", about="network ACL allows all inbound addresses",
          sources="ec2", actions="CreateNetworkAclEntry ReplaceNetworkAclEntry", match=_nacl),
    _flag("instance_user_data_modified", "medium", about="EC2 instance user data replaced, which "
          "runs as root at next boot", sources="ec2", actions="ModifyInstanceAttribute",
          match=_user_data),
    _flag("rds_made_public", "high", about="RDS instance or cluster made publicly accessible",
          sources="rds", actions="ModifyDBInstance ModifyDBCluster", match=_rds_public),
)

RED_FLAGS: tuple[RedFlag, ...] = (*_LOGGING, *_GUARDRAILS, *_IDENTITY, *_EXPOSURE)
