"""Real browser: headless Chromium loads the dashboard that a seeded `leash up` started itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.unit.dashboard import seeding
from tests.unit.dashboard.stack import (
    Stack,
    browser_page,
    chromium_path,
    open_stack,
    screenshot,
    settle,
    wait_for_element,
    wait_for_text,
)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

DESTRUCTIVE_RGB = (220, 38, 38)  # CLASS_COLORS["destructive"] (#dc2626) in dashboard/charts.py
MIN_DESTRUCTIVE_PIXELS = 20  # the agent's delete burst is at least a few bars' worth of red


@pytest.fixture(scope="module")
def chromium() -> str:
    path = chromium_path()
    if path is None:
        pytest.skip(
            "chromium is not installed (Debian package `chromium`; scripts/test.sh installs it)"
        )
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with open_stack(tmp_path_factory.mktemp("browser") / "data", mode="leash-up") as running:
        yield running


def count_pixels(path: Path, rgb: tuple[int, int, int], tolerance: int = 12) -> int:
    """Pixels within `tolerance` of `rgb` on every channel (anti-aliasing shifts edges)."""
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    close = np.abs(pixels - np.asarray(rgb, dtype=np.int16)) <= tolerance
    return int(close.all(axis=-1).sum())


def test_overview_renders_in_chromium(stack: Stack, chromium: str, tmp_path: Path) -> None:
    with stack.client() as client:
        total = int(client.get("/v1/events", params={"limit": 1}).json()["total"])
    shot = tmp_path / "overview.png"
    with browser_page(chromium) as page:
        page.goto(stack.dashboard_url)
        wait_for_text(page, "Events per minute by action class")
        wait_for_text(page, f"{total:,}")
        settle(page)
        body = page.inner_text("body")
        charts = page.locator("[data-testid='stVegaLiteChart']").count()
        screenshot(page, shot)

    assert "Events stored" in body and "Pipeline health" in body
    assert "scopes: admin" in body, "leash up did not hand its admin key to the dashboard"
    assert "Sign out" in body
    assert charts >= 1
    assert count_pixels(shot, DESTRUCTIVE_RGB) >= MIN_DESTRUCTIVE_PIXELS, "no destructive bars"


def test_alert_renders_in_chromium(stack: Stack, chromium: str, tmp_path: Path) -> None:
    if not stack.has_route("/v1/alerts"):
        pytest.skip(
            "`leash up` serves no /v1/alerts yet: leash/app.py does not wire the detect routers"
        )
    with stack.client() as client:
        alert = seeding.wait_for_burst_alert(client)
    shot = tmp_path / "alert.png"
    with browser_page(chromium) as page:
        page.goto(f"{stack.dashboard_url}/alerts?alert={alert['id']}")
        wait_for_text(page, "Why Leash flagged it")
        wait_for_text(page, alert["summary"])
        wait_for_element(page, "[data-testid='stVegaLiteChart']")
        settle(page)
        body = page.inner_text("body")
        charts = page.locator("[data-testid='stVegaLiteChart']").count()
        screenshot(page, shot)

    assert alert["principal"] in body
    assert "Acknowledge" in body  # leash up's key is an admin key
    assert charts >= 1, "no chart of the driving features"
    assert count_pixels(shot, DESTRUCTIVE_RGB) >= MIN_DESTRUCTIVE_PIXELS, "no 'now' bars"
