"""POST /v1/ingest/eventbridge and /v1/ingest/firehose through the real app, bus and chDB store."""

from __future__ import annotations

import asyncio
import base64
import gzip
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from ingest.receivers import _within
from ingest.runtime import Runtime
from ingest.service import IngestResult
from ingest.settings import Settings
from ingest.sink.worker import SinkWorker
from tests.conftest import INGEST_KEY, READ_KEY, auth, make_settings
from tests.factories import DATASETS, make_record

EVENTBRIDGE = "/v1/ingest/eventbridge"
FIREHOSE = "/v1/ingest/firehose"
ACCOUNT = "123456789012"
INVICTUS = DATASETS / "invictus-ir_aws_dataset" / "CloudTrail"


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """The default test settings; `indirect` parametrisation names another EventBridge header."""
    base = make_settings(tmp_path)
    header = getattr(request, "param", None)
    return base.model_copy(update={"eventbridge_key_header": header}) if header else base


# -- realistic CloudTrail records ---------------------------------------------------------------


def service_assume_role() -> dict[str, Any]:
    """Inspector assuming its service-linked role: userIdentity.type AWSService, no ARN."""
    return {
        "eventVersion": "1.08",
        "userIdentity": {"type": "AWSService", "invokedBy": "inspector2.amazonaws.com"},
        "eventTime": "2026-11-02T09:14:07Z",
        "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRole",
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "inspector2.amazonaws.com",
        "userAgent": "inspector2.amazonaws.com",
        "requestParameters": {
            "roleArn": f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/inspector2.amazonaws.com/"
            "AWSServiceRoleForAmazonInspector2",
            "roleSessionName": "InspectorScan-5521907114",
            "durationSeconds": 3600,
        },
        "responseElements": {
            "credentials": {
                "accessKeyId": "ASIAEXAMPLE7Q4NF2XZ",
                "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLE",
                "expiration": "Nov 2, 2026, 10:14:07 AM",
            },
            "assumedRoleUser": {
                "assumedRoleId": "AROAEXAMPLEINSPECTOR:InspectorScan-5521907114",
                "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSServiceRoleForAmazonInspector2/"
                "InspectorScan-5521907114",
            },
        },
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": True,
        "resources": [
            {
                "accountId": ACCOUNT,
                "type": "AWS::IAM::Role",
                "ARN": f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/inspector2.amazonaws.com/"
                "AWSServiceRoleForAmazonInspector2",
            }
        ],
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "sharedEventID": str(uuid.uuid4()),
        "eventCategory": "Management",
    }


def console_sign_in() -> dict[str, Any]:
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLEALICE0001",
            "arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
            "accountId": ACCOUNT,
            "userName": "alice",
        },
        "eventTime": "2026-11-02T08:59:41Z",
        "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.23",
        "userAgent": "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
        "requestParameters": None,
        "responseElements": {"ConsoleLogin": "Success"},
        "additionalEventData": {
            "LoginTo": "https://console.aws.amazon.com/console/home",
            "MobileVersion": "No",
            "MFAUsed": "Yes",
        },
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsConsoleSignIn",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": "signin.aws.amazon.com",
        },
    }


def insights_event() -> dict[str, Any]:
    return {
        "eventVersion": "1.08",
        "eventTime": "2026-11-02T09:00:00Z",
        "awsRegion": "us-east-1",
        "eventID": str(uuid.uuid4()),
        "eventType": "AwsCloudTrailInsight",
        "recipientAccountId": ACCOUNT,
        "sharedEventID": str(uuid.uuid4()),
        "insightDetails": {
            "state": "Start",
            "eventSource": "ec2.amazonaws.com",
            "eventName": "TerminateInstances",
            "insightType": "ApiCallRateInsight",
            "insightContext": {"statistics": {"baseline": {"average": 0.01}}},
        },
        "eventCategory": "Insight",
    }


# -- delivery envelopes -------------------------------------------------------------------------

DETAIL_TYPES = {
    "AwsApiCall": "AWS API Call via CloudTrail",
    "AwsConsoleSignIn": "AWS Console Sign In via CloudTrail",
    "AwsServiceEvent": "AWS Service Event via CloudTrail",
    "AwsCloudTrailInsight": "AWS Insight via CloudTrail",
}


