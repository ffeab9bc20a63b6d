"""Streamlit entry of the Leash dashboard: sign-in, sidebar and page navigation (layout only).

Run with `leash dashboard` (or `streamlit run dashboard/app.py`); it reads and acts only through
the Leash HTTP API at LEASH_API_URL with LEASH_DASHBOARD_API_KEY (or a key typed in).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import data, session, ui

HERE = Path(__file__).resolve().parent
PAGES = (
    ("views/overview.py", "Overview", ":material/monitoring:"),
    ("views/alerts.py", "Alerts", ":material/notifications_active:"),
    ("views/principal.py", "Principal", ":material/person_search:"),
    ("views/events.py", "Events", ":material/manage_search:"),
    ("views/approvals.py", "Approvals", ":material/approval:"),
)


def sidebar(conn: session.Connection) -> None:
    with st.sidebar:
        st.caption(f"API {conn.url}")
        scopes = ", ".join(sorted(conn.key.scopes)) if conn.scopes_known else "unknown"
        st.caption(f"key {conn.key.key_id or '?'} · scopes: {scopes}")
        if not conn.can_act:
            st.caption("Read-only key: actions are hidden.")
        st.toggle(
            "Auto-refresh",
            value=True,
            key="auto_refresh",
            help=f"Reload the data every {ui.REFRESH_S} s",
        )
        left, right = st.columns(2)
        if left.button("Refresh now"):
            data.clear()
            st.rerun()
        if right.button("Sign out"):
            session.sign_out()
            data.clear()
            st.rerun()


def main() -> None:
    st.set_option("client.toolbarMode", "minimal")  # no "Deploy" button on an ops console
    st.set_page_config(page_title="Leash", page_icon=":material/pets:", layout="wide")
    conn = session.sign_in()
    if conn is None:
        return
    pages = [
        st.Page(HERE / path, title=title, icon=icon, default=i == 0)
        for i, (path, title, icon) in enumerate(PAGES)
    ]
    navigation = st.navigation(pages)
    sidebar(conn)
    navigation.run()


main()
