"""End to end in one process: an agent's delete burst -> alert -> signed webhook -> quarantine ->
decide denies -> an admin restores -> decide allows reads again.

The process is wired exactly as `leash up` wires it (leash.app: sink, services, detection, the
app with the decide fast path).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson
from fastapi.testclient import TestClient
from pydantic import SecretStr

from detect.response.webhooks import verify_signature
from ingest.runtime import Runtime, open_runtime
from ingest.settings import Settings
from leash.app import build_app, build_services, start_workers
from tests.conftest import ADMIN_KEY, INGEST_KEY, INGEST_KEY_NAME, READ_KEY, auth
from tests.factories import db_deletes
from tests.unit.detect.response.test_webhooks import SECRET, Received, WebhookReceiver
from tests.wait import wait_until

AGENT_ARN = "arn:aws:sts::123456789012:assumed-role/deploy-agent/agent-run-7f3a"
AGENT_KEY = "arn:aws:sts::123456789012:assumed-role/deploy-agent"
WAIT_S = 30.0  # seconds; generous for 2 shared cores, the test ends as soon as things arrive


def wait_for(check: Callable[[], Any], what: str, timeout_s: float = WAIT_S) -> Any:
    return wait_until(check, timeout_s=timeout_s, what=what, poll_s=0.05)


def webhooks(receiver: WebhookReceiver, event_type: str) -> list[tuple[Received, dict[str, Any]]]:
    found = []
    for got in list(receiver.received):
        verify_signature(SECRET, got.headers, got.body)  # every delivery must verify
        payload = orjson.loads(got.body)
        if payload["type"] == event_type:
            found.append((got, payload))
    return found


def start_everything(runtime: Runtime) -> TestClient:
    """What `leash up` starts: every worker and the app with the decide fast path."""
    services = build_services(runtime)
    start_workers(runtime, sink=True, services=services, detect=True)
    return TestClient(build_app(services))


def delete_burst(count: int = 12) -> list[dict[str, Any]]:
    return db_deletes(datetime.now(UTC), count)


def test_burst_alert_webhook_quarantine_decide_restore(settings: Settings) -> None:
    receiver = WebhookReceiver()
    server = receiver.serve()
    settings = settings.model_copy(
        update={
            "webhook_urls": [receiver.url],
            "webhook_secret": SecretStr(SECRET),
            "trusted_keys": [INGEST_KEY_NAME],  # the collector's pushes may quarantine
        }
    )
    burst = delete_burst()
    try:
        with open_runtime(settings) as runtime, start_everything(runtime) as client:
            sent = client.post("/v1/events", json={"Records": burst}, headers=auth(INGEST_KEY))
            assert sent.json()["accepted"] == 12

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


def test_a_push_any_ingest_key_could_forge_pages_but_quarantines_nothing(
    settings: Settings,
) -> None:
    """Anyone holding an unbound ingest key can push CloudTrail-shaped records of any agent: a
    delete burst forged that way opens an alert that says why it did not act, and the agent
    stays active (the same burst from a trusted key quarantines it: the test above)."""
    receiver = WebhookReceiver()
    server = receiver.serve()
    settings = settings.model_copy(
        update={"webhook_urls": [receiver.url], "webhook_secret": SecretStr(SECRET)}
    )
    try:
        with open_runtime(settings) as runtime, start_everything(runtime) as client:
            sent = client.post(
                "/v1/events", json={"Records": delete_burst(41)}, headers=auth(INGEST_KEY)
            )
            assert sent.json()["accepted"] == 41
            opened = wait_for(lambda: webhooks(receiver, "alert.opened"), "alert.opened webhook")
            alert = opened[0][1]["data"]["alert"]
            assert (alert["principal"], alert["severity"]) == (AGENT_KEY, "critical")
            untrusted = alert["explanation"]["untrusted"]
            assert untrusted["origins"] == {f"http:{INGEST_KEY_NAME}": 41}
            assert "does not quarantine" in untrusted["note"]

            state = client.get(
                f"/v1/principals/{quote(AGENT_ARN, safe='')}", headers=auth(READ_KEY)
            ).json()
            assert state["state"] == "active"
            events = client.get("/v1/events?limit=1", headers=auth(READ_KEY)).json()["events"]
            assert (events[0]["origin"], events[0]["trusted"]) == (f"http:{INGEST_KEY_NAME}", False)
        assert not webhooks(receiver, "principal.quarantined")
    finally:
        server.shutdown()
        server.server_close()
