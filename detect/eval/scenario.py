"""The generated world's types: API-call shapes, actors, labels, scenarios, the record emitter."""

from __future__ import annotations

import random
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["Actor", "Emitter", "Label", "Op", "Scenario"]

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
START = datetime(2026, 3, 4, tzinfo=UTC)  # a Wednesday: 5 training days, test on Mon-Tue
ACCOUNT = "111122223333"
REGIONS = (
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "sa-east-1",
    "ca-central-1",
    "eu-north-1",
    "ap-south-1",
    "us-east-2",
    "eu-west-3",
    "af-south-1",
    "me-south-1",
    "ap-east-1",
)


@dataclass(frozen=True)
class Op:
    """One API call shape: service prefix, eventName and the request parameter naming a resource."""

    source: str
    name: str
    param: str | None = None


READS = (
    Op("ec2", "DescribeInstances"),
    Op("ec2", "DescribeVpcs"),
    Op("ec2", "DescribeSecurityGroups"),
    Op("s3", "ListBuckets"),
    Op("s3", "GetBucketPolicy", "bucketName"),
    Op("lambda", "ListFunctions20150331"),
    Op("lambda", "GetFunction20150331v2", "functionName"),
    Op("iam", "GetRole", "roleName"),
    Op("cloudformation", "DescribeStacks", "stackName"),
    Op("dynamodb", "DescribeTable", "tableName"),
    Op("rds", "DescribeDBInstances"),
    Op("ssm", "GetParameter", "name"),
    Op("sts", "GetCallerIdentity"),
    Op("logs", "DescribeLogGroups"),
    Op("cloudwatch", "GetMetricData"),
    Op("kms", "Decrypt"),
)
WRITES = (
    Op("lambda", "UpdateFunctionCode20150331v2", "functionName"),
    Op("s3", "PutObject", "key"),
    Op("cloudformation", "UpdateStack", "stackName"),
    Op("ecs", "UpdateService", "service"),
    Op("ssm", "PutParameter", "name"),
    Op("logs", "CreateLogStream", "logGroupName"),
    Op("ec2", "CreateTags", "resourceId"),
)
PAIRS = (  # (create, delete) on the same resource name
    (Op("s3", "CreateBucket", "bucketName"), Op("s3", "DeleteBucket", "bucketName")),
    (
        Op("lambda", "CreateFunction20150331", "functionName"),
        Op("lambda", "DeleteFunction20150331", "functionName"),
    ),
    (
        Op("cloudformation", "CreateStack", "stackName"),
        Op("cloudformation", "DeleteStack", "stackName"),
    ),
    (Op("dynamodb", "CreateTable", "tableName"), Op("dynamodb", "DeleteTable", "tableName")),
    (
        Op("rds", "CreateDBInstance", "dBInstanceIdentifier"),
        Op("rds", "DeleteDBInstance", "dBInstanceIdentifier"),
    ),
    (Op("sqs", "CreateQueue", "queueName"), Op("sqs", "DeleteQueue", "queueName")),
    (Op("secretsmanager", "CreateSecret", "name"), Op("secretsmanager", "DeleteSecret", "name")),
)
GET_OBJECT = Op("s3", "GetObject", "key")
DELETE_OBJECT = Op("s3", "DeleteObject", "key")
TERMINATE = Op("ec2", "TerminateInstances", "instanceId")
APPS = ("billing", "checkout", "search", "auth", "orders", "catalog", "notify", "ledger")


@dataclass(frozen=True)
class Actor:
    """A principal of the generated account; `session` "" means a per-run session id."""

    name: str
    kind: str
    role: str
    session: str = ""
    rate_per_min: float = 2.0
    ips: tuple[str, ...] = ("10.0.0.1",)
    user_agent: str = "aws-cli/2.15.0 Python/3.11"
    region: str = "us-east-1"
    service: str = ""  # AWS service principal (invokedBy) instead of a role


@dataclass(frozen=True)
class Label:
    """A labelled span: an incident (positive) or a hard negative, with its event ids."""

    kind: str
    category: str  # "incident" | "hard_negative"
    actor: str
    event_ids: tuple[str, ...]
    destructive_ids: tuple[str, ...]
    start_ms: int
    end_ms: int


@dataclass
class Scenario:
    seed: int
    records: list[dict[str, Any]]
    labels: list[Label]
    start_ms: int
    train_until_ms: int
    end_ms: int


@dataclass
class Emitter:
    """Builds CloudTrail records deterministically from one random generator."""

    rnd: random.Random
    records: list[dict[str, Any]] = field(default_factory=list)

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rnd.getrandbits(128), version=4))

    def emit(self, actor: Actor, at_ms: int, op: Op, resource: str = "", **extra: Any) -> str:
        """Append one record; `extra` may set region, ip, error, session, params, user_agent."""
        event_id = self.new_id()
        session = extra.get("session") or actor.session or f"run-{self.rnd.getrandbits(40):x}"
        record: dict[str, Any] = {
            "eventVersion": "1.09",
            "userIdentity": _identity(actor, session),
            "eventTime": _iso(at_ms),
            "eventSource": f"{op.source}.amazonaws.com",
            "eventName": op.name,
            "awsRegion": extra.get("region") or actor.region,
            "sourceIPAddress": extra.get("ip") or self.rnd.choice(actor.ips),
            "userAgent": extra.get("user_agent") or actor.user_agent,
            "requestParameters": extra.get("params") or _params(op, resource),
            "responseElements": None,
            "requestID": self.new_id(),
            "eventID": event_id,
            "readOnly": op.name.startswith(("Describe", "Get", "List")),
            "eventType": "AwsApiCall",
            "managementEvent": op.source != "s3" or "Object" not in op.name,
            "recipientAccountId": ACCOUNT,
        }
        if extra.get("error"):
            record["errorCode"] = extra["error"]
            record["errorMessage"] = "User is not authorized to perform this operation"
        self.records.append(record)
        return event_id


def _iso(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _identity(actor: Actor, session: str) -> dict[str, Any]:
    if actor.service:
        return {"type": "AWSService", "invokedBy": actor.service}
    return {
        "type": "AssumedRole",
        "principalId": f"AROA{zlib.crc32(actor.role.encode()):012d}:{session}",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{actor.role}/{session}",
        "accountId": ACCOUNT,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "arn": f"arn:aws:iam::{ACCOUNT}:role/{actor.role}",
                "accountId": ACCOUNT,
                "userName": actor.role,
            }
        },
    }


def _params(op: Op, resource: str) -> dict[str, Any] | None:
    if op.param is None or not resource:
        return None
    if op.param == "key":
        bucket, _, key = resource.partition("/")
        return {"bucketName": bucket, "key": key or "object"}
    if op.param == "instanceId":
        return {"instancesSet": {"items": [{"instanceId": resource}]}}
    return {op.param: resource}
