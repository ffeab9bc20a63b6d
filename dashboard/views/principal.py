"""Principal page: pick a principal, see its state, activity and gate history; contain it."""

from __future__ import annotations

import streamlit as st

from dashboard import data, ui
from dashboard.client import ApiMissing
from dashboard.models import PrincipalInfo
from dashboard.principal_view import render_activity, render_gate, render_state
from dashboard.session import Connection


def known_principals(conn: Connection) -> list[str]:
    """Flagged or restricted principals first, for the picker."""
    names: list[str] = []
    try:
        names += list(data.restricted_principals(conn)["principal_key"])
        names += list(data.alerts(conn, limit=200)["principal"])
    except ApiMissing:
        pass
    return list(dict.fromkeys(n for n in names if n))


def choose(conn: Connection) -> str:
    wanted = st.query_params.get("principal", "")
    known = known_principals(conn)
    if wanted and wanted not in known:
        known.insert(0, wanted)
    index = known.index(wanted) if wanted in known else (0 if known else None)
    left, right = st.columns(2)
    picked = left.selectbox(
        "Flagged or restricted principals",
        known,
        index=index,
        placeholder="none yet",
        key="principal_pick",
    )
    typed = right.text_input(
        "…or any principal (full ARN or stable key)", key="principal_typed"
    ).strip()
    principal = typed or (picked or "")
    if principal:
        st.query_params["principal"] = principal
    return principal


def body(conn: Connection) -> None:
    principal = choose(conn)
    if not principal:
        st.info("Pick a principal above, type an ARN, or open one from an alert.")
        return
    try:
        info = data.principal(conn, principal)
    except ApiMissing as exc:  # an ingest-only server still shows the activity
        ui.show_error(exc)
        info = PrincipalInfo(
            principal=principal, principal_key=principal, state="unknown", actor_kind=""
        )
    st.header(info.principal, divider="gray")
    render_state(conn, info)
    render_activity(conn, info)
    render_gate(conn, info)


st.title("Principal")
ui.live_page(body)
