"""Helpers for the dashboard tests: a real Leash API process on a loopback port, AppTest runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import session
from ingest.keys import KeyEntry
from tests.ports import free_port
from tests.unit.dashboard import seeding

REPO = Path(__file__).resolve().parents[3]
APP = REPO / "dashboard" / "app.py"
ADMIN_KEY = "dash-admin-key"
READ_KEY = "dash-read-key"
INGEST_KEY = "dash-ingest-key"
RUN_TIMEOUT_S = 60  # seconds one AppTest script run may take (many API reads on 2 shared cores)
START_TIMEOUT_S = 60  # seconds for the API process to answer /healthz
STOP_TIMEOUT_S = 20  # seconds for it to drain and exit on SIGTERM


@dataclass(frozen=True)
class LeashAPI:
    """A running API process: its URL, clients with each key, and stop()."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, key: str = ADMIN_KEY) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_api(data_dir: Path, *, bare: bool = False) -> LeashAPI:
    """Start tests.unit.dashboard.api_server in its own process; ready once /healthz answers."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir.parent / f"api-{port}.log"
    env = {
        **os.environ,
        "LEASH_API_KEYS": f"{ADMIN_KEY}:admin,{READ_KEY}:read,{INGEST_KEY}:ingest",
        # the seeding collector: alerts over what it sends may act
        "LEASH_TRUSTED_KEYS": KeyEntry.from_token(INGEST_KEY, frozenset({"ingest"})).key_id,
        "LEASH_SINK__MAX_AGE_S": "0.05",
        "LEASH_SINK__COMMIT_INTERVAL_S": "0.05",
    }
    with log.open("ab") as handle:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.unit.dashboard.api_server",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
                *(["--bare"] if bare else []),
            ],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
        )
    api = LeashAPI(f"http://127.0.0.1:{port}", process, log)

    def healthy() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"the API exited with {process.returncode}:\n{log.read_text()}")
        try:
            return httpx.get(f"{api.url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        seeding.wait_for(healthy, "the API to answer /healthz", timeout_s=START_TIMEOUT_S)
    except BaseException:
        api.stop()
        raise
    return api


def point_dashboard(monkeypatch: pytest.MonkeyPatch, api: LeashAPI, key: str | None) -> None:
    """Env the dashboard reads (as `leash up` sets it), and an empty read cache."""
    monkeypatch.setenv("LEASH_API_URL", api.url)
    if key is None:
        monkeypatch.delenv("LEASH_DASHBOARD_API_KEY", raising=False)
    else:
        monkeypatch.setenv("LEASH_DASHBOARD_API_KEY", key)
    st.cache_data.clear()


def open_page(page: str | None = None, **query: str) -> AppTest:
    """Run the dashboard, then switch to `page` (e.g. "views/alerts.py") and run it."""
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT_S)
    at.query_params.update(query)
    if page is not None:
        # AppTest runs a st.navigation page on its own (app.py is skipped), so sign in as
        # app.py would; the file name is the url_path, so switching works before a run.
        url, key = os.environ["LEASH_API_URL"], os.environ["LEASH_DASHBOARD_API_KEY"]
        at.session_state[session.STATE_KEY] = session.verify(url, key)
        at.switch_page(page)
    return at.run()


def texts(at: AppTest) -> str:
    """Every piece of text the run rendered, for 'does it say X' assertions."""
    parts: list[str] = []
    for kind in (
        "title",
        "header",
        "subheader",
        "markdown",
        "caption",
        "info",
        "warning",
        "error",
        "success",
        "text",
    ):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    return "\n".join(parts)


def button(at: AppTest, label: str) -> Any:
    """The one button with this label (fails listing the labels there are)."""
    found = [b for b in at.button if b.label == label]
    assert len(found) == 1, f"{len(found)} buttons labelled {label!r}; have {labels(at)}"
    return found[0]


def labels(at: AppTest) -> list[str]:
    return [b.label for b in at.button]


def metric(at: AppTest, label: str) -> str:
    found = [m.value for m in at.metric if m.label == label]
    assert len(found) == 1, f"no single metric {label!r}; have {[m.label for m in at.metric]}"
    return str(found[0])


def ok(at: AppTest) -> AppTest:
    """Assert the run raised nothing (showing the traces if it did)."""
    assert not at.exception, "\n".join(
        f"{e.message}\n{''.join(e.stack_trace)}" for e in at.exception
    )
    return at


def vega_specs(at: AppTest) -> list[str]:
    """Each chart's Vega-Lite spec and its inline data, as text."""
    return [str(e.proto) for e in at.get("vega_lite_chart")]
