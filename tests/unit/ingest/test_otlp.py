"""POST /v1/otlp/v1/traces through the real app, bus and chDB store: an agent's tool-call spans,
in OTLP protobuf and OTLP/JSON, become events classified by what the tool did."""

from __future__ import annotations

import gzip
from typing import Any

import orjson
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from ingest.runtime import Runtime
from tests.conftest import INGEST_KEY, READ_KEY, auth
from tests.unit.ingest.test_receivers import settled_rows

PATH = "/v1/otlp/v1/traces"
PROTO = "application/x-protobuf"
ROLE = "arn:aws:sts::123456789012:assumed-role/coding-agent/claude-7f3a"
START = 1_764_662_400_000_000_000  # 2025-12-02T08:00:00Z in ns
TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")


def kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def span(n: int, attributes: dict[str, str], *, name: str = "", error: bool = False) -> Span:
    return Span(
        trace_id=TRACE,
        span_id=n.to_bytes(8, "big"),
        name=name or f"execute_tool {attributes.get('gen_ai.tool.name', '')}",
        start_time_unix_nano=START + n * 1_000_000_000,
        end_time_unix_nano=START + n * 1_000_000_000 + 250_000_000,
        attributes=[kv(k, v) for k, v in attributes.items()],
        status=Status(code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_OK),
    )


def tool(n: int, name: str, arguments: dict[str, Any], **extra: str) -> Span:
    return span(
        n,
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.call.id": f"toolu_{n:02d}",
            "gen_ai.tool.call.arguments": orjson.dumps(arguments).decode(),
            "gen_ai.agent.id": "billing-agent",
            "gen_ai.conversation.id": "conv-7",
            **extra,
        },
    )


def export(*spans: Span) -> ExportTraceServiceRequest:
    resource = Resource(attributes=[kv("service.name", "claude-code"), kv("leash.principal", ROLE)])
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=spans)])]
    )


def post(client: TestClient, body: bytes, content_type: str, **headers: str) -> Any:
    return client.post(
        PATH, content=body, headers={**auth(INGEST_KEY), "Content-Type": content_type, **headers}
    )


def events(client: TestClient, runtime: Runtime, **query: str) -> list[dict[str, Any]]:
    settled_rows(runtime)
    found: list[dict[str, Any]] = client.get(
        "/v1/events", params=query, headers=auth(READ_KEY)
    ).json()["events"]
    return found


def test_tool_spans_become_events_classified_by_what_they_did(
    client: TestClient, runtime: Runtime
) -> None:
    request = export(
        tool(1, "Bash", {"command": "git status"}),
        tool(2, "Bash", {"command": "PGPASSWORD=hunter2 psql -c 'DROP TABLE invoices;'"}),
        tool(3, "Write", {"file_path": "/repo/app.py", "content": "print('hi')\n" * 50}),
        span(4, {"gen_ai.operation.name": "chat", "gen_ai.request.model": "claude"}, name="chat"),
        span(5, {"gen_ai.operation.name": "execute_tool"}, name="execute_tool"),  # no tool name
    )
    response = post(client, request.SerializeToString(), "application/x-protobuf")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-protobuf"
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_spans == 1  # the tool span without a name
    assert "gen_ai.tool.name" in answer.partial_success.error_message

    stored = events(client, runtime, principal=ROLE)
    by_id = {e["event_id"]: e for e in stored}
    assert set(by_id) == {f"otlp-{TRACE.hex()}-{n:016x}" for n in (1, 2, 3)}  # chat: not a call
    drop = by_id[f"otlp-{TRACE.hex()}-{2:016x}"]
    assert (drop["action"], drop["action_class"], drop["actor_kind"]) == (
        "Bash",
        "destructive",
        "agent",
    )
    assert drop["source"] == "tool:claude-code"
    assert "hunter2" not in orjson.dumps(stored).decode()
    assert "print('hi')" not in orjson.dumps(stored).decode()  # file bodies are only measured
    classes = {e["action_class"] for e in events(client, runtime, action="Bash")}
    assert classes == {"read", "destructive"}


def test_otlp_json_gzip_works_the_same_and_a_retry_stores_nothing_twice(
    client: TestClient, runtime: Runtime
) -> None:
    body = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "my-agent"}}]
                },
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": TRACE.hex(),
                                "spanId": "00000000000000aa",
                                "name": "execute_tool delete_repository",
                                "startTimeUnixNano": str(START),
                                "endTimeUnixNano": str(START + 10**9),
                                "attributes": [
                                    {
                                        "key": "gen_ai.tool.name",
                                        "value": {"stringValue": "mcp__github__delete_repository"},
                                    },  # noqa: E501
                                    {
                                        "key": "gen_ai.agent.name",
                                        "value": {"stringValue": "janitor"},
                                    },  # noqa: E501
                                ],
                            }
                        ]
                    }
                ],
            }
        ]
    }
    raw = gzip.compress(orjson.dumps(body))
    first = post(client, raw, "application/json", **{"Content-Encoding": "gzip"})
    assert first.status_code == 200 and first.json() == {}, first.text
    again = post(client, raw, "application/json", **{"Content-Encoding": "gzip"})
    assert again.status_code == 200
    stored = events(client, runtime, action="mcp__github__delete_repository")
    assert len(stored) == 1
    assert stored[0]["principal"] == "my-agent/janitor"
    assert stored[0]["action_class"] == "destructive"


