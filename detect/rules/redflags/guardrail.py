"""Red flags for blinded logging and removed guardrails: trails, flow logs, GuardDuty, KMS."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from detect.features import EPHEMERAL_NAME_RE
from detect.rules.base import Hit, RedFlag
from detect.rules.record import field
from detect.rules.redflags.field import (
    action_name,
    always,
    as_text,
    ec2_items,
    is_false,
    is_true,
    param,
    red_flag,
)

__all__ = ["GUARDRAILS", "LOGGING"]

_PAB_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


def _trail_weakened(record: Mapping[str, Any]) -> Hit | None:
    flags = ("isMultiRegionTrail", "includeGlobalServiceEvents", "enableLogFileValidation")
    off = [f for f in flags if is_false(param(record, f))]
    if not off:
        return None
    return Hit(as_text(param(record, "name")), "trail updated with " + ", ".join(off) + " off")


def _selectors_reduced(record: Mapping[str, Any]) -> Hit | None:
    trail = as_text(param(record, "trailName"))
    for sel in ec2_items(param(record, "eventSelectors")):
        if is_false(field(sel, "includeManagementEvents")):
            return Hit(trail, "management events excluded from the trail")
        if field(sel, "excludeManagementEventSources"):
            return Hit(trail, "management event sources excluded from the trail")
        if as_text(field(sel, "readWriteType")).casefold() == "readonly":
            return Hit(trail, "write events excluded from the trail (ReadOnly)")
    advanced = param(record, "advancedEventSelectors")
    if isinstance(advanced, list) and advanced and "Management" not in as_text(advanced):
        return Hit(trail, "advanced selectors log no management events")
    return None


def _bucket_logging_off(record: Mapping[str, Any]) -> Hit | None:
    status = param(record, "BucketLoggingStatus")
    if not isinstance(status, Mapping) or field(status, "LoggingEnabled") is not None:
        return None  # no status at all is a malformed call, not a change
    return Hit(as_text(param(record, "bucketName")), "bucket access logging disabled")


ALARMS_SILENCED = 3  # alarms one call deletes or mutes (a stack's clean-up removes them singly)
_TEMPORARY = re.compile(EPHEMERAL_NAME_RE)


def _alarms_silenced(record: Mapping[str, Any]) -> Hit | None:
    names = param(record, "alarmNames")
    if not isinstance(names, list):
        return None
    lasting = [str(n) for n in names if not _TEMPORARY.search(str(n))]
    if len(lasting) < ALARMS_SILENCED:
        return None
    verb = "deleted" if action_name(record) == "DeleteAlarms" else "muted"
    return Hit(lasting[0], f"{len(lasting)} CloudWatch alarms {verb} in one call")


def _guardduty(record: Mapping[str, Any]) -> Hit | None:
    action = action_name(record)
    detector = as_text(param(record, "detectorId"))
    if action == "UpdateDetector":
        return Hit(detector, "detector disabled") if is_false(param(record, "enable")) else None
    return Hit(detector, f"GuardDuty {action}")


def _macie(record: Mapping[str, Any]) -> Hit | None:
    if action_name(record) == "DisableMacie":
        return Hit("macie", "Macie disabled")
    if as_text(param(record, "status")).casefold() == "paused":
        return Hit("macie", "Macie session paused")
    return None


def _kms(record: Mapping[str, Any]) -> Hit:
    key = as_text(param(record, "keyId"))
    if action_name(record) == "DisableKey":
        return Hit(key, "KMS key disabled", "medium")
    days = as_text(param(record, "pendingWindowInDays")) or "?"
    return Hit(key, f"KMS key scheduled for deletion in {days} days")


def _public_access_block(record: Mapping[str, Any]) -> Hit | None:
    action = action_name(record)
    account = "account " + as_text(field(record, "recipientAccountId"))
    target = as_text(param(record, "bucketName")) or account
    if action.startswith("Delete"):
        account_wide = "Account" in action
        return Hit(target, "public access block removed", "critical" if account_wide else None)
    config = param(record, "PublicAccessBlockConfiguration")
    off = [flag for flag in _PAB_FLAGS if is_false(field(config, flag))]
    return Hit(target, "public access block relaxed: " + ", ".join(off) + " off") if off else None


def _no_way_back(record: Mapping[str, Any]) -> Hit | None:
    """A database deleted with no final snapshot: nothing to restore it from (and with its
    automated backups, not even a point in time). Temporary databases are the twin's call."""
    if not is_true(param(record, "skipFinalSnapshot")):
        return None
    target = as_text(param(record, "dBInstanceIdentifier") or param(record, "dBClusterIdentifier"))
    backups = is_true(param(record, "deleteAutomatedBackups"))
    return Hit(
        target,
        "database deleted with no final snapshot"
        + (" and its automated backups" if backups else ""),
    )


