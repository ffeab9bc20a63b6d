"""Standard Webhooks signing/verification, event payloads, Slack formatting, real HTTP delivery.

Also home of the helpers the other response tests import: a real loopback webhook receiver
and `make_alert`.
"""

from __future__ import annotations

import base64
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from detect.alerts.alert import Alert
from detect.response.webhooks import (
    RecordingNotifier,
    WebhookEvent,
    WebhookVerificationError,
    alert_event,
    alert_webhook_listener,
    new_event,
    post_delivery,
    sign,
    signed_headers,
    slack_message,
    verify_signature,
)
from detect.services import Services, ServiceWorker, build_services
from ingest.runtime import Runtime, open_runtime
from ingest.settings import Settings
from ingest.sink.worker import SinkWorker
from leash.app import build_app
from tests.conftest import INGEST_KEY, auth
from tests.ports import free_port

SECRET = "whsec_" + base64.b64encode(b"leash-test-secret-0123456789abcdef").decode()
AGENT_ARN = "arn:aws:sts::123456789012:assumed-role/deploy-agent/agent-run-7f3a"
AGENT_KEY = "arn:aws:sts::123456789012:assumed-role/deploy-agent"
SECOND_ADMIN_KEY = "test-second-admin-key"


def make_alert(**overrides: Any) -> Alert:
    values: dict[str, Any] = {
        "id": "al_test1",
        "created_at_ms": 1_790_000_000_000,
        "updated_at_ms": 1_790_000_000_000,
        "principal": AGENT_KEY,
        "actor_kind": "agent",
        "kind": "rule",
        "rule": "baseline:destructive_burst",
        "severity": "critical",
        "score": 0.97,
        "status": "open",
        "first_event_ms": 1_790_000_000_000,
        "last_event_ms": 1_790_000_060_000,
        "event_count": 3,
        "event_ids": ("e1", "e2", "e3"),
        "summary": "3 DeleteDBInstance in 60s",
        "explanation": {"features": {"destructive": 3}},
    }
    return Alert(**{**values, **overrides})


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 that records every POST (answers `status`)."""

    port: int = field(default_factory=free_port)
    status: int = 204
    received: list[Received] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[Received]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout_s)
            return list(self.received)

    def serve(self) -> http.server.ThreadingHTTPServer:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver.arrived:
                    receiver.received.append(Received(self.path, dict(self.headers.items()), body))
                    receiver.arrived.notify_all()
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    rec = WebhookReceiver()
    server = rec.serve()
    yield rec
    server.shutdown()
    server.server_close()


def test_signature_matches_the_standard_webhooks_reference_vector() -> None:
    # The test vector published with the Standard Webhooks reference libraries.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    signature = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": f"v1,bm90LXRoaXM= {signature}",
    }
    verify_signature(secret, headers, body, now_s=1614265330)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda h, b: (h, b + b" "), id="body changed"),
        pytest.param(lambda h, b: ({**h, "webhook-id": "msg_other"}, b), id="id changed"),
        pytest.param(
            lambda h, b: ({**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}, b),
            id="timestamp changed",
        ),
        pytest.param(
            lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b),
            id="signature missing",
        ),
    ],
)
def test_tampered_deliveries_fail_verification(tamper: Any) -> None:
    body = b'{"type":"alert.opened"}'
    headers = signed_headers(SECRET, "msg_1", body, now_s=1_800_000_000)
    verify_signature(SECRET, headers, body, now_s=1_800_000_000)
    bad_headers, bad_body = tamper(headers, body)
    with pytest.raises(WebhookVerificationError):
        verify_signature(SECRET, bad_headers, bad_body, now_s=1_800_000_000)


def test_old_timestamps_and_other_secrets_are_refused() -> None:
    body = b"{}"
    headers = signed_headers(SECRET, "msg_1", body, now_s=1_800_000_000)
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify_signature(SECRET, headers, body, now_s=1_800_000_000 + 301)
    other = "whsec_" + base64.b64encode(b"another-secret").decode()
    with pytest.raises(WebhookVerificationError, match="signature"):
        verify_signature(other, headers, body, now_s=1_800_000_000)


def test_alert_event_carries_the_alert_and_action_urls() -> None:
    event = alert_event(
        "alert.opened", make_alert(principal=AGENT_ARN), base_url="https://leash.example/"
    )
    payload = orjson.loads(event.body())
    assert payload["type"] == "alert.opened" and payload["timestamp"].endswith("Z")
    assert payload["data"]["alert"]["explanation"] == {"features": {"destructive": 3}}
    actions = payload["data"]["actions"]
    assert actions["ack"] == "https://leash.example/v1/alerts/al_test1/ack"
    assert actions["quarantine"] == (
        f"https://leash.example/v1/principals/{quote(AGENT_ARN, safe='')}/quarantine"
    )
    assert event.id.startswith("msg_")


def test_unknown_event_types_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown webhook event type"):
        new_event("alert.exploded", {})


def test_slack_message_names_severity_and_links_actions() -> None:
    event = alert_event("alert.opened", make_alert(), base_url="http://leash")
    message = slack_message(event)
    assert "[CRITICAL]" in message["text"] and "3 DeleteDBInstance" in message["text"]
    links = message["blocks"][1]["elements"][0]["text"]
    assert "<http://leash/v1/alerts/al_test1/ack|ack>" in links


def test_recording_sink_keeps_events_in_order() -> None:
    sink = RecordingNotifier()
    for kind in ("alert.opened", "principal.quarantined"):
        sink.send(new_event(kind, {}))
    assert sink.types() == ["alert.opened", "principal.quarantined"]


def test_post_delivery_signs_over_real_http(receiver: WebhookReceiver) -> None:
    event = WebhookEvent("msg_abc", "alert.opened", 1_800_000_000_000, {"x": 1})
    with httpx.Client(timeout=5) as client:
        error = post_delivery(
            client, endpoint=receiver.url, secret=SECRET, msg_id=event.id, body=event.body()
        )
    assert error is None
    got = receiver.wait_for(1)[0]
    verify_signature(SECRET, got.headers, got.body)
    assert got.headers["webhook-id"] == "msg_abc"


def test_slack_endpoints_get_a_slack_body(receiver: WebhookReceiver) -> None:
    event = alert_event("alert.opened", make_alert(), base_url="http://leash")
    with httpx.Client(timeout=5) as client:
        assert (
            post_delivery(
                client,
                endpoint="slack+" + receiver.url,
                secret=None,
                msg_id=event.id,
                body=event.body(),
            )
            is None
        )
    assert "[CRITICAL]" in orjson.loads(receiver.wait_for(1)[0].body)["text"]


def test_failures_name_the_host_but_not_the_path(receiver: WebhookReceiver) -> None:
    receiver.status = 500
    with httpx.Client(timeout=5) as client:
        error = post_delivery(
            client,
            endpoint=receiver.url + "/T0K3N-secret-path",
            secret=SECRET,
            msg_id="msg_1",
            body=b"{}",
        )
        refused = post_delivery(
            client,
            endpoint=f"http://127.0.0.1:{free_port()}/x",
            secret=SECRET,
            msg_id="msg_1",
            body=b"{}",
        )
    assert error == f"HTTP 500 from http://127.0.0.1:{receiver.port}"
    assert refused is not None and "ConnectError" in refused and "/x" not in refused


@dataclass
class StaticDetection:
    """What the gate reads of a detector (gate.health.DetectorView), with settable answers."""

    stale: bool = False
    lag: int = 0
    scores: dict[str, float] = field(default_factory=dict)

    def status(self) -> dict[str, Any]:
        return {
            "model_version": "test",
            "model_trained_at": None,
            "last_event_time": None,
            "lag": self.lag,
            "stale": self.stale,
        }

    def principal_score(self, principal_key: str) -> float | None:
        return self.scores.get(principal_key)


@dataclass
class ResponseEnv:
    runtime: Runtime
    client: TestClient
    services: Services
    sink: RecordingNotifier
    worker: ServiceWorker

    def decide(
        self,
        action: str,
        *,
        principal: str = AGENT_ARN,
        source: str = "",
        resources: tuple[str, ...] = (),
        key: str = INGEST_KEY,
    ) -> dict[str, Any]:
        response = self.client.post(
            "/v1/decide",
            headers=auth(key),
            json={
                "principal": principal,
                "action": action,
                "source": source,
                "resources": list(resources),
            },
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def open_response_env(
    settings: Settings, *, detection: StaticDetection | None = None, **config: Any
) -> Iterator[ResponseEnv]:
    settings = settings.model_copy(update={"api_url": "http://leash.test", **config})
    with open_runtime(settings) as rt:
        rt.workers.append(SinkWorker(rt, group_id=settings.kafka.group_id).start())
        sink = RecordingNotifier()
        services = build_services(rt, notifier=sink)
        services.detection = detection  # type: ignore[assignment]
        worker = ServiceWorker(services).start()
        app = build_app(services)  # as `leash up` builds it: with the decide fast path
        try:
            with TestClient(app) as client:
                yield ResponseEnv(rt, client, services, sink, worker)
        finally:
            worker.stop()


@pytest.fixture
def env(settings: Settings) -> Iterator[ResponseEnv]:
    """The real app with the response layer and a fresh, non-lagging detector status."""
    keys = [*settings.api_keys, f"{SECOND_ADMIN_KEY}:admin"]
    yield from open_response_env(
        settings.model_copy(update={"api_keys": keys}), detection=StaticDetection()
    )


def test_updates_are_sent_once_a_minute_unless_they_raise_the_severity() -> None:
    """Review: an update to high started the alert's minute, and its rise to critical seconds
    later was dropped -- the one update a pager must not miss."""
    notifier = RecordingNotifier()
    listen = alert_webhook_listener(notifier, "http://leash.test")
    listen("alert.opened", make_alert(severity="high"))
    listen("alert.updated", make_alert(severity="high"))  # the first update: sent
    listen("alert.updated", make_alert(severity="high"))  # within the minute: not
    listen("alert.updated", make_alert(severity="critical"))  # worse: sent at once
    listen("alert.updated", make_alert(severity="critical"))  # within the minute again: not
    sent = [(event.type, event.data["alert"]["severity"]) for event in notifier.events]
    assert sent == [
        ("alert.opened", "high"),
        ("alert.updated", "high"),
        ("alert.updated", "critical"),
    ]
