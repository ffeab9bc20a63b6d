"""Action mixes: weighted API choices per principal family (reads dominate)."""

from __future__ import annotations

Mix = tuple[tuple[str, float, str], ...]
# scope: o = principal's own envs/apps, a = any env, p = prod only, d = dev/staging only


def _m(spec: str) -> Mix:
    out = []
    for line in spec.split(","):
        api, weight, scope = line.split()
        out.append((api, float(weight), scope))
    return tuple(out)


_DEV_READS = (
    "sts:GetCallerIdentity 6 o,ec2:DescribeInstances 8 o,s3:ListBuckets 6 o,"
    "s3:ListObjectsV2 6 o,s3:GetObject 8 o,logs:FilterLogEvents 7 o,logs:GetLogEvents 5 o,"
    "logs:DescribeLogGroups 3 o,logs:DescribeLogStreams 4 o,lambda:GetFunction20150331v2 4 o,"
    "lambda:ListFunctions20150331 3 o,cloudformation:DescribeStacks 5 o,"
    "cloudformation:DescribeStackEvents 3 o,ecs:DescribeServices 3 o,ssm:GetParameter 4 o,"
    "secretsmanager:GetSecretValue 1.5 o,dynamodb:DescribeTable 2 o,rds:DescribeDBInstances 2 o,"
    "ec2:DescribeSecurityGroups 2 o,s3:GetBucketLocation 2 o,ecr:DescribeImages 1 o,"
    "sqs:GetQueueAttributes 1 o,kms:Decrypt 1 o"
)
_DEV_WRITES = (
    "lambda:UpdateFunctionConfiguration20150331v2 0.4 d,s3:PutObject 2 d,ssm:PutParameter 0.3 d,"
    "ec2:StopInstances 0.2 d,ec2:StartInstances 0.2 d,ecs:UpdateService 0.3 d,"
    "logs:PutRetentionPolicy 0.1 d,cloudwatch:PutMetricAlarm 0.15 o,ec2:CreateTags 0.2 o,"
    "lambda:UpdateFunctionCode20150331v2 0.3 d,s3:DeleteObject 0.3 d"
)

