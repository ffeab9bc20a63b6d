"""Request parameters and resources blocks for routine API calls, as CloudTrail logs them."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from .ids import hexs, lower_token, uuid4
from .inventory import Res

Built = tuple[Any, Any, list[dict[str, str]] | None]
Builder = Callable[[random.Random, Res], Any]
_EXT = ("json", "parquet", "csv", "gz", "png", "pdf", "avro")


def arn_of(r: Res) -> str:
    """Return the ARN of a resource."""
    a, g = r.account, r.region
    table = {
        "bucket": f"arn:aws:s3:::{r.name}",
        "website": f"arn:aws:s3:::{r.name}",
        "instance": f"arn:aws:ec2:{g}:{a}:instance/{r.rid}",
        "table": f"arn:aws:dynamodb:{g}:{a}:table/{r.name}",
        "db": f"arn:aws:rds:{g}:{a}:db:{r.name}",
        "function": f"arn:aws:lambda:{g}:{a}:function:{r.name}",
        "secret": f"arn:aws:secretsmanager:{g}:{a}:secret:{r.rid}",
        "param": f"arn:aws:ssm:{g}:{a}:parameter{r.name}",
        "loggroup": f"arn:aws:logs:{g}:{a}:log-group:{r.name}",
        "stack": f"arn:aws:cloudformation:{g}:{a}:stack/{r.name}/{r.rid}",
        "key": f"arn:aws:kms:{g}:{a}:key/{r.rid}",
        "trail": f"arn:aws:cloudtrail:{g}:{a}:trail/{r.name}",
        "dbsnap": f"arn:aws:rds:{g}:{a}:snapshot:{r.name}",
        "alarm": f"arn:aws:cloudwatch:{g}:{a}:alarm:{r.name}",
    }
    return table.get(r.kind, f"arn:aws:{r.kind}:{g}:{a}:{r.rid or r.name}")


_PREFIXES = ("data", "exports", "uploads", "reports", "events", "tmp", "in", "out")


def object_key(rng: random.Random, _r: Res) -> str:
    """Return a plausible object key for a bucket."""
    v = rng.getrandbits(80)
    return (
        f"{_PREFIXES[v & 7]}/{2023 + (v >> 3) % 3}/{1 + (v >> 5) % 12:02d}/"
        f"{1 + (v >> 9) % 28:02d}/{v >> 32:012x}.{_EXT[(v >> 14) % 7]}"
    )


def s3_obj(rng: random.Random, r: Res) -> Built:
    """GetObject/PutObject/HeadObject style parameters plus resources."""
    key = object_key(rng, r)
    res = [
        {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{r.name}/{key}"},
        {"accountId": r.account, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{r.name}"},
    ]
    return (
        {"bucketName": r.name, "Host": f"{r.name}.s3.{r.region}.amazonaws.com", "key": key},
        None,
        res,
    )


def s3_bucket_res(r: Res) -> list[dict[str, str]]:
    """The resources block of a bucket-level S3 call."""
    return [{"accountId": r.account, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{r.name}"}]


def _bucket_q(q: str) -> Builder:
    return lambda _rng, r: {
        "bucketName": r.name,
        "Host": f"{r.name}.s3.{r.region}.amazonaws.com",
        q: "",
    }


def _listobj(rng: random.Random, r: Res) -> Any:
    return {
        "list-type": "2",
        "bucketName": r.name,
        "encoding-type": "url",
        "prefix": rng.choice(("", "data/", "exports/", "reports/")),
        "delimiter": "/",
        "Host": f"{r.name}.s3.{r.region}.amazonaws.com",
    }


def _kms(_rng: random.Random, r: Res) -> Any:
    return {"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "keyId": arn_of(r)}


def _secret(rng: random.Random, r: Res) -> Any:
    return {"secretId": arn_of(r) if rng.random() < 0.6 else r.name}


def _instances(_rng: random.Random, r: Res) -> Any:
    return {"instancesSet": {"items": [{"instanceId": r.rid}]}}


def _filter_logs(rng: random.Random, r: Res) -> Any:
    return {
        "logGroupName": r.name,
        "startTime": 0,
        "endTime": 0,
        "filterPattern": rng.choice(("ERROR", "Exception", "timeout", '"status": 500')),
    }


RES_BUILDERS: dict[str, Builder] = {
    "s3:GetBucketLocation": _bucket_q("location"),
    "s3:GetBucketPolicy": _bucket_q("policy"),
    "s3:GetBucketAcl": _bucket_q("acl"),
    "s3:GetBucketVersioning": _bucket_q("versioning"),
    "s3:GetBucketTagging": _bucket_q("tagging"),
    "s3:GetBucketEncryption": _bucket_q("encryption"),
    "s3:GetBucketPublicAccessBlock": _bucket_q("publicAccessBlock"),
    "s3:GetBucketLifecycle": _bucket_q("lifecycle"),
    "s3:ListObjectsV2": _listobj,
    "s3:ListObjects": _listobj,
    "ec2:DescribeInstanceStatus": lambda _rng, r: {
        "instancesSet": {"items": [{"instanceId": r.rid}]},
        "filterSet": {},
        "includeAllInstances": False,
    },
    "ec2:StopInstances": lambda _rng, r: {
        "instancesSet": {"items": [{"instanceId": r.rid}]},
        "force": False,
    },
    "ec2:StartInstances": _instances,
    "ec2:RebootInstances": _instances,
    "ec2:DescribeInstanceAttribute": lambda _rng, r: {"instanceId": r.rid, "attribute": "userData"},
    "ec2:GetConsoleOutput": lambda _rng, r: {"instanceId": r.rid},
    "dynamodb:DescribeTable": lambda _rng, r: {"tableName": r.name},
    "dynamodb:DescribeContinuousBackups": lambda _rng, r: {"tableName": r.name},
    "dynamodb:CreateBackup": lambda rng, r: {
        "tableName": r.name,
        "backupName": f"{r.name}-{lower_token(rng, 6)}",
    },
    "rds:DescribeDBInstances": lambda _rng, r: {"dBInstanceIdentifier": r.name},
    "rds:RebootDBInstance": lambda _rng, r: {"dBInstanceIdentifier": r.name},
    "rds:CreateDBSnapshot": lambda rng, r: {
        "dBInstanceIdentifier": r.name,
        "dBSnapshotIdentifier": f"{r.name}-manual-{hexs(rng, 6)}",
    },
    "lambda:GetFunction20150331v2": lambda _rng, r: {"functionName": r.name},
    "lambda:GetFunctionConfiguration20150331v2": lambda _rng, r: {"functionName": r.name},
    "lambda:ListVersionsByFunction20150331": lambda _rng, r: {"functionName": r.name},
    "lambda:GetPolicy20150331v2": lambda _rng, r: {"functionName": r.name},
    "lambda:UpdateFunctionConfiguration20150331v2": lambda rng, r: {
        "functionName": r.name,
        "timeout": rng.choice((10, 30, 60)),
        "environment": {"variables": "HIDDEN_DUE_TO_SECURITY_REASONS"},
    },
    "secretsmanager:GetSecretValue": _secret,
    "secretsmanager:DescribeSecret": _secret,
    "secretsmanager:PutSecretValue": lambda rng, r: {
        "secretId": r.name,
        "clientRequestToken": uuid4(rng),
    },
    "secretsmanager:RotateSecret": lambda rng, r: {
        "secretId": arn_of(r),
        "clientRequestToken": uuid4(rng),
    },
    "ssm:GetParameter": lambda rng, r: {"name": r.name, "withDecryption": rng.random() < 0.5},
    "ssm:GetParameterHistory": lambda _rng, r: {"name": r.name, "withDecryption": False},
    "ssm:PutParameter": lambda _rng, r: {"name": r.name, "type": "String", "overwrite": True},
    "logs:DescribeLogStreams": lambda _rng, r: {
        "logGroupName": r.name,
        "orderBy": "LastEventTime",
        "descending": True,
        "limit": 50,
    },
    "logs:FilterLogEvents": _filter_logs,
    "logs:GetLogEvents": lambda rng, r: {
        "logGroupName": r.name,
        "startFromHead": False,
        "logStreamName": f"2024/01/01/[$LATEST]{hexs(rng, 32)}",
    },
    "logs:StartQuery": lambda _rng, r: {
        "logGroupNames": [r.name],
        "queryString": "fields @timestamp, @message | sort @timestamp desc | limit 100",
        "startTime": 0,
        "endTime": 0,
    },
    "logs:CreateLogStream": lambda rng, r: {"logGroupName": r.name, "logStreamName": hexs(rng, 32)},
    "logs:PutRetentionPolicy": lambda _rng, r: {"logGroupName": r.name, "retentionInDays": 30},
    "kms:Decrypt": _kms,
    "kms:GenerateDataKey": lambda _rng, r: {"keyId": r.name, "keySpec": "AES_256"},
    "kms:DescribeKey": lambda _rng, r: {"keyId": r.name},
    "kms:Encrypt": _kms,
    "cloudformation:DescribeStacks": lambda _rng, r: {"stackName": r.name},
    "cloudformation:DescribeStackEvents": lambda _rng, r: {"stackName": r.name},
    "cloudformation:DescribeStackResources": lambda _rng, r: {"stackName": r.name},
    "cloudformation:ListStackResources": lambda _rng, r: {"stackName": r.name},
    "cloudformation:GetTemplate": lambda _rng, r: {
        "stackName": r.name,
        "templateStage": "Original",
    },
    "ecs:DescribeServices": lambda _rng, r: {"cluster": r.rid, "services": [r.name]},
    "ecs:ListTasks": lambda _rng, r: {"cluster": r.rid, "serviceName": r.name},
    "ecs:DescribeTasks": lambda rng, r: {"cluster": r.rid, "tasks": [hexs(rng, 32)]},
    "ecs:UpdateService": lambda _rng, r: {
        "cluster": r.rid,
        "service": r.name,
        "forceNewDeployment": True,
    },
    "ecr:DescribeImages": lambda _rng, r: {"repositoryName": r.name, "maxResults": 100},
    "ecr:BatchGetImage": lambda rng, r: {
        "repositoryName": r.name,
        "imageIds": [{"imageTag": rng.choice(("latest", "main", f"v1.{rng.randrange(40)}"))}],
        "acceptedMediaTypes": ["application/vnd.docker.distribution.manifest.v2+json"],
    },
    "ecr:GetDownloadUrlForLayer": lambda rng, r: {
        "repositoryName": r.name,
        "layerDigest": f"sha256:{hexs(rng, 64)}",
    },
    "ecr:BatchCheckLayerAvailability": lambda rng, r: {
        "repositoryName": r.name,
        "layerDigests": [f"sha256:{hexs(rng, 64)}"],
    },
    "ecr:InitiateLayerUpload": lambda _rng, r: {"repositoryName": r.name},
    "ecr:PutImage": lambda rng, r: {"repositoryName": r.name, "imageTag": hexs(rng, 7)},
    "iam:GetRole": lambda _rng, r: {"roleName": r.name},
    "iam:ListAttachedRolePolicies": lambda _rng, r: {"roleName": r.name},
    "iam:ListRolePolicies": lambda _rng, r: {"roleName": r.name},
    "iam:GetUser": lambda _rng, r: {"userName": r.name},
    "iam:ListAccessKeys": lambda _rng, r: {"userName": r.name},
    "iam:ListGroupsForUser": lambda _rng, r: {"userName": r.name},
    "iam:ListMFADevices": lambda _rng, r: {"userName": r.name},
    "iam:ListAttachedUserPolicies": lambda _rng, r: {"userName": r.name},
    "sqs:GetQueueAttributes": lambda _rng, r: {
        "queueUrl": f"https://sqs.{r.region}.amazonaws.com/{r.account}/{r.name}",
        "attributeNames": ["All"],
    },
    "sqs:ListQueueTags": lambda _rng, r: {
        "queueUrl": f"https://sqs.{r.region}.amazonaws.com/{r.account}/{r.name}"
    },
    "autoscaling:DescribeAutoScalingGroups": lambda _rng, r: {"autoScalingGroupNames": [r.name]},
    "autoscaling:SetDesiredCapacity": lambda rng, r: {
        "autoScalingGroupName": r.name,
        "desiredCapacity": rng.randrange(2, 9),
    },
    "elb:DescribeTargetHealth": lambda _rng, r: {
        "targetGroupArn": f"arn:aws:elasticloadbalancing:"
        f"{r.region}:{r.account}:targetgroup/{r.name}/{r.rid}"
    },
    "elb:DescribeListeners": lambda _rng, r: {
        "loadBalancerArn": f"arn:aws:elasticloadbalancing:"
        f"{r.region}:{r.account}:loadbalancer/app/{r.name}/{r.rid}"
    },
    "glue:GetTable": lambda _rng, r: {"databaseName": r.rid, "name": r.name},
    "glue:GetPartitions": lambda _rng, r: {"databaseName": r.rid, "tableName": r.name},
    "ssm:UpdateInstanceInformation": lambda _rng, r: {
        "instanceId": r.rid,
        "agentVersion": "3.3.40.0",
        "agentStatus": "Active",
        "platformType": "Linux",
        "platformName": "Amazon Linux",
        "platformVersion": "2023",
        "agentName": "amazon-ssm-agent",
    },
    "ec2messages:GetMessages": lambda rng, r: {
        "destination": r.rid,
        "messagesRequestId": uuid4(rng),
        "visibilityTimeoutInSeconds": 10,
    },
    "cloudwatch:DescribeAlarmHistory": lambda _rng, r: {"alarmName": r.name, "maxRecords": 50},
}
