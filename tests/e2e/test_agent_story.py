"""The agent story end to end, wired as `leash up` wires it: a coding agent's
`delete_environment(prod)` tool call (OpenTelemetry) -> 40 CloudTrail deletes in its time ->
one alert that shows the call and the events it caused -> quarantine -> the agent's next
dangerous tool call is denied at the gate."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ingest.runtime import open_runtime
from ingest.settings import Settings
from leash.hookcli import answer_call
from tests.conftest import READ_KEY, auth
from tests.e2e.test_response_flow import start_everything, wait_for
from tests.factories import make_record
from tests.unit.ingest.test_otlp import PATH, ROLE, export, tool

AGENT_TOKEN = "coding-agent-token"
TRAIL_TOKEN = "trail-collector-token"
KEYS = f"""
keys:
  - name: coding-agent            # bound to its own role: trusted for what it reports
    sha256: {hashlib.sha256(AGENT_TOKEN.encode()).hexdigest()}
    scopes: [ingest]
    principals: ["arn:aws:sts::123456789012:assumed-role/coding-agent/*"]
  - name: trail-collector         # ships the organisation's CloudTrail
    sha256: {hashlib.sha256(TRAIL_TOKEN.encode()).hexdigest()}
    scopes: [ingest]
    trusted: true
"""


def cloud_delete(n: int, at: datetime) -> dict[str, Any]:
    return make_record(
        eventName="DeleteDBInstance",
        eventSource="rds.amazonaws.com",
        role="coding-agent",
        session="claude-7f3a",
        requestParameters={"dBInstanceIdentifier": f"prod-db-{n}"},
        readOnly=False,
        at=at,
    )


def test_a_tool_call_its_40_deletes_one_alert_that_shows_both_then_quarantine(
    settings: Settings, tmp_path: Path
) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text(KEYS, encoding="utf-8")
    settings = settings.model_copy(update={"keys_file": keys})
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    span = tool(1, "delete_environment", {"environment": "prod"})
    span.start_time_unix_nano = int(start.timestamp() * 1e9)
    span.end_time_unix_nano = span.start_time_unix_nano + 90 * 10**9
    deletes = [cloud_delete(n, start + timedelta(seconds=2 + 2 * n)) for n in range(40)]

    with open_runtime(settings) as runtime, start_everything(runtime) as client:
        reported = client.post(
            PATH,
            content=export(span).SerializeToString(),
            headers={**auth(AGENT_TOKEN), "Content-Type": "application/x-protobuf"},
        )
        assert reported.status_code == 200, reported.text
        shipped = client.post("/v1/events", json={"Records": deletes}, headers=auth(TRAIL_TOKEN))
        assert shipped.json()["accepted"] == 40

        def settled_alert() -> dict[str, Any] | None:
            listed = client.get(
                "/v1/alerts", params={"principal": ROLE}, headers=auth(READ_KEY)
            ).json()["alerts"]
            if len(listed) != 1 or listed[0]["event_count"] < 40:
                return None
            full: dict[str, Any] = client.get(
                f"/v1/alerts/{listed[0]['id']}", headers=auth(READ_KEY)
            ).json()
            return full if "tool_calls" in full else None

        alert = wait_for(settled_alert, "one alert over the 40 deletes, with its tool call")
        assert alert["severity"] == "critical" and "untrusted" not in alert["explanation"]
        (story,) = alert["tool_calls"]["tool_calls"]
        assert story["tool_call"]["action"] == "delete_environment"
        assert story["how"] == "time window"
        assert sorted(story["events"]) == sorted(d["eventID"] for d in deletes)
        assert alert["tool_calls"]["without_tool_call"] == []

        principal = f"/v1/principals/{quote(ROLE, safe='')}"
        state = wait_for(
            lambda: (
                (s := client.get(principal, headers=auth(READ_KEY)).json())["state"]
                == "quarantined"
                and s
            ),
            "automatic quarantine",
        )
        assert state["actor_kind"] == "agent"
        denied = client.post(
            "/v1/decide",
            headers=auth(AGENT_TOKEN),
            json={
                "principal": ROLE,
                "source": "tool:claude-code",
                "action": "Bash",
                "arguments": {"command": "aws rds delete-db-instance --db-instance-id prod-db-99"},
            },
        ).json()
        assert (denied["decision"], denied["rule"]) == ("deny", "quarantine")
        # the same ask through the Claude Code hook's answer: the agent's next call is refused
        hook_call = {
            "hook_event_name": "PreToolUse",
            "tool_name": "Bash",
            "tool_input": {"command": "aws rds delete-db-instance --db-instance-id prod-db-98"},
        }
        answered = answer_call(
            hook_call,
            ask=lambda: client.post(
                "/v1/decide",
                headers=auth(AGENT_TOKEN),
                json={
                    "principal": ROLE,
                    "source": "tool:claude-code",
                    "action": hook_call["tool_name"],
                    "arguments": hook_call["tool_input"],
                },
            ).json(),
            allow=False,
            wait_s=0,
            fail_open=False,
            url="http://testserver",
        )
        assert answered is not None
        output = answered["hookSpecificOutput"]
        assert output["permissionDecision"] == "deny"
        assert "quarantined" in output["permissionDecisionReason"]
