"""`leash up` runs its detection engine in a child process: a destructive burst still pages and
quarantines through it, and kill -9 of that child is survived -- a new child takes over, every
acknowledged event is stored once, and the incident grows instead of opening a second alert."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest

from tests.e2e.conftest import LeashProcess, start_leash, wait_for_total
from tests.factories import db_deletes
from tests.unit.detect.response.test_webhooks import SECRET, WebhookReceiver
from tests.wait import wait_until

AGENT_KEY = "arn:aws:sts::123456789012:assumed-role/deploy-agent"
WAIT_S = 60.0  # seconds; generous for 2 shared cores, each wait ends as soon as things happen


def burst(start: datetime, first: int, count: int) -> list[dict[str, Any]]:
    return db_deletes(start, count, first=first)


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rpartition(")")[2].split()[1])


def detector(client: httpx.Client) -> dict[str, Any]:
    body: dict[str, Any] = client.get("/v1/detector").json()
    return body


def agent_alerts(client: httpx.Client) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = client.get("/v1/alerts", params={"principal": AGENT_KEY}).json()[
        "alerts"
    ]
    return alerts


def opened(receiver: WebhookReceiver) -> list[dict[str, Any]]:
    bodies = [orjson.loads(got.body) for got in list(receiver.received)]
    return [b for b in bodies if b["type"] == "alert.opened"]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    rec = WebhookReceiver()
    server = rec.serve()
    yield rec
    server.shutdown()
    server.server_close()


@pytest.fixture
def leash(tmp_path: Path, receiver: WebhookReceiver) -> Iterator[LeashProcess]:
    process = start_leash(
        tmp_path / "data",
        extra_env={
            "LEASH_PROCESSES": "2",
            "LEASH_WEBHOOK_URLS": receiver.url,
            "LEASH_WEBHOOK_SECRET": SECRET,
        },
    )
    yield process
    process.stop()


def test_burst_pages_through_the_child_and_its_kill_9_loses_nothing(
    leash: LeashProcess, receiver: WebhookReceiver
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    with leash.client() as client:
        first = detector(client)["process"]["pid"]
        assert first != leash.process.pid and parent_of(first) == leash.process.pid

        accepted = client.post("/v1/events", json={"Records": burst(start, 0, 12)}).json()
        assert accepted["accepted"] == 12
        alert = wait_until(
            lambda: next(iter(agent_alerts(client)), None), timeout_s=WAIT_S, what="the alert"
        )
        wait_until(lambda: opened(receiver), timeout_s=WAIT_S, what="alert.opened webhook")
        principal = f"/v1/principals/{quote(AGENT_KEY, safe='')}"
        wait_until(  # the child's alert reached the API process's auto-response
            lambda: client.get(principal).json()["state"] == "quarantined",
            timeout_s=WAIT_S,
            what="auto-quarantine",
        )
        decided = client.post(
            "/v1/decide",
            json={
                "principal": AGENT_KEY + "/agent-run-7f3a",
                "source": "rds.amazonaws.com",
                "action": "DeleteDBInstance",
            },
        ).json()
        assert decided["decision"] == "deny"

        # the rest of the burst, and the child killed right after its 202: it is processing
        # these events or about to be handed them
        accepted = client.post("/v1/events", json={"Records": burst(start, 12, 12)}).json()
        assert accepted["accepted"] == 12
        os.kill(first, signal.SIGKILL)

        def restarted() -> dict[str, Any] | None:
            status = detector(client)
            pid = status["process"]["pid"]
            return status if pid not in (None, first) and not status["stale"] else None

        status = wait_until(restarted, timeout_s=WAIT_S, what="a new detector child")
        assert status["process"]["restarts"] == 1
        assert parent_of(status["process"]["pid"]) == leash.process.pid
        assert not Path(f"/proc/{first}").exists() or parent_of(first) != leash.process.pid

        assert wait_for_total(leash, 24, timeout_s=WAIT_S) == 24  # every acknowledged event

        def grown() -> dict[str, Any] | None:
            listed = agent_alerts(client)
            return listed[0] if len(listed) == 1 and listed[0]["event_count"] > 12 else None

        latest = wait_until(grown, timeout_s=WAIT_S, what="the alert to grow past 12 events")
        assert latest["id"] == alert["id"]
        assert len(agent_alerts(client)) == 1  # no second alert for the same incident
        assert [b["data"]["alert"]["id"] for b in opened(receiver)] == [alert["id"]]
        assert leash.process.poll() is None and client.get("/healthz").status_code == 200
