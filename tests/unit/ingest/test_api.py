"""POST/GET /v1/events through the real app, bus and chDB store."""

from __future__ import annotations

import gzip
import time
from datetime import timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from bench.ingest_throughput import stored_from_metrics
from ingest.runtime import Runtime
from ingest.sink.worker import SinkWorker
from tests.conftest import ADMIN_KEY, INGEST_KEY, READ_KEY, auth
from tests.factories import BASE_TIME, make_record
from tests.wait import wait_until


def wait_for_total(client: TestClient, expected: int, **params: str) -> dict:
    deadline = time.monotonic() + 10
    while True:
        body = client.get("/v1/events", params=params, headers=auth(READ_KEY)).json()
        if body["total"] >= expected or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def test_log_file_object_is_accepted_and_queryable(client: TestClient) -> None:
    records = [
        make_record(eventName="DeleteBucket", eventSource="s3.amazonaws.com") for _ in range(3)
    ]
    response = client.post(
        "/v1/events", content=orjson.dumps({"Records": records}), headers=auth(INGEST_KEY)
    )
    assert response.status_code == 202
    assert response.json() == {"accepted": 3, "duplicates": 0, "rejected": []}
    body = wait_for_total(client, 3)
    assert body["total"] == 3
    assert {e["action_class"] for e in body["events"]} == {"destructive"}
    assert body["events"][0]["raw"]["eventName"] == "DeleteBucket"


def test_bad_records_are_named_and_neighbours_kept(client: TestClient) -> None:
    good = make_record()
    bad = make_record()
    del bad["eventName"]
    ndjson = b"\n".join([orjson.dumps(good), b"{not json", orjson.dumps(bad)])
    response = client.post(
        "/v1/events",
        content=gzip.compress(ndjson),
        headers={**auth(INGEST_KEY), "Content-Encoding": "gzip"},
    )
    body = response.json()
    assert response.status_code == 202
    assert body["accepted"] == 1
    assert [r["index"] for r in body["rejected"]] == [1, 2]
    assert "not valid JSON" in body["rejected"][0]["error"]
    assert "eventName" in body["rejected"][1]["error"]
    assert wait_for_total(client, 1)["events"][0]["event_id"] == good["eventID"]


def test_duplicates_are_counted_and_stored_once(client: TestClient, runtime: Runtime) -> None:
    record = make_record()
    first = client.post("/v1/events", json=record, headers=auth(INGEST_KEY)).json()
    second = client.post("/v1/events", json=[record, record], headers=auth(INGEST_KEY)).json()
    assert (first["accepted"], second["accepted"], second["duplicates"]) == (1, 0, 2)
    # everything acknowledged is stored and committed: a second copy would be counted by now
    sink = next(w for w in runtime.workers if isinstance(w, SinkWorker))
    wait_until(lambda: sink.backlog() == 0, what="the sink to store everything")
    assert wait_for_total(client, 1)["total"] == 1


def test_filters_accept_either_principal_form(client: TestClient) -> None:
    run_a = make_record(session="agent-run-1a2b3c", eventName="TerminateInstances")
    run_b = make_record(session="agent-run-9f8e7d", eventName="TerminateInstances")
    other = make_record(role="reporting", session="alice@example.com")
    client.post("/v1/events", json=[run_a, run_b, other], headers=auth(INGEST_KEY))
    wait_for_total(client, 3)
    by_full = wait_for_total(client, 2, principal=run_a["userIdentity"]["arn"])
    role_key = "arn:aws:sts::123456789012:assumed-role/deploy-agent"
    by_key = wait_for_total(client, 2, principal=role_key)
    by_iam_role = wait_for_total(client, 2, principal="arn:aws:iam::123456789012:role/deploy-agent")
    assert by_full["total"] == by_key["total"] == by_iam_role["total"] == 2
    assert {e["principal_key"] for e in by_key["events"]} == {role_key}
    assert {e["actor_kind"] for e in by_key["events"]} == {"agent"}
    human = wait_for_total(client, 1, principal=other["userIdentity"]["arn"])
    assert human["events"][0]["actor_kind"] == "human"


def test_auth_scopes(client: TestClient) -> None:
    assert client.post("/v1/events", json=make_record()).status_code == 401
    assert client.post("/v1/events", json=make_record(), headers=auth("wrong")).status_code == 401
    assert client.post("/v1/events", json=make_record(), headers=auth(READ_KEY)).status_code == 403
    assert client.get("/v1/events", headers=auth(INGEST_KEY)).status_code == 403
    assert client.get("/v1/events", headers=auth(ADMIN_KEY)).status_code == 200
    assert client.get("/healthz").json()["status"] == "ok"


def test_gzip_bomb_and_oversized_bodies_are_refused(client: TestClient, runtime) -> None:
    bomb = gzip.compress(b"[" + b" " * (runtime.settings.max_decompressed_bytes + 10) + b"]")
    response = client.post(
        "/v1/events", content=bomb, headers={**auth(INGEST_KEY), "Content-Encoding": "gzip"}
    )
    assert response.status_code == 413
    assert "decompressed body exceeds" in response.json()["detail"]
    big = b"[" + b" " * runtime.settings.max_body_bytes + b"]"
    assert client.post("/v1/events", content=big, headers=auth(INGEST_KEY)).status_code == 413


