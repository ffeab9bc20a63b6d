"""Standard Webhooks signing and verification, webhook events, Notifier and its implementations.

Receivers verify a delivery with `verify_signature(secret, headers, body)`: the signature is
`v1,<base64 HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>")>`, where the key is the
base64-decoded part of the `whsec_...` secret. Deliveries are at least once: deduplicate on
`webhook-id`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import httpx
import orjson

from detect.alerts.alert import Alert, AlertListener, severity_rank
from detect.response.routing import Route, route_of

__all__ = [
    "EVENT_TYPES",
    "Notifier",
    "RecordingNotifier",
    "WebhookEvent",
    "WebhookNotifier",
    "WebhookVerificationError",
    "alert_event",
    "alert_webhook_listener",
    "new_event",
    "post_delivery",
    "public_endpoint",
    "sign",
    "signed_headers",
    "slack_message",
    "verify_signature",
]

EVENT_TYPES = (
    "alert.opened",
    "alert.updated",
    "alert.acknowledged",
    "alert.resolved",
    "principal.quarantined",
    "principal.revoked",
    "principal.restored",
    "approval.requested",
    "approval.decided",
)
SECRET_PREFIX = "whsec_"
TOLERANCE_S = 300  # seconds; receivers reject timestamps further than this from their clock
UPDATE_WEBHOOK_MIN_S = 60.0  # seconds; alert.updated is sent at most this often per alert
SLACK_PREFIX = "slack+"  # endpoint "slack+https://hooks.slack.com/..." gets a Slack-shaped body


class WebhookVerificationError(ValueError):
    """The delivery is not signed with the shared secret, or its timestamp is out of tolerance."""


@dataclass(frozen=True)
class WebhookEvent:
    """One message: `id` is the webhook-id (stable across retries and endpoints)."""

    id: str
    type: str
    created_at_ms: int
    data: Mapping[str, Any] = field(default_factory=dict)

    def body(self) -> bytes:
        """The Standard Webhooks payload shape: {type, timestamp, data}."""
        stamp = datetime.fromtimestamp(self.created_at_ms / 1000, tz=UTC)
        return orjson.dumps(
            {
                "type": self.type,
                "timestamp": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "data": self.data,
            }
        )


class Notifier(Protocol):
    """Where webhook events go.

    `send` must return quickly and must not raise because a receiver is down: durable sinks
    (the outbox) persist the event before returning and deliver it later, with retries.
    """

    def send(self, event: WebhookEvent) -> None: ...


class RecordingNotifier:
    """Keeps every event in memory, for tests and for the dashboard's 'last notifications'."""

    def __init__(self) -> None:
        self.events: list[WebhookEvent] = []
        self._lock = threading.Lock()

    def send(self, event: WebhookEvent) -> None:
        with self._lock:
            self.events.append(event)

    def types(self) -> list[str]:
        with self._lock:
            return [e.type for e in self.events]


def new_event(
    event_type: str, data: Mapping[str, Any], *, now_ms: int | None = None
) -> WebhookEvent:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    stamp = int(time.time() * 1000) if now_ms is None else now_ms
    return WebhookEvent(f"msg_{uuid.uuid4().hex}", event_type, stamp, data)


def alert_event(event_type: str, alert: Alert, *, base_url: str) -> WebhookEvent:
    """An alert.* event: the alert (with its explanation) plus the URLs of actions on it."""
    base = base_url.rstrip("/")
    principal = quote(alert.principal, safe="")
    actions = {
        "ack": f"{base}/v1/alerts/{alert.id}/ack",
        "resolve": f"{base}/v1/alerts/{alert.id}/resolve",
        "false_positive": f"{base}/v1/alerts/{alert.id}/false-positive",
        "quarantine": f"{base}/v1/principals/{principal}/quarantine",
        "revoke": f"{base}/v1/principals/{principal}/revoke",
        "restore": f"{base}/v1/principals/{principal}/restore",
        "principal": f"{base}/v1/principals/{principal}",
    }
    return new_event(event_type, {"alert": alert.to_json(), "actions": actions})