def test_what_is_not_an_export_is_refused_with_a_reason(client: TestClient) -> None:
    assert post(client, b"hello", "text/plain").status_code == 415
    garbage = post(client, b"\xff\x00\x13garbage", "application/x-protobuf")
    assert garbage.status_code == 400 and "not an OTLP trace export" in garbage.json()["message"]
    assert post(client, b"[1, 2]", "application/json").status_code == 400
    anonymous = client.post(PATH, content=b"{}", headers={"Content-Type": "application/json"})
    assert anonymous.status_code == 401


def test_an_agents_destructive_tool_calls_reach_the_store_as_detection_reads_them(
    client: TestClient, runtime: Runtime
) -> None:
    """The stored rows carry what detection reads: the class, the agent, the span's time."""
    spans = [tool(10 + i, "Bash", {"command": f"rm -rf /srv/data/{i}"}) for i in range(3)]
    response = post(client, export(*spans).SerializeToString(), "application/x-protobuf")
    assert response.status_code == 200
    settled_rows(runtime)
    rows = runtime.store.query(
        "SELECT action_class, actor_kind, toUnixTimestamp64Milli(event_time) FROM events "
        "WHERE action = 'Bash' ORDER BY event_time"
    )
    assert [tuple(r[:2]) for r in rows] == [("destructive", "agent")] * 3
    assert rows[0][2] == (START + 10 * 10**9) // 10**6


def test_secrets_in_structured_arguments_are_not_stored(
    client: TestClient, runtime: Runtime
) -> None:
    args = {"url": "https://api.internal", "password": "hunter", "headers": {"X-Api-Key": "k9"}}
    response = post(client, export(tool(40, "http_request", args)).SerializeToString(), PROTO)
    assert response.status_code == 200
    stored = orjson.dumps(events(client, runtime, action="http_request")).decode()
    assert "https://api.internal" in stored
    assert "hunter" not in stored and "k9" not in stored


def test_spans_with_odd_values_are_rejected_one_by_one_never_a_500(client: TestClient) -> None:
    good = {
        "traceId": TRACE.hex(),
        "spanId": "00000000000000cc",
        "name": "execute_tool x",
        "startTimeUnixNano": str(START),
        "attributes": [{"key": "gen_ai.tool.name", "value": {"stringValue": "x"}}],
    }
    odd = [
        {**good, "spanId": "00000000000000cd", "startTimeUnixNano": "1" + "0" * 30},
        {**good, "spanId": ""},
    ]
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [good, *odd]}]}]}
    response = post(client, orjson.dumps(body), "application/json")
    assert response.status_code == 200, response.text
    assert response.json()["partialSuccess"]["rejectedSpans"] == "2"
    for value in ({"arrayValue": [1]}, {"kvlistValue": {"values": [1]}}, {"doubleValue": {}}):
        attrs = [{"key": "gen_ai.tool.name", "value": value}]
        bad = {"resourceSpans": [{"scopeSpans": [{"spans": [{**good, "attributes": attrs}]}]}]}
        refused = post(client, orjson.dumps(bad), "application/json")
        assert refused.status_code == 400, (value, refused.text)


def test_a_tool_call_posted_as_a_record_is_stored_redacted(
    client: TestClient, runtime: Runtime
) -> None:
    record = {
        "eventVersion": "1.08",
        "eventID": "tool-call-1",
        "eventTime": "2026-11-30T10:00:00Z",
        "eventSource": "tool:my-agent",
        "eventName": "Bash",
        "userIdentity": {"type": "AssumedRole", "arn": ROLE},
        "agent": {"name": "my-agent"},
        "requestParameters": {"command": "PGPASSWORD=hunter psql -c 'DROP TABLE invoices'"},
    }
    response = client.post("/v1/events", json={"Records": [record]}, headers=auth(INGEST_KEY))
    assert response.status_code == 202
    (stored,) = [
        e for e in events(client, runtime, action="Bash") if e["event_id"] == "tool-call-1"
    ]
    assert stored["action_class"] == "destructive"
    assert "DROP TABLE invoices" in orjson.dumps(stored).decode()
    assert "hunter" not in orjson.dumps(stored).decode()
