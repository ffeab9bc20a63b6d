"""Approvals through the real app: request, reuse, approve once, deny, self-approval, expiry."""

from __future__ import annotations

from typing import Any

import pytest

from detect.gate.approvals import ApprovalBook, ApprovalError, SelfApprovalError
from detect.gate.policy import GateContext, GateRequest, Policy, evaluate
from ingest.identity import build_identity_rules
from ingest.store.chdb import ChdbStore
from tests.conftest import ADMIN_KEY, READ_KEY, FakeClock, auth
from tests.unit.detect.response.test_webhooks import (
    AGENT_ARN,
    AGENT_KEY,
    SECOND_ADMIN_KEY,
    ResponseEnv,
    env,
)

__all__ = ["env"]

DELETE = {"action": "DeleteDBInstance", "source": "rds.amazonaws.com", "resources": ("prod-db",)}


def approve(
    env: ResponseEnv, approval_id: str, *, key: str = ADMIN_KEY, verb: str = "approve", **body: Any
) -> Any:
    return env.client.post(f"/v1/approvals/{approval_id}/{verb}", json=body, headers=auth(key))


def test_pending_approval_is_reused_then_allows_exactly_once(env: ResponseEnv) -> None:
    first = env.decide(**DELETE)
    again = env.decide(**DELETE)
    other_db = env.decide("DeleteDBInstance", source="rds.amazonaws.com", resources=("db-2",))
    assert first["decision"] == again["decision"] == "require_approval"
    assert first["approval_id"] == again["approval_id"] != other_db["approval_id"]
    pending = env.client.get(
        "/v1/approvals", params={"status": "pending"}, headers=auth(READ_KEY)
    ).json()["approvals"]
    assert {a["id"] for a in pending} == {first["approval_id"], other_db["approval_id"]}

    response = approve(env, first["approval_id"], note="planned migration")
    assert response.status_code == 200, response.text
    assert response.json()["decided_by"].startswith("key_")
    allowed = env.decide(**DELETE)
    assert (allowed["decision"], allowed["approval_id"]) == ("allow", first["approval_id"])
    after = env.decide(**DELETE)
    assert after["decision"] == "require_approval"
    assert after["approval_id"] != first["approval_id"]  # single use: a new request
    assert approve(env, first["approval_id"]).status_code == 409
    assert any(e.type == "approval.requested" for e in env.sink.events)


def test_self_approval_is_refused(env: ResponseEnv) -> None:
    asked = env.decide(**DELETE, key=ADMIN_KEY)  # an agent that holds an admin key
    response = approve(env, asked["approval_id"], key=ADMIN_KEY)
    assert response.status_code == 403
    assert "cannot decide it" in response.json()["detail"]
    as_itself = approve(env, asked["approval_id"], key=SECOND_ADMIN_KEY, as_principal=AGENT_ARN)
    assert as_itself.status_code == 403
    assert "its own action" in as_itself.json()["detail"]
    assert env.decide(**DELETE, key=ADMIN_KEY)["decision"] == "require_approval"
    assert approve(env, asked["approval_id"], key=SECOND_ADMIN_KEY).status_code == 200
    assert env.decide(**DELETE, key=ADMIN_KEY)["decision"] == "allow"


def test_declared_approver_equal_to_the_principal_is_refused(store: ChdbStore) -> None:
    book = ApprovalBook(store, key_of=build_identity_rules().principal_key, ttl_s=60)
    request = GateRequest(
        AGENT_ARN, AGENT_KEY, "agent", "rds.amazonaws.com", "DeleteDBInstance", "destructive"
    )
    approval = book.request(request, reason="ask", requested_by="key_agent")
    other_run = AGENT_ARN.replace("7f3a", "9b9b")  # another run of the same role: same key
    with pytest.raises(SelfApprovalError):
        book.decide(approval.id, approve=True, key_id="key_admin", as_principal=other_run)
    decided = book.decide(
        approval.id, approve=True, key_id="key_admin", as_principal="alice@example.com"
    )
    assert (decided.status, decided.decided_as) == ("approved", "alice@example.com")


