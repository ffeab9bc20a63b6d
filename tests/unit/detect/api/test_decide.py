"""The decide fast path answers exactly as the FastAPI route does, and leaves every error to it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ingest.api import create_app
from ingest.runtime import Runtime
from leash.app import build_app, build_services, router_factories
from tests.conftest import ADMIN_KEY, INGEST_KEY, READ_KEY

AGENT = "arn:aws:sts::123456789012:assumed-role/deploy-agent/agent-run-1"
HUMAN = "arn:aws:iam::123456789012:user/alice"


@pytest.fixture
def clients(runtime: Runtime) -> Iterator[tuple[TestClient, TestClient]]:
    """(app with the fast path, the same app without it) over one runtime."""
    services = build_services(runtime)
    with (
        TestClient(build_app(services)) as fast,
        TestClient(create_app(runtime, routers=router_factories(services))) as plain,
    ):
        yield fast, plain


def comparable(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: v for k, v in body.items() if k not in ("decision_id", "approval_id")}
    return body


REQUESTS: list[tuple[str, dict[str, str], Any]] = [
    (
        "read by an agent",
        {"Authorization": f"Bearer {INGEST_KEY}"},
        {"principal": AGENT, "action": "DescribeInstances", "source": "ec2.amazonaws.com"},
    ),
    (
        "delete by an agent",
        {"Authorization": f"Bearer {ADMIN_KEY}"},
        {
            "principal": AGENT,
            "action": "DeleteDBInstance",
            "source": "rds.amazonaws.com",
            "resources": ["prod-db"],
        },
    ),
    (
        "write by a person",
        {"Authorization": f"Bearer {INGEST_KEY}"},
        {"principal": HUMAN, "action": "PutObject", "source": "s3.amazonaws.com"},
    ),
    (
        "a coding agent's shell command",
        {"Authorization": f"Bearer {INGEST_KEY}"},
        {
            "principal": AGENT,
            "action": "Bash",
            "source": "tool:claude-code",
            "arguments": {"command": "terraform destroy -auto-approve"},
        },
    ),
    (
        "tool arguments that are not an object or a string",
        {"Authorization": f"Bearer {INGEST_KEY}"},
        {"principal": AGENT, "action": "Bash", "source": "tool", "arguments": [1, 2]},
    ),
    ("no key", {}, {"principal": AGENT, "action": "DescribeInstances"}),
    ("unknown key", {"Authorization": "Bearer nope"}, {"principal": AGENT, "action": "X"}),
    (
        "read-only key",
        {"Authorization": f"Bearer {READ_KEY}"},
        {"principal": AGENT, "action": "DescribeInstances"},
    ),
    ("missing action", {"Authorization": f"Bearer {INGEST_KEY}"}, {"principal": AGENT}),
    (
        "empty principal",
        {"Authorization": f"Bearer {INGEST_KEY}"},
        {"principal": "", "action": "DescribeInstances"},
    ),
    (
        "resources not a list",
        {"Authorization": f"Bearer {INGEST_KEY}"},
        {"principal": AGENT, "action": "DescribeInstances", "resources": "prod-db"},
    ),
]


@pytest.mark.parametrize(("name", "headers", "body"), REQUESTS, ids=[r[0] for r in REQUESTS])
def test_same_status_and_body_as_the_route(
    clients: tuple[TestClient, TestClient], name: str, headers: dict[str, str], body: Any
) -> None:
    fast, plain = clients
    got = fast.post("/v1/decide", json=body, headers=headers)
    want = plain.post("/v1/decide", json=body, headers=headers)
    assert got.status_code == want.status_code
    assert comparable(got.json()) == comparable(want.json())
    assert got.headers["content-type"] == want.headers["content-type"]


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_declared_json_gets_the_routes_422(
    clients: tuple[TestClient, TestClient], content_type: str | None
) -> None:
    fast, plain = clients
    headers = {"Authorization": f"Bearer {INGEST_KEY}"}
    if content_type:
        headers["Content-Type"] = content_type
    raw = b'{"principal": "arn:aws:iam::1:user/a", "action": "DescribeInstances"}'
    got = fast.post("/v1/decide", content=raw, headers=headers)
    want = plain.post("/v1/decide", content=raw, headers=headers)
    assert (got.status_code, got.json()) == (want.status_code, want.json())
    assert got.status_code == 422


def test_malformed_json_gets_the_routes_422(clients: tuple[TestClient, TestClient]) -> None:
    fast, plain = clients
    headers = {"Authorization": f"Bearer {INGEST_KEY}", "Content-Type": "application/json"}
    got = fast.post("/v1/decide", content=b'{"principal": ', headers=headers)
    want = plain.post("/v1/decide", content=b'{"principal": ', headers=headers)
    assert got.status_code == want.status_code == 422
    assert got.json() == want.json()


def test_every_fast_decision_is_logged_like_the_routes(
    runtime: Runtime, clients: tuple[TestClient, TestClient]
) -> None:
    fast, _ = clients
    headers = {"Authorization": f"Bearer {INGEST_KEY}"}
    ids = [
        fast.post(
            "/v1/decide",
            headers=headers,
            json={
                "principal": AGENT,
                "action": "DeleteDBInstance",
                "source": "rds.amazonaws.com",
                "resources": [f"db-{n}"],
            },
        ).json()["decision_id"]
        for n in range(3)
    ]
    listed = fast.get("/v1/decisions", headers={"Authorization": f"Bearer {READ_KEY}"}).json()
    assert {d["id"] for d in listed["decisions"]} >= set(ids)
    assert {d["decision"] for d in listed["decisions"] if d["id"] in ids} == {"require_approval"}


def test_other_paths_and_methods_pass_through(clients: tuple[TestClient, TestClient]) -> None:
    fast, _ = clients
    assert (
        fast.get("/v1/decide", headers={"Authorization": f"Bearer {INGEST_KEY}"}).status_code == 405
    )
    assert fast.get("/healthz").status_code == 200


def test_only_well_formed_authorised_decides_skip_the_app(runtime: Runtime) -> None:
    """The happy path never reaches the wrapped app; anything else reaches it with its body."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from detect.api.decide import DecideFastPath
    from detect.services import build_services
    from ingest.auth import Authenticator

    seen: list[bytes] = []

    async def route(request: Request) -> JSONResponse:
        seen.append(await request.body())
        return JSONResponse({"from": "app"}, status_code=418)

    inner = Starlette(routes=[Route("/v1/decide", route, methods=["POST"])])
    wrapped = DecideFastPath(
        inner,
        gate=build_services(runtime).gate,
        auth=Authenticator(runtime.settings.key_entries()),
    )
    client = TestClient(wrapped)  # type: ignore[arg-type]
    good = {"principal": AGENT, "action": "DescribeInstances", "source": "ec2.amazonaws.com"}

    headers = {"Authorization": f"Bearer {INGEST_KEY}"}
    answered = client.post("/v1/decide", json=good, headers=headers)
    assert answered.status_code == 200 and answered.json()["decision"] == "allow"
    assert seen == []

    refused = client.post("/v1/decide", json={"principal": AGENT}, headers=headers)
    assert refused.status_code == 418
    assert seen == [b'{"principal":"' + AGENT.encode() + b'"}']


