"""An agent that reports its tool calls and then acts in the cloud outside every one of them:
its credentials are being used around it (agent:unreported_call)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from detect.anomaly.unreported import RULE
from detect.engine import DetectionEngine
from ingest.events import AuditEvent, Normalizer
from tests.factories import make_record

T0 = datetime(2026, 3, 2, 10, 0)
NORMALIZER = Normalizer()
AGENT = "arn:aws:sts::123456789012:assumed-role/deploy-agent/agent-run-7f3a"


def tool_call(at: datetime, minutes: float, call_id: str = "toolu_01abc") -> AuditEvent:
    """What POST /v1/otlp/v1/traces makes of an execute_tool span (ingest.otlp.tool_record)."""
    return NORMALIZER.normalize(
        make_record(
            at=at,
            eventSource="tool:claude-code",
            eventName="Bash",
            eventType="AgentToolCall",
            userIdentity={"type": "AssumedRole", "arn": AGENT},
            requestParameters={
                "arguments": {"command": "terraform destroy"},
                "toolCallId": call_id,
            },
            additionalEventData={"durationMs": int(minutes * 60_000), "via": "otlp"},
        )
    )


def cloud(at: datetime, action: str = "DeleteBucket", **kw: Any) -> AuditEvent:
    return NORMALIZER.normalize(
        make_record(
            at=at,
            eventName=action,
            eventSource="s3.amazonaws.com",
            requestParameters={"bucketName": f"env-{at.minute}"},
            readOnly=False,
            **kw,
        )
    )


def reads_until(end: datetime) -> list[AuditEvent]:
    """Another principal's calls that move the stream on (the watermark) past the grace."""
    return [
        cloud(end - timedelta(minutes=m), "ListBuckets", role="reporting-job", session="nightly")
        for m in range(5, -1, -1)
    ]


def unreported(engine: DetectionEngine, *batches: list[AuditEvent]) -> list[str]:
    return [
        event_id
        for batch in batches
        for event_id, rule in engine.process(batch).triggers
        if rule == RULE
    ]


def test_a_delete_outside_every_reported_call_is_a_finding_one_inside_is_not() -> None:
    inside = cloud(T0 + timedelta(minutes=3))
    outside = cloud(T0 + timedelta(hours=2))
    found = unreported(
        DetectionEngine(),
        [tool_call(T0, minutes=10), inside],
        [outside],
        reads_until(T0 + timedelta(hours=2, minutes=20)),
    )
    assert found == [outside.event_id]


def test_a_span_exported_after_the_calls_it_made_still_covers_them() -> None:
    """The span of a 10-minute terraform run is exported when it ends, after CloudTrail has
    delivered its first deletes: those deletes wait GRACE_MS of stream time to be judged."""
    deletes = [cloud(T0 + timedelta(minutes=m)) for m in (1, 4, 8)]
    found = unreported(
        DetectionEngine(),
        [tool_call(T0 - timedelta(hours=1), minutes=1)],  # reporting since an hour ago
        deletes,
        [tool_call(T0, minutes=10)],
        reads_until(T0 + timedelta(minutes=40)),
    )
    assert found == []


def test_a_call_marked_with_a_reported_call_id_is_covered_whenever_it_ran() -> None:
    marked = cloud(T0 + timedelta(hours=1), userAgent="Boto3/1.34 leash-call/toolu_01abc")
    stranger = cloud(T0 + timedelta(hours=1, minutes=1), userAgent="Boto3/1.34 leash-call/toolu_9x")
    found = unreported(
        DetectionEngine(),
        [tool_call(T0, minutes=1), marked, stranger],
        reads_until(T0 + timedelta(hours=1, minutes=30)),
    )
    assert found == [stranger.event_id]


def test_principals_that_report_nothing_and_people_are_never_judged() -> None:
    """A role with no tool calls has nothing to compare with; a person may run a coding agent
    on their own role and act by hand beside it."""
    person = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_1a/ana@example.com"
    their_call = NORMALIZER.normalize(
        make_record(
            at=T0,
            eventSource="tool:claude-code",
            eventName="Bash",
            userIdentity={"type": "AssumedRole", "arn": person},
            additionalEventData={"durationMs": 1000},
        )
    )
    by_hand = cloud(
        T0 + timedelta(hours=1), role="AWSReservedSSO_Admin_1a", session="ana@example.com"
    )
    never_reported = cloud(T0 + timedelta(hours=1), role="cleanup-agent")
    engine = DetectionEngine()
    found = unreported(
        engine, [their_call, by_hand, never_reported], reads_until(T0 + timedelta(hours=2))
    )
    assert by_hand.actor_kind == "human" and found == []


def test_it_opens_an_alert_that_names_why() -> None:
    engine = DetectionEngine()
    outside = cloud(T0 + timedelta(hours=2), "PutBucketPolicy")
    engine.process([tool_call(T0, minutes=10), outside])
    changes = engine.process(reads_until(T0 + timedelta(hours=2, minutes=20))).changes
    alerts = [a for _, a in changes if a.rule == RULE]
    assert alerts and alerts[0].event_ids == (outside.event_id,)
    assert "no tool call of its own running" in alerts[0].summary


def test_a_call_made_around_the_agent_marks_its_credentials_as_held_elsewhere() -> None:
    """Review: judged after a grace period, the finding came too late for the per-event mark
    that stops a recurring volume from being held as the agent's habit (triage._recurring)."""
    engine = DetectionEngine()
    outside = cloud(T0 + timedelta(hours=2), "PutBucketPolicy")
    engine.process([tool_call(T0, minutes=10), outside])
    assert not engine.org.compromised(outside.principal_key, outside.event_time_ms + 60_000)
    engine.process(reads_until(T0 + timedelta(hours=2, minutes=20)))
    assert engine.org.compromised(outside.principal_key, outside.event_time_ms + 60_000)