def test_denied_approval_makes_decide_deny(env: ResponseEnv) -> None:
    asked = env.decide(**DELETE)
    assert approve(env, asked["approval_id"], verb="deny", note="no").status_code == 200
    answer = env.decide(**DELETE)
    assert (answer["decision"], answer["rule"]) == ("deny", "approval_denied")
    assert answer["approval_id"] == asked["approval_id"]


def test_approve_needs_admin_and_an_existing_id(env: ResponseEnv) -> None:
    asked = env.decide(**DELETE)
    assert approve(env, asked["approval_id"], key=READ_KEY).status_code == 403
    assert approve(env, "apr_nope").status_code == 404
    got = env.client.get(f"/v1/approvals/{asked['approval_id']}", headers=auth(READ_KEY)).json()
    assert (got["status"], got["action_class"]) == ("pending", "destructive")


def test_approvals_expire_and_survive_a_reload(store: ChdbStore) -> None:
    clock = FakeClock(start=1_800_000_000.0)
    key_of = build_identity_rules().principal_key
    book = ApprovalBook(store, key_of=key_of, ttl_s=60, clock=clock)
    request = GateRequest(AGENT_ARN, AGENT_KEY, "agent", "rds", "DeleteDBInstance", "destructive")
    approval = book.request(request, reason="ask", requested_by="key_agent")
    book.decide(approval.id, approve=True, key_id="key_admin")
    reloaded = ApprovalBook(store, key_of=key_of, ttl_s=60, clock=clock)
    assert reloaded.load() == 1
    found = reloaded.lookup(request)
    assert found is not None and found.status == "approved"
    clock.advance(61)
    assert reloaded.lookup(request) is None
    assert reloaded.expire() == 1
    assert [a.status for a in reloaded.list()] == ["expired"]
    with pytest.raises(ApprovalError):
        reloaded.decide(approval.id, approve=True, key_id="key_other")


def test_the_two_person_rule_needs_two_different_approvers(store: ChdbStore) -> None:
    """A rule with `approvals: 2`: one approver leaves it pending, the same key or the same
    declared person again is refused, a second one approves; it survives a reload half way."""
    policy = Policy.model_validate(
        {
            "rules": [
                {
                    "name": "prod-db",
                    "effect": "require_approval",
                    "approvals": 2,
                    "actions": ["rds:Delete*"],
                }
            ]
        }
    )
    request = GateRequest(
        AGENT_ARN, AGENT_KEY, "agent", "rds.amazonaws.com", "DeleteDBInstance", "destructive"
    )
    verdict = evaluate(request, GateContext(detection_ok=True), policy)
    assert (verdict.decision, verdict.approvals) == ("require_approval", 2)
    assert "by 2 different approvers" in verdict.reason
    key_of = build_identity_rules().principal_key
    book = ApprovalBook(store, key_of=key_of, ttl_s=60)
    asked = book.request(request, reason=verdict.reason, requested_by="key_agent", required=2)
    first = book.decide(asked.id, approve=True, key_id="key_alice", as_principal="alice@x.io")
    assert (first.status, first.to_json()["approved_by"]) == ("pending", ["key_alice"])
    with pytest.raises(SelfApprovalError, match="2 different approvers"):
        book.decide(asked.id, approve=True, key_id="key_alice")
    with pytest.raises(SelfApprovalError, match="2 different approvers"):
        book.decide(asked.id, approve=True, key_id="key_bob", as_principal="alice@x.io")
    reloaded = ApprovalBook(store, key_of=key_of, ttl_s=60)
    reloaded.load()
    second = reloaded.decide(asked.id, approve=True, key_id="key_bob", as_principal="bob@x.io")
    assert second.status == "approved"
    assert second.to_json()["approved_by"] == ["key_alice", "key_bob"]
    assert book.request(request, reason="", requested_by="k").required == 1  # the default