def alert_webhook_listener(notifier: Notifier, base_url: str) -> AlertListener:
    """Alert listener sending alert.* webhooks; alert.updated at most once a minute per alert,
    unless it raises the severity sent for the alert before (review: an update to high
    started the minute, and the rise to critical seconds later was never sent)."""
    last_update: dict[str, float] = {}
    sent_rank: dict[str, int] = {}  # alert id -> the highest severity sent for it

    def on_alert(event_type: str, alert: Alert) -> None:
        rank = severity_rank(alert.severity)
        if event_type == "alert.updated":
            now = time.monotonic()
            recent = now - last_update.get(alert.id, -UPDATE_WEBHOOK_MIN_S) < UPDATE_WEBHOOK_MIN_S
            if recent and rank <= sent_rank.get(alert.id, -1):
                return
            last_update[alert.id] = now
        sent_rank[alert.id] = max(rank, sent_rank.get(alert.id, -1))
        notifier.send(alert_event(event_type, alert, base_url=base_url))

    return on_alert


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret (a secret without the prefix is base64 too)."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except ValueError:
        raise ValueError("webhook secret must be whsec_ followed by base64") from None


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 signature>` over "id.timestamp.body"."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    secret: str | None, msg_id: str, body: bytes, *, now_s: int | None = None
) -> dict[str, str]:
    """Headers of one delivery attempt; the timestamp is the attempt's, the id the message's."""
    timestamp = int(time.time()) if now_s is None else now_s
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
    }
    if secret:
        headers["webhook-signature"] = sign(secret, msg_id, timestamp, body)
    return headers


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_s: int = TOLERANCE_S,
    now_s: float | None = None,
) -> None:
    """Raise WebhookVerificationError unless `body` was signed with `secret` recently.

    Parameters
    ----------
    secret : the shared `whsec_...` secret.
    headers : the request headers (looked up case-insensitively).
    body : the raw request body, byte for byte as received.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp, signatures = (
        lower.get(h, "") for h in ("webhook-id", "webhook-timestamp", "webhook-signature")
    )
    if not (msg_id and stamp and signatures):
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from None
    now = time.time() if now_s is None else now_s
    if abs(now - timestamp) > tolerance_s:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance")
    expected = sign(secret, msg_id, timestamp, body).encode()
    for candidate in signatures.split():
        if hmac.compare_digest(candidate.encode(), expected):
            return
    raise WebhookVerificationError("no matching v1 signature")


def public_endpoint(url: str) -> str:
    """An endpoint fit for logs: scheme, host and port only (paths often embed tokens)."""
    parts = urlsplit(url.removeprefix(SLACK_PREFIX))
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def slack_message(event: WebhookEvent) -> dict[str, Any]:
    """A Slack incoming-webhook body for an event (text plus one section with links)."""
    data = event.data
    alert = data.get("alert")
    if isinstance(alert, Mapping):
        head = (
            f"[{str(alert.get('severity', '')).upper()}] {alert.get('summary', '')} "
            f"({alert.get('principal', '')})"
        )
    else:
        head = f"{event.type}: {data.get('principal', '')} {data.get('reason', '')}".strip()
    actions = data.get("actions")
    links = (
        " | ".join(f"<{url}|{name}>" for name, url in actions.items())
        if isinstance(actions, Mapping)
        else ""
    )
    text = f"Leash {event.type} - {head}"
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    if links:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": links}]})
    return {"text": text, "blocks": blocks}


class _Queue(Protocol):
    def enqueue(self, event: WebhookEvent, endpoints: Sequence[str] | None = None) -> int: ...


class WebhookNotifier:
    """The production sink: persists each event in the outbox (one delivery per endpoint).

    The outbox worker POSTs it signed, retries with backoff and dead-letters it after N tries,
    so `send` never waits on a receiver.
    """

    def __init__(self, outbox: _Queue, routes: Sequence[Route] = ()) -> None:
        self._outbox = outbox
        self._routes = tuple(routes)

    def send(self, event: WebhookEvent) -> None:
        """Enqueue for the first matching route's endpoints, else the configured ones."""
        route = route_of(self._routes, event.type, event.data)
        self._outbox.enqueue(event, None if route is None else route.endpoints)


def post_delivery(
    client: httpx.Client, *, endpoint: str, secret: str | None, msg_id: str, body: bytes
) -> str | None:
    """POST one delivery; None on a 2xx, else a short error (never containing the secret)."""
    url = endpoint
    if endpoint.startswith(SLACK_PREFIX):
        url = endpoint.removeprefix(SLACK_PREFIX)
        payload = orjson.loads(body)
        event = WebhookEvent(msg_id, str(payload.get("type", "")), 0, payload.get("data") or {})
        body = orjson.dumps(slack_message(event))
    try:
        response = client.post(url, content=body, headers=signed_headers(secret, msg_id, body))
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__} from {public_endpoint(endpoint)}"
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code} from {public_endpoint(endpoint)}"
