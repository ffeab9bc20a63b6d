"""Approval-bypass detection: dangerous events matched against what decide answered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from detect.gate.bypass import BypassRule
from detect.gate.policy import GateRequest, Policy, PolicyRule
from detect.gate.service import Decision
from ingest.events import AuditEvent
from tests.conftest import FakeClock
from tests.factories import make_event
from tests.unit.detect.response.test_webhooks import AGENT_ARN, AGENT_KEY, ResponseEnv, env

__all__ = ["env"]

START = datetime(2027, 1, 15, 8, 0, tzinfo=UTC)
HUMAN = {"role": "ops", "session": "alice@example.com"}


def decided(
    answer: str,
    *,
    action: str = "DeleteDBInstance",
    at: datetime = START,
    resources: tuple[str, ...] = ("prod-db",),
) -> Decision:
    return Decision(
        "dec_1",
        int(at.timestamp() * 1000),
        GateRequest(
            AGENT_ARN, AGENT_KEY, "agent", "rds.amazonaws.com", action, "destructive", resources
        ),
        answer,
        "r",
        "x",
        "apr_1" if answer != "allow" else "",
        "key_agent",
    )


def delete_event(
    *, at: datetime = START + timedelta(minutes=1), db: str = "prod-db", **overrides: object
) -> AuditEvent:
    fields: dict[str, object] = {
        "eventName": "DeleteDBInstance",
        "eventSource": "rds.amazonaws.com",
        "requestParameters": {"dBInstanceIdentifier": db},
        "at": at,
    }
    return make_event(**{**fields, **overrides})


@pytest.fixture
def rule() -> BypassRule:
    return BypassRule(clock=FakeClock(start=START.timestamp()))


@pytest.mark.parametrize("answer", ["require_approval", "deny"])
def test_acting_after_a_refusal_is_a_critical_bypass(rule: BypassRule, answer: str) -> None:
    rule.observe(decided(answer))
    finding = rule.evaluate(delete_event())
    assert finding is not None
    assert (finding.severity, finding.rule, finding.principal) == (
        "critical",
        "response:approval_bypass",
        AGENT_KEY,
    )
    assert finding.explanation["decision"] == answer
    assert finding.explanation["approval_id"] == "apr_1"
    assert "approval bypass" in finding.summary


def test_an_allow_covers_the_action(rule: BypassRule) -> None:
    rule.observe(decided("require_approval"))
    rule.observe(decided("allow", at=START + timedelta(seconds=30)))
    assert rule.evaluate(delete_event()) is None


@pytest.fixture
def enrolled_rule() -> BypassRule:
    """The agent asked decide once before (about something else): it is enrolled."""
    rule = BypassRule(clock=FakeClock(start=START.timestamp()))
    rule.observe(decided("allow", action="DescribeDBInstances", at=START - timedelta(days=1)))
    return rule


@pytest.mark.parametrize(
    ("event_kwargs", "flagged"),
    [
        pytest.param({}, True, id="enrolled agent never asked"),
        pytest.param(HUMAN, False, id="human never asked is not judged"),
        pytest.param({"errorCode": "AccessDenied"}, False, id="failed call did nothing"),
        pytest.param(
            {"at": START - timedelta(hours=2)}, False, id="history before the rule started"
        ),
        pytest.param({"eventName": "DescribeDBInstances"}, False, id="reads are not gated"),
    ],
)
def test_never_asked(
    enrolled_rule: BypassRule, event_kwargs: dict[str, object], flagged: bool
) -> None:
    event = delete_event(**event_kwargs)  # type: ignore[arg-type]
    finding = enrolled_rule.evaluate(event)
    assert (finding is not None) == flagged
    if finding is not None:
        assert "without asking" in finding.summary and finding.explanation["decision"] is None
        assert (finding.severity, finding.tier) == ("critical", "page")


def test_an_agent_not_enrolled_gets_a_note_not_a_quarantine(rule: BypassRule) -> None:
    """Install day: no agent has asked yet. Its unasked delete is evidence, not a bypass."""
    finding = rule.evaluate(delete_event())
    assert finding is not None
    assert (finding.severity, finding.tier) == ("medium", "note")
    assert finding.explanation["enrolled"] is False
    assert "not enrolled" in finding.summary
    # once it asks (about anything), the next unasked dangerous call is a bypass
    rule.observe(decided("allow", action="DescribeDBInstances"))
    later = rule.evaluate(delete_event(db="other-db", at=START + timedelta(hours=3)))
    assert later is not None and (later.severity, later.tier) == ("critical", "page")


def test_a_policy_that_names_the_agent_enrols_it() -> None:
    policy = Policy(
        rules=(
            PolicyRule(effect="require_approval", principals=("*deploy-agent*",)),
            PolicyRule(effect="allow", principals=("*cleanup-agent*",)),
        )
    )
    rule = BypassRule(named_by_policy=policy.names, clock=FakeClock(start=START.timestamp()))
    named = rule.evaluate(delete_event())  # AGENT_ARN is the deploy agent
    assert named is not None and named.severity == "critical"
    assert policy.names(AGENT_ARN, AGENT_KEY)
    assert not policy.names("arn:aws:sts::1:assumed-role/cleanup-agent/x", "cleanup-agent")


def test_decisions_match_by_action_resource_and_time(rule: BypassRule) -> None:
    rule.observe(decided("allow", resources=("arn:aws:rds:us-east-1:123456789012:db:prod-db",)))
    assert rule.evaluate(delete_event()) is None  # "prod-db" is the ARN's last part
    assert rule.evaluate(delete_event(db="other-db")) is not None
    assert rule.evaluate(delete_event(at=START + timedelta(hours=2))) is not None


def test_unasked_agents_can_be_switched_off() -> None:
    rule = BypassRule(unasked_agents=False, clock=FakeClock(start=START.timestamp()))
    assert rule.evaluate(delete_event()) is None


def test_gate_feeds_the_rule_and_the_pipeline_can_find_it(env: ResponseEnv) -> None:
    assert env.services.bypass in env.services.extra_rules
    now = datetime.now(UTC)
    answer = env.decide("DeleteDBInstance", source="rds.amazonaws.com", resources=("prod-db",))
    assert answer["decision"] == "require_approval"
    finding = env.services.bypass.evaluate(delete_event(at=now + timedelta(seconds=5)))
    assert finding is not None and finding.explanation["approval_id"] == answer["approval_id"]
    assert env.services.bypass.actor_kind(AGENT_KEY) == "agent"


def test_a_restart_remembers_who_is_enrolled(env: ResponseEnv) -> None:
    """Enrolment is read back from the decision log, not only the last window's decisions."""
    env.decide("DescribeDBInstances", source="rds.amazonaws.com")
    env.services.decision_log.flush()
    restarted = BypassRule(clock=FakeClock(start=START.timestamp()))
    probe = delete_event()
    assert not restarted.enrolled(probe)
    restarted.load(env.runtime.store)
    assert restarted.enrolled(probe)