LOGGING: tuple[RedFlag, ...] = (
    red_flag(
        "stop_logging",
        "critical",
        about="CloudTrail logging stopped",
        sources="cloudtrail",
        actions="StopLogging",
        match=always("trail logging stopped", "name"),
        denied="medium",
    ),
    red_flag(
        "delete_trail",
        "critical",
        about="CloudTrail trail deleted",
        sources="cloudtrail",
        actions="DeleteTrail",
        match=always("trail deleted", "name"),
        denied="medium",
    ),
    red_flag(
        "trail_weakened",
        "high",
        about="trail updated to log less",
        sources="cloudtrail",
        actions="UpdateTrail",
        match=_trail_weakened,
        denied="medium",
    ),
    red_flag(
        "event_selectors_reduced",
        "high",
        about="trail event selectors drop management events",
        sources="cloudtrail",
        actions="PutEventSelectors",
        match=_selectors_reduced,
        denied="medium",
    ),
    red_flag(
        "flow_logs_deleted",
        "high",
        about="VPC flow logs deleted",
        sources="ec2",
        actions="DeleteFlowLogs",
        match=always("flow logs deleted", "flowLogIds"),
        denied="medium",
    ),
    red_flag(
        "dns_query_logs_deleted",
        "high",
        about="Route 53 resolver query logging removed",
        sources="route53resolver",
        denied="medium",
        actions="DeleteResolverQueryLogConfig DisassociateResolverQueryLogConfig",
        match=always("DNS query logging removed", "resolverQueryLogConfigId"),
    ),
    red_flag(
        "config_recording_stopped",
        "high",
        about="AWS Config recording stopped or removed",
        sources="config",
        denied="medium",
        actions="StopConfigurationRecorder DeleteConfigurationRecorder DeleteDeliveryChannel",
        match=always(
            "Config recording stopped", "configurationRecorderName", "deliveryChannelName"
        ),
    ),
    red_flag(
        "bucket_logging_disabled",
        "medium",
        about="S3 server access logging turned off",
        sources="s3",
        actions="PutBucketLogging",
        match=_bucket_logging_off,
    ),
)
GUARDRAILS: tuple[RedFlag, ...] = (
    red_flag(
        "database_deleted_unrecoverably",
        "high",
        about="database deleted without a final snapshot",
        sources="rds",
        actions="DeleteDBInstance DeleteDBCluster",
        match=_no_way_back,
    ),
    red_flag(
        "alarms_silenced",
        "high",
        about="several CloudWatch alarms deleted or muted at once",
        sources="monitoring",
        actions="DeleteAlarms DisableAlarmActions",
        match=_alarms_silenced,
        denied="medium",
    ),
    red_flag(
        "guardduty_disabled",
        "high",
        about="GuardDuty detector deleted, disabled or detached",
        sources="guardduty",
        match=_guardduty,
        denied="medium",
        actions=(
            "DeleteDetector UpdateDetector DisassociateFromMasterAccount "
            "DisassociateFromAdministratorAccount"
        ),
    ),
    red_flag(
        "securityhub_disabled",
        "high",
        about="Security Hub disabled or detached",
        sources="securityhub",
        denied="medium",
        match=always("Security Hub disabled"),
        actions=(
            "DisableSecurityHub BatchDisableStandards DisassociateFromMasterAccount "
            "DisassociateFromAdministratorAccount"
        ),
    ),
    red_flag(
        "access_analyzer_deleted",
        "high",
        about="IAM Access Analyzer deleted",
        sources="access-analyzer",
        actions="DeleteAnalyzer",
        denied="medium",
        match=always("access analyzer deleted", "analyzerName"),
    ),
    red_flag(
        "macie_disabled",
        "high",
        about="Macie disabled or paused",
        sources="macie macie2",
        actions="DisableMacie UpdateMacieSession",
        match=_macie,
        denied="medium",
    ),
    red_flag(
        "leave_organization",
        "critical",
        about="account left or tried to leave its AWS Organization",
        sources="organizations",
        actions="LeaveOrganization",
        denied="high",
        match=lambda r: Hit(as_text(field(r, "recipientAccountId")), "left the organization"),
    ),
    red_flag(
        "public_access_block_removed",
        "high",
        about="S3 Block Public Access removed or relaxed",
        sources="s3 s3-control",
        match=_public_access_block,
        actions=(
            "DeleteBucketPublicAccessBlock DeleteAccountPublicAccessBlock "
            "PutBucketPublicAccessBlock PutAccountPublicAccessBlock"
        ),
    ),
    red_flag(
        "kms_key_loss",
        "high",
        about="KMS key scheduled for deletion or disabled",
        sources="kms",
        actions="ScheduleKeyDeletion DisableKey",
        match=_kms,
    ),
    red_flag(
        "serial_console_enabled",
        "medium",
        about="EC2 serial console access enabled",
        sources="ec2",
        actions="EnableSerialConsoleAccess",
        match=always("serial console access enabled for the account"),
    ),
)
