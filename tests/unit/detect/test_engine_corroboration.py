"""A known human's lesser Sigma finding waits for corroboration; everything else pages alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from detect.alerts.alert import Alert
from detect.anomaly.forest import DetectionModel
from detect.engine import FOREST_RULE, DetectionEngine
from detect.features import ESTABLISHED_EVENTS, PrincipalProfile
from detect.findings import Finding
from detect.rules.base import Rule
from detect.rules.catalogue import load_rules
from detect.settings import DetectSettings
from ingest.events import AuditEvent, Normalizer
from tests.factories import make_record

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # Monday, working hours
NORMALIZER = Normalizer()
HUMAN = {
    "role": "AWSReservedSSO_Developer_4f2a9c1e",
    "session": "dana@example.com",
    "userAgent": "aws-cli/2.15.30 Python/3.11.8 Linux/6.5",
}
BUCKET_DELETED = "sigma:aws_cloudtrail_bucket_deleted"  # Sigma level medium


@pytest.fixture(scope="module")
def rules() -> list[Rule]:
    return load_rules()


def ev(
    minutes: float, name: str, source: str, params: dict[str, Any] | None = None, **who: Any
) -> AuditEvent:
    return NORMALIZER.normalize(
        make_record(
            at=T0 + timedelta(minutes=minutes),
            eventName=name,
            eventSource=f"{source}.amazonaws.com",
            requestParameters=params,
            **(who or HUMAN),
        )
    )


def delete_scratch(minutes: float = 0, **who: Any) -> AuditEvent:
    """A bucket deleted (Sigma medium); its name says nothing about being temporary."""
    return ev(minutes, "DeleteBucket", "s3", {"bucketName": "dana-reports-27"}, **who)


def delete_temporary(minutes: float = 0, **who: Any) -> AuditEvent:
    """A bucket whose name says it is temporary: the benign twin of a bucket deletion."""
    return ev(minutes, "DeleteBucket", "s3", {"bucketName": "tmp-dana-27"}, **who)


def add_route(minutes: float) -> AuditEvent:  # Sigma "new route added", level medium
    return ev(
        minutes,
        "CreateRoute",
        "ec2",
        {"routeTableId": "rtb-0a1b", "destinationCidrBlock": "0.0.0.0/0", "gatewayId": "igw-0c2d"},
    )


def known(*events: AuditEvent) -> DetectionModel:
    """A model whose only content is an established history for the events' principals."""
    profiles = {
        e.principal_key: PrincipalProfile(
            key=e.principal_key,
            actor_kind=e.actor_kind,
            events=ESTABLISHED_EVENTS * 10,
            minutes=900,
            offhours=0,
            destructive=3,
            seen={
                "action": ("DescribeInstances", "ListBuckets"),
                "ip": (e.source_ip,),
                "region": (e.region,),
                "service": ("ec2.amazonaws.com", "s3.amazonaws.com"),
            },
            usual={},
            high={},
            first_ms=e.event_time_ms - 10 * 86_400_000,
            last_ms=e.event_time_ms - 86_400_000,
            active_days=9,  # a known principal: its own history says what is usual
        )
        for e in events
    }
    return DetectionModel("test", 0, (), {}, profiles, {})


def engine(rules: list[Rule], *events: AuditEvent, **kw: Any) -> DetectionEngine:
    return DetectionEngine(rules=rules, model=known(*events), **kw)


def alerts(engine: DetectionEngine, events: list[AuditEvent]) -> list[Alert]:
    found: dict[str, Alert] = {}
    for event in events:
        for _, alert in engine.process([event]).changes:
            found[alert.id] = alert
    return list(found.values())


class NoteOn:
    """A behavioural note (a new network, say) on one call: too weak to open, it corroborates."""

    name = "context:new_source"

    def __init__(self, action: str) -> None:
        self.action = action

    def evaluate(self, event: AuditEvent) -> Finding | None:
        if event.action != self.action:
            return None
        return Finding(
            principal=event.principal_key,
            actor_kind=event.actor_kind,
            kind="anomaly",
            rule=self.name,
            severity="medium",
            score=0.8,
            summary="a new network",
            event_ids=(event.event_id,),
            first_event_ms=event.event_time_ms,
            last_event_ms=event.event_time_ms,
        )


class WeakForest:
    """Stands in for a forest score just over its threshold: too weak to open an alert alone."""

    name = "test:weak_forest"

    def __init__(self, action: str) -> None:
        self.action = action

    def evaluate(self, event: AuditEvent) -> Finding | None:
        if event.action != self.action:
            return None
        return Finding(
            principal=event.principal_key,
            actor_kind=event.actor_kind,
            kind="anomaly",
            rule=FOREST_RULE,
            severity="low",
            score=0.62,
            summary="unusual activity",
            event_ids=(event.event_id,),
            first_event_ms=event.event_time_ms,
            last_event_ms=event.event_time_ms,
        )


def test_a_known_humans_medium_sigma_finding_does_not_page_alone(rules: list[Rule]) -> None:
    delete = delete_scratch()
    eng = engine(rules, delete)
    output = eng.process([delete])
    assert (output.findings, output.changes) == (1, [])
    assert output.triggers == [(delete.event_id, BUCKET_DELETED)]  # still a finding


