"""`leash hook claude-code` as Claude Code runs it: a process reading the PreToolUse JSON on stdin,
asking a real `leash up` over HTTP, printing the hook's JSON answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.e2e.conftest import ADMIN_KEY, LeashProcess, start_leash
from tests.ports import free_port

AGENT = "arn:aws:sts::123456789012:assumed-role/coding-agent/claude-7f3a"
AGENT_KEY = "e2e-agent-ingest-key"  # the agent's own key: it may ask, not approve


@pytest.fixture
def leash_with_agent_key(tmp_path: Path) -> Iterator[LeashProcess]:
    keys = f"{ADMIN_KEY}:admin,{AGENT_KEY}:ingest"
    leash = start_leash(tmp_path / "data", extra_env={"LEASH_API_KEYS": keys})
    yield leash
    leash.stop()


def hook(url: str, key: str, tool: str, tool_input: dict[str, Any], *args: str) -> dict[str, Any]:
    """Run the hook once; its parsed stdout ({} when it gives no opinion)."""
    call = {
        "session_id": "2b7c9e1f",
        "transcript_path": "/home/dev/.claude/projects/api/2b7c9e1f.jsonl",
        "cwd": "/home/dev/api",
        "permission_mode": "default",
        "hook_event_name": "PreToolUse",
        "tool_name": tool,
        "tool_input": tool_input,
        "tool_use_id": "toolu_01ABC",
    }
    env = {**os.environ, "LEASH_API_URL": url, "LEASH_API_KEY": key, "LEASH_PRINCIPAL": AGENT}
    done = subprocess.run(
        [sys.executable, "-m", "leash.cli", "hook", "claude-code", *args],
        input=json.dumps(call).encode(),
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    out = done.stdout.decode().strip()
    return json.loads(out)["hookSpecificOutput"] if out else {}


def test_claude_codes_tool_calls_are_gated_by_leash(leash_with_agent_key: LeashProcess) -> None:
    leash_up = leash_with_agent_key
    url, key = leash_up.url, AGENT_KEY
    assert hook(url, key, "Bash", {"command": "git status && ls"}) == {}  # allowed: no opinion
    assert hook(url, key, "Read", {"file_path": "/home/dev/api/README.md"}, "--allow") == {
        "hookEventName": "PreToolUse",
        "permissionDecision": "allow",
        "permissionDecisionReason": "Leash: read-only action",
    }
    destroy = {"command": "terraform destroy -auto-approve", "description": "recreate env"}
    asked = hook(url, key, "Bash", destroy)
    assert asked["permissionDecision"] == "ask"
    reason = asked["permissionDecisionReason"]
    assert "destructive action" in reason and f"{url}/v1/approvals/apr_" in reason
    approval = reason.split("/v1/approvals/")[1].split("/")[0]

    with leash_up.client() as client:
        pending = client.get(f"/v1/approvals/{approval}").json()
        assert "cmd: terraform destroy -auto-approve" in str(pending)
        assert client.post(f"/v1/approvals/{approval}/approve").status_code == 200
        assert hook(url, key, "Bash", destroy, "--allow")["permissionDecision"] == "allow"
        # single use: the next destroy asks again
        assert hook(url, key, "Bash", destroy)["permissionDecision"] == "ask"
        revoked = client.post(
            f"/v1/principals/{quote(AGENT, safe='')}/revoke", json={"reason": "e2e"}
        )
        assert revoked.status_code == 200, revoked.text
    denied = hook(url, key, "Bash", {"command": "npm test"})
    assert denied["permissionDecision"] == "deny"
    assert "principal is revoked" in denied["permissionDecisionReason"]


def test_without_leash_dangerous_calls_fail_closed_and_others_pass() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    refused = hook(url, "k", "Bash", {"command": "kubectl delete namespace payments"})
    assert refused["permissionDecision"] == "deny"
    assert "could not be asked" in refused["permissionDecisionReason"]
    assert hook(url, "k", "Bash", {"command": "pytest -q"}) == {}
    opened = hook(url, "k", "Bash", {"command": "rm -rf build"}, "--fail-open")
    assert opened == {}


def test_a_url_without_a_scheme_or_a_wrong_key_fails_closed_and_says_why(
    leash_with_agent_key: LeashProcess,
) -> None:
    port = leash_with_agent_key.url.rsplit(":", 1)[1]
    typo = hook(f"127.0.0.1:{port}", AGENT_KEY, "Bash", {"command": "terraform destroy"})
    assert typo["permissionDecision"] == "deny"
    assert "not an http(s):// URL" in typo["permissionDecisionReason"]
    stranger = hook(leash_with_agent_key.url, "not-a-key", "Bash", {"command": "rm -rf /srv"})
    assert stranger["permissionDecision"] == "deny"
    assert "401" in stranger["permissionDecisionReason"]
    assert "LEASH_API_KEY needs the ingest scope" in stranger["permissionDecisionReason"]