def test_body_that_is_not_json_gets_400(client: TestClient) -> None:
    response = client.post("/v1/events", content=b"[1, 2", headers=auth(INGEST_KEY))
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["detail"]


@pytest.mark.parametrize(
    "body", [b"hello", b"<?xml version='1.0'?><Records/>", bytes(range(1, 200)), b"a\nb\nc"]
)
def test_a_body_in_which_nothing_parses_gets_400_naming_the_first_problem(
    client: TestClient, body: bytes
) -> None:
    response = client.post("/v1/events", content=body, headers=auth(INGEST_KEY))
    assert response.status_code == 400, response.text
    assert "line 1: line is not valid JSON" in response.json()["detail"]


def test_one_bad_line_of_ndjson_is_rejected_alone(client: TestClient) -> None:
    lines = [orjson.dumps(make_record()), b"not json", orjson.dumps(make_record())]
    response = client.post("/v1/events", content=b"\n".join(lines), headers=auth(INGEST_KEY))
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 2 and [r["index"] for r in body["rejected"]] == [1]


@pytest.mark.parametrize("encoding", ["deflate", "br", "zstd"])
def test_an_unsupported_content_encoding_gets_415(client: TestClient, encoding: str) -> None:
    headers = {**auth(INGEST_KEY), "Content-Encoding": encoding}
    response = client.post("/v1/events", content=b"\x78\x9c\x03\x00", headers=headers)
    assert response.status_code == 415
    assert "send the body gzip'd" in response.json()["detail"]


@pytest.mark.parametrize("odd", ["a%09b", "a%0Ab", "x%5C", "%5C%5C", "a%0D"])
def test_ids_and_filters_with_tabs_newlines_or_backslashes_find_nothing_not_a_500(
    client: TestClient, odd: str
) -> None:
    for path in (f"/v1/alerts/{odd}", f"/v1/approvals/{odd}"):
        assert client.get(path, headers=auth(ADMIN_KEY)).status_code == 404, path
    for name in ("principal", "action", "resource"):
        response = client.get(f"/v1/events?{name}={odd}", headers=auth(READ_KEY))
        assert response.status_code == 200 and response.json()["events"] == [], name


def test_a_suppression_expiry_past_ten_years_gets_422_not_an_overflow(client: TestClient) -> None:
    for expires in (1e300, 10 * 365 * 86_400 + 1):
        response = client.post(
            "/v1/suppressions",
            json={"reason": "maintenance", "expires_in_s": expires},
            headers=auth(ADMIN_KEY),
        )
        assert response.status_code == 422, response.text
    ok = {"reason": "maintenance", "expires_in_s": 3600}
    assert client.post("/v1/suppressions", json=ok, headers=auth(ADMIN_KEY)).status_code < 300


def test_records_that_is_not_an_array_gets_400_naming_it(client: TestClient) -> None:
    response = client.post("/v1/events", content=b'{"Records": 5}', headers=auth(INGEST_KEY))
    assert response.status_code == 400
    assert response.json()["detail"] == "Records must be an array of CloudTrail records, got number"


def test_metrics_count_ingest(client: TestClient) -> None:
    client.post("/v1/events", json=[make_record(), {"eventName": 1}], headers=auth(INGEST_KEY))
    text = client.get("/metrics", headers=auth(READ_KEY)).text
    assert "leash_events_accepted_total 1.0" in text
    assert "leash_events_rejected_total 1.0" in text


def test_metrics_count_stored_events_as_the_ingest_benchmark_reads_them(client: TestClient) -> None:
    """bench.ingest_throughput waits on this counter instead of counting the table."""
    response = client.post(
        "/v1/events", json=[make_record() for _ in range(3)], headers=auth(INGEST_KEY)
    )
    assert response.json()["accepted"] == 3
    assert wait_for_total(client, 3)["total"] == 3
    # the counter is raised right after the insert returned, so a query may see the rows first
    wait_until(
        lambda: stored_from_metrics(client.get("/metrics", headers=auth(READ_KEY)).text) == 3,
        what="leash_sink_events_total == 3",
    )


def test_whoami_reports_scopes_not_the_token(client: TestClient) -> None:
    body = client.get("/v1/whoami", headers=auth(READ_KEY)).json()
    assert body["scopes"] == ["read"]
    assert body["key_id"].startswith("key_") and READ_KEY not in body["key_id"]
    assert client.get("/v1/whoami", headers=auth(ADMIN_KEY)).json()["scopes"] == [
        "admin",
        "ingest",
        "read",
    ]


