"""A seeded Leash with its Streamlit dashboard in real processes, and a headless Chromium on it.

Used by tests/e2e/test_dashboard_browser.py and scripts/screenshots.py. `leash up` mode is the
product as users run it; `wired` mode runs tests.unit.dashboard.api_server (which wires the
detect layer even where leash/app.py does not yet) plus `leash dashboard`.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.unit.dashboard import seeding
from tests.unit.dashboard.harness import REPO, free_port

__all__ = [
    "CHROMIUM",
    "Stack",
    "browser_page",
    "chromium_path",
    "open_stack",
    "screenshot",
    "settle",
    "wait_for_text",
]

logger = logging.getLogger(__name__)

CHROMIUM = "/usr/bin/chromium"
START_TIMEOUT_S = 90.0  # seconds for API and dashboard to answer (2 shared cores)
STOP_TIMEOUT_S = 20.0  # seconds for a process to exit on SIGTERM
RENDER_TIMEOUT_MS = 60_000  # Streamlit renders over a websocket after the page loads
WINDOW_PX = (1400, 1000)  # width, height: a laptop-sized viewport
MAX_SHOT_HEIGHT_PX = 4000  # tallest screenshot


@dataclass
class Stack:
    """API + dashboard processes; `key` is an admin key, `processes` stop in reverse order."""

    api_url: str
    dashboard_url: str
    key: str
    data_dir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.api_url, timeout=30, headers={"Authorization": f"Bearer {self.key}"}
        )

    def has_route(self, path: str) -> bool:
        spec = httpx.get(f"{self.api_url}/openapi.json", timeout=10).json()
        return path in spec.get("paths", {})

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def chromium_path() -> str | None:
    return shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)


def _spawn(args: list[str], *, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:
        return subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=REPO)


def _wait_http(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    def up() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: process exited {process.returncode}:\n{log.read_text()}")
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    seeding.wait_for(up, url, timeout_s=START_TIMEOUT_S)


def _start_leash_up(stack: Stack, env: dict[str, str], log: Path, dash_port: int) -> None:
    port = int(stack.api_url.rsplit(":", 1)[1])
    process = _spawn(
        [
            sys.executable,
            "-m",
            "leash.cli",
            "up",
            "--port",
            str(port),
            "--dashboard-port",
            str(dash_port),
            "--data-dir",
            str(stack.data_dir),
        ],
        env=env,
        log=log,
    )
    stack.processes.append(process)
    _wait_http(f"{stack.api_url}/healthz", process, log)
    stack.key = (stack.data_dir / "admin.key").read_text().strip()  # leash up made and wired it


def _start_wired(stack: Stack, env: dict[str, str], log: Path, dash_port: int) -> None:
    port = int(stack.api_url.rsplit(":", 1)[1])
    api_env = {**env, "LEASH_API_KEYS": f"{stack.key}:admin"}
    api = _spawn(
        [
            sys.executable,
            "-m",
            "tests.unit.dashboard.api_server",
            "--port",
            str(port),
            "--data-dir",
            str(stack.data_dir),
        ],
        env=api_env,
        log=log,
    )
    stack.processes.append(api)
    _wait_http(f"{stack.api_url}/healthz", api, log)
    dash_env = {**env, "LEASH_API_URL": stack.api_url, "LEASH_DASHBOARD_API_KEY": stack.key}
    stack.processes.append(
        _spawn(
            [sys.executable, "-m", "leash.cli", "dashboard", "--dashboard-port", str(dash_port)],
            env=dash_env,
            log=log,
        )
    )


@contextmanager
def open_stack(data_dir: Path, *, mode: str = "leash-up") -> Iterator[Stack]:
    """Start API + dashboard (`leash-up` or `wired`), seed it, and stop both on exit."""
    data_dir.mkdir(parents=True, exist_ok=True)
    api_port, dash_port = free_port(), free_port()
    stack = Stack(
        f"http://127.0.0.1:{api_port}",
        f"http://127.0.0.1:{dash_port}",
        "lsh_dashboard_admin",
        data_dir,
    )
    log = data_dir.parent / f"stack-{api_port}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEASH_")}
    env |= {
        "LEASH_SINK__MAX_AGE_S": "0.1",
        "LEASH_SINK__COMMIT_INTERVAL_S": "0.1",
        "LEASH_LOG_LEVEL": "WARNING",
    }
    try:
        if mode == "leash-up":
            _start_leash_up(stack, env, log, dash_port)
        else:
            _start_wired(stack, env, log, dash_port)
        _wait_http(f"{stack.dashboard_url}/_stcore/health", stack.processes[-1], log)
        with stack.client() as client:
            seeding.seed(client, client)
        yield stack
    finally:
        stack.stop()


@contextmanager
def browser_page(executable: str) -> Iterator[Any]:
    """A Playwright page in headless Debian Chromium (Playwright's own download is not used)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            width, height = WINDOW_PX
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def wait_for_text(page: Any, text: str, *, timeout_ms: int = RENDER_TIMEOUT_MS) -> None:
    """Wait until Streamlit has rendered `text` (it arrives over the websocket after load)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.get_by_text(text, exact=False).first.wait_for(state="visible", timeout=timeout_ms)
    except PlaywrightTimeout:
        shown = page.inner_text("body")[:2000]
        raise AssertionError(f"{text!r} never appeared; the page shows:\n{shown}") from None


def wait_for_element(page: Any, selector: str, *, timeout_ms: int = RENDER_TIMEOUT_MS) -> None:
    """Wait until an element Streamlit renders late (a Vega chart) is on the page; on a loaded
    machine a chart can arrive well after the text around it."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.locator(selector).first.wait_for(state="attached", timeout=timeout_ms)
    except PlaywrightTimeout:
        raise AssertionError(f"{selector} never appeared within {timeout_ms} ms") from None


def screenshot(page: Any, path: Path) -> None:
    """The whole page: Streamlit scrolls inside its main block, so grow the viewport to fit."""
    width, height = WINDOW_PX
    content = page.evaluate(
        "document.querySelector('[data-testid=stMainBlockContainer]').scrollHeight"
    )
    page.set_viewport_size(
        {"width": width, "height": int(min(max(height, content + 60), MAX_SHOT_HEIGHT_PX))}
    )
    settle(page)
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": width, "height": height})


def settle(page: Any, *, quiet_ms: int = 1500, timeout_s: float = 60) -> None:
    """Wait until Streamlit stops running (its status widget gone) so a screenshot is complete."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if page.locator("[data-testid='stStatusWidget']").count() == 0:
            page.wait_for_timeout(quiet_ms)
            if page.locator("[data-testid='stStatusWidget']").count() == 0:
                return
        page.wait_for_timeout(200)
