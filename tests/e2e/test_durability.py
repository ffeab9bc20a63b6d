"""kill -9 right after the 202s: every acknowledged event is there after restart, none twice."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson
import pytest

from tests.e2e.conftest import LeashProcess, start_leash, wait_for_total
from tests.factories import make_record
from tests.unit.detect.response.test_webhooks import WebhookReceiver
from tests.wait import wait_until

pytestmark = pytest.mark.e2e


def post_batches(leash: LeashProcess, batches: int, size: int) -> set[str]:
    """Concurrently post batches; return the event ids of every batch that got a 202."""

    def post(_: int) -> list[str]:
        records = [make_record() for _ in range(size)]
        with httpx.Client(timeout=30) as client:
            response = client.post(
                f"{leash.url}/v1/events",
                json={"Records": records},
                headers={"Authorization": f"Bearer {leash.key}"},
            )
        assert response.status_code == 202, response.text
        assert response.json()["accepted"] == size
        return [r["eventID"] for r in records]

    with ThreadPoolExecutor(8) as pool:
        return {event_id for ids in pool.map(post, range(batches)) for event_id in ids}


def stored_ids(leash: LeashProcess) -> list[str]:
    ids: list[str] = []
    with leash.client() as client:
        while True:
            page = client.get("/v1/events", params={"limit": 5000, "offset": len(ids)}).json()
            if not page["events"]:
                return ids
            ids.extend(e["event_id"] for e in page["events"])


def stored_total(leash: LeashProcess) -> int:
    with leash.client() as client:
        return int(client.get("/v1/events", params={"limit": 1}).json()["total"])


# The sink flushes a batch at max_rows or max_age_s: with neither reachable it holds every row,
# so nothing reaches the store and nothing is committed -- only the durable log has the events.
HELD_SINK = {"LEASH_SINK__MAX_ROWS": "1000000", "LEASH_SINK__MAX_AGE_S": "3600"}


def test_kill_9_before_the_sink_stored_anything(tmp_path: Path) -> None:
    """Every acknowledged event is replayed from the durable log alone."""
    data_dir = tmp_path / "data"
    leash = start_leash(data_dir, extra_env=HELD_SINK)
    acked = post_batches(leash, batches=40, size=50)
    assert stored_total(leash) == 0  # the kill lands before the sink stored a single row
    leash.stop(signal.SIGKILL)
    assert leash.process.returncode == -signal.SIGKILL
    restart_and_check(data_dir, acked)


def test_kill_9_after_the_sink_stored_some(tmp_path: Path) -> None:
    """Rows stored but maybe not committed are replayed and collapse; the rest arrive."""
    data_dir = tmp_path / "data"
    leash = start_leash(data_dir, extra_env={"LEASH_SINK__MAX_ROWS": "100"})
    acked = post_batches(leash, batches=40, size=50)
    wait_until(lambda: stored_total(leash), timeout_s=30, what="the sink's first insert")
    leash.stop(signal.SIGKILL)
    assert leash.process.returncode == -signal.SIGKILL
    restart_and_check(data_dir, acked)


def restart_and_check(data_dir: Path, acked: set[str]) -> None:
    again = start_leash(data_dir)
    try:
        assert wait_for_total(again, len(acked)) == len(acked)
        ids = stored_ids(again)
        assert len(ids) == len(set(ids)) == len(acked)
        assert set(ids) == acked
        replay = again.client().post("/v1/events", json=make_record()).json()
        assert replay["accepted"] == 1
    finally:
        again.stop()
    verify = leash_verify(data_dir)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "OK" in verify.stdout


def leash_verify(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leash.cli", "verify", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_kill_9_loses_no_decision_of_the_gate(tmp_path: Path) -> None:
    """Decisions are inserted every few seconds; the journal keeps the ones a kill -9 caught,
    and the ledger chain over them verifies before and after their replay."""
    data_dir = tmp_path / "data"
    leash = start_leash(data_dir)
    answered: list[str] = []
    with leash.client() as client:
        # the detector child flushes the decision log as it starts (its bypass rule reads what
        # was answered): decide only once it runs, so the decisions below are still journaled
        # when the kill lands, as the test means them to be
        wait_until(
            lambda: (client.get("/v1/detector").json().get("process") or {"pid": 1})["pid"],
            timeout_s=60,
            what="the detector child to start",
        )
        for n in range(30):
            body = {
                "principal": "arn:aws:sts::123456789012:assumed-role/ops-agent/run-7",
                "action": "DescribeInstances" if n % 2 else "DeleteDBInstance",
                "source": "ec2.amazonaws.com" if n % 2 else "rds.amazonaws.com",
                "resources": [f"res-{n}"],
            }
            response = client.post("/v1/decide", json=body)
            assert response.status_code == 200, response.text
            answered.append(response.json()["decision_id"])
    # approvals are stored within a second, their ledger batch record only journaled for now
    journaled = data_dir / "journal"
    deadline = time.monotonic() + 30
    while not journaled_rows(journaled, "ledger_batches"):
        assert time.monotonic() < deadline, "no ledger batch was journaled"
        time.sleep(0.05)
    leash.stop(signal.SIGKILL)
    crashed = leash_verify(data_dir)  # the dead process's journal is read, not replayed
    assert crashed.returncode == 0, crashed.stdout + crashed.stderr
    assert "read from a stopped process's journal: OK" in crashed.stdout

    again = start_leash(data_dir)
    try:
        with again.client() as client:
            stored = [
                d["id"]
                for d in client.get("/v1/decisions", params={"limit": 5000}).json()["decisions"]
            ]
    finally:
        again.stop()
    assert sorted(stored) == sorted(answered)  # every one, none twice
    verify = leash_verify(data_dir)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    ledger = verify.stdout.splitlines()[-1]
    assert ledger.startswith("ledger: verified") and "in 2 chains" in ledger  # killed + successor
    assert ledger.endswith(": OK")


def test_kill_9_loses_no_webhook_of_the_outbox(tmp_path: Path) -> None:
    """A webhook whose first attempt failed is delivered after a kill -9 and a restart."""
    receiver = WebhookReceiver(status=503)  # up, but failing: the attempt shows it was queued
    server = receiver.serve()
    env = {"LEASH_WEBHOOK_URLS": receiver.url}
    data_dir = tmp_path / "data"
    leash = start_leash(data_dir, extra_env=env)
    body = {
        "principal": "arn:aws:sts::123456789012:assumed-role/ops-agent/run-9",
        "action": "DeleteDBInstance",
        "source": "rds.amazonaws.com",
        "resources": ["prod-db"],
    }
    try:
        with leash.client() as client:
            answer = client.post("/v1/decide", json=body).json()
        assert answer["decision"] == "require_approval"
        first = receiver.wait_for(1, timeout_s=30)
        leash.stop(signal.SIGKILL)  # rows are batched every second: this comes well before
        assert len(first) == 1

        receiver.status = 204
        again = start_leash(data_dir, extra_env=env)
        try:
            received = receiver.wait_for(2, timeout_s=30)
        finally:
            again.stop()
    finally:
        server.shutdown()
        server.server_close()
    assert len(received) == 2
    assert received[1].headers["webhook-id"] == received[0].headers["webhook-id"]
    event = orjson.loads(received[1].body)
    assert event["type"] == "approval.requested"
    assert event["data"]["approval"]["id"] == answer["approval_id"]


def journaled_rows(root: Path, table: str) -> bool:
    """A row of `table` is in a journal under `root` -- not only a journal's size: journals are
    mapped files, allocated ahead in NUL padding."""
    for path in root.glob(f"*/{table}.ndjson*"):
        try:
            if path.read_bytes().strip(b"\0"):
                return True
        except FileNotFoundError:  # rotated away meanwhile
            continue
    return False
