"""Alerts page: a filterable table of alerts and the selected alert in detail."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import data, summaries, ui
from dashboard.alert_view import render_alert
from dashboard.models import SEVERITIES
from dashboard.session import Connection

STATUSES = ("open", "acknowledged", "resolved", "all")
TABLE_COLUMNS = [
    "severity",
    "status",
    "principal",
    "actor_kind",
    "rule",
    "score",
    "event_count",
    "last_event_time",
    "summary",
    "id",
]


def filters() -> tuple[str | None, list[str], str]:
    cols = st.columns([1, 2, 2])
    status = cols[0].selectbox("Status", STATUSES, key="alerts_status")
    severities = cols[1].multiselect(
        "Severity", SEVERITIES, key="alerts_severity", placeholder="any severity"
    )
    principal = cols[2].text_input("Principal contains", key="alerts_principal")
    return (None if status == "all" else status), severities, principal.strip()


def matching(frame: pd.DataFrame, severities: list[str], principal: str) -> pd.DataFrame:
    if severities:
        frame = frame[frame["severity"].isin(severities)]
    if principal:
        frame = frame[frame["principal"].str.contains(principal, case=False, regex=False)]
    return frame.reset_index(drop=True)


def label(row: pd.Series) -> str:
    return f"{row['severity'].upper()} · {row['principal']} · {row['summary']}"[:160]


def chosen_alert(frame: pd.DataFrame) -> str:
    """The alert to show: ?alert=<id> when listed, else the picker (newest first)."""
    ids = list(frame["id"])
    wanted = st.query_params.get("alert")
    index = ids.index(wanted) if wanted in ids else 0
    labels = {row["id"]: label(row) for _, row in frame.iterrows()}
    picked = st.selectbox(
        "Alert", ids, index=index, format_func=labels.__getitem__, key="alerts_pick"
    )
    st.query_params["alert"] = picked
    return str(picked)


def body(conn: Connection) -> None:
    status, severities, principal = filters()
    frame = data.alerts(conn, status=status, limit=1000)
    if frame.empty:
        what = f"{status} alerts" if status else "alerts"
        st.info(
            f"No {what}. Alerts appear here when the detector flags events; ship events "
            "with `leash ship` and they are checked as they arrive."
        )
        return
    shown = summaries.by_severity(matching(frame, severities, principal))
    st.caption(f"{len(shown)} of {len(frame)} {status or ''} alert(s)")
    st.dataframe(
        shown[TABLE_COLUMNS],
        hide_index=True,
        width="stretch",
        height=240,
        column_config={
            "score": st.column_config.NumberColumn(format="%.2f"),
            "last_event_time": ui.TIME_COLUMN,
        },
    )
    if shown.empty:
        st.write("No alert matches these filters.")
        return
    st.divider()
    render_alert(conn, data.alert(conn, chosen_alert(shown)))


st.title("Alerts")
ui.live_page(body)
