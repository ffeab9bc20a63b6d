"""Typed views of Leash API answers (frozen dataclasses, DataFrames); no HTTP, no Streamlit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

__all__ = [
    "ACTION_CLASSES",
    "SEVERITIES",
    "Alert",
    "DetectorStatus",
    "EventPage",
    "Health",
    "KeyInfo",
    "PipelineMetrics",
    "PrincipalChange",
    "PrincipalInfo",
    "parse_time",
    "records_frame",
]

ACTION_CLASSES = ("read", "write", "destructive", "privilege", "defense_evasion")
SEVERITIES = ("low", "medium", "high", "critical")
EVENT_COLUMNS = (
    "event_time",
    "principal",
    "principal_key",
    "actor_kind",
    "action",
    "action_class",
    "source",
    "region",
    "account",
    "resources",
    "error_code",
    "source_ip",
    "user_agent",
    "origin",
    "event_id",
    "raw",
)


def parse_time(value: object) -> datetime | None:
    """An ISO-8601 timestamp from the API as an aware datetime; None for null or empty."""
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def records_frame(
    items: Sequence[Mapping[str, Any]],
    *,
    columns: Sequence[str],
    time_columns: Sequence[str] = (),
) -> pd.DataFrame:
    """A DataFrame with exactly `columns` (missing keys become None), timestamps as UTC."""
    frame = pd.DataFrame([{c: item.get(c) for c in columns} for item in items], columns=columns)
    for name in time_columns:
        frame[name] = pd.to_datetime(frame[name], utc=True, format="ISO8601")
    return frame


@dataclass(frozen=True)
class KeyInfo:
    """The dashboard's API key as the server sees it (`GET /v1/whoami`)."""

    key_id: str
    scopes: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return "admin" in self.scopes

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> KeyInfo:
        return cls(key_id=str(body.get("key_id", "")), scopes=frozenset(body.get("scopes", [])))


@dataclass(frozen=True)
class EventPage:
    """One page of `GET /v1/events`: the total that match, and the rows (newest first)."""

    total: int
    events: pd.DataFrame

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> EventPage:
        frame = records_frame(
            body.get("events", []), columns=EVENT_COLUMNS, time_columns=("event_time",)
        )
        return cls(total=int(body.get("total", 0)), events=frame)


@dataclass(frozen=True)
class Stats:
    """`GET /v1/stats`: counts the store computed over a window of event time."""

    total_events: int
    newest_event_time: datetime | None
    events: int
    destructive: int
    bucket_s: int
    per_bucket: pd.DataFrame  # time, action_class, events
    top_destructive: pd.DataFrame  # principal_key, actor_kind, destructive
    alerts_by_severity: Mapping[str, int]

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Stats:
        newest = body.get("newest_event_time")
        return cls(
            total_events=int(body.get("total_events", 0)),
            newest_event_time=pd.Timestamp(newest).to_pydatetime() if newest else None,
            events=int(body.get("events", 0)),
            destructive=int(body.get("destructive", 0)),
            bucket_s=int(body.get("bucket_s", 60)),
            per_bucket=records_frame(
                body.get("per_bucket", []),
                columns=("time", "action_class", "events"),
                time_columns=("time",),
            ),
            top_destructive=records_frame(
                body.get("top_destructive", []),
                columns=("principal_key", "actor_kind", "destructive"),
            ),
            alerts_by_severity=dict(body.get("alerts_by_severity", {})),
        )


