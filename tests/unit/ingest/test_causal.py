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
