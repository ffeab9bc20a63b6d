"""One alert in detail: what happened, why Leash flagged it, its events, and the admin actions."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from dashboard import charts, data, ui
from dashboard.client import LeashClient
from dashboard.models import Alert
from dashboard.session import Connection

__all__ = ["alert_events", "render_alert"]

SUPPRESS_FOR_S = 7 * 24 * 3600  # seconds a suppression made here lasts
EVENT_TABLE_COLUMNS = [
    "event_time",
    "action",
    "action_class",
    "principal",
    "resources",
    "error_code",
    "source_ip",
    "event_id",
]


def alert_events(conn: Connection, alert: Alert) -> pd.DataFrame:
    """The stored events this alert names (newest first)."""
    if alert.first_event_time is None or alert.last_event_time is None:
        return pd.DataFrame(columns=EVENT_TABLE_COLUMNS)
    page = data.events(
        conn,
        principal=alert.principal,
        since=alert.first_event_time,
        until=alert.last_event_time + timedelta(milliseconds=1),
        limit=data.MAX_ROWS,
    )
    ids = set(alert.event_ids)
    return page.events[page.events["event_id"].isin(ids)].reset_index(drop=True)


def _header(alert: Alert) -> None:
    st.subheader(alert.summary or alert.rule)
    cols = st.columns(4)
    cols[0].metric("Severity", alert.severity)
    cols[1].metric("Status", alert.status)
    cols[2].metric("Events", f"{alert.event_count:,}")
    cols[3].metric("Score", f"{alert.score:.2f}")
    st.markdown(
        f"**Principal** `{alert.principal}` ({alert.actor_kind}) · **rule** "
        f"`{alert.rule}` · event time {ui.when(alert.first_event_time)} → "
        f"{ui.when(alert.last_event_time)}"
    )
    if alert.status_by:
        st.caption(
            f"{alert.status} by {alert.status_by}"
            + (f": {alert.status_note}" if alert.status_note else "")
        )
    if st.button("Open principal", key=f"principal_{alert.id}", icon=":material/person:"):
        st.switch_page("views/principal.py", query_params={"principal": alert.principal})


def _explanation(alert: Alert) -> None:
    st.markdown("#### Why Leash flagged it")
    drivers = alert.drivers()
    if drivers.empty:
        st.write("No per-feature explanation was recorded for this alert.")
    else:
        st.altair_chart(charts.drivers_chart(drivers), width="stretch")
        st.dataframe(drivers.dropna(axis="columns", how="all"), hide_index=True, width="stretch")
    detectors = alert.detectors()
    if not detectors.empty:
        st.dataframe(detectors, hide_index=True, width="stretch")


def _status_actions(conn: Connection, alert: Alert) -> None:
    cols = st.columns([1, 1, 1])
    if alert.status == "open" and cols[0].button("Acknowledge", key=f"ack_{alert.id}"):
        ui.act(
            conn,
            lambda c: c.set_alert_status(alert.id, "ack"),
            done=f"Alert {alert.id} acknowledged.",
        )
    if alert.status != "resolved" and cols[1].button("Resolve", key=f"resolve_{alert.id}"):
        ui.act(
            conn,
            lambda c: c.set_alert_status(alert.id, "resolve"),
            done=f"Alert {alert.id} resolved.",
        )


def _false_positive(reason: str, alert: Alert) -> ui.Action:
    def call(client: LeashClient) -> object:
        return client.mark_false_positive(alert.id, note=reason)

    return call


def _rules(alert: Alert) -> tuple[str, ...]:
    return tuple(dict.fromkeys((alert.rule, *alert.rules)))


def _suppression(reason: str, alert: Alert) -> ui.Action:
    def call(client: LeashClient) -> object:
        return [
            client.suppress(
                principal=alert.principal, rule=rule, reason=reason, expires_in_s=SUPPRESS_FOR_S
            )
            for rule in _rules(alert)
        ]

    return call


def _actions(conn: Connection, alert: Alert) -> None:
    st.markdown("#### Respond")
    _status_actions(conn, alert)
    if alert.status != "resolved":
        ui.confirmed_action(
            conn,
            key=f"fp_{alert.id}",
            label="Mark false positive",
            consequence=f"Resolve this alert on {alert.principal} as a false positive; its "
            "events are recorded as benign for the next training.",
            action=lambda reason: _false_positive(reason, alert),
            done=f"Alert {alert.id} marked false positive.",
        )
    ui.confirmed_action(
        conn,
        key=f"suppress_{alert.id}",
        label="Suppress",
        consequence=f"For {SUPPRESS_FOR_S // 86400} days, findings of "
        f"{', '.join(_rules(alert))} for {alert.principal} raise no alert and no "
        "webhook.",
        action=lambda reason: _suppression(reason, alert),
        done=f"{len(_rules(alert))} rule(s) suppressed for {alert.principal}.",
    )


def _events(conn: Connection, alert: Alert) -> None:
    st.markdown("#### Events")
    events = alert_events(conn, alert)
    if events.empty:
        st.write("The alert's events are not in the store (yet).")
        return
    if len(events) < alert.event_count:
        st.caption(
            f"{len(events):,} of {alert.event_count:,} events (an alert keeps the first ids only)."
        )
    st.dataframe(
        events[EVENT_TABLE_COLUMNS],
        hide_index=True,
        width="stretch",
        column_config={"event_time": ui.TIME_COLUMN},
    )
    trigger = alert.explanation.get("trigger_event_id")
    chosen = events[events["event_id"] == trigger] if trigger else events.head(0)
    with st.expander(
        "Raw JSON of the triggering event" if not chosen.empty else "Raw JSON of the newest event"
    ):
        st.json((chosen if not chosen.empty else events).iloc[0]["raw"])


def _tool_calls(alert: Alert) -> None:
    """The agent's own tool calls behind the alert: "tool call X at T -> these N events"."""
    if alert.tool_calls is None:
        return
    st.markdown("#### Tool calls behind it")
    story = alert.tool_call_story()
    alone = len(alert.tool_calls.get("without_tool_call") or ())
    if story.empty:
        st.warning(
            f"The agent reported tool calls around this alert, but none explains its "
            f"{alone:,} event(s): its credentials acted outside its tool channel.",
            icon=":material/warning:",
        )
        return
    for row in story.to_dict("records"):
        st.markdown(
            f"Tool call `{row['tool call']}` at {ui.when(row['at'])} → "
            f"**{row['cloud events']:,} cloud event(s)** (joined by {row['joined by']})"
        )
    st.dataframe(story, hide_index=True, width="stretch", column_config={"at": ui.TIME_COLUMN})
    if alone:
        st.caption(f"{alone:,} of the alert's events have no reported tool call behind them.")


def render_alert(conn: Connection, alert: Alert) -> None:
    _header(alert)
    left, right = st.columns([3, 2])
    with left:
        _explanation(alert)
    with right:
        if conn.can_act:
            _actions(conn, alert)
        else:
            st.caption("Sign in with an admin key to acknowledge, resolve or suppress.")
    _tool_calls(alert)
    _events(conn, alert)
