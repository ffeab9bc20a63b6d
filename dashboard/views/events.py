"""Events page: search stored events by principal, action, class, time and free text; raw JSON."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import streamlit as st

from dashboard import data, session, ui
from dashboard.models import ACTION_CLASSES, EventPage
from dashboard.session import Connection

ANY = "any"
PAGE_SIZES = (50, 100, 500)
TABLE_COLUMNS = [
    "event_time",
    "principal",
    "actor_kind",
    "action",
    "action_class",
    "source",
    "region",
    "resources",
    "error_code",
    "source_ip",
    "event_id",
]


@dataclass(frozen=True)
class Search:
    principal: str = ""
    action: str = ""
    action_class: str = ""
    actor_kind: str = ""
    q: str = ""
    since: datetime | None = None
    until: datetime | None = None
    page_size: int = PAGE_SIZES[1]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def search_form() -> Search:
    with st.form("event_search"):
        cols = st.columns([3, 2, 1, 1])
        principal = cols[0].text_input("Principal (full ARN or stable key)")
        action = cols[1].text_input("Action (eventName)")
        action_class = cols[2].selectbox("Class", (ANY, *ACTION_CLASSES))
        actor_kind = cols[3].selectbox("Actor", (ANY, "agent", "human", "service"))
        cols = st.columns([3, 2, 2, 1])
        q = cols[0].text_input("Free text (searched in the raw record)")
        since = cols[1].datetime_input("From (UTC, event time)", value=None)
        until = cols[2].datetime_input("Until (UTC, event time)", value=None)
        page_size = cols[3].selectbox("Rows", PAGE_SIZES, index=1)
        submitted = st.form_submit_button("Search", type="primary")
    if submitted:
        st.session_state["events_search"] = Search(
            principal.strip(),
            action.strip(),
            "" if action_class == ANY else action_class,
            "" if actor_kind == ANY else actor_kind,
            q.strip(),
            _utc(since),
            _utc(until),
            int(page_size),
        )
        st.session_state["events_page"] = 1
    found = st.session_state.get("events_search")
    return found if isinstance(found, Search) else Search()


def fetch(conn: Connection, search: Search, page: int) -> EventPage:
    return data.events(
        conn,
        principal=search.principal or None,
        action=search.action or None,
        action_class=search.action_class or None,
        actor_kind=search.actor_kind or None,
        q=search.q or None,
        since=search.since,
        until=search.until,
        limit=search.page_size,
        offset=(page - 1) * search.page_size,
    )


def raw_json(found: EventPage) -> None:
    events = found.events
    labels = {
        row.event_id: f"{ui.when(row.event_time)} · {row.action} · {row.principal}"
        for row in events.itertuples()
    }
    chosen = st.selectbox(
        "Raw JSON of event", list(labels), format_func=labels.__getitem__, key="events_raw"
    )
    if chosen is not None:
        st.json(events[events["event_id"] == chosen].iloc[0]["raw"], expanded=True)


def body(conn: Connection, search: Search) -> None:
    page = int(st.session_state.get("events_page", 1))
    found = fetch(conn, search, page)
    if found.total == 0:
        hint = (
            "Loosen the filters."
            if search != Search(page_size=search.page_size)
            else "Nothing is stored yet: ship events with `leash ship path/to/cloudtrail/`."
        )
        st.info(f"No events match. {hint}")
        return
    pages = max(1, math.ceil(found.total / search.page_size))
    st.caption(f"{found.total:,} events match · page {page} of {pages} · newest first")
    st.dataframe(
        found.events[TABLE_COLUMNS],
        hide_index=True,
        width="stretch",
        height=420,
        column_config={"event_time": ui.TIME_COLUMN},
    )
    cols = st.columns([1, 1, 6])
    if cols[0].button("Newer", disabled=page <= 1):
        st.session_state["events_page"] = page - 1
        st.rerun()
    if cols[1].button("Older", disabled=page >= pages):
        st.session_state["events_page"] = page + 1
        st.rerun()
    raw_json(found)


def render() -> None:
    conn = session.current()
    search = search_form()
    with ui.handled():
        body(conn, search)


st.title("Events")
render()