def eventbridge_event(detail: Any, detail_type: str | None = None) -> dict[str, Any]:
    """An event as an EventBridge rule hands it to an API destination (no input transformer)."""
    record = detail if isinstance(detail, dict) else {}
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type or DETAIL_TYPES[record.get("eventType", "AwsApiCall")],
        "source": "aws." + str(record.get("eventSource", "ec2.amazonaws.com")).split(".")[0],
        "account": ACCOUNT,
        "time": record.get("eventTime", "2026-11-02T09:00:00Z"),
        "region": record.get("awsRegion", "us-east-1"),
        "resources": [],
        "detail": detail,
    }


def logs_payload(records: Iterable[dict[str, Any]], *, control: bool = False) -> bytes:
    """A CloudWatch Logs subscription payload (gzipped) of CloudTrail's log group."""
    if control:
        payload: dict[str, Any] = {
            "messageType": "CONTROL_MESSAGE",
            "owner": "CloudwatchLogs",
            "logGroup": "",
            "logStream": "",
            "subscriptionFilters": [],
            "logEvents": [
                {
                    "id": "",
                    "timestamp": 1793610000000,
                    "message": "CWL CONTROL MESSAGE: Checking health of destination Firehose.",
                }
            ],
        }
    else:
        payload = {
            "messageType": "DATA_MESSAGE",
            "owner": ACCOUNT,
            "logGroup": f"aws-cloudtrail-logs-{ACCOUNT}-5f1c2a9e",
            "logStream": f"{ACCOUNT}_CloudTrail_us-east-1",
            "subscriptionFilters": ["leash-firehose"],
            "logEvents": [
                {
                    "id": f"{37_000_000_000_000 + i:056d}",
                    "timestamp": 1793610000000 + i,
                    "message": orjson.dumps(record).decode(),
                }
                for i, record in enumerate(records)
            ],
        }
    return gzip.compress(orjson.dumps(payload))


def firehose_body(datas: Iterable[bytes | str], request_id: str) -> dict[str, Any]:
    return {
        "requestId": request_id,
        "timestamp": int(time.time() * 1000),
        "records": [
            {"data": d if isinstance(d, str) else base64.b64encode(d).decode()} for d in datas
        ],
    }


def post_firehose(
    client: TestClient,
    datas: Iterable[bytes | str],
    *,
    request_id: str | None = None,
    key: str | None = INGEST_KEY,
    compress: bool = True,
) -> httpx.Response:
    """POST as Firehose does: its headers, JSON body, GZIP content encoding by default."""
    request_id = request_id or str(uuid.uuid4())
    body = orjson.dumps(firehose_body(datas, request_id))
    headers = {
        "Content-Type": "application/json",
        "X-Amz-Firehose-Protocol-Version": "1.0",
        "X-Amz-Firehose-Request-Id": request_id,
        "X-Amz-Firehose-Source-Arn": f"arn:aws:firehose:us-east-1:{ACCOUNT}:deliverystream/leash",
    }
    if key is not None:
        headers["X-Amz-Firehose-Access-Key"] = key
    if compress:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    response: httpx.Response = client.post(FIREHOSE, content=body, headers=headers)
    return response


# -- what the store holds -----------------------------------------------------------------------


def settled_rows(runtime: Runtime) -> list[str]:
    """Event ids of every stored row once the sink committed all that was published.

    No FINAL: an event stored twice shows up twice.
    """
    sinks = [w for w in runtime.workers if isinstance(w, SinkWorker)]
    deadline = time.monotonic() + 20
    while any(s.backlog() for s in sinks) and time.monotonic() < deadline:
        time.sleep(0.02)
    return [str(r[0]) for r in runtime.store.query("SELECT event_id FROM events")]


def metric(client: TestClient, name: str, **labels: str) -> float:
    """One sample of GET /metrics (0 when it was never incremented)."""
    text = client.get("/metrics", headers=auth(READ_KEY)).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def firehose_records(client: TestClient, outcome: str) -> float:
    return metric(client, "leash_receiver_records_total", receiver="firehose", outcome=outcome)


# -- EventBridge --------------------------------------------------------------------------------


