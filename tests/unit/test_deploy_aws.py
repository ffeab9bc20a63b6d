"""deploy/aws/leash-cloudtrail.yaml: lints clean, grants least privilege, deploys on moto.

The template is read with a YAML loader that knows CloudFormation's short tags (!Ref, !Sub,
!GetAtt, !If, ...) and turns them into their JSON forms, the way CloudFormation does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from ingest.aws.notifications import S3Object, parse_notification
from ingest.delivery import CLOUDTRAIL_DETAIL_TYPE_SUFFIX
from ingest.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "aws"
TEMPLATE_PATH = DEPLOY / "leash-cloudtrail.yaml"
REGION = "us-east-1"
BUCKET = "org-trail-logs"
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PULLER_ACTIONS = {
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
    "s3:GetObject",
    "s3:ListBucket",
    "kms:Decrypt",
}
NO_VALUE = {"Ref": "AWS::NoValue"}


class CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader plus the short-form intrinsic functions (`!Ref X` is `{"Ref": "X"}`)."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def load_template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(TEMPLATE_PATH.read_text(), Loader=CloudFormationLoader)
    return loaded


TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]


def branches(node: Any) -> Iterator[Any]:
    """Every value a (possibly !If-wrapped) node can take, AWS::NoValue left out."""
    if isinstance(node, dict) and set(node) == {"Fn::If"}:
        _, yes, no = node["Fn::If"]
        yield from branches(yes)
        yield from branches(no)
    elif node != NO_VALUE:
        yield node


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def puller_statements() -> list[dict[str, Any]]:
    document = RESOURCES["PullerPolicy"]["Properties"]["PolicyDocument"]
    return [s for item in document["Statement"] for s in branches(item)]


# --- static: what the template grants -------------------------------------------------------
def test_cfn_lint_finds_nothing() -> None:
    api = pytest.importorskip("cfnlint.api", reason="cfn-lint is not installed")
    matches = api.lint_file(TEMPLATE_PATH)
    assert [str(m) for m in matches] == []


def test_the_puller_gets_exactly_the_actions_it_uses_on_named_resources() -> None:
    statements = puller_statements()
    actions = {a for s in statements for a in as_list(s["Action"])}
    assert actions == PULLER_ACTIONS
    assert not {"s3:PutObject", "s3:DeleteObject", "s3:*", "sqs:SendMessage"} & actions
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement and "NotResource" not in statement
        assert all("*" not in action for action in as_list(statement["Action"]))
        for resource in as_list(statement["Resource"]):
            assert resource != "*", statement["Sid"]
    by_sid = {s["Sid"]: s for s in statements}
    assert by_sid["ConsumeTrailQueue"]["Resource"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    objects = [r["Fn::Sub"] for r in branches(by_sid["ReadTrailLogFiles"]["Resource"])]
    assert objects and all(r.endswith("/AWSLogs/*") for r in objects)  # the trail prefix only
    listing = by_sid["ListTrailLogFiles"]
    assert "/" not in listing["Resource"]["Fn::Sub"].removeprefix("arn:${AWS::Partition}:s3:::")
    prefixes = list(branches(listing["Condition"]["StringLike"]["s3:prefix"]))
    assert prefixes == [[{"Fn::Sub": "${TrailKeyPrefix}/AWSLogs/*"}], ["AWSLogs/*"]]
    decrypt = by_sid["DecryptTrailLogFilesThroughS3"]
    assert decrypt["Resource"] == {"Ref": "TrailKmsKeyArn"}
    assert "kms:ViaService" in decrypt["Condition"]["StringEquals"]


def test_the_queue_has_a_dead_letter_queue_and_every_queue_is_encrypted() -> None:
    queue = RESOURCES["Queue"]["Properties"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
        "maxReceiveCount": 5,
    }
    assert queue["VisibilityTimeout"] == 300
    queues = [r for r in RESOURCES.values() if r["Type"] == "AWS::SQS::Queue"]
    assert len(queues) == 3
    assert all(q["Properties"]["SqsManagedSseEnabled"] is True for q in queues)


def test_only_the_trail_bucket_and_topic_may_send_to_the_queue() -> None:
    statements = RESOURCES["QueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    allows = [s for item in statements for s in branches(item) if s["Effect"] == "Allow"]
    assert {json.dumps(s["Principal"], sort_keys=True) for s in allows} == {
        '{"Service": "s3.amazonaws.com"}',
        '{"Service": "sns.amazonaws.com"}',
    }
    for statement in allows:
        assert statement["Action"] == "sqs:SendMessage"
        assert "aws:SourceArn" in json.dumps(statement["Condition"])


def test_the_eventbridge_path_matches_the_receiver() -> None:
    key = TEMPLATE["Parameters"]["LeashIngestKey"]
    assert key["NoEcho"] is True
    connection = RESOURCES["LeashConnection"]["Properties"]
    assert connection["AuthorizationType"] == "API_KEY"
    api_key = connection["AuthParameters"]["ApiKeyAuthParameters"]
    assert api_key == {"ApiKeyName": "x-leash-key", "ApiKeyValue": {"Ref": "LeashIngestKey"}}
    assert api_key["ApiKeyName"] == Settings.model_fields["eventbridge_key_header"].default
    destination = RESOURCES["LeashApiDestination"]["Properties"]
    assert destination["HttpMethod"] == "POST"
    assert destination["InvocationEndpoint"] == {
        "Fn::Sub": "https://${LeashHost}/v1/ingest/eventbridge"
    }
    rule = RESOURCES["CloudTrailToLeashRule"]["Properties"]
    detail_types = rule["EventPattern"]["detail-type"]
    assert len(detail_types) == 3
    assert all(t.endswith(CLOUDTRAIL_DETAIL_TYPE_SUFFIX) for t in detail_types)
    (target,) = rule["Targets"]
    assert "InputTransformer" not in target and "Input" not in target
    assert target["DeadLetterConfig"]["Arn"] == {
        "Fn::GetAtt": ["EventBridgeDeadLetterQueue", "Arn"]
    }
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    (policy,) = RESOURCES["InvokeLeashRole"]["Properties"]["Policies"]
    (grant,) = policy["PolicyDocument"]["Statement"]
    assert grant["Action"] == "events:InvokeApiDestination"
    assert grant["Resource"] == {"Fn::GetAtt": ["LeashApiDestination", "Arn"]}


def test_each_path_can_be_switched_off() -> None:
    sqs = {"DeadLetterQueue", "Queue", "QueuePolicy"}
    eventbridge = {
        "LeashConnection",
        "LeashApiDestination",
        "InvokeLeashRole",
        "EventBridgeDeadLetterQueue",
        "EventBridgeDeadLetterQueuePolicy",
        "CloudTrailToLeashRule",
    }
    assert {n for n, r in RESOURCES.items() if r.get("Condition") == "SqsPull"} == sqs
    assert {n for n, r in RESOURCES.items() if r.get("Condition") == "EventBridge"} == eventbridge


def notification_configuration(text: str) -> dict[str, Any]:
    """The JSON of a `put-bucket-notification-configuration` command in `text`."""
    found = re.search(r"--notification-configuration '(\{.*?\})'", text, re.DOTALL)
    assert found, "no put-bucket-notification-configuration command"
    document: dict[str, Any] = json.loads(found.group(1))
    return document


def test_the_readme_bucket_notification_is_the_stacks() -> None:
    output = TEMPLATE["Outputs"]["BucketNotificationCommand"]["Value"]["Fn::Sub"][0]
    from_stack = json.dumps(notification_configuration(output))
    readme = (DEPLOY / "README.md").read_text()
    by_hand = re.search(r"<<JSON\n(.*?)\nJSON\n", readme, re.DOTALL)
    assert by_hand, "README: no leash-notification.json heredoc"
    from_readme = json.dumps(json.loads(by_hand.group(1)))
    assert from_readme == from_stack.replace("${Queue.Arn}", "$QUEUE_ARN").replace(
        "${Prefix}", "AWSLogs/"
    )


# --- moto: the stack deploys, the bucket notification reaches the queue, redrive works ---------
@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    try:
        from moto import mock_aws
        from moto.cloudformation import models  # noqa: F401 - needs moto[cloudformation]
    except ImportError as exc:
        pytest.skip(f"moto's CloudFormation support is not installed: {exc}")
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", REGION),
    ):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


def deploy(**parameters: str) -> dict[str, str]:
    """Create the stack on moto (from JSON: moto misreads the `!Condition` tag); its outputs."""
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    cloudformation.create_stack(
        StackName="leash-cloudtrail",
        TemplateBody=json.dumps(TEMPLATE),
        Capabilities=["CAPABILITY_NAMED_IAM"],
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
    )
    (stack,) = cloudformation.describe_stacks(StackName="leash-cloudtrail")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


TRUST_EC2 = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def receive(
    sqs: Any, queue_url: str, *, max_messages: int = 1, visibility_s: int = 30
) -> list[dict[str, Any]]:
    """One short poll (the queue long-polls 20 s by default, and moto waits that out)."""
    response = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=max_messages,
        VisibilityTimeout=visibility_s,
        WaitTimeSeconds=0,
    )
    messages: list[dict[str, Any]] = response.get("Messages", [])
    return messages


def receive_all(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while batch := receive(sqs, queue_url, max_messages=10):
        messages += batch
    return messages


@pytest.mark.filterwarnings("ignore:Tried to parse AWS::")  # moto skips QueuePolicy and the like
def test_the_stack_deploys_and_the_bucket_notification_feeds_the_queue(aws: None) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    iam = boto3.client("iam", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    iam.create_role(RoleName="leash-puller", AssumeRolePolicyDocument=json.dumps(TRUST_EC2))
    # a KMS key: moto keeps an !If's AWS::NoValue in a list, which real CloudFormation drops
    outputs = deploy(TrailBucketName=BUCKET, TrailKmsKeyArn=KMS_KEY, PullerRoleName="leash-puller")

    queue_url = outputs["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])
    attributes = attributes["Attributes"]
    assert attributes["VisibilityTimeout"] == "300"
    assert attributes["SqsManagedSseEnabled"] == "true"
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["maxReceiveCount"] == 5
    dlq_url = outputs["DeadLetterQueueUrl"]
    dlq = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]
    assert redrive["deadLetterTargetArn"] == dlq["QueueArn"]

    policy_arn = outputs["PullerPolicyArn"]
    version = iam.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=policy_arn, VersionId=version)["PolicyVersion"]
    granted = {a for s in document["Document"]["Statement"] for a in as_list(s["Action"])}
    assert granted == PULLER_ACTIONS
    attached = iam.list_attached_role_policies(RoleName="leash-puller")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [policy_arn]

    configuration = notification_configuration(outputs["BucketNotificationCommand"])
    s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration=configuration)
    key = "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/02/file.json.gz"
    for name in (key, "AWSLogs/notes.txt", "elsewhere/file.json.gz"):
        s3.put_object(Bucket=BUCKET, Key=name, Body=b"\x1f\x8b")
    bodies = [m["Body"] for m in receive_all(sqs, queue_url)]
    shapes = [parse_notification(b) for b in bodies]
    assert [n.shape for n in shapes] == ["test", "s3"]  # only the log file was announced
    assert shapes[1].objects == (S3Object(BUCKET, key),)


@pytest.mark.filterwarnings("ignore:Tried to parse AWS::")
def test_a_message_that_keeps_failing_moves_to_the_dead_letter_queue(aws: None) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    outputs = deploy(TrailBucketName=BUCKET, TrailKmsKeyArn=KMS_KEY)
    sqs.send_message(QueueUrl=outputs["QueueUrl"], MessageBody='{"poison": true}')
    for _ in range(5):  # the puller receives it and leaves it, five times
        (message,) = receive(sqs, outputs["QueueUrl"], visibility_s=0)
    assert receive(sqs, outputs["QueueUrl"]) == []
    (dead,) = receive(sqs, outputs["DeadLetterQueueUrl"])
    assert dead["Body"] == message["Body"]
