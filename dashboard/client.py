"""Typed calls to the Leash HTTP API (reads and admin actions); the dashboard's only data path.

No Streamlit here: every call returns a dataclass or DataFrame from dashboard.models, and every
failure becomes a LeashAPIError subclass carrying the API's own `detail`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote

import httpx
import pandas as pd

from dashboard.models import (
    Alert,
    DetectorStatus,
    EventPage,
    Health,
    KeyInfo,
    PipelineMetrics,
    PrincipalInfo,
    Stats,
    records_frame,
)

__all__ = [
    "ALERT_COLUMNS",
    "APPROVAL_COLUMNS",
    "DECISION_COLUMNS",
    "ApiMissing",
    "LeashAPIError",
    "LeashClient",
    "Unauthorized",
    "Unreachable",
]

logger = logging.getLogger(__name__)

TIMEOUT_S = 15.0  # seconds per request; the dashboard shows an error rather than hang
ALERT_COLUMNS = (
    "id",
    "severity",
    "status",
    "principal",
    "actor_kind",
    "kind",
    "rule",
    "score",
    "event_count",
    "first_event_time",
    "last_event_time",
    "created_at",
    "summary",
)
APPROVAL_COLUMNS = (
    "id",
    "status",
    "created_at",
    "expires_at",
    "principal",
    "principal_key",
    "actor_kind",
    "action",
    "action_class",
    "source",
    "resources",
    "reason",
    "requested_by",
    "decided_by",
    "decided_at",
    "note",
    "required",
    "approved_by",
)
DECISION_COLUMNS = (
    "decided_at",
    "decision",
    "action",
    "action_class",
    "principal",
    "reason",
    "rule",
    "approval_id",
    "resources",
    "source",
)
PRINCIPAL_COLUMNS = ("principal", "principal_key", "state", "actor_kind", "since", "reason")
SUPPRESSION_COLUMNS = (
    "id",
    "principal",
    "rule",
    "action",
    "resource",
    "reason",
    "expires_at",
    "created_by",
    "hits",
)
PrincipalVerb = Literal["quarantine", "revoke", "restore"]


class LeashAPIError(Exception):
    """The API refused or failed a call; `detail` is the server's own explanation."""

    def __init__(self, status_code: int, detail: str, *, path: str = "") -> None:
        super().__init__(f"{detail} (HTTP {status_code} on {path})" if path else detail)
        self.status_code = status_code
        self.detail = detail
        self.path = path


class Unauthorized(LeashAPIError):
    """401/403: the key is unknown or lacks the scope the call needs."""


class ApiMissing(LeashAPIError):
    """The server has no such route: an older Leash, or a layer not installed in this process."""


class Unreachable(LeashAPIError):
    """No HTTP answer at all (connection refused, timeout)."""


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):  # FastAPI validation errors: one line per problem
        return "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
    return str(detail)


def _params(**values: object) -> dict[str, str | int]:
    out: dict[str, str | int] = {}
    for name, value in values.items():
        if value is None or value == "":
            continue
        out[name] = value.isoformat() if isinstance(value, datetime) else value  # type: ignore[assignment]
    return out


def path_segment(value: str) -> str:
    """A principal ARN or id as one URL path segment (slashes and colons encoded)."""
    return quote(value, safe="")


