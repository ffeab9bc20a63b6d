"""Cached reads through the Leash API (st.cache_data, short TTL) for the dashboard pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import pandas as pd
import streamlit as st

from dashboard.client import LeashClient
from dashboard.models import (
    Alert,
    DetectorStatus,
    EventPage,
    Health,
    PipelineMetrics,
    PrincipalInfo,
    Stats,
)
from dashboard.session import Connection

__all__ = [
    "alert",
    "alerts",
    "approvals",
    "clear",
    "decisions",
    "detector",
    "events",
    "health",
    "pipeline_metrics",
    "principal",
    "restricted_principals",
    "stats",
]

READ_TTL_S = 10  # seconds a read is reused; below the auto-refresh interval so refreshes show news
MAX_ROWS = 5000  # events per request (the API's own limit)


@st.cache_data(ttl=READ_TTL_S, show_spinner=False, max_entries=256)
def _read(url: str, api_key: str, method: str, kwargs: tuple[tuple[str, Any], ...]) -> Any:
    with LeashClient(url, api_key) as client:
        return getattr(client, method)(**dict(kwargs))


def _call(conn: Connection, method: str, **kwargs: Any) -> Any:
    return _read(conn.url, conn.api_key, method, tuple(sorted(kwargs.items())))


def clear() -> None:
    """Forget every cached read (after an action, so its effect shows at once)."""
    _read.clear()


def events(
    conn: Connection,
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
    return cast(
        EventPage,
        _call(
            conn,
            "events",
            principal=principal,
            action=action,
            action_class=action_class,
            actor_kind=actor_kind,
            q=q,
            since=since,
            until=until,
            limit=min(limit, MAX_ROWS),
            offset=offset,
        ),
    )


def stats(conn: Connection, *, window_s: int, bucket_s: int, top: int = 10) -> Stats:
    return cast(Stats, _call(conn, "stats", window_s=window_s, bucket_s=bucket_s, top=top))


def alerts(
    conn: Connection, *, status: str | None = None, principal: str | None = None, limit: int = 200
) -> pd.DataFrame:
    return cast(
        pd.DataFrame, _call(conn, "alerts", status=status, principal=principal, limit=limit)
    )


def alert(conn: Connection, alert_id: str) -> Alert:
    return cast(Alert, _call(conn, "alert", alert_id=alert_id))


def detector(conn: Connection) -> DetectorStatus:
    return cast(DetectorStatus, _call(conn, "detector"))


def health(conn: Connection) -> Health:
    return cast(Health, _call(conn, "health"))


def pipeline_metrics(conn: Connection) -> PipelineMetrics:
    return cast(PipelineMetrics, _call(conn, "pipeline_metrics"))


def principal(conn: Connection, name: str) -> PrincipalInfo:
    return cast(PrincipalInfo, _call(conn, "principal", principal=name))


def restricted_principals(conn: Connection) -> pd.DataFrame:
    return cast(pd.DataFrame, _call(conn, "restricted_principals"))


def decisions(conn: Connection, *, principal: str | None = None, limit: int = 100) -> pd.DataFrame:
    return cast(pd.DataFrame, _call(conn, "decisions", principal=principal, limit=limit))


def approvals(conn: Connection, *, status: str | None = None) -> pd.DataFrame:
    return cast(pd.DataFrame, _call(conn, "approvals", status=status))
