"""Parameters and responses for write and destructive calls (routine and malicious alike)."""

from __future__ import annotations

import json
import random
from typing import Any

from .ids import ec2_id, hexs, uuid4
from .inventory import Res
from .params import Builder, arn_of, object_key

READ_POLICIES = (
    "AmazonS3ReadOnlyAccess",
    "CloudWatchReadOnlyAccess",
    "AmazonSQSFullAccess",
    "AWSLambdaBasicExecutionRole",
    "AmazonDynamoDBReadOnlyAccess",
    "AmazonSSMManagedInstanceCore",
    "CloudWatchAgentServerPolicy",
)


def policy_doc(actions: list[str] | str, resource: str = "*", effect: str = "Allow") -> str:
    """Return a JSON policy document string as IAM logs it."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": effect, "Action": actions, "Resource": resource}],
        }
    )


def trust_doc(principal: dict[str, Any], external_id: str = "") -> str:
    """Return a JSON trust policy allowing sts:AssumeRole by the given principal (under an
    sts:ExternalId condition if `external_id`: how a vendor's integration role is set up)."""
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": principal,
        "Action": "sts:AssumeRole",
    }
    if external_id:
        statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _update_code(rng: random.Random, r: Res) -> Any:
    return {
        "functionName": arn_of(r),
        "publish": rng.random() < 0.5,
        "dryRun": False,
        "s3Bucket": f"{r.env}-{r.app}-artifacts",
        "s3Key": f"lambda/{r.name}/{hexs(rng, 7)}.zip",
    }


def _alarm(rng: random.Random, r: Res) -> Any:
    return {
        "alarmName": r.name,
        "metricName": rng.choice(("5XXError", "Latency", "CPUUtilization")),
        "namespace": "AWS/ApplicationELB",
        "statistic": "Average",
        "period": 60,
        "evaluationPeriods": 3,
        "threshold": float(rng.randrange(1, 90)),
        "comparisonOperator": "GreaterThanThreshold",
        "actionsEnabled": True,
    }


def _attach_role(rng: random.Random, r: Res) -> Any:
    return {"roleName": r.name, "policyArn": f"arn:aws:iam::aws:policy/{rng.choice(READ_POLICIES)}"}


def _put_role_policy(rng: random.Random, r: Res) -> Any:
    act = rng.choice(("s3:GetObject", "sqs:SendMessage", "dynamodb:Query", "kms:Decrypt"))
    return {
        "roleName": r.name,
        "policyName": f"inline-{act.split(':')[1].lower()}",
        "policyDocument": policy_doc([act]),
    }


WRITE_BUILDERS: dict[str, Builder] = {
    "lambda:UpdateFunctionCode20150331v2": _update_code,
    "cloudwatch:PutMetricAlarm": _alarm,
    "iam:AttachRolePolicy": _attach_role,
    "iam:DetachRolePolicy": _attach_role,
    "iam:PutRolePolicy": _put_role_policy,
    "dynamodb:UpdateTable": lambda _rng, r: {"tableName": r.name, "billingMode": "PAY_PER_REQUEST"},
    "rds:ModifyDBInstance": lambda rng, r: {
        "dBInstanceIdentifier": r.name,
        "applyImmediately": False,
        "backupRetentionPeriod": rng.choice((7, 14)),
    },
    "logs:DeleteLogGroup": lambda _rng, r: {"logGroupName": r.name},
    "ec2:DeleteSnapshot": lambda _rng, r: {"snapshotId": r.rid},
    "cloudformation:DeleteStack": lambda _rng, r: {"stackName": r.name},
    "cloudformation:DescribeChangeSet": lambda rng, r: {
        "stackName": r.name,
        "changeSetName": f"cs-{hexs(rng, 8)}",
    },
}


def terminate(ids: list[str]) -> tuple[Any, Any]:
    """TerminateInstances request/response for the given instance ids."""
    items = [{"instanceId": i} for i in ids]
    resp_items = [
        {
            "instanceId": i,
            "currentState": {"code": 32, "name": "shutting-down"},
            "previousState": {"code": 16, "name": "running"},
        }
        for i in ids
    ]
    return {"instancesSet": {"items": items}}, {"instancesSet": {"items": resp_items}}


def delete_objects(rng: random.Random, bucket: Res, n: int) -> tuple[Any, list[str]]:
    """DeleteObjects request with n keys, as CloudTrail logs it: the body (the keys) is not
    logged, only `"delete": ""`; returns (params, keys) -- the keys the call deleted."""
    keys = [object_key(rng, bucket) for _ in range(n)]
    params = {
        "bucketName": bucket.name,
        "Host": f"{bucket.name}.s3.{bucket.region}.amazonaws.com",
        "delete": "",
    }
    return params, keys


def run_instances(
    rng: random.Random, itype: str, count: int, image: str, profile: str | None = None
) -> tuple[Any, Any]:
    """RunInstances request/response (optionally passing an instance profile)."""
    params: dict[str, Any] = {
        "instancesSet": {"items": [{"imageId": image, "minCount": count, "maxCount": count}]},
        "instanceType": itype,
        "blockDeviceMapping": {},
        "monitoring": {"enabled": False},
        "disableApiTermination": False,
        "disableApiStop": False,
        "clientToken": uuid4(rng),
    }
    if profile:
        params["iamInstanceProfile"] = {"name": profile}
    ids = [ec2_id(rng, "i") for _ in range(count)]
    resp = {
        "requestId": uuid4(rng),
        "reservationId": ec2_id(rng, "r"),
        "instancesSet": {
            "items": [
                {
                    "instanceId": i,
                    "imageId": image,
                    "instanceType": itype,
                    "instanceState": {"code": 0, "name": "pending"},
                }
                for i in ids
            ]
        },
    }
    return params, resp


def db_delete(rng: random.Random, r: Res, skip_final: bool) -> tuple[Any, Any]:
    """DeleteDBInstance request/response."""
    params: dict[str, Any] = {
        "dBInstanceIdentifier": r.name,
        "skipFinalSnapshot": skip_final,
        "deleteAutomatedBackups": skip_final,
    }
    if not skip_final:
        params["finalDBSnapshotIdentifier"] = f"{r.name}-final-{hexs(rng, 6)}"
    resp = {
        "dBInstanceIdentifier": r.name,
        "dBInstanceClass": "db.r6g.large",
        "engine": "postgres",
        "dBInstanceStatus": "deleting",
        "dBInstanceArn": arn_of(r),
    }
    return params, resp


def sg_ingress(group: str, port: int, cidr: str) -> tuple[Any, Any]:
    """AuthorizeSecurityGroupIngress request/response opening a port to a CIDR."""
    perm = {
        "ipProtocol": "tcp",
        "fromPort": port,
        "toPort": port,
        "groups": {},
        "ipRanges": {"items": [{"cidrIp": cidr}]},
        "ipv6Ranges": {},
        "prefixListIds": {},
    }
    return (
        {"groupId": group, "ipPermissions": {"items": [perm]}},
        {"requestId": "", "_return": True},
    )


def bucket_policy(bucket: str, principal: Any, actions: list[str]) -> Any:
    """A bucket policy granting actions on the bucket's objects to principal."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Grant",
                "Effect": "Allow",
                "Principal": principal,
                "Action": actions,
                "Resource": [f"arn:aws:s3:::{bucket}/*", f"arn:aws:s3:::{bucket}"],
            }
        ],
    }
