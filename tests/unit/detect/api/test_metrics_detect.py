"""GET /metrics carries detection, gate, webhook and response series beside ingest's."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast
from urllib.parse import quote

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from detect.alerts.alert import Alert
from detect.metrics import DetectMetrics
from tests.conftest import ADMIN_KEY, INGEST_KEY, READ_KEY, auth


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample line of the exposition text (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    head = f"{name}{{{want}}}" if want else name
    for line in text.splitlines():
        if line.startswith(head + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_decisions_and_their_latency_are_counted(client: TestClient) -> None:
    ask = {
        "principal": "arn:aws:sts::123456789012:assumed-role/deploy-agent/run-1",
        "action": "DescribeInstances",
        "source": "ec2.amazonaws.com",
    }
    for _ in range(3):
        assert client.post("/v1/decide", json=ask, headers=auth(INGEST_KEY)).status_code == 200
    delete = {**ask, "action": "DeleteBucket", "source": "s3.amazonaws.com"}
    assert client.post("/v1/decide", json=delete, headers=auth(INGEST_KEY)).status_code == 200
    text = client.get("/metrics", headers=auth(READ_KEY)).text
    assert metric(text, "leash_decisions_total", decision="allow") == 3
    assert metric(text, "leash_decisions_total", decision="require_approval") == 1
    assert metric(text, "leash_decide_seconds_count") == 4
    assert metric(text, "leash_webhook_outbox_backlog") == 0


def test_principal_changes_are_counted(client: TestClient) -> None:
    principal = quote("arn:aws:sts::123456789012:assumed-role/deploy-agent/run-1", safe="")
    body = {"reason": "runbook drill"}
    response = client.post(
        f"/v1/principals/{principal}/quarantine", json=body, headers=auth(ADMIN_KEY)
    )
    assert response.status_code == 200
    text = client.get("/metrics", headers=auth(READ_KEY)).text
    assert metric(text, "leash_principal_changes_total", state="quarantined") == 1


def test_alerts_opened_are_counted_by_severity_and_rule_family() -> None:
    registry = CollectorRegistry()
    metrics = DetectMetrics.of(registry)
    opened = cast(Alert, SimpleNamespace(severity="critical", rule="redflag:stop_logging"))
    metrics.alert_listener("alert.opened", opened)
    metrics.alert_listener("alert.updated", opened)  # growth is not a new alert
    labels = {"severity": "critical", "family": "redflag"}
    assert registry.get_sample_value("leash_alerts_opened_total", labels) == 1
    assert DetectMetrics.of(registry) is metrics  # registered once per registry
