"""End to end in one process: an agent's delete burst -> alert -> signed webhook -> quarantine ->
decide denies -> an admin restores -> decide allows reads again.

Uses the real detection pipeline (detect.worker) when it is installed; otherwise the alert is
handed to the alert listeners directly, as the pipeline would.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import orjson
from fastapi.testclient import TestClient
from pydantic import SecretStr

from detect.alerts.alert import Alert, notify_listeners
from detect.api.response import create_router
from detect.response.webhooks import verify_signature
from detect.services import start_response
from ingest.api import create_app
from ingest.runtime import Runtime, open_runtime
from ingest.settings import Settings
from leash.app import router_factories, start_workers
from tests.conftest import ADMIN_KEY, INGEST_KEY, READ_KEY, auth
from tests.factories import make_record
from tests.unit.detect.response.test_webhooks import SECRET, Received, WebhookReceiver

HAS_PIPELINE = importlib.util.find_spec("detect.worker") is not None
AGENT_ARN = "arn:aws:sts::123456789012:assumed-role/deploy-agent/agent-run-7f3a"
AGENT_KEY = "arn:aws:sts::123456789012:assumed-role/deploy-agent"
WAIT_S = 30.0  # seconds; generous for 2 shared cores, the test ends as soon as things arrive


def wait_for(check: Callable[[], Any], what: str, timeout_s: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def webhooks(receiver: WebhookReceiver, event_type: str) -> list[tuple[Received, dict[str, Any]]]:
    found = []
    for got in list(receiver.received):
        verify_signature(SECRET, got.headers, got.body)  # every delivery must verify
        payload = orjson.loads(got.body)
        if payload["type"] == event_type:
            found.append((got, payload))
    return found


def start_everything(runtime: Runtime) -> TestClient:
    """What `leash up` does once the response layer is wired into leash/app.py (idempotent)."""
    start_workers(runtime, sink=True, detect=HAS_PIPELINE)
    if HAS_PIPELINE and "detection" not in runtime.extensions:
        from detect.worker import start_detection

        runtime.workers.append(start_detection(runtime))  # type: ignore[arg-type]
    if "response" not in runtime.extensions:
        runtime.workers.append(start_response(runtime))  # type: ignore[arg-type]
    factories = router_factories()
    if create_router not in factories:
        factories.append(create_router)
    return TestClient(create_app(runtime, routers=factories))


def drive_alert_without_pipeline(runtime: Runtime, client: TestClient) -> None:
    events = wait_for(
        lambda: client.get(
            "/v1/events", params={"principal": AGENT_KEY}, headers=auth(READ_KEY)
        ).json()["events"],
        "events",
    )
    times = [int(datetime.fromisoformat(e["event_time"]).timestamp() * 1000) for e in events]
    alert = Alert(
        id="al_e2e",
        created_at_ms=int(time.time() * 1000),
        updated_at_ms=int(time.time() * 1000),
        principal=AGENT_KEY,
        actor_kind="agent",
        kind="rule",
        rule="baseline:destructive_burst",
        severity="critical",
        score=1.0,
        status="open",
        first_event_ms=min(times),
        last_event_ms=max(times),
        event_count=len(events),
        event_ids=tuple(e["event_id"] for e in events),
        summary="DeleteDBInstance burst",
    )
    notify_listeners(runtime.extensions["alert_listeners"], "alert.opened", alert)


def test_burst_alert_webhook_quarantine_decide_restore(settings: Settings) -> None:
    receiver = WebhookReceiver()
    server = receiver.serve()
    settings = settings.model_copy(
        update={"webhook_urls": [receiver.url], "webhook_secret": SecretStr(SECRET)}
    )
    now = datetime.now(UTC)
    burst = [
        make_record(
            eventName="DeleteDBInstance",
            eventSource="rds.amazonaws.com",
            requestParameters={"dBInstanceIdentifier": f"prod-db-{i}"},
            at=now + timedelta(seconds=i),
            readOnly=False,
        )
        for i in range(12)
    ]
    try:
        with open_runtime(settings) as runtime, start_everything(runtime) as client:
            sent = client.post("/v1/events", json={"Records": burst}, headers=auth(INGEST_KEY))
            assert sent.json()["accepted"] == 12
            if not HAS_PIPELINE:
                drive_alert_without_pipeline(runtime, client)

            opened = wait_for(lambda: webhooks(receiver, "alert.opened"), "alert.opened webhook")
            alert = opened[0][1]["data"]["alert"]
            assert alert["principal"] == AGENT_KEY
            assert opened[0][1]["data"]["actions"]["quarantine"].endswith(
                f"/v1/principals/{quote(AGENT_KEY, safe='')}/quarantine"
            )
            quarantined = wait_for(
                lambda: webhooks(receiver, "principal.quarantined"), "principal.quarantined webhook"
            )
            assert quarantined[0][1]["data"]["actor"] == "leash:auto"

            principal_url = f"/v1/principals/{quote(AGENT_ARN, safe='')}"
            state = client.get(principal_url, headers=auth(READ_KEY)).json()
            assert (state["state"], state["actor_kind"]) == ("quarantined", "agent")
            denied = client.post(
                "/v1/decide",
                headers=auth(INGEST_KEY),
                json={
                    "principal": AGENT_ARN,
                    "action": "DeleteDBInstance",
                    "source": "rds.amazonaws.com",
                    "resources": ["prod-db-99"],
                },
            ).json()
            assert (denied["decision"], denied["rule"]) == ("deny", "quarantine")

            restored = client.post(
                f"{principal_url}/restore", json={"reason": "reviewed"}, headers=auth(ADMIN_KEY)
            ).json()
            assert restored["state"] == "active"
            allowed = client.post(
                "/v1/decide",
                headers=auth(INGEST_KEY),
                json={
                    "principal": AGENT_ARN,
                    "action": "DescribeDBInstances",
                    "source": "rds.amazonaws.com",
                },
            ).json()
            assert allowed["decision"] == "allow"
            wait_for(lambda: webhooks(receiver, "principal.restored"), "principal.restored")
    finally:
        server.shutdown()
        server.server_close()
