"""Shared Streamlit widgets: API error display, confirmed admin actions, flash messages, refresh."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import streamlit as st

from dashboard import data, session
from dashboard.client import ApiMissing, LeashAPIError, LeashClient, Unauthorized, Unreachable
from dashboard.session import Connection

__all__ = [
    "REFRESH_S",
    "TIME_COLUMN",
    "act",
    "elapsed",
    "confirmed_action",
    "handled",
    "live",
    "show_flash",
    "when",
]

logger = logging.getLogger(__name__)

REFRESH_S = 15  # seconds between automatic refreshes of a page's data
TIME_COLUMN = st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss", timezone="UTC")
_FLASH = "leash_flash"
Action = Callable[[LeashClient], object]


def show_error(exc: LeashAPIError) -> None:
    """Say what failed and what to do next, in the API's own words."""
    if isinstance(exc, ApiMissing):
        st.info(f"{exc.detail} yet: upgrade the server or wire in the layer that provides it.")
    elif isinstance(exc, Unreachable):
        st.error(f"{exc.detail}. Is `leash up` (or `leash serve`) running?")
    elif isinstance(exc, Unauthorized) and exc.status_code == 401:
        st.error(f"The API refused this key: {exc.detail}")
    elif isinstance(exc, Unauthorized):
        st.error(f"Not allowed: {exc.detail}")
    else:
        st.error(f"The Leash API answered HTTP {exc.status_code}: {exc.detail}")


@contextmanager
def handled() -> Iterator[None]:
    """Run a block of API reads; a failure becomes a message instead of a stack trace."""
    try:
        yield
    except LeashAPIError as exc:
        show_error(exc)


def act(conn: Connection, action: Action, *, done: str) -> None:
    """Run an admin action, then refresh every read so the page shows its effect."""
    try:
        with conn.client() as client:
            action(client)
    except LeashAPIError as exc:
        show_error(exc)
        return
    logger.info("dashboard action done: %s", done)
    data.clear()
    st.session_state[_FLASH] = done
    st.rerun()


def show_flash() -> None:
    """Show (once) the result of the last action."""
    message = st.session_state.pop(_FLASH, None)
    if message:
        st.success(message)


def confirmed_action(
    conn: Connection,
    *,
    key: str,
    label: str,
    consequence: str,
    action: Callable[[str], Action],
    done: str,
) -> None:
    """A button that opens an inline confirmation naming the target and the consequence.

    `action(reason)` builds the call; nothing is sent until the confirm button is pressed with a
    reason (the API records it in the audit trail).
    """
    pending = f"confirm_{key}"
    if not st.session_state.get(pending):
        if st.button(label, key=f"open_{key}"):
            st.session_state[pending] = True
            st.rerun()
        return
    with st.container(border=True):
        st.warning(consequence)
        reason = st.text_input("Reason (kept in the audit trail)", key=f"reason_{key}")
        left, right = st.columns(2)
        confirm = left.button(f"Confirm: {label}", key=f"yes_{key}", type="primary")
        if right.button("Cancel", key=f"no_{key}"):
            st.session_state[pending] = False
            st.rerun()
    if confirm:
        if not reason.strip():
            st.error("Give a reason: it is recorded with the change.")
            return
        st.session_state[pending] = False
        act(conn, action(reason.strip()), done=done)


def live(render: Callable[[], None]) -> None:
    """Render a page body, re-running it every REFRESH_S seconds while auto-refresh is on."""
    every = REFRESH_S if st.session_state.get("auto_refresh", True) else None
    st.fragment(run_every=every)(render)()


def live_page(body: Callable[[Connection], None]) -> None:
    """A page's usual frame: flash message, then `body` in a refreshing, error-handled fragment."""
    conn = session.current()
    show_flash()

    def refreshable() -> None:
        with handled():
            body(conn)

    live(refreshable)


def when(value: datetime | None) -> str:
    """A timestamp for people: UTC, to the second; an em dash when unknown."""
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def elapsed(value: datetime | None, *, now: datetime | None = None) -> str:
    """Time since `value`, coarsely (s, min, h, d); an em dash when unknown."""
    if value is None:
        return "—"
    seconds = max(0.0, ((now or datetime.now(UTC)) - value).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"
