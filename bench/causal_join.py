"""Causal-join benchmark: how often a cloud event is tied to the tool call that really made it.

A generated working day (seeded): agents on their own roles and agents sharing one role, each
making tool calls one after another (durations from under a second to minutes) that cause 0-8
CloudTrail calls inside the call's time, logged with CloudTrail's whole-second `eventTime`; some
agents propagate the call id (as the session name, or `leash-call/<id>` in the user agent), the
rest do not; most report their tool calls under their session's ARN, two only under their role's;
cron jobs use the same roles (other sessions) between and during the calls. Everything is
POSTed to a real `leash up`, then every cloud event is asked `GET /v1/events/{id}/related`.

Printed per way of joining: precision (events tied to a call that are tied to the right one),
recall (events a call made that are tied to it), and how many of the events no call made (the
people's and cron's) were tied to a call anyway.

    python -m bench.causal_join --seed 1 --calls 400
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.serving import free_port, start_leash

KEY = "bench-join-key"
ACCOUNT = "123456789012"
DAY = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
CLOUD_CALLS = [
    ("s3.amazonaws.com", "DeleteObject", False),
    ("s3.amazonaws.com", "GetObject", True),
    ("ec2.amazonaws.com", "DescribeInstances", True),
    ("ec2.amazonaws.com", "TerminateInstances", False),
    ("rds.amazonaws.com", "DeleteDBSnapshot", False),
    ("lambda.amazonaws.com", "UpdateFunctionCode", False),
]


@dataclass
class Agent:
    name: str
    role: str
    propagates: str  # "session", "user agent" or "none"
    reports: str = "session"  # its tool calls name its session ARN, or only its "role"

    @property
    def session(self) -> str:  # a per-run session name: the principal is the role
        return f"botocore-session-{sum(map(ord, self.name)) * 7919}"


@dataclass
class Truth:
    event_id: str
    call: str  # the tool call's event id that made it, "" for a person's or cron's call
    agent: Agent | None


def iso(at: datetime, *, whole_seconds: bool) -> str:
    if whole_seconds:  # CloudTrail's eventTime
        return at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def identity(role: str, session: str) -> dict[str, Any]:
    return {
        "type": "AssumedRole",
        "principalId": f"AROAEXAMPLE:{session}",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}",
        "accountId": ACCOUNT,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "arn": f"arn:aws:iam::{ACCOUNT}:role/{role}",
                "userName": role,
            }
        },
    }


def cloud_record(
    rng: random.Random, role: str, session: str, at: datetime, user_agent: str
) -> dict[str, Any]:
    source, name, read_only = rng.choice(CLOUD_CALLS)
    return {
        "eventVersion": "1.08",
        "userIdentity": identity(role, session),
        "eventTime": iso(at, whole_seconds=True),
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "10.0.3.17",
        "userAgent": user_agent,
        "requestParameters": {"target": f"res-{rng.randrange(10_000)}"},
        "responseElements": None,
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
    }


def tool_record(agent: Agent, call_id: str, at: datetime, duration_ms: int) -> dict[str, Any]:
    return {
        "eventVersion": "1.08",
        "eventID": f"tool-{call_id}",
        "eventTime": iso(at, whole_seconds=False),
        "eventSource": f"tool:{agent.name}",
        "eventName": "Bash",
        "userIdentity": (
            identity(agent.role, agent.session)
            if agent.reports == "session"
            else {"type": "Role", "arn": f"arn:aws:iam::{ACCOUNT}:role/{agent.role}"}
        ),
        "agent": {"name": agent.name},
        "requestParameters": {"command": "./ops.sh", "toolCallId": call_id},
        "additionalEventData": {"durationMs": duration_ms},
    }


def generate(seed: int, calls: int) -> tuple[list[dict[str, Any]], list[Truth]]:
    """The day's records (tool calls and cloud events) and who made each cloud event."""
    rng = random.Random(seed)
    agents = [
        Agent("builder", "builder-agent", "session"),
        Agent("janitor", "janitor-agent", "user agent"),
        Agent("ops", "ops-agent", "none"),
        Agent("reporter", "report-agent", "none", reports="role"),
        Agent("coder-a", "shared-dev-role", "none"),  # four agents on one role, all at once
        Agent("coder-b", "shared-dev-role", "none"),
        Agent("coder-d", "shared-dev-role", "none", reports="role"),
        Agent("coder-c", "shared-dev-role", "user agent"),
    ]
    records: list[dict[str, Any]] = []
    truths: list[Truth] = []
    for agent in agents:
        at = DAY + timedelta(seconds=rng.uniform(0, 120))
        for _ in range(calls // len(agents)):
            call_id = f"call_{uuid.UUID(int=rng.getrandbits(128)).hex[:20]}"
            duration = min(300.0, rng.lognormvariate(1.2, 1.3))  # median ~3.3 s
            records.append(tool_record(agent, call_id, at, int(duration * 1000)))
            for _ in range(rng.choice([0, 1, 1, 2, 3, 5, 8])):
                when = at + timedelta(seconds=rng.uniform(0, duration))
                session = call_id if agent.propagates == "session" else agent.session
                user_agent = "aws-cli/2.15.0 Python/3.11"
                if agent.propagates == "user agent":
                    user_agent += f" app/leash-call/{call_id}"
                record = cloud_record(rng, agent.role, session, when, user_agent)
                records.append(record)
                truths.append(Truth(record["eventID"], f"tool-{call_id}", agent))
            at += timedelta(seconds=duration + rng.expovariate(1 / 40))
    end = max(datetime.fromisoformat(r["eventTime"].replace("Z", "+00:00")) for r in records)
    for role in sorted({a.role for a in agents}):  # people and cron on the same roles
        for _ in range(calls // 4):
            when = DAY + (end - DAY) * rng.random()
            cron = f"botocore-session-{rng.randrange(10**9, 10**10)}"
            record = cloud_record(rng, role, cron, when, "Boto3/1.34 Python/3.11")
            records.append(record)
            truths.append(Truth(record["eventID"], "", None))
    return records, truths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--calls", type=int, default=400, help="tool calls in the day")
    args = parser.parse_args()
    records, truths = generate(args.seed, args.calls)
    data_dir = Path(tempfile.mkdtemp(prefix="leash-bench-join-"))
    port = free_port()
    server = start_leash(data_dir, port, {"LEASH_API_KEYS": f"{KEY}:admin"})
    headers = {"Authorization": f"Bearer {KEY}"}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as client:
            for start in range(0, len(records), 1000):
                answer = client.post("/v1/events", json={"Records": records[start : start + 1000]})
                answer.raise_for_status()
            deadline = time.monotonic() + 120
            while client.get("/v1/events", params={"limit": 1}).json()["total"] < len(records):
                if time.monotonic() > deadline:
                    raise SystemExit("the events were not stored within 120 s")
                time.sleep(0.2)
            tally: Counter[tuple[str, str]] = Counter()
            for truth in truths:
                cause = client.get(f"/v1/events/{truth.event_id}/related").json()["cause"]
                joined = cause["tool_call"]["event_id"] if cause else ""
                how = cause["how"] if cause else "-"
                kind = (
                    "no call made it"
                    if truth.agent is None
                    else f"{'shared role' if truth.agent.role == 'shared-dev-role' else 'own role'}"
                    f", propagates {truth.agent.propagates}, reports its {truth.agent.reports}"
                )
                verdict = "none" if not joined else ("right" if joined == truth.call else "wrong")
                tally[(kind, verdict)] += 1
                tally[(f"joined by {how}", verdict)] += 1
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(data_dir, ignore_errors=True)
    calls = sum(1 for r in records if r["eventSource"].startswith("tool:"))
    print(
        f"{time.strftime('%Y-%m-%d')} causal join, seed {args.seed}: {calls} tool calls, "
        f"{len(truths)} cloud events ({sum(1 for t in truths if not t.call)} by no call)"
    )
    print(f"{'events':<58} {'n':>6} {'right':>7} {'wrong':>7} {'untied':>7}")
    for kind in sorted({k for k, _ in tally}):
        right, wrong, none = (tally[(kind, v)] for v in ("right", "wrong", "none"))
        n = right + wrong + none
        print(f"{kind:<58} {n:>6} {right / n:>7.1%} {wrong / n:>7.1%} {none / n:>7.1%}")
    kinds = {k for k, _ in tally if not k.startswith("joined")}
    right = sum(tally[(k, "right")] for k in kinds)
    tied = right + sum(tally[(k, "wrong")] for k in kinds)
    made = sum(1 for t in truths if t.call)
    print(
        f"precision {right / max(tied, 1):.3f} (tied events tied to the right call), "
        f"recall {right / max(made, 1):.3f} (events a call made tied to it)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