def ask_tool(client: TestClient, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Claude Code's agent asks decide about one tool call; the answer (200 asserted)."""
    body = {
        "principal": AGENT,
        "action": tool,
        "source": "tool:claude-code",
        "arguments": arguments,
    }
    response = client.post(
        "/v1/decide", json=body, headers={"Authorization": f"Bearer {INGEST_KEY}"}
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_a_tool_call_is_classified_by_its_arguments_and_kept_without_its_secrets(
    clients: tuple[TestClient, TestClient],
) -> None:
    """An agent's tool call asks decide like a cloud call: `ls` is a read, `terraform destroy`
    waits for a person; what is stored names the command, never the password in it."""
    fast, _ = clients

    def ask(command: str) -> dict[str, Any]:
        return ask_tool(fast, "Bash", {"command": command, "description": "tidy up"})

    listing = ask("ls -la && git status")
    assert (listing["decision"], listing["action_class"]) == ("allow", "read")
    destroy = ask("TF_VAR_db_password=hunter2 terraform destroy -auto-approve")
    assert (destroy["decision"], destroy["action_class"]) == ("require_approval", "destructive")
    again = ask("TF_VAR_db_password=hunter2 terraform destroy -auto-approve")
    assert again["approval_id"] == destroy["approval_id"]  # the same command, the same approval
    read = {"Authorization": f"Bearer {READ_KEY}"}
    approval = fast.get(f"/v1/approvals/{destroy['approval_id']}", headers=read).json()
    assert "cmd: TF_VAR_db_password=[redacted] terraform destroy -auto-approve" in str(approval)
    decisions = fast.get("/v1/decisions", headers=read).text
    assert "terraform destroy" in decisions and "hunter2" not in decisions


def test_a_tool_call_without_a_command_shows_its_redacted_arguments_to_the_approver(
    clients: tuple[TestClient, TestClient],
) -> None:
    """An SDK tool (no shell command, no file) still tells the approver what it would do."""
    fast, _ = clients
    asked = ask_tool(
        fast, "delete_environment", {"environment": "prod", "api_token": "s3cr3t-Value-9"}
    )
    assert (asked["decision"], asked["action_class"]) == ("require_approval", "destructive")
    read = {"Authorization": f"Bearer {READ_KEY}"}
    approval = fast.get(f"/v1/approvals/{asked['approval_id']}", headers=read).json()
    shown = [r for r in approval["resources"] if r.startswith("args: ")]
    assert shown == ["args: environment=prod, api_token=[redacted]"]
    assert "s3cr3t" not in fast.get("/v1/decisions", headers=read).text


def test_an_approval_covers_only_the_arguments_it_was_asked_for(
    clients: tuple[TestClient, TestClient],
) -> None:
    """An MCP tool's approval for one query is no approval for another query of that tool."""
    fast, _ = clients

    def ask(query: str) -> dict[str, Any]:
        return ask_tool(fast, "mcp__db__execute_sql", {"query": query})

    small, drop = ask("DELETE FROM sessions;"), ask("DROP DATABASE prod;")
    assert small["decision"] == drop["decision"] == "require_approval"
    assert small["approval_id"] != drop["approval_id"]