@dataclass(frozen=True)
class Alert:
    """One alert (one principal, one incident) with the reason it fired."""

    id: str
    created_at: datetime | None
    principal: str
    actor_kind: str
    kind: str
    rule: str
    rules: tuple[str, ...]
    severity: str
    score: float
    status: str
    first_event_time: datetime | None
    last_event_time: datetime | None
    event_count: int
    event_ids: tuple[str, ...]
    summary: str
    explanation: Mapping[str, Any] = field(default_factory=dict)
    status_by: str = ""
    status_note: str = ""
    tool_calls: Mapping[str, Any] | None = None  # the tool calls behind it, when reported

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Alert:
        return cls(
            id=str(body["id"]),
            created_at=parse_time(body.get("created_at")),
            principal=str(body.get("principal", "")),
            actor_kind=str(body.get("actor_kind", "")),
            kind=str(body.get("kind", "")),
            rule=str(body.get("rule", "")),
            rules=tuple(body.get("rules") or ()),
            severity=str(body.get("severity", "")),
            score=float(body.get("score") or 0.0),
            status=str(body.get("status", "")),
            first_event_time=parse_time(body.get("first_event_time")),
            last_event_time=parse_time(body.get("last_event_time")),
            event_count=int(body.get("event_count") or 0),
            event_ids=tuple(body.get("event_ids") or ()),
            summary=str(body.get("summary", "")),
            explanation=dict(body.get("explanation") or {}),
            status_by=str(body.get("status_by") or ""),
            status_note=str(body.get("status_note") or ""),
            tool_calls=story if isinstance(story := body.get("tool_calls"), Mapping) else None,
        )

    def tool_call_story(self) -> pd.DataFrame:
        """One row per reported tool call behind the alert: tool, when, how joined, events."""
        rows = [
            {
                "tool call": str(item["tool_call"].get("action", "")),
                "at": pd.to_datetime(item["tool_call"].get("event_time_ms"), unit="ms", utc=True),
                "class": str(item["tool_call"].get("action_class", "")),
                "joined by": str(item.get("how", "")),
                "cloud events": len(item.get("events") or ()),
                "call event id": str(item["tool_call"].get("event_id", "")),
            }
            for item in (self.tool_calls or {}).get("tool_calls", ())
            if isinstance(item, Mapping) and isinstance(item.get("tool_call"), Mapping)
        ]
        columns = ["tool call", "at", "class", "joined by", "cloud events", "call event id"]
        return pd.DataFrame(rows, columns=columns)

    def drivers(self) -> pd.DataFrame:
        """Each driving feature: the principal's usual value against now (and threshold)."""
        rows: dict[str, dict[str, Any]] = {}
        found = [self.explanation.get("features") or {}]
        found += [v for v in (self.explanation.get("rules") or {}).values() if isinstance(v, dict)]
        for group in found:
            for name, item in group.items():
                if isinstance(item, Mapping) and "value" in item:
                    rows[str(name)] = {
                        "feature": str(name),
                        "now": _number(item.get("value")),
                        "usual": _number(item.get("baseline")),
                        "threshold": _number(item.get("threshold")),
                        "contribution": _number(item.get("contribution")),
                    }
        columns = ["feature", "now", "usual", "threshold", "contribution"]
        return pd.DataFrame(list(rows.values()), columns=columns)

    def detectors(self) -> pd.DataFrame:
        """The rules and detectors that contributed findings to this alert."""
        items = (self.explanation.get("detectors") or {}).items()
        rows = [
            {
                "detector": name,
                "kind": d.get("kind", ""),
                "findings": d.get("findings", 0),
                "score": d.get("score", 0.0),
                "summary": d.get("summary", ""),
            }
            for name, d in items
            if isinstance(d, Mapping)
        ]
        return pd.DataFrame(rows, columns=["detector", "kind", "findings", "score", "summary"])


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


@dataclass(frozen=True)
class PrincipalChange:
    """One state change in a principal's history (who, when, why)."""

    changed_at: datetime | None
    from_state: str
    to_state: str
    reason: str
    actor: str
    origin: str
    alert_id: str


@dataclass(frozen=True)
class PrincipalInfo:
    """A principal's state as the gate enforces it, with its change history (newest first)."""

    principal: str
    principal_key: str
    state: str
    actor_kind: str
    since: datetime | None = None
    reason: str = ""
    changed_by: str = ""
    history: tuple[PrincipalChange, ...] = ()

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> PrincipalInfo:
        history = tuple(
            PrincipalChange(
                changed_at=parse_time(h.get("changed_at")),
                from_state=str(h.get("from_state")),
                to_state=str(h.get("to_state")),
                reason=str(h.get("reason", "")),
                actor=str(h.get("actor", "")),
                origin=str(h.get("origin", "")),
                alert_id=str(h.get("alert_id") or ""),
            )
            for h in body.get("history") or ()
        )
        return cls(
            principal=str(body.get("principal", "")),
            principal_key=str(body.get("principal_key") or body.get("principal", "")),
            state=str(body.get("state", "active")),
            actor_kind=str(body.get("actor_kind", "")),
            since=parse_time(body.get("since")),
            reason=str(body.get("reason") or ""),
            changed_by=str(body.get("changed_by") or ""),
            history=history,
        )


@dataclass(frozen=True)
class DetectorStatus:
    """The detector's model version and age, event-time progress and lag (`GET /v1/detector`)."""

    model_version: str | None
    model_trained_at: datetime | None
    last_event_time: datetime | None
    lag: int
    stale: bool
    alive: bool
    training_error: str | None = None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> DetectorStatus:
        return cls(
            model_version=body.get("model_version"),
            model_trained_at=parse_time(body.get("model_trained_at")),
            last_event_time=parse_time(body.get("last_event_time")),
            lag=int(body.get("lag") or 0),
            stale=bool(body.get("stale")),
            alive=bool(body.get("alive")),
            training_error=body.get("training_error"),
        )


@dataclass(frozen=True)
class Health:
    """`GET /healthz`: overall status and each component's check."""

    status: str
    checks: Mapping[str, bool]


@dataclass(frozen=True)
class PipelineMetrics:
    """Counters from `GET /metrics`: events acknowledged, written to the store, sink lag."""

    accepted: float
    stored: float
    consumer_lag: float

    @property
    def in_flight(self) -> float:
        """Acknowledged but not yet in the store (the ingest lag, in events)."""
        return max(0.0, self.accepted - self.stored)

    @property
    def sink_in_process(self) -> bool:
        """False when this API process writes nothing itself (compose: a separate `leash sink`),
        so its counters cannot tell how far the store is behind."""
        return self.stored > 0 or self.consumer_lag > 0 or self.accepted == 0
