"""Rolling out a stricter gate against a real `leash up`: the running policy in monitor mode lets
the agent through and records what it would have answered; `leash gate replay` shows what a
candidate policy would do to the same traffic before it goes live."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.e2e.conftest import ADMIN_KEY, start_leash
from tests.factories import make_record

AGENT = "arn:aws:sts::123456789012:assumed-role/ops-agent/run-1"
DELETES = ("DeleteBucket", "DeleteTable", "DeleteFunction20150331")


def replay(env: dict[str, str], policy: Path, since: str, *args: str) -> Any:
    """`leash gate replay` as an operator runs it."""
    command = ["gate", "replay", "--policy", str(policy), "--since", since, *args]
    return subprocess.run(
        [sys.executable, "-m", "leash.cli", *command],
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_monitor_mode_then_replay_a_candidate_policy(tmp_path: Path) -> None:
    running = tmp_path / "policy.yml"
    running.write_text("mode: monitor\nrules: []\n")
    leash = start_leash(
        tmp_path / "data",
        extra_env={"LEASH_POLICY_FILE": str(running), "LEASH_API_KEYS": f"{ADMIN_KEY}:admin"},
    )
    try:
        with leash.client() as client:
            asked = client.post(
                "/v1/decide",
                json={
                    "principal": AGENT,
                    "action": "DeleteDBInstance",
                    "source": "rds.amazonaws.com",
                    "resources": ["prod-db"],
                },
            ).json()
            assert asked["decision"] == "allow" and asked["rule"] == "monitor"
            assert asked["reason"].startswith("monitor: would require_approval")
            records = [
                make_record(
                    eventName=name,
                    eventSource=f"{src}.amazonaws.com",
                    role="ops-agent",
                    session="run-1",
                    at=datetime.now(UTC) - timedelta(minutes=5),
                )
                for name, src in zip(DELETES, ("s3", "dynamodb", "lambda"), strict=True)
            ]
            assert client.post("/v1/events", json={"Records": records}).status_code == 202
        candidate = tmp_path / "strict.yml"
        candidate.write_text(
            "rules:\n"
            "  - {name: no-deletes-by-agents, effect: deny, principals: ['*ops-agent*'],"
            " actions: ['*:Delete*']}\n"
        )
        env = {**os.environ, "LEASH_API_URL": leash.url, "LEASH_API_KEY": ADMIN_KEY}
        report = None
        for _ in range(50):  # the three events become queryable about a second after the 202
            done = replay(env, candidate, "1d", "--json")
            assert done.returncode == 0, done.stderr.decode()
            report = json.loads(done.stdout)
            if report["requests"] >= 4:
                break
        assert report is not None
        assert report["requests"] == 4  # one decide, three calls the agent never asked about
        assert report["would"] == {"deny": 4}
        changes = {(c["was"], c["would"]): c["count"] for c in report["changed"]}
        assert changes == {("allow", "deny"): 1, ("never asked", "deny"): 3}
        (row,) = report["principals"]
        assert row["rule"] == "policy" and row["decision"] == "deny"
        bad = replay(env, running, "7 days")
        assert bad.returncode == 2 and b"--since" in bad.stderr
    finally:
        leash.stop()