def test_eventbridge_stores_the_detail_and_a_retry_stores_nothing_twice(
    client: TestClient, runtime: Runtime
) -> None:
    record = service_assume_role()
    event = eventbridge_event(record)
    first = client.post(EVENTBRIDGE, json=event, headers=auth(INGEST_KEY))
    assert first.status_code == 202
    assert first.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    retry = client.post(EVENTBRIDGE, json=event, headers=auth(INGEST_KEY))
    assert retry.status_code == 202
    assert retry.json() == {"accepted": 0, "duplicates": 1, "rejected": []}
    assert settled_rows(runtime) == [record["eventID"]]
    stored = client.get("/v1/events", headers=auth(READ_KEY)).json()["events"][0]
    assert stored["raw"] == record  # the detail, not the envelope
    assert (stored["action"], stored["actor_kind"]) == ("AssumeRole", "service")


def test_eventbridge_key_in_the_connection_header(client: TestClient, runtime: Runtime) -> None:
    record = console_sign_in()
    response = client.post(
        EVENTBRIDGE, json=eventbridge_event(record), headers={"x-leash-key": INGEST_KEY}
    )
    assert response.status_code == 202
    assert settled_rows(runtime) == [record["eventID"]]


@pytest.mark.parametrize("settings", ["X-Api-Key"], indirect=True)
def test_eventbridge_key_header_name_is_configurable(client: TestClient) -> None:
    event = eventbridge_event(make_record())
    assert (
        client.post(EVENTBRIDGE, json=event, headers={"x-api-key": INGEST_KEY}).status_code == 202
    )
    refused = client.post(EVENTBRIDGE, json=event, headers={"x-leash-key": INGEST_KEY})
    assert refused.status_code == 401
    assert "'X-Api-Key: <token>'" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param({}, 401, id="no key"),
        pytest.param(auth("wrong-key"), 401, id="unknown bearer key"),
        pytest.param({"x-leash-key": "wrong-key"}, 401, id="unknown header key"),
        pytest.param(auth(READ_KEY), 403, id="key without ingest scope"),
        pytest.param({"x-leash-key": READ_KEY}, 403, id="header key without ingest scope"),
    ],
)
def test_eventbridge_refuses_bad_keys(
    client: TestClient, runtime: Runtime, headers: dict[str, str], status: int
) -> None:
    response = client.post(EVENTBRIDGE, json=eventbridge_event(make_record()), headers=headers)
    assert response.status_code == status
    assert settled_rows(runtime) == []


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        pytest.param(b'{"version": "0", "detail": {', 400, "not valid JSON", id="malformed json"),
        pytest.param(b"[]", 400, "got array", id="not an object"),
        pytest.param(
            orjson.dumps(make_record()),
            400,
            "POST bare CloudTrail records to /v1/events",
            id="bare",
        ),
        pytest.param(
            orjson.dumps(
                eventbridge_event(
                    {"instance-id": "i-0abcd1234efgh5678", "state": "terminated"},
                    "EC2 Instance State-change Notification",
                )
            ),
            422,
            "'EC2 Instance State-change Notification' (source 'aws.ec2') is not a CloudTrail",
            id="not a cloudtrail event",
        ),
        pytest.param(
            orjson.dumps(eventbridge_event([make_record()], "AWS API Call via CloudTrail")),
            422,
            "detail must be one CloudTrail record (a JSON object), got array",
            id="detail not a record",
        ),
        pytest.param(
            orjson.dumps(eventbridge_event(insights_event())),
            422,
            "detail: CloudTrail Insights events are not API calls",
            id="insights event",
        ),
        pytest.param(
            orjson.dumps(eventbridge_event({"eventSource": "s3.amazonaws.com"})),
            422,
            "detail: eventName is missing",
            id="detail without eventName",
        ),
    ],
)
def test_eventbridge_permanent_problems_are_4xx_that_say_what_to_do(
    client: TestClient, runtime: Runtime, body: bytes, status: int, says: str
) -> None:
    response = client.post(EVENTBRIDGE, content=body, headers=auth(INGEST_KEY))
    assert response.status_code == status
    detail = response.json()["detail"]
    assert says in detail
    assert any(hint in detail for hint in ("rule", "unchanged", "/v1/events"))
    assert "Retry-After" not in response.headers
    assert settled_rows(runtime) == []


