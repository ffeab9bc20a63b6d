"""Approvals page against the seeded API: pending request, blast radius, approve and deny."""

from __future__ import annotations

from tests.unit.dashboard import seeding
from tests.unit.dashboard.harness import (
    INGEST_KEY,
    READ_KEY,
    LeashAPI,
    ok,
    open_page,
    texts,
)

PAGE = "views/approvals.py"


def approval_status(api: LeashAPI, approval_id: str) -> str:
    with api.client(READ_KEY) as client:
        return str(client.get(f"/v1/approvals/{approval_id}").json()["status"])


def ask(api: LeashAPI, bucket: str) -> str:
    with api.client(INGEST_KEY) as client:
        return seeding.request_approval(client, bucket=bucket)


def test_pending_request_shows_its_blast_radius_and_can_be_approved(
    dashboard_env: LeashAPI,
) -> None:
    approval_id = ask(dashboard_env, "tmp-build-cache")
    at = ok(open_page(PAGE))
    assert "DeleteBucket (destructive) on arn:aws:s3:::tmp-build-cache" in texts(at)
    assert "Requested resource(s) seen before: 1 of 1." in texts(at)
    radius = at.dataframe[0].value
    assert {"arn:aws:s3:::tmp-build-cache", "arn:aws:s3:::old-logs-2022"} <= set(radius["resource"])

    at.text_input(key=f"note_{approval_id}").input("cache bucket, safe").run()
    at.button(key=f"approve_{approval_id}").click().run()
    ok(at)
    assert approval_status(dashboard_env, approval_id) == "approved"
    assert "Approved DeleteBucket" in texts(at)


def test_deny_reaches_the_api(dashboard_env: LeashAPI) -> None:
    approval_id = ask(dashboard_env, "old-logs-2022")
    at = ok(open_page(PAGE))
    at.button(key=f"deny_{approval_id}").click().run()
    ok(at)
    assert approval_status(dashboard_env, approval_id) == "denied"
    decided = next(d.value for d in at.dataframe if "decided_by" in d.value.columns)
    assert "denied" in set(decided["status"])


def test_a_tool_call_shows_what_it_would_run_without_its_secrets(
    dashboard_env: LeashAPI,
) -> None:
    with dashboard_env.client(INGEST_KEY) as client:
        asked = client.post(
            "/v1/decide",
            json={
                "principal": "arn:aws:sts::123456789012:assumed-role/coding-agent/run-42",
                "action": "delete_environment",
                "source": "tool:openai-agents",
                "arguments": {"environment": "staging", "api_token": "tok-Secret-1234"},
            },
        ).json()
    assert asked["decision"] == "require_approval"
    at = ok(open_page(PAGE))
    shown = texts(at)
    assert "Tool call `delete_environment` (destructive)" in shown
    assert "`environment=staging, api_token=[redacted]`" in shown
    assert "tok-Secret" not in shown and "args-sha256" not in shown
    assert "One admin's approval lets it run once." in shown
    at.button(key=f"approve_{asked['approval_id']}").click().run()
    assert approval_status(dashboard_env, asked["approval_id"]) == "approved"
