"""Parameters for resource-less calls and the dispatcher used by background traffic."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from .catalog import api
from .ids import hexs, uuid4
from .inventory import Res
from .params import RES_BUILDERS, Built, arn_of, s3_bucket_res, s3_obj
from .params_write import WRITE_BUILDERS

NoRes = Callable[[random.Random, str], Any]

_STATE = {"name": "instance-state-name", "valueSet": {"items": [{"value": "running"}]}}
NORES: dict[str, NoRes] = {
    "s3:ListBuckets": lambda _rng, _a: {"Host": "s3.amazonaws.com"},
    "ec2:DescribeInstances": lambda rng, _a: {
        "instancesSet": {},
        "filterSet": ({"items": [_STATE]} if rng.random() < 0.5 else {}),
    },
    "ec2:DescribeSecurityGroups": lambda _rng, _a: {
        "securityGroupSet": {},
        "securityGroupIdSet": {},
        "filterSet": {},
    },
    "ec2:DescribeVpcs": lambda _rng, _a: {"vpcSet": {}, "filterSet": {}},
    "ec2:DescribeSubnets": lambda _rng, _a: {"subnetSet": {}, "filterSet": {}},
    "ec2:DescribeVolumes": lambda _rng, _a: {"volumeSet": {}, "filterSet": {}, "maxResults": 500},
    "ec2:DescribeSnapshots": lambda _rng, _a: {
        "snapshotSet": {},
        "ownersSet": {"items": [{"owner": "self"}]},
        "filterSet": {},
    },
    "ec2:DescribeImages": lambda _rng, _a: {
        "executableBySet": {},
        "imagesSet": {},
        "ownersSet": {"items": [{"owner": "self"}]},
        "filterSet": {},
    },
    "ec2:DescribeRegions": lambda rng, _a: {"regionSet": {}, "allRegions": rng.random() < 0.3},
    "ec2:DescribeAvailabilityZones": lambda _rng, _a: {
        "availabilityZoneSet": {},
        "availabilityZoneIdSet": {},
    },
    "ec2:DescribeNetworkInterfaces": lambda _rng, _a: {
        "networkInterfaceIdSet": {},
        "filterSet": {},
    },
    "ec2:DescribeAddresses": lambda _rng, _a: {
        "publicIpsSet": {},
        "allocationIdsSet": {},
        "filterSet": {},
    },
    "ec2:DescribeLaunchTemplates": lambda _rng, _a: {"maxResults": 200},
    "ec2:DescribeRouteTables": lambda _rng, _a: {"routeTableIdSet": {}, "filterSet": {}},
    "ec2:DescribeFlowLogs": lambda _rng, _a: {"flowLogIds": {}, "filterSet": {}},
    "ec2:DescribeTags": lambda rng, _a: {
        "filterSet": {
            "items": [
                {"name": "resource-id", "valueSet": {"items": [{"value": f"i-0{hexs(rng, 16)}"}]}}
            ]
        }
    },
    "iam:ListUsers": lambda _rng, _a: None,
    "iam:ListRoles": lambda _rng, _a: None,
    "iam:ListPolicies": lambda _rng, _a: {"scope": "Local", "onlyAttached": False},
    "iam:GetAccountSummary": lambda _rng, _a: None,
    "iam:ListGroups": lambda _rng, _a: None,
    "iam:GetAccountPasswordPolicy": lambda _rng, _a: None,
    "iam:GenerateCredentialReport": lambda _rng, _a: None,
    "iam:GetCredentialReport": lambda _rng, _a: None,
    "iam:ListAccountAliases": lambda _rng, _a: None,
    "iam:GetAccountAuthorizationDetails": lambda _rng, _a: {
        "filter": ["User", "Role", "Group", "LocalManagedPolicy"]
    },
    "sts:GetCallerIdentity": lambda _rng, _a: None,
    "lambda:ListFunctions20150331": lambda _rng, _a: {"functionVersion": "ALL"},
    "rds:DescribeDBInstances": lambda _rng, _a: None,
    "rds:DescribeDBClusters": lambda _rng, _a: None,
    "rds:DescribeDBSnapshots": lambda _rng, _a: {
        "snapshotType": "manual",
        "includeShared": False,
        "includePublic": False,
    },
    "dynamodb:ListTables": lambda _rng, _a: None,
    "logs:DescribeLogGroups": lambda _rng, _a: {"limit": 50},
    "cloudwatch:DescribeAlarms": lambda rng, _a: (
        {"maxRecords": 100, "stateValue": rng.choice(("ALARM", "OK", "INSUFFICIENT_DATA"))}
        if rng.random() < 0.3
        else {"maxRecords": 100}
    ),
    "cloudwatch:GetMetricData": lambda _rng, _a: {
        "startTime": "",
        "endTime": "",
        "metricDataQueries": "HIDDEN_FOR_BREVITY",
    },
    "cloudwatch:ListMetrics": lambda rng, _a: {
        "namespace": rng.choice(
            ("AWS/EC2", "AWS/Lambda", "AWS/RDS", "AWS/ApplicationELB", "AWS/SQS")
        )
    },
    "cloudwatch:GetMetricStatistics": lambda _rng, _a: {
        "namespace": "AWS/EC2",
        "metricName": "CPUUtilization",
        "period": 300,
    },
    "secretsmanager:ListSecrets": lambda _rng, _a: {"maxResults": 100},
    "ssm:DescribeParameters": lambda _rng, _a: {"maxResults": 50},
    "ssm:DescribeInstanceInformation": lambda _rng, _a: {"maxResults": 50},
    "ssm:ListCommands": lambda _rng, _a: None,
    "kms:ListKeys": lambda _rng, _a: None,
    "kms:ListAliases": lambda _rng, _a: None,
    "cloudformation:DescribeStacks": lambda _rng, _a: None,
    "cloudformation:ListStacks": lambda _rng, _a: {
        "stackStatusFilter": ["CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"]
    },
    "cloudformation:ValidateTemplate": lambda _rng, _a: None,
    "ecs:ListClusters": lambda _rng, _a: None,
    "ecs:DescribeClusters": lambda rng, _a: {
        "clusters": [rng.choice(("prod-cluster", "staging-cluster", "dev-cluster"))]
    },
    "ecs:ListServices": lambda _rng, _a: {"cluster": "prod-cluster"},
    "ecs:DiscoverPollEndpoint": lambda rng, _a: {"containerInstance": uuid4(rng)},
    "ecr:GetAuthorizationToken": lambda _rng, _a: None,
    "ecr:DescribeRepositories": lambda _rng, _a: None,
    "cloudtrail:DescribeTrails": lambda _rng, _a: {"includeShadowTrails": True},
    "cloudtrail:LookupEvents": lambda rng, _a: {
        "maxResults": 50,
        "lookupAttributes": [
            {
                "attributeKey": "EventName",
                "attributeValue": rng.choice(
                    ("ConsoleLogin", "DeleteBucket", "AssumeRole", "RunInstances")
                ),
            }
        ],
    },
    "cloudtrail:GetTrailStatus": lambda _rng, _a: {"name": "org-trail"},
    "cloudtrail:GetEventSelectors": lambda _rng, _a: {"trailName": "org-trail"},
    "guardduty:ListDetectors": lambda _rng, _a: None,
    "guardduty:ListFindings": lambda rng, _a: {"detectorId": hexs(rng, 32), "maxResults": 50},
    "securityhub:GetFindings": lambda _rng, _a: {"maxResults": 100},
    "config:DescribeConfigRules": lambda _rng, _a: None,
    "config:DescribeConfigurationRecorderStatus": lambda _rng, _a: None,
    "config:DescribeComplianceByConfigRule": lambda _rng, _a: None,
    "elb:DescribeLoadBalancers": lambda _rng, _a: None,
    "elb:DescribeTargetGroups": lambda _rng, _a: None,
    "autoscaling:DescribeAutoScalingGroups": lambda _rng, _a: None,
    "athena:StartQueryExecution": lambda _rng, _a: {
        "queryString": "***OMITTED***",
        "workGroup": "primary",
    },
    "athena:GetQueryExecution": lambda rng, _a: {"queryExecutionId": uuid4(rng)},
    "athena:GetQueryResults": lambda rng, _a: {"queryExecutionId": uuid4(rng), "maxResults": 1000},
    "glue:GetDatabases": lambda _rng, _a: None,
    "glue:GetJobRun": lambda rng, _a: {"jobName": "etl-nightly", "runId": f"jr_{hexs(rng, 64)}"},
    "organizations:DescribeOrganization": lambda _rng, _a: None,
    "organizations:ListAccounts": lambda _rng, _a: None,
    "health:DescribeEventAggregates": lambda _rng, _a: {"aggregateField": "eventTypeCategory"},
    "ce:GetCostAndUsage": lambda _rng, _a: {"granularity": "DAILY", "metrics": ["UnblendedCost"]},
    "sqs:ListQueues": lambda _rng, _a: None,
    "events:ListRules": lambda _rng, _a: None,
    "backup:ListBackupJobs": lambda _rng, _a: None,
    "ec2:CreateTags": lambda rng, _a: {
        "resourcesSet": {"items": [{"resourceId": f"i-0{hexs(rng, 16)}"}]},
        "tagSet": {"items": [{"key": "Owner", "value": "team"}]},
    },
}


def request(rng: random.Random, key: str, res: Res | None, region: str) -> Built:
    """Return (requestParameters, responseElements, resources) for a routine call."""
    if res is None:
        fn = NORES.get(key)
        return (fn(rng, region) if fn else None), None, None
    a = api(key)
    if a.service == "s3" and a.data:
        return s3_obj(rng, res)
    builder = RES_BUILDERS.get(key) or WRITE_BUILDERS.get(key)
    params = builder(rng, res) if builder else None
    if a.service == "s3":
        return params, None, s3_bucket_res(res)
    if a.service == "kms":
        return (
            params,
            None,
            [{"accountId": res.account, "type": "AWS::KMS::Key", "ARN": arn_of(res)}],
        )
    return params, None, None