def read_page(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/events", params=params, headers=auth(READ_KEY))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def read_all(client: TestClient, first: dict[str, Any], **params: Any) -> list[str]:
    """Ids of `first` and of every page its next_cursor leads to."""
    ids = [e["event_id"] for e in first["events"]]
    page = first
    while page["next_cursor"]:
        page = read_page(client, **params, cursor=page["next_cursor"])
        ids += [e["event_id"] for e in page["events"]]
    return ids


def post_records(client: TestClient, records: list[dict[str, Any]], total: int) -> None:
    assert client.post("/v1/events", json=records, headers=auth(INGEST_KEY)).status_code == 202
    assert wait_for_total(client, total)["total"] == total


def test_cursor_pages_neither_shift_nor_repeat_while_newer_events_arrive(
    client: TestClient,
) -> None:
    # three events share one second, so the event_id tiebreaker decides a page boundary
    seconds = (0, 1, 2, 2, 2, 3, 4)
    older = [make_record(at=BASE_TIME + timedelta(seconds=s)) for s in seconds]
    post_records(client, older, 7)
    matched = [e["event_id"] for e in read_page(client, limit=100)["events"]]
    first = read_page(client, limit=3)
    assert first["next_cursor"] and len(first["events"]) == 3

    newer = [make_record(at=BASE_TIME + timedelta(hours=1, seconds=i)) for i in range(4)]
    post_records(client, newer, 11)
    # what cursors fix: offset's page 2 now repeats rows of page 1
    by_offset = [e["event_id"] for e in read_page(client, limit=3, offset=3)["events"]]
    assert set(by_offset) & {e["event_id"] for e in first["events"]}

    ids = read_all(client, first, limit=3)
    assert len(ids) == len(set(ids)) == 7
    assert ids == matched  # the same rows, in the same order, as one read at page 1 time
    newest_first = sorted((-s, r["eventID"]) for s, r in zip(seconds, older, strict=True))
    assert ids == [event_id for _, event_id in newest_first]  # event_time DESC, event_id


def test_cursor_pages_keep_their_filters_and_end_without_an_empty_page(
    client: TestClient,
) -> None:
    deletes = [make_record(eventName="DeleteBucket") for _ in range(4)]
    post_records(client, [*deletes, make_record(), make_record()], 6)
    first = read_page(client, action="DeleteBucket", limit=2)
    second = read_page(client, action="DeleteBucket", limit=2, cursor=first["next_cursor"])
    assert second["next_cursor"] is None and len(second["events"]) == 2
    ids = read_all(client, first, action="DeleteBucket", limit=2)
    assert sorted(ids) == sorted(r["eventID"] for r in deletes)
    assert read_page(client, limit=6)["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        pytest.param(
            {"action": "DeleteBucket"},
            "cursor was issued for other filters; restart without cursor",
            id="other filters",
        ),
        pytest.param(
            {"offset": 2},
            "cursor and offset cannot be combined",
            id="with offset",
        ),
        pytest.param(
            {"cursor": "not-a-cursor"},
            "cursor has unknown version",
            id="malformed",
        ),
        pytest.param(
            {"cursor": "%%%"},
            "cursor is not a url-safe base64 token",
            id="not base64",
        ),
    ],
)
def test_a_cursor_that_cannot_continue_gets_400_naming_why(
    client: TestClient, params: dict[str, Any], message: str
) -> None:
    post_records(client, [make_record() for _ in range(3)], 3)
    cursor = read_page(client, limit=1)["next_cursor"]
    response = client.get(
        "/v1/events", params={"limit": 1, "cursor": cursor, **params}, headers=auth(READ_KEY)
    )
    assert response.status_code == 400
    assert message in response.json()["detail"]


def test_records_with_odd_field_types_are_rejected_alone_not_with_a_500(
    client: TestClient,
) -> None:
    """Whatever a record's fields hold, its neighbours are stored and it gets a reason."""
    odd = [
        {**make_record(), "resources": 1},  # not a list: ignored, the record is kept
        {**make_record(), "eventTime": "1960-01-01T00:00:00Z"},
        {**make_record(), "userIdentity": ["not", "an", "object"]},
        {**make_record(), "requestParameters": "a string"},
    ]
    response = client.post(
        "/v1/events", json=[make_record(), *odd, make_record()], headers=auth(INGEST_KEY)
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["accepted"] + len(body["rejected"]) == 6
    assert body["accepted"] >= 3
    errors = {r["index"]: r["error"] for r in body["rejected"]}
    assert "outside 1970-2099" in errors[2]


def test_openapi_declares_the_key_scheme_on_every_route_but_healthz_and_the_events_body(
    client: TestClient,
) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["LeashKey"]["scheme"] == "bearer"
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            schemes = {name for entry in operation.get("security", []) for name in entry}
            want = {"FirehoseAccessKey"} if path.endswith("/firehose") else {"LeashKey"}
            assert schemes == (want if path != "/healthz" else set()), (method, path)
    post = spec["paths"]["/v1/events"]["post"]
    assert post["requestBody"]["required"] is True
    assert set(post["requestBody"]["content"]) == {"application/json", "application/x-ndjson"}
    assert {"202", "400", "401", "403", "413", "415", "503"} <= set(post["responses"])
    # declaring the scheme changes nothing about who gets in
    assert client.post("/v1/events", content=b"[]").status_code == 401
