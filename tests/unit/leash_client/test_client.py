"""leash_client against the real app: emit, decide and the guard decorator."""

from __future__ import annotations

import time
from urllib.parse import quote

import httpx
import pytest

from detect.alerts.alert import AlertStore
from leash_client import ActionDenied, ApprovalTimeout, LeashClient, LeashUnavailable
from tests.conftest import ADMIN_KEY, INGEST_KEY, READ_KEY, auth
from tests.factories import make_record
from tests.unit.detect.response.test_webhooks import (
    AGENT_ARN,
    ResponseEnv,
    env,
    free_port,
    make_alert,
)

__all__ = ["env"]


@pytest.fixture
def leash(env: ResponseEnv) -> LeashClient:
    return LeashClient(api_key=INGEST_KEY, http=env.client)


def test_emit_and_decide(leash: LeashClient) -> None:
    assert leash.emit([make_record(), make_record()])["accepted"] == 2
    decision = leash.decide(AGENT_ARN, "DescribeInstances", source="ec2.amazonaws.com")
    assert decision.allowed and decision.decision_id


def test_guard_blocks_a_destructive_tool_call_of_a_quarantined_agent(
    env: ResponseEnv, leash: LeashClient
) -> None:
    env.client.post(
        f"/v1/principals/{quote(AGENT_ARN, safe='')}/quarantine",
        json={"reason": "burst"},
        headers=auth(ADMIN_KEY),
    )
    calls: list[str] = []

    @leash.guard(
        principal=AGENT_ARN,
        action="DeleteDBInstance",
        source="rds.amazonaws.com",
        resources=lambda db: [db],
    )
    def delete_db(db: str) -> str:
        calls.append(db)
        return "deleted"

    with pytest.raises(ActionDenied, match="quarantined") as raised:
        delete_db("prod-db")
    assert calls == []
    assert raised.value.decision is not None and raised.value.decision.decision == "deny"


def test_guard_waits_for_a_human_then_runs_once(env: ResponseEnv, leash: LeashClient) -> None:
    calls: list[str] = []

    def human_approves(_: float) -> None:
        pending = env.client.get(
            "/v1/approvals", params={"status": "pending"}, headers=auth(ADMIN_KEY)
        ).json()["approvals"]
        for approval in pending:
            env.client.post(
                f"/v1/approvals/{approval['id']}/approve", json={}, headers=auth(ADMIN_KEY)
            )

    @leash.guard(
        principal=AGENT_ARN,
        action="DeleteDBInstance",
        source="rds.amazonaws.com",
        resources=lambda db: [db],
        sleep=human_approves,
        poll_s=0,
    )
    def delete_db(db: str) -> str:
        calls.append(db)
        return "deleted"

    assert delete_db("prod-db") == "deleted"
    assert calls == ["prod-db"]
    with pytest.raises(ApprovalTimeout):  # single use: the next call asks again
        leash.wait_for_decision(
            AGENT_ARN,
            "DeleteDBInstance",
            source="rds.amazonaws.com",
            resources=["prod-db"],
            wait_s=0,
        )


def test_guard_runs_allowed_tools_and_fails_closed_without_leash(leash: LeashClient) -> None:
    @leash.guard(principal=AGENT_ARN, action="DescribeInstances", source="ec2.amazonaws.com")
    def describe() -> int:
        return 42

    assert describe() == 42
    down = LeashClient(f"http://127.0.0.1:{free_port()}", "k", timeout_s=2)

    @down.guard(principal=AGENT_ARN, action="DescribeInstances")
    def closed() -> int:
        return 1

    @down.guard(principal=AGENT_ARN, action="DescribeInstances", fail_open=True)
    def opened() -> int:
        return 2

    with pytest.raises(LeashUnavailable):
        closed()
    assert opened() == 2
    with pytest.raises(httpx.HTTPError):
        down.decide(AGENT_ARN, "DescribeInstances")
    down.close()


def test_iterators_follow_next_cursor_to_the_last_page(env: ResponseEnv) -> None:
    reader = LeashClient(api_key=READ_KEY, http=env.client)
    records = [make_record(eventName="DeleteBucket") for _ in range(5)] + [make_record()]
    LeashClient(api_key=INGEST_KEY, http=env.client).emit(records)
    deadline = time.monotonic() + 10
    while len(list(reader.iter_events(page_size=5000))) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    deletes = list(reader.iter_events(action="DeleteBucket", page_size=2))  # pages of 2, 2, 1
    assert sorted(e["event_id"] for e in deletes) == sorted(r["eventID"] for r in records[:5])
    assert [e["event_time"] for e in deletes] == sorted(
        (e["event_time"] for e in deletes), reverse=True
    )

    AlertStore(env.runtime.store).save(
        [make_alert(id=f"al_{i}", created_at_ms=1_790_000_000_000 + i) for i in range(3)]
    )
    assert [a["id"] for a in reader.iter_alerts(status="open", page_size=2)] == [
        "al_2",
        "al_1",
        "al_0",
    ]
