"""Overview page: activity by action class, top destructive principals, open alerts, health."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from dashboard import charts, data, session, summaries, ui
from dashboard.client import ApiMissing
from dashboard.session import Connection

TOP_ALERTS = 5  # most severe open alerts listed on the overview
SHIP_HINT = (
    "No events yet. Ship CloudTrail logs with `leash ship path/to/cloudtrail/` "
    "(set `LEASH_API_KEY` to a key with the `ingest` scope), or point a collector at "
    "`POST /v1/events`."
)


def activity(conn: Connection, window: summaries.Window) -> None:
    stats = data.stats(
        conn,
        window_s=int(window.span.total_seconds()),
        bucket_s=int(window.bucket.total_seconds()),
    )
    if stats.total_events == 0 or stats.newest_event_time is None:
        st.info(SHIP_HINT)
        return
    newest = stats.newest_event_time
    cols = st.columns(4)
    cols[0].metric("Events stored", f"{stats.total_events:,}")
    cols[1].metric(f"Events, {window.label}", f"{stats.events:,}")
    cols[2].metric(f"Destructive, {window.label}", f"{stats.destructive:,}")
    cols[3].metric(
        "Newest event (UTC)",
        newest.strftime("%H:%M:%S"),
        help=f"{ui.when(newest)}, event time; the window ends here",
    )
    st.caption(
        f"Event time of the newest stored event: {ui.when(newest)}. Windows end there, so "
        "replayed history charts the same as live traffic."
    )
    left, right = st.columns([3, 2])
    with left:
        st.subheader("Events per minute by action class")
        rates = summaries.rates_from_buckets(stats.per_bucket, bucket=window.bucket)
        st.altair_chart(charts.rate_chart(rates), width="stretch")
    with right:
        top_principals(summaries.top_from_stats(stats.top_destructive), window)


def top_principals(top: pd.DataFrame, window: summaries.Window) -> None:
    st.subheader("Top principals by destructive actions")
    if top.empty:
        st.write(f"No destructive actions in the {window.label} of event time.")
        return
    bar = st.column_config.ProgressColumn(
        "destructive",
        format="%d",
        min_value=0,
        max_value=int(top["destructive"].max()),
        width="small",
    )
    name = st.column_config.TextColumn(
        "principal", width="medium", help="the readable tail of the stable key"
    )
    st.dataframe(
        top[["name", "destructive"]],
        hide_index=True,
        width="stretch",
        column_config={"destructive": bar, "name": name},
    )


def open_alerts(conn: Connection) -> None:
    st.subheader("Open alerts")
    try:
        frame = data.alerts(conn, status="open", limit=1000)
    except ApiMissing as exc:
        ui.show_error(exc)
        return
    counts = summaries.severity_counts(frame)
    cols = st.columns(len(counts))
    for col, row in zip(cols, counts.itertuples(), strict=True):
        col.metric(str(row.severity).capitalize(), int(row.alerts))
    if frame.empty:
        st.write("No open alerts.")
        return
    worst = summaries.by_severity(frame).head(TOP_ALERTS)
    worst = worst.assign(principal=worst["principal"].map(summaries.short_name))
    st.dataframe(
        worst[["severity", "principal", "summary"]],
        hide_index=True,
        width="stretch",
        column_config={
            "severity": st.column_config.TextColumn(width="small"),
            "summary": st.column_config.TextColumn(width="large"),
        },
    )
    st.page_link(
        "views/alerts.py",
        label=f"Review {len(frame)} open alert(s)",
        icon=":material/arrow_forward:",
    )
    restricted(conn)


def restricted(conn: Connection) -> None:
    frame = data.restricted_principals(conn)
    if frame.empty:
        st.caption("No principal is quarantined or revoked.")
        return
    names = ", ".join(
        f"{summaries.short_name(p)} ({s})"
        for p, s in zip(frame["principal_key"], frame["state"], strict=True)
    )
    st.caption(f"Contained: {names}")


def pipeline(conn: Connection) -> None:
    st.subheader("Pipeline health")
    health = data.health(conn)
    metrics = data.pipeline_metrics(conn)
    cols = st.columns(3)
    checks = ", ".join(f"{k}: {'ok' if v else 'DOWN'}" for k, v in health.checks.items())
    cols[0].metric("API", health.status, help=checks)
    if metrics.sink_in_process:
        cols[1].metric(
            "Ingest lag (events)",
            f"{metrics.in_flight:,.0f}",
            help="acknowledged by the API, not yet written to the store",
        )
        cols[2].metric(
            "Sink lag (msgs)",
            f"{metrics.consumer_lag:,.0f}",
            help="bus messages the store writer has not committed",
        )
    else:
        cols[1].metric(
            "Ingest lag (events)",
            "—",
            help="this API process runs no sink: see the `leash sink` /metrics",
        )
    try:
        status = data.detector(conn)
    except ApiMissing as exc:
        ui.show_error(exc)
        return
    cols = st.columns(3)
    cols[0].metric(
        "Detector model",
        status.model_version or "none yet",
        help="rules and per-principal baselines run without a model",
    )
    cols[1].metric("Model age", ui.elapsed(status.model_trained_at))
    cols[2].metric(
        "Detector lag (msgs)", f"{status.lag:,}", help="bus messages the detector has not processed"
    )
    running = "running" if status.alive else "NOT running"
    state = "stale: decide asks for approval on destructive actions" if status.stale else "current"
    st.caption(
        f"Detector {running}, {state}; checked up to event time {ui.when(status.last_event_time)}."
    )
    if status.training_error:
        st.warning(f"Last training failed: {status.training_error}")


def render() -> None:
    conn = session.current()
    ui.show_flash()
    labels = [w.label for w in summaries.WINDOWS]
    choice = (
        st.segmented_control(
            "Window (event time)", labels, default=labels[1], key="overview_window"
        )
        or labels[1]
    )
    window = summaries.WINDOWS[labels.index(choice)]

    def body() -> None:
        with ui.handled():
            activity(conn, window)
        left, right = st.columns(2)
        with left, ui.handled():
            open_alerts(conn)
        with right, ui.handled():
            pipeline(conn)
        st.caption(f"Updated {datetime.now(UTC).strftime('%H:%M:%S')} UTC")

    ui.live(body)


st.title("Overview")
render()
