"""Sign-in: which Leash API and key this browser session uses, and what the key may do."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import streamlit as st

from dashboard.client import ApiMissing, LeashAPIError, LeashClient, Unreachable
from dashboard.models import KeyInfo

__all__ = [
    "API_URL_ENV",
    "KEY_ENV",
    "STATE_KEY",
    "Connection",
    "current",
    "sign_in",
    "sign_out",
    "verify",
]

logger = logging.getLogger(__name__)

API_URL_ENV = "LEASH_API_URL"
KEY_ENV = "LEASH_DASHBOARD_API_KEY"
DEFAULT_API_URL = "http://127.0.0.1:8000"
STATE_KEY = "leash_connection"


@dataclass(frozen=True)
class Connection:
    """A verified API URL and key; `key` holds the scopes the server reported for it."""

    url: str
    api_key: str = field(repr=False)  # never in a repr, a log line or an error page
    key: KeyInfo
    scopes_known: bool = True

    @property
    def can_act(self) -> bool:
        return self.key.is_admin

    def client(self) -> LeashClient:
        return LeashClient(self.url, self.api_key)


def verify(url: str, api_key: str) -> Connection:
    """Ask the server who this key is; an older server without /v1/whoami lets the API decide."""
    with LeashClient(url, api_key) as client:
        try:
            return Connection(url, api_key, client.whoami())
        except ApiMissing:
            client.events(limit=1)  # proves the key can read; admin calls are refused by the API
            return Connection(url, api_key, KeyInfo("", frozenset({"read", "admin"})), False)


def current() -> Connection:
    """The signed-in connection; pages call this (app.py signs in before any page runs)."""
    found = st.session_state.get(STATE_KEY)
    if not isinstance(found, Connection):
        st.warning("Not signed in: open the dashboard's front page to enter an API key.")
        st.stop()
    return found


def sign_out() -> None:
    st.session_state.pop(STATE_KEY, None)
    st.session_state["leash_skip_env_key"] = True


def sign_in() -> Connection | None:
    """The session's connection: reuse it, else try LEASH_DASHBOARD_API_KEY, else ask."""
    found = st.session_state.get(STATE_KEY)
    if isinstance(found, Connection):
        return found
    url = os.environ.get(API_URL_ENV) or DEFAULT_API_URL
    env_key = os.environ.get(KEY_ENV, "").strip()
    error = ""
    if env_key and not st.session_state.get("leash_skip_env_key"):
        try:
            return _remember(verify(url, env_key))
        except Unreachable as exc:
            error = f"{exc.detail}. Is `leash up` (or `leash serve`) running?"
        except LeashAPIError as exc:
            error = f"The key in {KEY_ENV} did not work: {exc.detail}"
    _sign_in_form(url, error)
    return None


def _remember(connection: Connection) -> Connection:
    st.session_state[STATE_KEY] = connection
    return connection


def _sign_in_form(default_url: str, error: str) -> None:
    st.title("Leash")
    st.write(
        "Sign in with a Leash API key (`read` to look, `admin` to act). "
        "With `leash up` the admin key is in `leash-data/admin.key`."
    )
    if error:
        st.error(error)
    with st.form("sign_in"):
        url = st.text_input("Leash API URL", value=default_url)
        api_key = st.text_input("API key", type="password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if not submitted:
        return
    if not api_key.strip():
        st.error("Enter an API key.")
        return
    try:
        _remember(verify(url.strip(), api_key.strip()))
    except LeashAPIError as exc:
        st.error(f"Sign-in failed: {exc.detail}")
        return
    st.rerun()  # start clean: the form disappears and the pages load