MIXES: dict[str, Mix] = {
    "dev": _m(_DEV_READS + "," + _DEV_WRITES),
    "console": _m(
        "s3:ListBuckets 12 a,s3:GetBucketLocation 6 a,s3:GetBucketAcl 3 a,"
        "s3:GetBucketPolicy 2 a,s3:GetBucketVersioning 2 a,s3:GetBucketPublicAccessBlock 2 a,"
        "s3:ListObjectsV2 5 a,ec2:DescribeInstances 8 a,ec2:DescribeInstanceStatus 3 a,"
        "ec2:DescribeSecurityGroups 3 a,ec2:DescribeVpcs 2 a,ec2:DescribeSubnets 2 a,"
        "ec2:DescribeAvailabilityZones 2 a,cloudwatch:DescribeAlarms 4 a,"
        "cloudwatch:GetMetricData 6 a,health:DescribeEventAggregates 2 a,ce:GetCostAndUsage 1 a,"
        "lambda:ListFunctions20150331 3 a,rds:DescribeDBInstances 2 a,logs:DescribeLogGroups 2 a,"
        "cloudformation:DescribeStacks 2 a,iam:GetAccountSummary 0.5 a,ecs:ListClusters 1 a"
    ),
    "admin": _m(
        "iam:ListUsers 4 a,iam:ListRoles 5 a,iam:GetRole 5 a,iam:ListAttachedRolePolicies 4 a,"
        "iam:ListRolePolicies 2 a,iam:GetUser 3 a,iam:ListAccessKeys 3 a,iam:ListGroupsForUser 1 a,"
        "iam:ListMFADevices 1 a,iam:GetAccountSummary 1 a,iam:ListPolicies 2 a,"
        "organizations:DescribeOrganization 1 a,organizations:ListAccounts 1 a,"
        "cloudtrail:DescribeTrails 1 a,cloudtrail:GetTrailStatus 1 a,ec2:DescribeInstances 5 a,"
        "s3:ListBuckets 4 a,s3:GetBucketPolicy 2 a,sts:GetCallerIdentity 3 a,"
        "cloudformation:DescribeStacks 3 a,ec2:DescribeVpcs 2 a,kms:ListKeys 1 a,"
        "iam:AttachRolePolicy 0.15 a,iam:PutRolePolicy 0.1 a,ec2:CreateTags 0.5 a,"
        "logs:DescribeLogGroups 2 a,ce:GetCostAndUsage 1 a,config:DescribeConfigRules 1 a"
    ),
    "security": _m(
        "guardduty:ListDetectors 2 a,guardduty:ListFindings 5 a,securityhub:GetFindings 5 a,"
        "cloudtrail:LookupEvents 6 a,cloudtrail:DescribeTrails 2 a,cloudtrail:GetTrailStatus 2 a,"
        "cloudtrail:GetEventSelectors 1 a,config:DescribeComplianceByConfigRule 2 a,"
        "config:DescribeConfigRules 1 a,iam:GenerateCredentialReport 0.5 a,"
        "iam:GetCredentialReport 0.5 a,iam:GetAccountAuthorizationDetails 0.3 a,"
        "iam:ListUsers 2 a,iam:ListRoles 2 a,iam:ListAccessKeys 2 a,s3:ListBuckets 3 a,"
        "s3:GetBucketPolicy 3 a,s3:GetBucketPublicAccessBlock 3 a,s3:GetBucketAcl 2 a,"
        "ec2:DescribeSecurityGroups 3 a,ec2:DescribeFlowLogs 1 a,kms:ListKeys 1 a,"
        "ec2:DescribeSnapshots 1 a,sts:GetCallerIdentity 2 a,ec2:DescribeRegions 1 a"
    ),
    "data": _m(
        "athena:StartQueryExecution 6 -,athena:GetQueryExecution 12 -,athena:GetQueryResults 8 -,"
        "glue:GetTable 5 a,glue:GetPartitions 3 a,glue:GetDatabases 2 -,s3:ListObjectsV2 4 a,"
        "s3:GetObject 10 a,s3:PutObject 1 a,sts:GetCallerIdentity 1 -,s3:ListBuckets 1 -"
    ),
    "oncall": _m(
        _DEV_READS + ",cloudwatch:DescribeAlarms 6 o,cloudwatch:GetMetricData 8 o,"
        "ecs:UpdateService 0.3 o,ec2:RebootInstances 0.1 o,"
        "autoscaling:DescribeAutoScalingGroups 2 o,elb:DescribeTargetHealth 3 o,"
        "rds:DescribeDBInstances 2 o,autoscaling:SetDesiredCapacity 0.1 o"
    ),
    "coding-agent": _m(
        "sts:GetCallerIdentity 4 o,lambda:GetFunction20150331v2 6 o,"
        "lambda:GetFunctionConfiguration20150331v2 4 o,lambda:UpdateFunctionCode20150331v2 1.5 d,"
        "lambda:UpdateFunctionConfiguration20150331v2 0.6 d,logs:FilterLogEvents 8 o,"
        "logs:GetLogEvents 6 o,logs:DescribeLogStreams 4 o,s3:GetObject 6 o,s3:PutObject 2 d,"
        "s3:ListObjectsV2 5 o,cloudformation:DescribeStacks 4 o,"
        "cloudformation:DescribeStackEvents 3 o,cloudformation:ValidateTemplate 1 -,"
        "ecr:DescribeImages 2 o,ssm:GetParameter 3 o,ec2:DescribeInstances 3 o,"
        "dynamodb:DescribeTable 2 o,lambda:Invoke 2 d,s3:DeleteObject 0.3 d,"
        "sqs:GetQueueAttributes 1 o"
    ),
    "ops-agent": _m(
        "cloudwatch:DescribeAlarms 8 o,cloudwatch:GetMetricData 10 o,cloudwatch:ListMetrics 2 o,"
        "logs:StartQuery 3 o,logs:FilterLogEvents 5 o,ecs:DescribeServices 5 o,ecs:ListTasks 3 o,"
        "ecs:DescribeTasks 3 o,ec2:DescribeInstanceStatus 4 o,ec2:DescribeInstances 4 o,"
        "autoscaling:DescribeAutoScalingGroups 3 o,rds:DescribeDBInstances 2 o,"
        "elb:DescribeTargetHealth 3 o,ecs:UpdateService 0.2 o,ec2:RebootInstances 0.08 o,"
        "sts:GetCallerIdentity 1 o,health:DescribeEventAggregates 1 o,"
        "cloudwatch:DescribeAlarmHistory 1 o"
    ),
    "data-agent": _m(
        "athena:StartQueryExecution 5 -,athena:GetQueryExecution 10 -,athena:GetQueryResults 8 -,"
        "glue:GetTable 5 a,glue:GetPartitions 3 a,glue:GetDatabases 2 -,s3:ListObjectsV2 4 a,"
        "s3:GetObject 6 a,sts:GetCallerIdentity 1 -"
    ),
    "finops-agent": _m(
        "ce:GetCostAndUsage 3 -,ec2:DescribeInstances 8 o,ec2:DescribeVolumes 4 o,"
        "ec2:DescribeSnapshots 3 o,rds:DescribeDBInstances 2 o,cloudwatch:GetMetricStatistics 6 o,"
        "ec2:StopInstances 0.2 d,ec2:CreateTags 0.5 o,ec2:DescribeAddresses 2 o"
    ),
    "retention": _m(
        "ec2:DescribeSnapshots 3 o,logs:DescribeLogGroups 3 o,"
        "cloudformation:ListStacks 1 -,sts:GetCallerIdentity 1 -"
    ),
    "gha-deploy": _m(
        "sts:GetCallerIdentity 3 -,cloudformation:DescribeStacks 8 o,"
        "cloudformation:DescribeStackEvents 6 o,ecr:GetAuthorizationToken 2 -,"
        "ecr:BatchCheckLayerAvailability 3 o,ecr:InitiateLayerUpload 1 o,ecr:PutImage 1 o,"
        "s3:PutObject 3 o,s3:GetObject 2 o,lambda:GetFunction20150331v2 2 o,"
        "ssm:GetParameter 2 o,ecs:DescribeServices 2 o"
    ),
    "gha-ci-agent": _m(
        "sts:GetCallerIdentity 4 -,s3:GetObject 6 o,s3:PutObject 3 o,s3:ListObjectsV2 2 o,"
        "ecr:GetAuthorizationToken 3 -,ecr:BatchGetImage 4 o,ecr:GetDownloadUrlForLayer 6 o,"
        "cloudformation:ValidateTemplate 2 -,ssm:GetParameter 3 o,"
        "cloudformation:DescribeStacks 2 o,dynamodb:DescribeTable 1 o"
    ),
    "lambda-app": _m(
        "s3:GetObject 10 o,s3:PutObject 6 o,secretsmanager:GetSecretValue 1 o,"
        "kms:Decrypt 2 o,ssm:GetParameter 1.5 o,kms:GenerateDataKey 1 o,"
        "sqs:GetQueueAttributes 0.5 o"
    ),
    "ecs-app": _m(
        "s3:GetObject 8 o,s3:PutObject 5 o,secretsmanager:GetSecretValue 0.5 o,"
        "kms:Decrypt 2 o,ssm:GetParameter 1 o,ecr:GetAuthorizationToken 0.2 -,"
        "ecs:DiscoverPollEndpoint 0.5 -,s3:HeadObject 2 o"
    ),
    "ec2-host": _m(
        "ssm:UpdateInstanceInformation 3 o,ec2messages:GetMessages 12 o,"
        "ec2:DescribeTags 2 -,logs:CreateLogStream 1 o,logs:DescribeLogStreams 1 o,"
        "s3:GetObject 2 o,ecs:DiscoverPollEndpoint 2 -,kms:Decrypt 0.5 o"
    ),
    "etl": _m(
        "s3:GetObject 20 a,s3:ListObjectsV2 3 a,s3:PutObject 4 a,glue:GetTable 1 a,"
        "glue:GetPartitions 1 a,kms:Decrypt 0.5 a"
    ),
    "key-rotator": _m("iam:ListUsers 1 -,iam:ListAccessKeys 3 a,sts:GetCallerIdentity 1 -"),
    "dashboard": _m(
        "cloudwatch:GetMetricData 20 a,cloudwatch:DescribeAlarms 4 a,"
        "cloudwatch:ListMetrics 3 a,ec2:DescribeInstances 4 a,"
        "ec2:DescribeRegions 1 -,rds:DescribeDBInstances 1 a,"
        "elb:DescribeLoadBalancers 1 -,ecs:DescribeServices 1 a,"
        "sqs:GetQueueAttributes 1 a"
    ),
    "vendor": _m(
        "ec2:DescribeInstances 4 a,ec2:DescribeSecurityGroups 3 a,iam:ListRoles 2 -,"
        "iam:GetRole 2 a,s3:ListBuckets 2 -,s3:GetBucketPolicy 2 a,"
        "s3:GetBucketAcl 2 a,lambda:ListFunctions20150331 2 -,ec2:DescribeVolumes 2 -,"
        "kms:ListKeys 1 -,rds:DescribeDBInstances 1 a,ec2:DescribeSnapshots 1 -,"
        "iam:ListUsers 1 -,config:DescribeConfigRules 1 -"
    ),
    "slr-config": _m(
        "ec2:DescribeInstances 3 a,ec2:DescribeSecurityGroups 3 a,"
        "ec2:DescribeVpcs 1 -,iam:GetRole 2 a,s3:GetBucketAcl 2 a,"
        "s3:GetBucketPolicy 2 a,s3:GetBucketVersioning 1 a,rds:DescribeDBInstances 1 a,"
        "lambda:GetFunction20150331v2 1 a,kms:DescribeKey 1 a,"
        "ec2:DescribeNetworkInterfaces 1 -,dynamodb:DescribeTable 1 a"
    ),
    "slr-autoscaling": _m(
        "ec2:DescribeInstances 4 a,ec2:DescribeInstanceStatus 4 a,"
        "elb:DescribeTargetHealth 2 a,ec2:DescribeLaunchTemplates 1 -"
    ),
    "slr-backup": _m(
        "ec2:DescribeSnapshots 2 -,ec2:DescribeVolumes 2 -,rds:DescribeDBInstances 2 a,"
        "dynamodb:DescribeTable 1 a,dynamodb:DescribeContinuousBackups 1 a"
    ),
    "slr-elb": _m(
        "ec2:DescribeNetworkInterfaces 3 -,ec2:DescribeSubnets 1 -,"
        "ec2:DescribeSecurityGroups 1 a,ec2:DescribeVpcs 1 -"
    ),
    "slr-cfn": _m("cloudformation:DescribeStacks 1 o"),
    "svc-cloudtrail": _m("s3:GetBucketAcl 1 -"),
    "svc-secrets": _m("kms:Decrypt 1 -"),
}
