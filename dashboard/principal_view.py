"""One principal: its state and the buttons that change it, timeline, baseline, gate history."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pandas as pd
import streamlit as st

from dashboard import charts, data, summaries, ui
from dashboard.client import ApiMissing, LeashClient, PrincipalVerb
from dashboard.models import PrincipalInfo
from dashboard.session import Connection

__all__ = ["CONSEQUENCES", "VERBS_FROM", "render_activity", "render_gate", "render_state"]

TIMELINE_EVENTS = 2000  # newest events drawn on the timeline
VERBS_FROM: dict[str, tuple[PrincipalVerb, ...]] = {
    "active": ("quarantine", "revoke"),
    "quarantined": ("revoke", "restore"),
    "revoked": ("restore",),
}
CONSEQUENCES = {
    "quarantine": "Quarantine {p}? From now on the gate denies its destructive, privilege and "
    "defense-evasion actions and asks for approval before any other write; reads "
    "still pass. Restore undoes it.",
    "revoke": "Revoke {p}? Every `decide` call for it answers deny, and the configured revokers "
    "run (for example an IAM deny-all on its current sessions). Restore lifts the "
    "gate's block; revokers report their own results.",
    "restore": "Restore {p} to active? The gate applies the normal policy again (destructive "
    "actions by agents still ask first).",
}
TARGET_STATE = {"quarantine": "quarantined", "revoke": "revoked", "restore": "active"}


def _change(verb: PrincipalVerb, principal: str, reason: str) -> ui.Action:
    def call(client: LeashClient) -> object:
        return client.change_principal(principal, verb, reason=reason)

    return call


def render_state(conn: Connection, info: PrincipalInfo) -> None:
    """State, who changed it and why, and (admin keys) the allowed transitions."""
    cols = st.columns([1, 1, 2])
    cols[0].metric("State", info.state)
    cols[1].metric("Actor kind", info.actor_kind or "unknown")
    cols[2].markdown(
        f"**Stable key** `{info.principal_key}`  \n"
        "Baselines, alerts and the gate key on it; every event keeps its full ARN."
    )
    if info.state != "active":
        box = st.error if info.state == "revoked" else st.warning
        box(
            f"{info.state.capitalize()} since {ui.when(info.since)} by {info.changed_by}: "
            f"{info.reason}",
            icon=":material/block:",
        )
    if not conn.can_act:
        return
    buttons = st.columns(3)
    for col, verb in zip(buttons, VERBS_FROM.get(info.state, ()), strict=False):
        with col:
            ui.confirmed_action(
                conn,
                key=f"{verb}_{info.principal_key}",
                label=verb.capitalize(),
                consequence=CONSEQUENCES[verb].format(p=info.principal_key),
                action=partial(_change, verb, info.principal_key),
                done=f"{info.principal_key} is now {TARGET_STATE[verb]}.",
            )


def render_activity(conn: Connection, info: PrincipalInfo) -> None:
    """Timeline of actions by class, and the usual hourly activity against the latest hour."""
    page = data.events(conn, principal=info.principal_key, limit=TIMELINE_EVENTS)
    if page.total == 0:
        st.info(
            "No stored events for this principal. Check the spelling, or ship its logs "
            "with `leash ship`."
        )
        return
    left, right = st.columns([3, 2])
    with left:
        st.subheader("Timeline")
        st.altair_chart(charts.timeline_chart(page.events), width="stretch")
        channels = page.events["source"].astype(str).map(charts.channel_of)
        calls = int((channels == charts.TOOL_CALLS).sum())
        reported = (
            f" {calls:,} of them are tool calls the agent reported (lanes marked [tool]), "
            "above the cloud calls they caused."
            if calls
            else ""
        )
        st.caption(
            f"{len(page.events):,} newest of {page.total:,} events, by action class.{reported}"
        )
    with right:
        st.subheader("Baseline against now")
        baseline = summaries.class_baseline(page.events)
        st.altair_chart(charts.baseline_chart(baseline), width="stretch")
        st.caption(
            "Usual: median events per hour over its earlier active hours; now: the hour "
            "up to its newest event."
        )
    _latest_alert(conn, info)


def _latest_alert(conn: Connection, info: PrincipalInfo) -> None:
    try:
        frame = data.alerts(conn, principal=info.principal_key, limit=20)
    except ApiMissing as exc:
        ui.show_error(exc)
        return
    if frame.empty:
        st.caption("No alerts for this principal.")
        return
    st.subheader("Alerts")
    st.dataframe(
        frame[["severity", "status", "rule", "event_count", "last_event_time", "summary", "id"]],
        hide_index=True,
        width="stretch",
        column_config={"last_event_time": ui.TIME_COLUMN},
    )


def render_gate(conn: Connection, info: PrincipalInfo) -> None:
    """Recent decide answers and approvals for this principal, and its state history."""
    left, right = st.columns(2)
    with left:
        st.subheader("Recent decisions")
        _table(
            lambda: data.decisions(conn, principal=info.principal_key, limit=50),
            ["decided_at", "decision", "action", "reason"],
            "No decide calls yet.",
        )
    with right:
        st.subheader("Approvals")

        def approvals() -> pd.DataFrame:
            frame = data.approvals(conn)
            return frame[frame["principal_key"] == info.principal_key]

        _table(
            approvals,
            ["created_at", "status", "action", "resources", "decided_by"],
            "No approvals requested.",
        )
    if info.history:
        st.subheader("State history")
        st.dataframe(
            pd.DataFrame([vars(h) for h in info.history]),
            hide_index=True,
            width="stretch",
            column_config={"changed_at": ui.TIME_COLUMN},
        )


def _table(read: Callable[[], pd.DataFrame], columns: list[str], empty: str) -> None:
    try:
        frame = read()
    except ApiMissing as exc:
        ui.show_error(exc)
        return
    if frame.empty:
        st.caption(empty)
    else:
        st.dataframe(
            frame[columns],
            hide_index=True,
            width="stretch",
            column_config={c: ui.TIME_COLUMN for c in columns if c.endswith("_at")},
        )