class LeashClient:
    """A bearer-token session against one Leash API; use as a context manager or call close()."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_s: float = TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout_s,
            transport=transport,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "leash-dashboard"},
        )

    def __enter__(self) -> LeashClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- transport ----------------------------------------------------------------------------
    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise Unreachable(0, f"cannot reach the Leash API at {self.base_url}: {exc}") from None
        if response.is_success or (path == "/healthz" and response.status_code == 503):
            return response
        detail = _detail(response)
        code = response.status_code
        logger.debug("%s %s -> %d %s", method, path, code, detail)
        if code in (401, 403):
            raise Unauthorized(code, detail, path=path)
        if (code == 404 and detail == "Not Found") or code == 405:
            raise ApiMissing(code, f"this Leash server has no {method} {path} API", path=path)
        raise LeashAPIError(code, detail, path=path)

    def _get(self, path: str, **params: object) -> Any:
        return self._send("GET", path, params=_params(**params)).json()

    def _post(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        return self._send("POST", path, json=dict(body) if body is not None else None).json()

    # -- reads --------------------------------------------------------------------------------
    def whoami(self) -> KeyInfo:
        return KeyInfo.from_json(self._get("/v1/whoami"))

    def health(self) -> Health:
        body = self._send("GET", "/healthz").json()
        checks = {k: bool(v) for k, v in body.items() if k != "status"}
        return Health(status=str(body.get("status", "unknown")), checks=checks)

    def pipeline_metrics(self) -> PipelineMetrics:
        text = self._send("GET", "/metrics").text
        return PipelineMetrics(
            accepted=_metric(text, "leash_events_accepted_total"),
            stored=_metric(text, "leash_sink_events_total"),
            consumer_lag=_metric(text, "leash_sink_consumer_lag"),
        )

    def events(
        self,
        *,
        principal: str | None = None,
        action: str | None = None,
        action_class: str | None = None,
        actor_kind: str | None = None,
        q: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> EventPage:
        body = self._get(
            "/v1/events",
            principal=principal,
            action=action,
            action_class=action_class,
            actor_kind=actor_kind,
            q=q,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
        )
        return EventPage.from_json(body)

    def alerts(
        self,
        *,
        status: str | None = None,
        principal: str | None = None,
        since: datetime | None = None,
        limit: int = 200,
    ) -> pd.DataFrame:
        body = self._get("/v1/alerts", status=status, principal=principal, since=since, limit=limit)
        return records_frame(
            body.get("alerts", []),
            columns=ALERT_COLUMNS,
            time_columns=("first_event_time", "last_event_time", "created_at"),
        )

    def alert(self, alert_id: str) -> Alert:
        return Alert.from_json(self._get(f"/v1/alerts/{path_segment(alert_id)}"))

    def stats(self, *, window_s: int = 3600, bucket_s: int = 60, top: int = 10) -> Stats:
        """Counts over the `window_s` of event time ending at the newest stored event."""
        body = self._get("/v1/stats", window_s=window_s, bucket_s=bucket_s, top=top)
        return Stats.from_json(body)

    def detector(self) -> DetectorStatus:
        return DetectorStatus.from_json(self._get("/v1/detector"))

    def principal(self, principal: str) -> PrincipalInfo:
        return PrincipalInfo.from_json(self._get(f"/v1/principals/{path_segment(principal)}"))

    def restricted_principals(self) -> pd.DataFrame:
        """Principals that are quarantined or revoked."""
        body = self._get("/v1/principals")
        return records_frame(
            body.get("principals", []), columns=PRINCIPAL_COLUMNS, time_columns=("since",)
        )

    def decisions(self, *, principal: str | None = None, limit: int = 100) -> pd.DataFrame:
        body = self._get("/v1/decisions", principal=principal, limit=limit)
        return records_frame(
            body.get("decisions", []), columns=DECISION_COLUMNS, time_columns=("decided_at",)
        )

    def approvals(self, status: str | None = None) -> pd.DataFrame:
        body = self._get("/v1/approvals", status=status)
        return records_frame(
            body.get("approvals", []),
            columns=APPROVAL_COLUMNS,
            time_columns=("created_at", "expires_at", "decided_at"),
        )

    def suppressions(self) -> pd.DataFrame:
        body = self._get("/v1/suppressions")
        return records_frame(body.get("suppressions", []), columns=SUPPRESSION_COLUMNS)

    # -- admin actions ------------------------------------------------------------------------
    def set_alert_status(
        self, alert_id: str, verb: Literal["ack", "resolve"], *, note: str = ""
    ) -> Alert:
        return Alert.from_json(
            self._post(f"/v1/alerts/{path_segment(alert_id)}/{verb}", {"note": note})
        )

    def mark_false_positive(
        self, alert_id: str, *, note: str = "", suppress: bool = False
    ) -> Alert:
        body = self._post(
            f"/v1/alerts/{path_segment(alert_id)}/false-positive",
            {"note": note, "suppress": suppress},
        )
        return Alert.from_json(body["alert"])

    def suppress(
        self, *, principal: str, rule: str = "*", reason: str, expires_in_s: float | None = None
    ) -> str:
        """Suppress future findings of `rule` for `principal`; returns the suppression id."""
        body = self._post(
            "/v1/suppressions",
            {"principal": principal, "rule": rule, "reason": reason, "expires_in_s": expires_in_s},
        )
        return str(body["id"])

    def change_principal(
        self, principal: str, verb: PrincipalVerb, *, reason: str
    ) -> PrincipalInfo:
        body = self._post(f"/v1/principals/{path_segment(principal)}/{verb}", {"reason": reason})
        return PrincipalInfo.from_json(body)

    def decide_approval(self, approval_id: str, *, approve: bool, note: str = "") -> str:
        """Approve or deny a pending approval; returns its new status."""
        verb = "approve" if approve else "deny"
        body = self._post(f"/v1/approvals/{path_segment(approval_id)}/{verb}", {"note": note})
        return str(body.get("status", ""))


def _metric(text: str, name: str) -> float:
    """Sum of a Prometheus sample across its label sets (0 when absent)."""
    pattern = re.compile(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", re.MULTILINE)
    return sum(float(v) for v in pattern.findall(text))