def test_another_rule_on_another_event_in_the_window_corroborates_it(rules: list[Rule]) -> None:
    delete, route = delete_scratch(), add_route(12)
    found = alerts(engine(rules, delete), [delete, route])
    assert len(found) == 1
    alert = found[0]
    assert set(alert.rules) == {BUCKET_DELETED, "sigma:aws_cloudtrail_new_route_added"}
    assert set(alert.event_ids) == {delete.event_id, route.event_id}
    assert alert.explanation["trigger_event_id"] == route.event_id  # paged when corroborated


def test_corroboration_must_come_within_the_window(rules: list[Rule]) -> None:
    delete, route = delete_scratch(), add_route(45)
    assert alerts(engine(rules, delete, corroboration_window_ms=30 * 60_000), [delete, route]) == []


def test_a_repeat_of_the_same_rule_is_not_corroboration(rules: list[Rule]) -> None:
    first, second = delete_scratch(), delete_scratch(5)
    assert alerts(engine(rules, first), [first, second]) == []


def test_a_forest_score_too_weak_alone_corroborates_nothing(rules: list[Rule]) -> None:
    delete = delete_scratch()
    eng = engine(rules, delete, extra_rules=[WeakForest("DeleteBucket")])
    assert alerts(eng, [delete]) == []


def test_a_behaviour_note_on_another_call_corroborates_it(rules: list[Rule]) -> None:
    delete, listing = delete_scratch(), ev(3, "ListBuckets", "s3")
    eng = engine(rules, delete, extra_rules=[NoteOn("ListBuckets")])
    found = alerts(eng, [delete, listing])
    assert [set(a.rules) for a in found] == [{"context:new_source", BUCKET_DELETED}]


def test_a_benign_twin_is_held_and_corroborates_nothing(rules: list[Rule]) -> None:
    """A temporary bucket's delete waits; a rule it would otherwise corroborate still waits."""
    temporary, route = delete_temporary(), add_route(5)
    eng = engine(rules, temporary)
    assert alerts(eng, [temporary, route]) == []


def test_a_held_finding_joins_a_later_alert_as_evidence(rules: list[Rule]) -> None:
    delete = delete_scratch()
    stop = ev(10, "StopLogging", "cloudtrail", {"name": "org-trail"})  # a red flag: pages alone
    found = alerts(engine(rules, delete), [delete, stop])
    assert len(found) == 1
    assert BUCKET_DELETED in found[0].rules
    assert delete.event_id in found[0].event_ids
    assert found[0].explanation["trigger_event_id"] == stop.event_id


@pytest.mark.parametrize(
    "who",
    [
        pytest.param(HUMAN, id="a person"),
        pytest.param({"role": "ops-agent", "session": "agent-run-7f3a"}, id="an agent"),
    ],
)
def test_medium_sigma_waits_for_everyone_new_or_known(
    rules: list[Rule], who: dict[str, str]
) -> None:
    """Sigma's own scale: medium means "review manually", not "page"."""
    for established in (False, True):
        delete = delete_scratch(**who)
        eng = DetectionEngine(rules=rules, model=known(delete) if established else None)
        assert alerts(eng, [delete]) == []


@pytest.mark.parametrize(
    ("who", "established", "level"),
    [
        pytest.param(HUMAN, True, "medium", id="the gate lowered to medium"),
        pytest.param(HUMAN, True, "low", id="the gate turned off"),
    ],
)
def test_otherwise_a_medium_sigma_finding_pages_alone(
    rules: list[Rule],
    who: dict[str, str],
    established: bool,
    level: str,
) -> None:
    delete = delete_scratch(**who)
    eng = DetectionEngine(
        rules=rules, model=known(delete) if established else None, human_sigma_solo_level=level
    )
    assert [a.rule for a in alerts(eng, [delete])] == [BUCKET_DELETED]


def test_a_medium_red_flag_pages_alone_for_a_stranger(rules: list[Rule]) -> None:
    """A fresh install: no history to corroborate with, so a person's red flags page alone."""
    key_for_other = ev(0, "CreateAccessKey", "iam", {"userName": "ops-admin"})
    found = alerts(DetectionEngine(rules=rules), [key_for_other])
    assert len(found) == 1
    assert any(rule.startswith("redflag:") for rule in found[0].rules)


def test_a_known_persons_medium_red_flag_waits_and_a_critical_one_pages(rules: list[Rule]) -> None:
    key_for_other = ev(0, "CreateAccessKey", "iam", {"userName": "ops-admin"})
    assert alerts(engine(rules, key_for_other), [key_for_other]) == []
    stop = ev(1, "StopLogging", "cloudtrail", {"name": "org-trail"})
    assert [a.rule for a in alerts(engine(rules, stop), [stop])] == ["redflag:stop_logging"]


def test_the_gate_is_a_detection_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert DetectSettings().human_sigma_solo_level == "high"
    monkeypatch.setenv("LEASH_DETECT__HUMAN_SIGMA_SOLO_LEVEL", "low")
    monkeypatch.setenv("LEASH_DETECT__CORROBORATION_WINDOW_S", "600")
    options = DetectSettings().engine_options()
    assert (options["human_sigma_solo_level"], options["corroboration_window_ms"]) == (
        "low",
        600_000,
    )
    with pytest.raises(ValueError, match="human_sigma_solo_level"):
        DetectionEngine(human_sigma_solo_level="urgent")
