"""Approvals page: pending requests with their blast radius; approve or deny (admin keys)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, data, summaries, ui
from dashboard.session import Connection

RADIUS_EVENTS = 2000  # newest events of the principal used for its blast radius
RADIUS_ROWS = 10  # resources listed per approval
# GateService's markers in a tool call's resources (dashboard imports nothing of detect/)
ARGS_DIGEST = "args-sha256:"  # pins an approval to the exact arguments; not for people
ARGS_SHOWN = "args: "  # the redacted arguments of a tool call without a command or file
DONE_COLUMNS = ["decided_at", "status", "principal", "action", "resources", "decided_by", "note"]


def blast_radius(conn: Connection, row: pd.Series) -> None:
    page = data.events(conn, principal=row["principal_key"], limit=RADIUS_EVENTS)
    radius = summaries.blast_radius(page.events)
    requested = {r for r in named_resources(row) if not r.startswith(("cmd: ", ARGS_SHOWN))}
    seen = requested & set(radius["resource"])
    st.markdown(
        f"**Blast radius**: {len(radius):,} resource(s) touched in its last "
        f"{len(page.events):,} of {page.total:,} events, "
        f"{int((radius['destructive'] > 0).sum()) if not radius.empty else 0} "
        "destructively."
    )
    if requested:
        st.caption(f"Requested resource(s) seen before: {len(seen)} of {len(requested)}.")
    if not radius.empty:
        st.dataframe(
            radius.head(RADIUS_ROWS),
            hide_index=True,
            width="stretch",
            column_config={"last_seen": ui.TIME_COLUMN},
        )


def decide_buttons(conn: Connection, row: pd.Series) -> None:
    approval_id = str(row["id"])
    note = st.text_input("Note (optional)", key=f"note_{approval_id}")
    left, right = st.columns(2)
    if left.button(
        "Approve once",
        key=f"approve_{approval_id}",
        type="primary",
        help=f"let {row['principal']} run {row['action']} once",
    ):
        ui.act(
            conn,
            lambda c: c.decide_approval(approval_id, approve=True, note=note),
            done=f"Approved {row['action']} for {row['principal']} (single use).",
        )
    if right.button("Deny", key=f"deny_{approval_id}"):
        ui.act(
            conn,
            lambda c: c.decide_approval(approval_id, approve=False, note=note),
            done=f"Denied {row['action']} for {row['principal']}.",
        )


def is_tool_call(row: pd.Series) -> bool:
    return charts.channel_of(str(row["source"] or "")) == charts.TOOL_CALLS


def named_resources(row: pd.Series) -> list[str]:
    """What the request names, without the digest that pins an approval to exact arguments."""
    return [str(r) for r in row["resources"] or [] if not str(r).startswith(ARGS_DIGEST)]


def approvals_needed(row: pd.Series) -> str:
    required = int(row["required"] or 1)
    given = len(row["approved_by"] or [])
    if required <= 1:
        return "One admin's approval lets it run once."
    return (
        f"**Approvals: {given} of {required}** — {required - given} more from different "
        "admin keys (not the key that asked) before it may run once."
    )


def pending_card(conn: Connection, row: pd.Series) -> None:
    with st.container(border=True):
        named = named_resources(row)
        if is_tool_call(row):
            st.markdown(f"#### Tool call `{row['action']}` ({row['action_class']})")
            shown = [r.removeprefix(ARGS_SHOWN) for r in named] or ["(no arguments)"]
            st.markdown(
                f"From `{row['source']}`. What it would run (secrets redacted): "
                + ", ".join(f"`{r}`" for r in shown)
            )
        else:
            resources = ", ".join(named) or "no resources named"
            st.markdown(f"#### {row['action']} ({row['action_class']}) on {resources}")
        st.markdown(
            f"**{row['principal']}** ({row['actor_kind']}) asked at "
            f"{ui.when(row['created_at'])}; expires {ui.when(row['expires_at'])}. "
            f"Why it needs approval: {row['reason']}"
        )
        st.markdown(approvals_needed(row))
        left, right = st.columns([3, 2])
        with left:
            blast_radius(conn, row)
        with right:
            if conn.can_act:
                decide_buttons(conn, row)
            else:
                st.caption("Sign in with an admin key to approve or deny.")


def body(conn: Connection) -> None:
    frame = data.approvals(conn)
    pending = frame[frame["status"] == "pending"]
    if pending.empty:
        st.info(
            "No pending approvals. Agents ask with `POST /v1/decide`; destructive actions "
            "by agents wait here for a human."
        )
    for _, row in pending.iterrows():
        pending_card(conn, row)
    done = frame[frame["status"] != "pending"]
    if not done.empty:
        st.subheader("Recently decided")
        st.dataframe(
            done[DONE_COLUMNS],
            hide_index=True,
            width="stretch",
            column_config={"decided_at": ui.TIME_COLUMN},
        )


st.title("Approvals")
ui.live_page(body)
