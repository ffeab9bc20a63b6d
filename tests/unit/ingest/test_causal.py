"""The causal join through the real app and store: an agent's tool call (OTLP) and the
CloudTrail events its command made, joined by the propagated call id, else by time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from ingest.runtime import Runtime
from tests.conftest import INGEST_KEY, READ_KEY, auth
from tests.factories import BASE_TIME, make_record
from tests.unit.ingest.test_otlp import TRACE, export, post, tool
from tests.unit.ingest.test_receivers import settled_rows

T0_NS = int(BASE_TIME.timestamp() * 1e9)


def call(n: int, call_id: str, command: str, at_s: int, seconds: int) -> Any:
    span = tool(n, "Bash", {"command": command}, **{"gen_ai.tool.call.id": call_id})
    span.start_time_unix_nano = T0_NS + at_s * 10**9
    span.end_time_unix_nano = span.start_time_unix_nano + seconds * 10**9
    return span


def cloud(name: str, at_s: float, ua: str = "aws-cli/2.15.30 Python/3.11.8") -> dict[str, Any]:
    return make_record(
        eventName=name,
        eventSource="s3.amazonaws.com",
        role="coding-agent",
        session="claude-7f3a",
        userAgent=ua,
        at=BASE_TIME + timedelta(seconds=at_s),
    )


def related(client: TestClient, event_id: str) -> Any:
    return client.get(f"/v1/events/{event_id}/related", headers=auth(READ_KEY))


def test_a_tool_call_and_the_cloud_events_it_caused(client: TestClient, runtime: Runtime) -> None:
    spans = [
        call(1, "toolu_01A", "aws s3 rb s3://acme-staging-assets --force", 0, 3),
        call(2, "toolu_02B", "aws s3api list-buckets", 60, 2),
    ]
    assert (
        post(client, export(*spans).SerializeToString(), "application/x-protobuf").status_code
        == 200
    )  # noqa: E501
    marked = cloud("DeleteBucket", 1, ua="aws-cli/2.15.30 Python/3.11.8 leash-call/toolu_01A")
    unmarked = cloud("DeleteObjects", 1.5)  # in the first call's time, but not marked
    listing = cloud("ListBuckets", 61)  # in the second call's time
    later = cloud("GetBucketPolicy", 30)  # in no call's time
    records = [marked, unmarked, listing, later]
    response = client.post("/v1/events", json={"Records": records}, headers=auth(INGEST_KEY))
    assert response.status_code == 202
    settled_rows(runtime)

    first = related(client, f"otlp-{TRACE.hex()}-{1:016x}").json()
    assert first["tool_call"] is True
    assert first["caused"]["how"] == "call id"
    assert [e["event_id"] for e in first["caused"]["events"]] == [marked["eventID"]]
    second = related(client, f"otlp-{TRACE.hex()}-{2:016x}").json()
    assert second["caused"]["how"] == "time window"
    assert [e["action"] for e in second["caused"]["events"]] == ["ListBuckets"]

    assert related(client, marked["eventID"]).json()["cause"]["how"] == "call id"
    by_time = related(client, listing["eventID"]).json()["cause"]
    assert (by_time["how"], by_time["tool_call"]["event_id"]) == (
        "time window",
        f"otlp-{TRACE.hex()}-{2:016x}",
    )
    assert related(client, later["eventID"]).json()["cause"] is None
    assert related(client, "no-such-event").status_code == 404


def tool_record(call_id: str, at_ms: int, duration_ms: int, identity: dict[str, Any]) -> Any:
    """A tool call posted as a record (what an agent without OTLP sends), millisecond time."""
    at = BASE_TIME + timedelta(milliseconds=at_ms)
    return {
        "eventVersion": "1.08",
        "eventID": f"tool-{call_id}",
        "eventTime": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z",
        "eventSource": "tool:ops-bot",
        "eventName": "Bash",
        "userIdentity": identity,
        "agent": {"name": "ops-bot"},
        "requestParameters": {"command": "./cleanup.sh", "toolCallId": call_id},
        "additionalEventData": {"durationMs": duration_ms},
    }


def test_whole_second_cloudtrail_times_and_the_roles_other_sessions(
    client: TestClient, runtime: Runtime
) -> None:
    """CloudTrail logs whole seconds, so a call's first request can be logged before the call's
    millisecond start; a call reported for one session explains that session's calls, not a
    cron job's on the same role; a call reported for the role alone explains any session's."""
    agent = make_record(role="ops-agent", session="agent-run-7f3a1")["userIdentity"]
    role_only = {"type": "Role", "arn": "arn:aws:iam::123456789012:role/ops-agent"}
    by_session = tool_record("call_session01", 10_700, 2_000, agent)  # 10.7 s .. 12.7 s
    by_role = tool_record("call_role0001", 40_300, 2_000, role_only)  # 40.3 s .. 42.3 s

    def on_role(session: str, at_s: int) -> dict[str, Any]:
        return make_record(
            eventName="DeleteObject",
            eventSource="s3.amazonaws.com",
            role="ops-agent",
            session=session,
            at=BASE_TIME + timedelta(seconds=at_s),
        )

    first = on_role("agent-run-7f3a1", 10)  # logged 10 s: made at 10.7-10.999 s
    cron = on_role("botocore-session-1790000001", 11)  # another session of the role, meanwhile
    any_session = on_role("botocore-session-1790000002", 41)
    records = [by_session, by_role, first, cron, any_session]
    response = client.post("/v1/events", json={"Records": records}, headers=auth(INGEST_KEY))
    assert response.status_code == 202, response.text
    settled_rows(runtime)

    def cause(record: dict[str, Any]) -> str | None:
        found = related(client, record["eventID"]).json()["cause"]
        return None if found is None else str(found["tool_call"]["event_id"])

    assert cause(first) == "tool-call_session01"
    assert cause(cron) is None
    assert cause(any_session) == "tool-call_role0001"
    caused = related(client, "tool-call_session01").json()["caused"]
    assert [e["event_id"] for e in caused["events"]] == [first["eventID"]]
