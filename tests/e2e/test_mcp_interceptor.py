"""deploy/mcp/leash-interceptor.sh as Docker's MCP Gateway runs a `before:exec` interceptor: the
tools/call request as JSON on stdin, nothing printed to let it through, a CallToolResult printed
to answer in its place -- against a real `leash up`. (The gateway itself needs Docker, which this
machine lacks; the stdin shape is the gateway's json.Marshal of the SDK's request.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.e2e.conftest import ADMIN_KEY, LeashProcess
from tests.e2e.test_claude_code_hook import AGENT, AGENT_KEY, leash_with_agent_key
from tests.ports import free_port

__all__ = ["leash_with_agent_key"]

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "mcp" / "leash-interceptor.sh"
pytestmark = pytest.mark.skipif(
    not (shutil.which("jq") and shutil.which("curl")), reason="the interceptor needs jq and curl"
)


def intercept(url: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any] | None:
    """Run the interceptor once; the CallToolResult it printed, or None (let through)."""
    request = {"Session": {}, "Params": {"name": tool, "arguments": arguments}, "Extra": None}
    env = {
        **os.environ,
        "LEASH_API_URL": url,
        "LEASH_API_KEY": AGENT_KEY,
        "LEASH_PRINCIPAL": AGENT,
        "LEASH_MCP_SERVER": "postgres",
    }
    done = subprocess.run(
        ["/bin/sh", "-c", str(SCRIPT)],
        input=json.dumps(request).encode(),
        capture_output=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    out = done.stdout.decode().strip()
    return json.loads(out) if out else None


def text_of(result: dict[str, Any] | None) -> str:
    assert result is not None and result["isError"] is True
    return str(result["content"][0]["text"])


def test_reads_pass_dangerous_calls_wait_and_a_revoked_agent_is_refused(
    leash_with_agent_key: LeashProcess,
) -> None:
    url = leash_with_agent_key.url
    assert intercept(url, "query", {"sql": "SELECT count(*) FROM invoices"}) is None
    asked = text_of(intercept(url, "execute_sql", {"sql": "DROP TABLE invoices"}))
    assert "Leash requires approval" in asked and "/v1/approvals/apr_" in asked
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    decisions = httpx.get(f"{url}/v1/decisions", headers=admin).json()["decisions"]
    assert any(d["source"] == "tool:mcp:postgres" for d in decisions)
    revoked = httpx.post(
        f"{url}/v1/principals/{quote(AGENT, safe='')}/revoke",
        json={"reason": "e2e"},
        headers=admin,
    )
    assert revoked.status_code == 200, revoked.text
    assert "principal is revoked" in text_of(intercept(url, "query", {"sql": "SELECT 1"}))


def test_without_leash_every_call_is_answered_with_an_error() -> None:
    down = f"http://127.0.0.1:{free_port()}"
    assert "could not be asked" in text_of(intercept(down, "query", {"sql": "SELECT 1"}))
