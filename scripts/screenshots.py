"""Seed a Leash, open every dashboard page in headless Chromium, save PNGs to docs/screenshots/.

Usage: .venv/bin/python scripts/screenshots.py [--mode auto|leash-up|wired] [--out DIR]
`auto` uses `leash up` when it serves the alert API, else the test server that wires detection.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a file: make the repo's packages importable
    sys.path.insert(0, str(REPO))

from tests.unit.dashboard import seeding  # noqa: E402
from tests.unit.dashboard.stack import (  # noqa: E402
    Stack,
    browser_page,
    chromium_path,
    open_stack,
    screenshot,
    settle,
    wait_for_text,
)

logger = logging.getLogger("screenshots")

# (file name, URL path and query, text that proves the page rendered)
PAGES = (
    ("overview.png", "/", "Events per minute by action class"),
    ("alerts.png", "/alerts?alert={alert}", "Why Leash flagged it"),
    ("principal.png", "/principal?principal={principal}", "Baseline against now"),
    ("events.png", "/events", "events match"),
    ("approvals.png", "/approvals", "Blast radius"),
)


def prepare(stack: Stack) -> dict[str, str]:
    """Make the pages interesting: find the burst alert, ask for one approval."""
    values = {"alert": "", "principal": quote(seeding.BURST_AGENT_KEY, safe="")}
    with stack.client() as client:
        if stack.has_route("/v1/alerts"):
            values["alert"] = str(seeding.wait_for_burst_alert(client)["id"])
        if stack.has_route("/v1/decide"):
            seeding.request_approval(client, bucket="tmp-build-cache")
    return values


def capture(stack: Stack, out: Path, executable: str) -> list[Path]:
    values = prepare(stack)
    saved = []
    with browser_page(executable) as page:
        for name, path, proof in PAGES:
            page.goto(stack.dashboard_url + path.format(**values))
            wait_for_text(page, proof)
            settle(page)
            target = out / name
            screenshot(page, target)
            saved.append(target)
            logger.info("saved %s", target)
    return saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=("auto", "leash-up", "wired"), default="auto")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    executable = chromium_path()
    if executable is None:
        logger.error("chromium is not installed (apt-get install chromium)")
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    mode = "leash-up" if args.mode == "auto" else args.mode
    with tempfile.TemporaryDirectory(prefix="leash-shots-") as tmp:
        with open_stack(Path(tmp) / "up" / "data", mode=mode) as stack:
            if args.mode != "auto" or stack.has_route("/v1/alerts"):
                capture(stack, args.out, executable)
                return 0
        logger.warning("`leash up` serves no /v1/alerts yet; using the wired test server")
        with open_stack(Path(tmp) / "wired" / "data", mode="wired") as stack:
            capture(stack, args.out, executable)
    return 0


if __name__ == "__main__":
    sys.exit(main())
