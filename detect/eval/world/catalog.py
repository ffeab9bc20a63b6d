"""API catalogue: event source, read-only flag, data-event flag and resource kind per API."""

from __future__ import annotations

from dataclasses import dataclass

SOURCES: dict[str, str] = {
    "s3": "s3.amazonaws.com",
    "ec2": "ec2.amazonaws.com",
    "iam": "iam.amazonaws.com",
    "sts": "sts.amazonaws.com",
    "lambda": "lambda.amazonaws.com",
    "rds": "rds.amazonaws.com",
    "dynamodb": "dynamodb.amazonaws.com",
    "logs": "logs.amazonaws.com",
    "cloudwatch": "monitoring.amazonaws.com",
    "secretsmanager": "secretsmanager.amazonaws.com",
    "ssm": "ssm.amazonaws.com",
    "kms": "kms.amazonaws.com",
    "cloudformation": "cloudformation.amazonaws.com",
    "ecs": "ecs.amazonaws.com",
    "ecr": "ecr.amazonaws.com",
    "cloudtrail": "cloudtrail.amazonaws.com",
    "guardduty": "guardduty.amazonaws.com",
    "config": "config.amazonaws.com",
    "elb": "elasticloadbalancing.amazonaws.com",
    "autoscaling": "autoscaling.amazonaws.com",
    "athena": "athena.amazonaws.com",
    "glue": "glue.amazonaws.com",
    "backup": "backup.amazonaws.com",
    "signin": "signin.amazonaws.com",
    "sso": "sso.amazonaws.com",
    "eic": "ec2-instance-connect.amazonaws.com",
    "organizations": "organizations.amazonaws.com",
    "health": "health.amazonaws.com",
    "ce": "ce.amazonaws.com",
    "sqs": "sqs.amazonaws.com",
    "ec2messages": "ec2messages.amazonaws.com",
    "securityhub": "securityhub.amazonaws.com",
    "events": "events.amazonaws.com",
}

GLOBAL_SERVICES = frozenset({"iam", "organizations", "ce", "health", "signin"})
_READ_PREFIXES = (
    "Get",
    "List",
    "Describe",
    "Head",
    "Lookup",
    "BatchGet",
    "Decrypt",
    "GenerateDataKey",
    "Search",
    "Query",
    "Scan",
    "Filter",
    "Validate",
    "Simulate",
    "Check",
    "Discover",
    "Estimate",
    "AssumeRole",
    "Federate",
)
DATA_APIS = frozenset(
    {
        "s3:GetObject",
        "s3:PutObject",
        "s3:HeadObject",
        "s3:DeleteObject",
        "s3:DeleteObjects",
        "s3:CopyObject",
        "s3:ListObjects",
        "s3:ListObjectsV2",
        "lambda:Invoke",
    }
)

