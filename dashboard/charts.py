"""Altair charts built from dashboard.summaries frames; pure (no Streamlit, no I/O)."""

from __future__ import annotations

from typing import Literal

import altair as alt
import pandas as pd

from dashboard.models import ACTION_CLASSES

__all__ = [
    "CLASS_COLORS",
    "baseline_chart",
    "drivers_chart",
    "rate_chart",
    "channel_of",
    "timeline_chart",
]

CLASS_COLORS = ("#94a3b8", "#3b82f6", "#dc2626", "#f59e0b", "#7c3aed")  # same order as classes
CHART_HEIGHT_PX = 260  # fits two charts above the fold on a 1366x768 laptop screen
BAR_STEP_PX = 18  # height of one bar (or one row of ticks) on charts with a discrete y axis
TOOL_CALLS, CLOUD, KUBERNETES = "tool call", "cloud", "kubernetes"
CHANNELS = (TOOL_CALLS, CLOUD, KUBERNETES)  # timeline lanes, top to bottom
LANE_PREFIX = {TOOL_CALLS: "[tool] ", CLOUD: "", KUBERNETES: "[k8s] "}


def _class_color(*, orient: Literal["right", "top"] = "right") -> alt.Color:
    scale = alt.Scale(domain=list(ACTION_CLASSES), range=list(CLASS_COLORS))
    return alt.Color(
        "action_class:N", scale=scale, title="action class", legend=alt.Legend(orient=orient)
    )


def rate_chart(rates: pd.DataFrame) -> alt.Chart:
    """Stacked events per minute by action class over event time."""
    chart: alt.Chart = (
        alt.Chart(rates, height=CHART_HEIGHT_PX)
        .mark_bar()
        .encode(
            x=alt.X("time:T", title="event time (UTC)"),
            y=alt.Y("per_minute:Q", title="events / minute", stack="zero"),
            color=_class_color(),
            tooltip=[
                alt.Tooltip("time:T", format="%Y-%m-%d %H:%M"),
                "action_class:N",
                alt.Tooltip("per_minute:Q", format=".2f"),
            ],
        )
    )
    return chart


def drivers_chart(drivers: pd.DataFrame) -> alt.LayerChart:
    """For each driving feature, the principal's usual value next to the value now (labelled)."""
    long = drivers.melt(
        id_vars=["feature"], value_vars=["usual", "now"], var_name="when", value_name="value"
    ).dropna(subset=["value"])
    scale = alt.Scale(domain=["usual", "now"], range=["#94a3b8", "#dc2626"])
    base = alt.Chart(long).encode(
        x=alt.X("value:Q", title="value"),
        y=alt.Y("feature:N", title=None, axis=alt.Axis(labelLimit=260)),
        yOffset=alt.YOffset("when:N", sort=["usual", "now"]),
        color=alt.Color("when:N", scale=scale, title=None),
        tooltip=["feature:N", "when:N", alt.Tooltip("value:Q", format=".3g")],
    )
    text = base.mark_text(align="left", dx=4, color="#334155").encode(
        text=alt.Text("value:Q", format="~g")
    )
    chart: alt.LayerChart = (base.mark_bar() + text).properties(height=alt.Step(BAR_STEP_PX))
    return chart


def channel_of(source: str) -> str:
    """Which of a principal's channels an event came through (its timeline lane)."""
    if source == "tool" or source.startswith("tool:"):
        return TOOL_CALLS
    return KUBERNETES if source.startswith("k8s:") else CLOUD


def timeline_chart(events: pd.DataFrame) -> alt.Chart:
    """One tick per event: time against action, coloured by action class; the agent's own tool
    calls on lanes above its cloud (and Kubernetes) calls, so a call and what it caused line up."""
    frame = events[["event_time", "action", "action_class", "source"]].copy()
    frame["channel"] = frame["source"].astype(str).map(channel_of)
    frame["lane"] = frame["channel"].map(LANE_PREFIX) + frame["action"].astype(str)
    lanes = (
        frame[["channel", "lane"]]
        .drop_duplicates()
        .assign(order=lambda f: f["channel"].map(CHANNELS.index))
        .sort_values(["order", "lane"])["lane"]
        .tolist()
    )
    chart: alt.Chart = (
        alt.Chart(frame, height=alt.Step(BAR_STEP_PX + 4))
        .mark_tick(thickness=2, size=14)
        .encode(
            x=alt.X("event_time:T", title="event time (UTC)"),
            y=alt.Y("lane:N", title=None, sort=lanes, axis=alt.Axis(labelLimit=240)),
            color=_class_color(orient="top"),
            tooltip=[
                alt.Tooltip("event_time:T", format="%Y-%m-%d %H:%M:%S"),
                "channel:N",
                "action:N",
                "action_class:N",
                "source:N",
            ],
        )
    )
    return chart


def baseline_chart(baseline: pd.DataFrame) -> alt.Chart:
    """Per action class: usual count per hour against the latest hour."""
    long = baseline.melt(
        id_vars=["action_class"], value_vars=["usual", "now"], var_name="when", value_name="events"
    )
    scale = alt.Scale(domain=["usual", "now"], range=["#94a3b8", "#dc2626"])
    chart: alt.Chart = (
        alt.Chart(long, height=CHART_HEIGHT_PX)
        .mark_bar()
        .encode(
            x=alt.X(
                "action_class:N",
                sort=list(ACTION_CLASSES),
                title=None,
                axis=alt.Axis(labelAngle=-30, labelOverlap=False),
            ),
            xOffset=alt.XOffset("when:N", sort=["usual", "now"]),
            y=alt.Y("events:Q", title="events per hour"),
            color=alt.Color("when:N", scale=scale, title=None),
            tooltip=["action_class:N", "when:N", alt.Tooltip("events:Q", format=".3g")],
        )
    )
    return chart
