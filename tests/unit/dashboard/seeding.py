"""Seed data for dashboard tests and screenshots: real CloudTrail files plus agents' activity."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.factories import DATASETS, make_record
from tests.wait import wait_until

__all__ = [
    "ACTIVE_AGENT",
    "ACTIVE_AGENT_KEY",
    "BURST_AGENT",
    "BURST_AGENT_KEY",
    "BURST_DELETES",
    "BURST_TOOL",
    "GATED_AGENT",
    "GATED_AGENT_KEY",
    "agent_records",
    "dataset_files",
    "request_approval",
    "seed",
    "wait_for",
    "wait_for_burst_alert",
]

CLOUDTRAIL_DIR = DATASETS / "invictus-ir_aws_dataset" / "CloudTrail"
ACCOUNT = "123456789012"
BURST_AGENT = f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy-agent/agent-run-7f3a"
BURST_AGENT_KEY = f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy-agent"
ACTIVE_AGENT = f"arn:aws:sts::{ACCOUNT}:assumed-role/report-agent/agent-run-51c2"
ACTIVE_AGENT_KEY = f"arn:aws:sts::{ACCOUNT}:assumed-role/report-agent"
GATED_AGENT = f"arn:aws:sts::{ACCOUNT}:assumed-role/cleanup-agent/agent-run-9d1e"
GATED_AGENT_KEY = f"arn:aws:sts::{ACCOUNT}:assumed-role/cleanup-agent"
BURST_DELETES = 30
BURST_TOOL = "delete_environment"  # the tool call the deploy agent reports before its burst
AFTER_DATASET = datetime(2023, 7, 10, 12, 40, tzinfo=UTC)  # the invictus files end at 12:35Z
WAIT_S = 90.0  # seconds; generous for 2 shared cores, waits end as soon as the data is there


def dataset_files() -> list[Path]:
    return sorted(CLOUDTRAIL_DIR.glob("*.json"))


def agent_records() -> list[dict[str, Any]]:
    """A quiet reporting agent, then a burst of bucket deletes by a deploy agent."""
    quiet = [
        make_record(
            role="report-agent",
            session="agent-run-51c2",
            account=ACCOUNT,
            eventName=name,
            eventSource=source,
            readOnly=name.startswith(("Get", "List")),
            at=AFTER_DATASET - timedelta(minutes=20) + timedelta(minutes=i),
            requestParameters={"bucketName": "reports"},
        )
        for i, (name, source) in enumerate(
            [
                ("ListBuckets", "s3.amazonaws.com"),
                ("GetObject", "s3.amazonaws.com"),
                ("PutObject", "s3.amazonaws.com"),
            ]
            * 4
        )
    ]
    burst = [
        make_record(
            role="deploy-agent",
            session="agent-run-7f3a",
            account=ACCOUNT,
            eventName="DeleteBucket",
            eventSource="s3.amazonaws.com",
            readOnly=False,
            requestParameters={"bucketName": f"prod-assets-{i}"},
            resources=[
                {
                    "ARN": f"arn:aws:s3:::prod-assets-{i}",
                    "accountId": ACCOUNT,
                    "type": "AWS::S3::Bucket",
                }
            ],
            at=AFTER_DATASET + timedelta(seconds=2 * i),
        )
        for i in range(BURST_DELETES)
    ]
    gated = [
        make_record(
            role="cleanup-agent",
            session="agent-run-9d1e",
            account=ACCOUNT,
            eventName=name,
            eventSource="s3.amazonaws.com",
            readOnly=name != "PutBucketTagging",
            requestParameters={"bucketName": bucket},
            resources=[
                {"ARN": f"arn:aws:s3:::{bucket}", "accountId": ACCOUNT, "type": "AWS::S3::Bucket"}
            ],
            at=AFTER_DATASET - timedelta(minutes=10) + timedelta(seconds=30 * i),
        )
        for i, (name, bucket) in enumerate(
            [
                ("ListObjects", "tmp-build-cache"),
                ("GetBucketPolicy", "tmp-build-cache"),
                ("PutBucketTagging", "tmp-build-cache"),
                ("ListObjects", "old-logs-2022"),
                ("GetBucketLocation", "old-logs-2022"),
            ]
        )
    ]
    told = make_record(  # the deploy agent reported the tool call behind its burst
        role="deploy-agent",
        session="agent-run-7f3a",
        account=ACCOUNT,
        eventName=BURST_TOOL,
        eventSource="tool:deploy-bot",
        readOnly=False,
        agent={"name": "deploy-bot"},
        requestParameters={"environment": "prod-assets", "toolCallId": "call_seed7f3a"},
        additionalEventData={"durationMs": (2 * BURST_DELETES + 10) * 1000},
        at=AFTER_DATASET - timedelta(seconds=1),
    )
    return quiet + gated + [told] + burst


def wait_for(check: Callable[[], Any], what: str, timeout_s: float = WAIT_S) -> Any:
    return wait_until(check, timeout_s=timeout_s, what=what, poll_s=0.1)


def _batches() -> Iterator[bytes | dict[str, Any]]:
    for path in dataset_files():
        yield path.read_bytes()
    yield {"Records": agent_records()}


def seed(client: httpx.Client, reader: httpx.Client) -> int:
    """POST every seed record (`client` has the ingest scope); wait until `reader` sees them."""
    accepted = 0
    for batch in _batches():
        if isinstance(batch, bytes):
            response = client.post("/v1/events", content=batch)
        else:
            response = client.post("/v1/events", json=batch)
        response.raise_for_status()
        accepted += int(response.json()["accepted"])

    totals: list[int] = []

    def stored() -> bool:
        totals.append(int(reader.get("/v1/events", params={"limit": 1}).json()["total"]))
        return totals[-1] >= accepted

    try:
        wait_for(stored, f"{accepted} events in the store")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the store holds {totals[-1]}") from None
    return accepted


def wait_for_burst_alert(client: httpx.Client) -> dict[str, Any]:
    """The deploy agent's alert (needs the detection layer in the server)."""

    def found() -> dict[str, Any] | None:
        alerts = client.get("/v1/alerts", params={"principal": BURST_AGENT_KEY}).json()["alerts"]
        return next((a for a in alerts if a["event_count"] >= BURST_DELETES), None)

    alert: dict[str, Any] = wait_for(found, "the deploy agent's alert")
    return alert


def request_approval(client: httpx.Client, *, bucket: str) -> str:
    """An agent asks before deleting a bucket (ingest key); returns the pending approval id."""
    response = client.post(
        "/v1/decide",
        json={
            "principal": GATED_AGENT,
            "action": "DeleteBucket",
            "source": "s3.amazonaws.com",
            "resources": [f"arn:aws:s3:::{bucket}"],
        },
    )
    response.raise_for_status()
    body = response.json()
    assert body["decision"] == "require_approval", body
    return str(body["approval_id"])
