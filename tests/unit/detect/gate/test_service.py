"""The decide gate: the pure decision table, policy file, budgets, fail-safe, POST /v1/decide."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from detect.gate.health import DetectionHealth
from detect.gate.policy import (
    GateContext,
    GateRequest,
    Policy,
    PolicyRule,
    evaluate,
    load_policy,
)
from ingest.settings import Settings
from ingest.store.chdb import ChdbStore
from tests.conftest import ADMIN_KEY, READ_KEY, FakeClock, auth
from tests.unit.detect.response.test_webhooks import (
    AGENT_ARN,
    AGENT_KEY,
    ResponseEnv,
    StaticDetection,
    env,
    open_response_env,
)

__all__ = ["env"]

HUMAN_ARN = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_1a2b/alice@example.com"
POLICY = Policy.model_validate(
    {
        "rules": [
            {"name": "no-trail-edits", "effect": "deny", "actions": ["cloudtrail:*"]},
            {
                "name": "cleaner",
                "effect": "allow",
                "principals": [f"{AGENT_KEY}*"],
                "actions": ["rds:DeleteDBInstance"],
                "resources": ["test-*"],
            },
            {"name": "ask-for-iam", "effect": "require_approval", "actions": ["iam:*"]},
        ],
        "budgets": [{"principals": [AGENT_KEY], "max_destructive_per_hour": 3}],
    }
)


def req(
    action_class: str = "destructive",
    *,
    actor_kind: str = "agent",
    action: str = "DeleteDBInstance",
    source: str = "rds.amazonaws.com",
    resources: tuple[str, ...] = (),
) -> GateRequest:
    return GateRequest(AGENT_ARN, AGENT_KEY, actor_kind, source, action, action_class, resources)


FRESH = GateContext(detection_ok=True, detection_reason="ok")


@pytest.mark.parametrize(
    ("request_", "context", "expected"),
    [
        pytest.param(
            req("read"),
            GateContext(principal_state="revoked"),
            ("deny", "revoked"),
            id="revoked: even reads are denied",
        ),
        pytest.param(
            req(),
            GateContext(principal_state="revoked", approval="approved"),
            ("deny", "revoked"),
            id="revoked beats an approval",
        ),
        pytest.param(
            req(),
            GateContext(principal_state="quarantined", detection_ok=True),
            ("deny", "quarantine"),
            id="quarantined: destructive denied",
        ),
        pytest.param(
            req("privilege", action="AttachRolePolicy", source="iam.amazonaws.com"),
            GateContext(principal_state="quarantined"),
            ("deny", "quarantine"),
            id="quarantined: privilege denied",
        ),
        pytest.param(
            req("write", action="RunInstances", source="ec2.amazonaws.com"),
            GateContext(principal_state="quarantined"),
            ("require_approval", "quarantine"),
            id="quarantined: writes need approval",
        ),
        pytest.param(
            req("write", action="RunInstances", source="ec2.amazonaws.com"),
            GateContext(principal_state="quarantined", approval="approved"),
            ("allow", "approval"),
            id="quarantined: approved write allowed",
        ),
        pytest.param(
            req("read", action="DescribeDBInstances"),
            GateContext(principal_state="quarantined"),
            ("allow", "read"),
            id="quarantined: reads allowed",
        ),
        pytest.param(
            req(), FRESH, ("require_approval", "agent_default"), id="agent destructive: ask first"
        ),
        pytest.param(
            req("defense_evasion", action="StopLogging", source="cloudtrail.amazonaws.com"),
            FRESH,
            ("deny", "policy"),
            id="policy deny rule",
        ),
        pytest.param(
            req("defense_evasion", action="StopLogging", source="cloudtrail.amazonaws.com"),
            GateContext(detection_ok=True, approval="approved"),
            ("allow", "approval"),
            id="approval beats policy",
        ),
        pytest.param(
            req(),
            GateContext(detection_ok=True, approval="approved"),
            ("allow", "approval"),
            id="agent destructive approved",
        ),
        pytest.param(
            req(),
            GateContext(detection_ok=True, approval="denied"),
            ("deny", "approval_denied"),
            id="agent destructive denied by approver",
        ),
        pytest.param(
            req("write", action="RunInstances", source="ec2.amazonaws.com"),
            GateContext(),
            ("allow", "write"),
            id="agent write allowed even when stale",
        ),
        pytest.param(req("read"), GateContext(), ("allow", "read"), id="read allowed when stale"),
        pytest.param(
            req(actor_kind="human"),
            FRESH,
            ("allow", "human"),
            id="human destructive allowed when fresh",
        ),
        pytest.param(
            req(actor_kind="human"),
            GateContext(),
            ("require_approval", "fail_safe"),
            id="human destructive: fail safe when stale",
        ),
        pytest.param(
            req(resources=("test-db-1",)),
            FRESH,
            ("allow", "policy"),
            id="policy allow inside budget",
        ),
        pytest.param(
            req(resources=("test-db-1",)),
            GateContext(),
            ("require_approval", "fail_safe"),
            id="policy allow never fails open",
        ),
        pytest.param(
            req(resources=("test-db-1",)),
            GateContext(detection_ok=True, dangerous_last_hour=3),
            ("require_approval", "budget"),
            id="budget spent opens the breaker",
        ),
        pytest.param(
            req(resources=("prod-db",)),
            FRESH,
            ("require_approval", "agent_default"),
            id="policy resource pattern does not match",
        ),
        pytest.param(
            req(resources=("test-db-1", "prod-db")),
            FRESH,
            ("require_approval", "agent_default"),
            id="every resource must match",
        ),
        pytest.param(
            req(resources=("test-db-1",)),
            GateContext(detection_ok=True, anomaly_score=0.95),
            ("require_approval", "anomaly"),
            id="anomalous principal must ask",
        ),
        pytest.param(
            req("write", action="CreateRole", source="iam.amazonaws.com"),
            FRESH,
            ("require_approval", "policy"),
            id="policy require_approval on a write",
        ),
    ],
)
def test_decision_table(
    request_: GateRequest, context: GateContext, expected: tuple[str, str]
) -> None:
    verdict = evaluate(request_, context, POLICY)
    assert (verdict.decision, verdict.rule) == expected
    assert verdict.reason


def test_policy_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "rules:\n  - name: r\n    effect: allow\n    actions: ['s3:DeleteObject']\n"
        "budgets:\n  - max_destructive_per_hour: 5\n"
    )
    policy = load_policy(path)
    assert policy.rules[0].matches(req(action="DeleteObject", source="s3.amazonaws.com"))
    assert not policy.rules[0].matches(req(action="DeleteObject", source="ec2.amazonaws.com"))
    assert policy.budget_for(req()) == 5
    assert load_policy(None) == Policy()
    path.write_text("rules:\n  - effect: maybe\n")
    with pytest.raises(ValueError, match="effect"):
        load_policy(path)


def test_health_fails_safe_on_lasting_lag_and_missing_polls() -> None:
    clock = FakeClock()
    detection = StaticDetection()
    running: list[StaticDetection] = []
    health = DetectionHealth(
        lambda: running[0] if running else None, max_lag_messages=100, max_lag_s=30, clock=clock
    )
    assert health.poll() == (False, "no detector is running")
    running.append(detection)
    assert health.poll()[0]
    detection.lag = 5000
    clock.advance(20)
    assert health.poll() == (True, "catching up")
    clock.advance(20)
    ok, reason = health.poll()
    assert not ok and "5000 messages behind" in reason
    detection.lag = 0
    assert health.poll()[0]
    detection.stale = True
    assert health.poll() == (False, "detector model is stale")
    detection.stale = False
    health.poll()
    clock.advance(6)
    assert health.current() == (False, "detector health not polled recently")


def test_decide_needs_the_ingest_scope(env: ResponseEnv) -> None:
    body = {"principal": AGENT_ARN, "action": "DescribeInstances"}
    assert env.client.post("/v1/decide", json=body).status_code == 401
    assert env.client.post("/v1/decide", json=body, headers=auth(READ_KEY)).status_code == 403
    assert env.client.post("/v1/decide", json=body, headers=auth(ADMIN_KEY)).status_code == 200


def test_action_class_comes_from_the_server(env: ResponseEnv) -> None:
    response = env.client.post(
        "/v1/decide",
        headers=auth(ADMIN_KEY),
        json={
            "principal": AGENT_ARN,
            "action": "DeleteDBInstance",
            "source": "rds.amazonaws.com",
            "action_class": "read",
        },
    )
    body = response.json()
    assert (body["action_class"], body["decision"]) == ("destructive", "require_approval")
    assert body["approval_id"].startswith("apr_")
    human = env.decide("DeleteDBInstance", principal=HUMAN_ARN, source="rds.amazonaws.com")
    assert (human["decision"], human["rule"]) == ("allow", "human")


@pytest.fixture
def budget_env(settings: Settings, tmp_path: Path) -> Iterator[ResponseEnv]:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "rules:\n  - name: cleaner\n    effect: allow\n"
        f"    principals: ['{AGENT_KEY}']\n"
        "    actions: ['rds:DeleteDBInstance']\n"
        "budgets:\n  - max_destructive_per_hour: 2\n"
    )
    yield from open_response_env(settings, detection=StaticDetection(), policy_file=path)


def test_autonomy_budget_opens_the_circuit_breaker(budget_env: ResponseEnv) -> None:
    answers = [
        budget_env.decide("DeleteDBInstance", source="rds.amazonaws.com", resources=(f"test-{i}",))
        for i in range(3)
    ]
    assert [(a["decision"], a["rule"]) for a in answers] == [
        ("allow", "policy"),
        ("allow", "policy"),
        ("require_approval", "budget"),
    ]
    assert "circuit breaker open" in answers[2]["reason"]


def test_stale_or_missing_detector_fails_safe(env: ResponseEnv) -> None:
    detection = env.services.detection
    assert isinstance(detection, StaticDetection)
    detection.stale = True
    env.services.gate.health.poll()
    stale = env.decide("DeleteDBInstance", principal=HUMAN_ARN, source="rds.amazonaws.com")
    env.services.detection = None
    env.services.gate.health.poll()
    missing = env.decide("DeleteDBInstance", principal=HUMAN_ARN, source="rds.amazonaws.com")
    read = env.decide("DescribeDBInstances", principal=HUMAN_ARN, source="rds.amazonaws.com")
    assert (stale["decision"], stale["rule"]) == ("require_approval", "fail_safe")
    assert "no detector is running" in missing["reason"]
    assert read["decision"] == "allow"


def test_every_decision_is_stored_even_at_shutdown(settings: Settings) -> None:
    for env_ in open_response_env(settings, detection=StaticDetection()):
        ids = [env_.decide("DescribeInstances")["decision_id"] for _ in range(40)]
        listed = env_.client.get(
            "/v1/decisions", params={"principal": AGENT_KEY}, headers=auth(READ_KEY)
        ).json()["decisions"]
        assert len(listed) <= 40  # some may still be queued: the shutdown flush must catch them
    store = ChdbStore(str(settings.resolved_store_url.removeprefix("chdb://")))
    try:
        rows = store.query("SELECT decision_id, decision, key_id FROM decisions")
    finally:
        store.close()
    assert sorted(r[0] for r in rows) == sorted(ids)
    assert {r[1] for r in rows} == {"allow"}


def test_monitor_mode_answers_allow_and_records_what_it_would_have_answered() -> None:
    """Rolling out a stricter gate: in monitor mode the agent is not stopped, the decision says
    what the gate would have done; a revoked or quarantined principal is stopped regardless."""
    monitored = POLICY.model_copy(update={"mode": "monitor"})
    verdict = evaluate(req(), FRESH, monitored)
    assert (verdict.decision, verdict.rule) == ("allow", "monitor")
    assert verdict.reason.startswith("monitor: would require_approval (agent_default)")
    denied = evaluate(
        req(action="StopLogging", source="cloudtrail.amazonaws.com"), FRESH, monitored
    )
    assert denied.decision == "allow" and "would deny (policy)" in denied.reason
    assert evaluate(req(), GateContext(principal_state="revoked"), monitored).decision == "deny"
    quarantined = GateContext(principal_state="quarantined", detection_ok=True)
    assert evaluate(req(), quarantined, monitored).decision == "deny"
    assert evaluate(req("read"), FRESH, monitored) == evaluate(req("read"), FRESH, POLICY)


def test_a_rule_in_monitor_mode_only_reports_and_never_weakens_the_gate() -> None:
    """A rule on trial does not decide: the answer is the policy's without it (an agent still
    asks first), and where the rule would have answered otherwise the reason says so."""
    trial = PolicyRule(name="no-iam", effect="deny", mode="monitor", actions=("iam:*",))
    policy = POLICY.model_copy(update={"rules": (trial, *POLICY.rules)})
    attach = req("privilege", action="AttachRolePolicy", source="iam.amazonaws.com")
    asked = evaluate(attach, FRESH, policy)
    assert (asked.decision, asked.rule) == ("require_approval", "policy")  # ask-for-iam
    assert "monitor: would deny (policy): denied by policy rule no-iam" in asked.reason
    terminate = req(action="TerminateInstances", source="ec2.amazonaws.com", actor_kind="human")
    ec2_trial = PolicyRule(name="no-ec2", effect="deny", mode="monitor", actions=("ec2:*",))
    person = evaluate(terminate, FRESH, POLICY.model_copy(update={"rules": (ec2_trial,)}))
    assert person.decision == "allow" and "monitor: would deny (policy)" in person.reason
    loose = PolicyRule(name="let-it", effect="allow", mode="monitor", actions=("rds:*",))
    weaker = POLICY.model_copy(update={"rules": (loose, *POLICY.rules)})
    assert evaluate(req(), FRESH, weaker).decision == "require_approval"  # not weakened
    trail = evaluate(req(action="StopLogging", source="cloudtrail.amazonaws.com"), FRESH, policy)
    assert (trail.decision, trail.rule) == ("deny", "policy")
