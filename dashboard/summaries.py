"""Pure pandas summaries of API answers for the dashboard's charts and tables (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from dashboard.models import ACTION_CLASSES, SEVERITIES

__all__ = [
    "WINDOWS",
    "Window",
    "blast_radius",
    "by_severity",
    "class_baseline",
    "rates_from_buckets",
    "severity_counts",
    "short_name",
    "top_from_stats",
]

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Window:
    """A span of event time ending at the newest stored event, charted in buckets."""

    label: str
    span: timedelta
    bucket: timedelta

    def bounds(self, newest: datetime) -> tuple[datetime, datetime]:
        """[since, until) so the newest event itself is inside the window."""
        until = newest + timedelta(milliseconds=1)
        return until - self.span, until


WINDOWS = (
    Window("last hour", HOUR, timedelta(minutes=1)),
    Window("last 6 hours", 6 * HOUR, timedelta(minutes=5)),
    Window("last 24 hours", 24 * HOUR, timedelta(minutes=15)),
    Window("last 7 days", 7 * 24 * HOUR, HOUR),
)


def rates_from_buckets(buckets: pd.DataFrame, *, bucket: timedelta) -> pd.DataFrame:
    """GET /v1/stats' per-bucket counts as the rate chart's columns (time, action_class,
    per_minute)."""
    columns = ["time", "action_class", "per_minute"]
    if buckets.empty:
        return pd.DataFrame(columns=columns)
    rates = buckets.assign(per_minute=buckets["events"] / (bucket.total_seconds() / 60))
    return rates.sort_values(["time", "action_class"])[columns].reset_index(drop=True)


def top_from_stats(top: pd.DataFrame) -> pd.DataFrame:
    """GET /v1/stats' top destructive principals with their readable names."""
    columns = ["principal", "name", "actor_kind", "destructive"]
    if top.empty:
        return pd.DataFrame(columns=columns)
    frame = top.rename(columns={"principal_key": "principal"})
    frame["name"] = frame["principal"].map(short_name)
    return frame[columns].reset_index(drop=True)


def short_name(principal: str) -> str:
    """The readable tail of an ARN (`assumed-role/deploy-agent`); other ids unchanged."""
    return principal.rsplit(":", 1)[-1] if principal.startswith("arn:") else principal


def by_severity(alerts: pd.DataFrame) -> pd.DataFrame:
    """Alerts most severe first, then by newest last event."""
    rank = alerts["severity"].map({s: i for i, s in enumerate(SEVERITIES)}).fillna(-1)
    ordered = alerts.assign(_rank=rank).sort_values(
        ["_rank", "last_event_time"], ascending=[False, False]
    )
    return ordered.drop(columns="_rank").reset_index(drop=True)


def severity_counts(alerts: pd.DataFrame) -> pd.DataFrame:
    """Open alerts per severity, every severity present (zero where none), low to critical."""
    counts = alerts["severity"].value_counts() if not alerts.empty else pd.Series(dtype=int)
    return pd.DataFrame(
        {"severity": list(SEVERITIES), "alerts": [int(counts.get(s, 0)) for s in SEVERITIES]}
    )


def class_baseline(events: pd.DataFrame, *, recent: timedelta = HOUR) -> pd.DataFrame:
    """Per action class: the usual count per `recent` span (median over the principal's active
    spans before the latest one) against the count in the latest span ending at its newest event.
    """
    columns = ["action_class", "usual", "now"]
    if events.empty:
        return pd.DataFrame(columns=columns)
    newest = events["event_time"].max()
    start = newest - pd.Timedelta(recent)
    is_now = events["event_time"] > start
    now = events[is_now]["action_class"].value_counts()
    before = events[~is_now]
    spans = before.assign(span=((start - before["event_time"]) // pd.Timedelta(recent)))
    per_span = spans.groupby(["span", "action_class"]).size().unstack(fill_value=0)
    rows = []
    for name in ACTION_CLASSES:
        usual = float(per_span[name].median()) if name in per_span else 0.0
        rows.append({"action_class": name, "usual": usual, "now": int(now.get(name, 0))})
    return pd.DataFrame(rows, columns=columns)


def blast_radius(events: pd.DataFrame) -> pd.DataFrame:
    """Resources a principal touched: resource, events, destructive, actions, last_seen."""
    columns = ["resource", "events", "destructive", "actions", "last_seen"]
    if events.empty:
        return pd.DataFrame(columns=columns)
    touched = events[["resources", "action", "action_class", "event_time"]].explode("resources")
    touched = touched.dropna(subset=["resources"])
    if touched.empty:
        return pd.DataFrame(columns=columns)
    grouped = touched.groupby("resources").agg(
        events=("action", "size"),
        destructive=("action_class", lambda s: int((s == "destructive").sum())),
        actions=("action", lambda s: ", ".join(sorted(set(s)))),
        last_seen=("event_time", "max"),
    )
    ranked = grouped.sort_values(["destructive", "events"], ascending=False).reset_index()
    return ranked.rename(columns={"resources": "resource"})[columns]