def test_eventbridge_bus_down_answers_503_with_retry_after(
    client: TestClient, runtime: Runtime
) -> None:
    runtime.bus.close()
    response = client.post(
        EVENTBRIDGE, json=eventbridge_event(make_record()), headers=auth(INGEST_KEY)
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert "nothing was stored" in response.json()["detail"]


def test_a_publish_past_the_eventbridge_deadline_is_answered_but_not_abandoned() -> None:
    finished: list[IngestResult] = []

    async def slow_publish() -> IngestResult:
        await asyncio.sleep(0.2)
        finished.append(IngestResult(accepted=1))
        return finished[-1]

    async def scenario() -> None:
        with pytest.raises(TimeoutError):
            await _within(slow_publish(), 0.01)
        assert finished == []  # answered (503) before the bus confirmed...
        await asyncio.sleep(0.4)

    asyncio.run(scenario())
    assert len(finished) == 1  # ...and the publish went on: the retry will be a duplicate


# -- Firehose -----------------------------------------------------------------------------------


def test_firehose_mixed_batch_answers_the_protocol_and_stores_every_record(
    client: TestClient, runtime: Runtime
) -> None:
    single, sign_in = service_assume_role(), console_sign_in()
    log_file = [make_record(eventName="DeleteBucket", eventSource="s3.amazonaws.com") for _ in "ab"]
    ndjson = [make_record(), make_record(eventName="RunInstances")]
    via_logs = [
        make_record(eventName="StopLogging", eventSource="cloudtrail.amazonaws.com"),
        sign_in,
    ]
    request_id = "ed4acda5-034f-9f42-bba1-f29aea6d7d8f"
    response = post_firehose(
        client,
        [
            orjson.dumps(single),
            orjson.dumps({"Records": log_file}),
            b"\n".join(orjson.dumps(r) for r in ndjson) + b"\n",
            logs_payload(via_logs),
            logs_payload([], control=True),
        ],
        request_id=request_id,
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"requestId", "timestamp"}
    assert body["requestId"] == request_id
    assert isinstance(body["timestamp"], int) and abs(body["timestamp"] / 1000 - time.time()) < 60
    expected = {r["eventID"] for r in [single, *log_file, *ndjson, *via_logs]}
    assert sorted(settled_rows(runtime)) == sorted(expected)
    assert metric(client, "leash_receiver_control_messages_skipped_total") == 1
    assert firehose_records(client, "accepted") == 7


def test_firehose_retry_with_the_same_request_id_stores_nothing_twice(
    client: TestClient, runtime: Runtime
) -> None:
    records = [service_assume_role(), console_sign_in(), make_record()]
    datas = [orjson.dumps(records[0]), logs_payload(records[1:])]
    request_id = str(uuid.uuid4())
    assert post_firehose(client, datas, request_id=request_id).status_code == 200
    before = settled_rows(runtime)
    for _ in range(2):  # Firehose did not see the 200 (timeout), and tries again, twice
        retry = post_firehose(client, datas, request_id=request_id)
        assert retry.status_code == 200 and retry.json()["requestId"] == request_id
    assert sorted(settled_rows(runtime)) == sorted(before) == sorted(r["eventID"] for r in records)
    assert firehose_records(client, "duplicate") == 6


def test_firehose_records_without_event_id_are_deduplicated_by_content(
    client: TestClient, runtime: Runtime
) -> None:
    record = make_record()
    del record["eventID"]
    for _ in range(2):
        assert post_firehose(client, [orjson.dumps(record)], request_id="same").status_code == 200
    assert len(settled_rows(runtime)) == 1


def test_firehose_bad_records_are_rejected_alone_and_counted(
    client: TestClient, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    good = [make_record(), service_assume_role(), console_sign_in()]
    no_name = make_record()
    del no_name["eventName"]
    datas: list[bytes | str] = [
        orjson.dumps(good[0]),
        "this is not base64!",  # record 1
        b"{not json",  # record 2
        orjson.dumps(insights_event()),  # record 3
        orjson.dumps({"Records": 5}),  # record 4
        logs_payload([good[1], no_name]),  # record 5: log event 1 is bad
        gzip.compress(b"plain text, not CloudTrail"),  # record 6
        b"\x1f\x8b\x08\x00 truncated gzip",  # record 7
        orjson.dumps(good[2]),
        "",  # Firehose allows empty records; nothing to store, nothing wrong
    ]
    with caplog.at_level("WARNING", logger="ingest.receivers"):
        response = post_firehose(client, datas, request_id="req-with-bad-records")
    assert response.status_code == 200  # a retry could not fix them: Firehose must not retry
    assert sorted(settled_rows(runtime)) == sorted(r["eventID"] for r in good)
    assert firehose_records(client, "rejected") == 7
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for says in [
        "record 1: data is not valid base64",
        "record 2: data is not JSON, NDJSON or a CloudWatch Logs payload",
        "record 3: CloudTrail Insights events are not API calls",
        "record 4: Records must be an array of CloudTrail records, got number",
        "record 5, log event 1: eventName is missing",
        "record 6: data is not JSON",
        "record 7: data starts like gzip but is not valid gzip",
    ]:
        assert f"req-with-bad-records: rejected {says}" in logged


@pytest.mark.parametrize(
    ("key", "status"),
    [
        pytest.param(None, 401, id="no access key"),
        pytest.param("wrong-key", 401, id="unknown access key"),
        pytest.param(READ_KEY, 403, id="access key without ingest scope"),
    ],
)
def test_firehose_refuses_bad_keys_in_protocol_format(
    client: TestClient, runtime: Runtime, key: str | None, status: int
) -> None:
    response = post_firehose(client, [orjson.dumps(make_record())], request_id="r-1", key=key)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert (body["requestId"], set(body)) == ("r-1", {"requestId", "timestamp", "errorMessage"})
    assert ("access key" in body["errorMessage"]) == (status == 401)
    assert settled_rows(runtime) == []


def test_firehose_bearer_key_alone_is_not_the_protocol(client: TestClient) -> None:
    body = orjson.dumps(firehose_body([orjson.dumps(make_record())], "r-2"))
    response = client.post(FIREHOSE, content=body, headers=auth(INGEST_KEY))
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("body", "says"),
    [
        pytest.param(b'{"requestId": "r", "records": [', "not valid JSON", id="malformed json"),
        pytest.param(b'{"requestId": "r", "records": {}}', "records array", id="records object"),
        pytest.param(b"[]", "got array", id="not a request"),
        pytest.param(gzip.compress(b"x")[:-4], "gzip", id="broken gzip body"),
    ],
)
def test_firehose_malformed_body_is_400(client: TestClient, body: bytes, says: str) -> None:
    headers = {"X-Amz-Firehose-Access-Key": INGEST_KEY, "X-Amz-Firehose-Request-Id": "r-3"}
    if body[:2] == b"\x1f\x8b":
        headers["Content-Encoding"] = "gzip"
    response = client.post(FIREHOSE, content=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["requestId"] == "r-3"
    assert says in response.json()["errorMessage"]


def test_firehose_more_than_10000_records_is_413(client: TestClient) -> None:
    empty_records_at_the_limit = post_firehose(client, [""] * 10_000)
    assert empty_records_at_the_limit.status_code == 200
    response = post_firehose(client, [""] * 10_001, request_id="r-4")
    assert response.status_code == 413
    assert response.json()["requestId"] == "r-4"
    assert "at most 10000" in response.json()["errorMessage"]


def test_firehose_bus_down_answers_503_with_retry_after(
    client: TestClient, runtime: Runtime
) -> None:
    runtime.bus.close()
    response = post_firehose(client, [orjson.dumps(make_record())], request_id="r-5")
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    body = response.json()
    assert body["requestId"] == "r-5" and "nothing was stored" in body["errorMessage"]
    assert metric(client, "leash_receiver_requests_total", receiver="firehose", code="503") == 1


@pytest.mark.skipif(not INVICTUS.is_dir(), reason=f"dataset absent: {INVICTUS}")
def test_firehose_real_cloudtrail_log_files_and_their_log_group_copy(
    client: TestClient, runtime: Runtime
) -> None:
    files = [orjson.loads(p.read_bytes())["Records"] for p in sorted(INVICTUS.glob("*.json"))]
    every = [r for records in files for r in records]
    as_files = [gzip.compress(orjson.dumps({"Records": records})) for records in files]
    assert post_firehose(client, as_files).status_code == 200
    as_logs = [logs_payload(every[i : i + 250]) for i in range(0, len(every), 250)]
    assert post_firehose(client, as_logs).status_code == 200  # the same events via CloudWatch
    assert sorted(settled_rows(runtime)) == sorted({r["eventID"] for r in every})
    assert firehose_records(client, "duplicate") == len(every)
