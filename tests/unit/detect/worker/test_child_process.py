"""The detector in a child process, wired as `leash up` wires it (real chDB, bus, spawned child):
what the API changes reaches the child, and what the child sees reaches the API."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from detect.services import Services
from detect.worker.process import DetectorProcess
from ingest.runtime import open_runtime
from ingest.settings import Settings
from leash.app import build_app, build_services, start_workers
from tests.conftest import ADMIN_KEY, INGEST_KEY, READ_KEY, auth
from tests.factories import db_deletes
from tests.wait import wait_until

AGENT_KEY = "arn:aws:sts::123456789012:assumed-role/deploy-agent"
WAIT_S = 60.0  # seconds; a spawned child imports the engine first on 2 shared cores


@dataclass
class Live:
    client: TestClient
    services: Services
    detector: DetectorProcess


@pytest.fixture
def live(settings: Settings) -> Iterator[Live]:
    with open_runtime(settings) as runtime:
        services = build_services(runtime)
        start_workers(runtime, sink=True, services=services, detect=True, detect_child=True)
        detector = services.detection
        assert isinstance(detector, DetectorProcess)
        with TestClient(build_app(services)) as client:
            yield Live(client, services, detector)


def deletes(first: int, count: int) -> list[dict[str, Any]]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    return db_deletes(start, count, first=first)


def processed(live: Live, count: int) -> bool:
    return int(live.detector.status()["events_processed"]) >= count


def test_the_engine_runs_in_another_process_and_its_kinds_and_scores_come_back(
    live: Live,
) -> None:
    pid = live.detector.status()["process"]["pid"]
    assert pid is not None and live.detector.child_pid == pid
    assert pid != os.getpid()
    # it yields the cores to the API's event loop (decide) when both want them
    assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)
    posted = live.client.post(
        "/v1/events", json={"Records": deletes(0, 12)}, headers=auth(INGEST_KEY)
    )
    assert posted.json()["accepted"] == 12
    wait_until(lambda: processed(live, 12), timeout_s=WAIT_S, what="the child to detect")
    assert live.services.bypass.actor_kind(AGENT_KEY) == "agent"  # mirrored for the gate
    alerts = live.client.get("/v1/alerts", headers=auth(READ_KEY)).json()["alerts"]
    assert [a["principal"] for a in alerts] == [AGENT_KEY]


def test_a_suppression_made_in_the_api_holds_in_the_child_and_its_hits_come_back(
    live: Live,
) -> None:
    made = live.client.post(
        "/v1/suppressions",
        json={"principal": AGENT_KEY, "action": "DeleteDBInstance", "reason": "drill"},
        headers=auth(ADMIN_KEY),
    )
    assert made.status_code == 201, made.text
    posted = live.client.post(
        "/v1/events", json={"Records": deletes(0, 12)}, headers=auth(INGEST_KEY)
    )
    assert posted.json()["accepted"] == 12
    wait_until(lambda: processed(live, 12), timeout_s=WAIT_S, what="the child to detect")
    assert live.client.get("/v1/alerts", headers=auth(READ_KEY)).json()["alerts"] == []
    listed = live.client.get("/v1/suppressions", headers=auth(READ_KEY)).json()["suppressions"]
    assert listed[0]["hits"] > 0

    lifted = live.client.delete(f"/v1/suppressions/{made.json()['id']}", headers=auth(ADMIN_KEY))
    assert lifted.status_code == 200
    live.client.post("/v1/events", json={"Records": deletes(12, 12)}, headers=auth(INGEST_KEY))
    wait_until(
        lambda: live.client.get("/v1/alerts", headers=auth(READ_KEY)).json()["alerts"],
        timeout_s=WAIT_S,
        what="an alert once the suppression is lifted",
    )
