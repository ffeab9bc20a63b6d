"""moto's server mode: a real S3/SQS/SNS HTTP endpoint on loopback that boto3 talks to unchanged."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import orjson
import pytest
from moto.server import ThreadedMotoServer

from tests.ports import free_port

__all__ = ["AwsLocal", "aws_local", "trail_key"]

ACCOUNT = "218007301253"  # the account of the invictus-ir recordings
ORG = "o-leash0test"
REGION = "us-east-1"
ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


@dataclass
class AwsLocal:
    endpoint: str
    s3: Any
    sqs: Any
    sns: Any

    def env(self) -> dict[str, str]:
        """The environment a subprocess needs to reach this endpoint through the AWS chain."""
        return {**ENV, "AWS_ENDPOINT_URL": self.endpoint}

    def queue(self, name: str, *, visibility_s: int = 30) -> str:
        return str(
            self.sqs.create_queue(
                QueueName=name, Attributes={"VisibilityTimeout": str(visibility_s)}
            )["QueueUrl"]
        )

    def put_log(self, bucket: str, key: str, records: list[Any]) -> None:
        body = gzip.compress(orjson.dumps({"Records": records}))
        self.s3.put_object(Bucket=bucket, Key=key, Body=body)

    def depth(self, queue_url: str) -> tuple[int, int]:
        """(visible, in flight) messages of a queue."""
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
            ],
        )["Attributes"]
        return (
            int(attrs["ApproximateNumberOfMessages"]),
            int(attrs["ApproximateNumberOfMessagesNotVisible"]),
        )


def trail_key(name: str, *, digest: bool = False, day: str = "2023/07/10") -> str:
    """Where CloudTrail writes a file in an organisation trail's bucket."""
    kind = "CloudTrail-Digest" if digest else "CloudTrail"
    return f"AWSLogs/{ORG}/{ACCOUNT}/{kind}/{REGION}/{day}/{name}"


def invictus_files() -> list[Path]:
    root = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "invictus-ir_aws_dataset"
    files = sorted((root / "CloudTrail").glob("*.json"))
    if not files:
        pytest.skip(f"the invictus-ir CloudTrail files are not in {root} (../shared/datasets)")
    return files


@pytest.fixture
def aws_local(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsLocal]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    httpx.post(f"{endpoint}/moto-api/reset")  # moto keeps its state per process, not per server
    for name, value in {**ENV, "AWS_ENDPOINT_URL": endpoint}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    try:
        session = boto3.session.Session(region_name=REGION)
        yield AwsLocal(
            endpoint,
            session.client("s3", endpoint_url=endpoint),
            session.client("sqs", endpoint_url=endpoint),
            session.client("sns", endpoint_url=endpoint),
        )
    finally:
        server.stop()
