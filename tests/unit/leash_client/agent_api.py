"""A real Leash API process for the agent-SDK adapter tests, and the approver's side of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from leash_client import LeashClient
from tests.ports import free_port
from tests.unit.dashboard.harness import ADMIN_KEY, INGEST_KEY, LeashAPI, start_api
from tests.wait import wait_until

APPROVER_WAIT_S = 20.0  # seconds an approver waits for a pending approval to show up


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LeashAPI]:
    running = start_api(Path(tmp_path_factory.mktemp("agent-adapters")) / "data")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def leash(api: LeashAPI) -> Iterator[LeashClient]:
    with LeashClient(api.url, INGEST_KEY, timeout_s=10) as client:
        yield client


def quarantine(api: LeashAPI, principal: str) -> None:
    with api.client(ADMIN_KEY) as admin:
        answer = admin.post(
            f"/v1/principals/{quote(principal, safe='')}/quarantine",
            json={"reason": "adapter test: a burst of deletes"},
        )
        assert answer.status_code == 200, answer.text


def pending_approvals(api: LeashAPI, principal: str) -> list[dict[str, object]]:
    with api.client(ADMIN_KEY) as admin:
        listed = admin.get("/v1/approvals", params={"status": "pending"}).json()["approvals"]
    return [a for a in listed if a.get("principal") == principal]


def approve_when_asked(api: LeashAPI, principal: str, *, verdict: str = "approve") -> str:
    """Wait for `principal`'s pending approval, then approve (or deny) it as an admin."""
    pending = wait_until(
        lambda: pending_approvals(api, principal),
        timeout_s=APPROVER_WAIT_S,
        what=f"an approval asked for {principal}",
        poll_s=0.1,
    )
    approval = str(pending[0]["id"])
    with api.client(ADMIN_KEY) as admin:
        answer = admin.post(f"/v1/approvals/{approval}/{verdict}", json={})
        assert answer.status_code == 200, answer.text
    return approval


def unreachable() -> LeashClient:
    return LeashClient(f"http://127.0.0.1:{free_port()}", INGEST_KEY, timeout_s=1)


__all__ = [
    "api",
    "approve_when_asked",
    "leash",
    "pending_approvals",
    "quarantine",
    "unreachable",
]