# API -> resource kind it operates on (absent means: no specific resource).
RESOURCE_KIND: dict[str, str] = {}
for _kind, _apis in {
    "bucket": "s3:GetBucketLocation s3:GetBucketPolicy s3:GetBucketAcl s3:GetBucketVersioning "
    "s3:GetBucketTagging s3:GetBucketEncryption s3:GetBucketPublicAccessBlock "
    "s3:ListObjects s3:ListObjectsV2 s3:GetObject s3:PutObject s3:HeadObject "
    "s3:DeleteObject s3:DeleteObjects s3:DeleteBucket s3:PutBucketPolicy s3:PutBucketAcl "
    "s3:GetBucketLifecycle s3:PutBucketTagging s3:CreateBucket",
    "instance": "ec2:DescribeInstanceStatus ec2:StopInstances ec2:StartInstances "
    "ec2:RebootInstances ec2:TerminateInstances ec2:GetPasswordData "
    "ec2:DescribeInstanceAttribute ec2:GetConsoleOutput ssm:SendCommand "
    "ssm:StartSession eic:SendSSHPublicKey ssm:UpdateInstanceInformation "
    "ec2messages:GetMessages ec2messages:AcknowledgeMessage",
    "table": "dynamodb:DescribeTable dynamodb:DeleteTable dynamodb:UpdateTable "
    "dynamodb:CreateBackup dynamodb:DescribeContinuousBackups dynamodb:CreateTable",
    "db": "rds:DescribeDBInstances rds:DeleteDBInstance rds:CreateDBSnapshot "
    "rds:RebootDBInstance rds:ModifyDBInstance",
    "function": "lambda:GetFunction20150331v2 lambda:GetFunctionConfiguration20150331v2 "
    "lambda:UpdateFunctionCode20150331v2 lambda:UpdateFunctionConfiguration20150331v2 "
    "lambda:DeleteFunction20150331 lambda:AddPermission20150331v2 lambda:Invoke "
    "lambda:ListVersionsByFunction20150331 lambda:GetPolicy20150331v2",
    "secret": "secretsmanager:GetSecretValue secretsmanager:DescribeSecret "
    "secretsmanager:PutSecretValue secretsmanager:DeleteSecret secretsmanager:RotateSecret",
    "param": "ssm:GetParameter ssm:PutParameter ssm:GetParameterHistory",
    "loggroup": "logs:DescribeLogStreams logs:FilterLogEvents logs:GetLogEvents "
    "logs:DeleteLogGroup logs:PutRetentionPolicy logs:CreateLogStream logs:StartQuery",
    "stack": "cloudformation:DescribeStacks cloudformation:DescribeStackEvents "
    "cloudformation:DescribeStackResources cloudformation:GetTemplate "
    "cloudformation:DeleteStack cloudformation:UpdateStack cloudformation:CreateChangeSet "
    "cloudformation:ExecuteChangeSet cloudformation:DescribeChangeSet "
    "cloudformation:ListStackResources",
    "snapshot": "ec2:DeleteSnapshot ec2:ModifySnapshotAttribute ec2:DescribeSnapshotAttribute",
    "ami": "ec2:ModifyImageAttribute ec2:DeregisterImage",
    "dbsnap": "rds:ModifyDBSnapshotAttribute rds:DeleteDBSnapshot rds:DescribeDBSnapshotAttributes",
    "sg": "ec2:AuthorizeSecurityGroupIngress ec2:RevokeSecurityGroupIngress "
    "ec2:DeleteSecurityGroup",
    "key": "kms:Decrypt kms:GenerateDataKey kms:DescribeKey kms:Encrypt kms:ScheduleKeyDeletion",
    "flowlog": "ec2:DeleteFlowLogs",
    "alarm": "cloudwatch:DeleteAlarms cloudwatch:PutMetricAlarm cloudwatch:DescribeAlarmHistory",
    "service": "ecs:DescribeServices ecs:UpdateService ecs:ListTasks ecs:DescribeTasks",
    "repo": "ecr:DescribeImages ecr:BatchGetImage ecr:GetDownloadUrlForLayer "
    "ecr:BatchCheckLayerAvailability ecr:PutImage ecr:InitiateLayerUpload",
    "role": "iam:GetRole iam:ListAttachedRolePolicies iam:ListRolePolicies "
    "iam:UpdateAssumeRolePolicy iam:AttachRolePolicy iam:PutRolePolicy iam:DetachRolePolicy",
    "user": "iam:GetUser iam:ListAccessKeys iam:ListGroupsForUser iam:ListMFADevices "
    "iam:ListAttachedUserPolicies",
    "queue": "sqs:GetQueueAttributes sqs:ListQueueTags",
    "asg": "autoscaling:DescribeAutoScalingGroups autoscaling:SetDesiredCapacity "
    "autoscaling:UpdateAutoScalingGroup",
    "lb": "elb:DescribeTargetHealth elb:DescribeListeners",
    "gluetable": "glue:GetTable glue:GetPartitions",
}.items():
    for _api in _apis.split():
        RESOURCE_KIND[_api] = _kind


@dataclass(frozen=True)
class Api:
    """Static facts about one API as CloudTrail records it."""

    service: str
    name: str
    source: str
    read_only: bool
    data: bool
    resource: str | None


_CACHE: dict[str, Api] = {}


def api(key: str) -> Api:
    """Return the Api for 'svc:Name' (cached)."""
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    service, name = key.split(":", 1)
    read = name.startswith(_READ_PREFIXES) or name == "StartQuery"
    made = Api(service, name, SOURCES[service], read, key in DATA_APIS, RESOURCE_KIND.get(key))
    _CACHE[key] = made
    return made
