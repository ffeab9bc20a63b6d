"""AWS receiver benchmark: records/s through POST /v1/ingest/firehose and /v1/ingest/eventbridge.

Starts one `leash up` and sends real CloudTrail records (invictus-ir, fresh eventIDs) as AWS
would: Firehose requests of `--firehose-batch` records (gzip body, one CloudTrail record per
Firehose record, then the same count as CloudWatch Logs subscription payloads of 100 log events
each), and EventBridge events one per request from `--clients` concurrent senders -- each beside
the same number of records sent to POST /v1/events in the same batching (the yardstick). Prints
records/s acknowledged (durable 200/202) and stored (queryable) for each.

    python -m bench.receivers --firehose-requests 10 --firehose-batch 10000 --events 5000
"""

from __future__ import annotations

import argparse
import base64
import gzip
import signal
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.ingest_throughput import load_templates
from bench.serving import free_port, start_leash

KEY = "bench-key"
LOG_EVENTS_PER_PAYLOAD = 100  # CloudTrail events per CloudWatch Logs subscription payload


def fresh(templates: list[dict[str, Any]], count: int, start: int) -> list[dict[str, Any]]:
    """`count` records cycled from the templates, each with a new eventID."""
    out = []
    for i in range(start, start + count):
        record = dict(templates[i % len(templates)])
        record["eventID"] = str(uuid.uuid4())
        out.append(record)
    return out


def firehose_bodies(records: list[dict[str, Any]], batch: int, *, logs: bool) -> list[bytes]:
    """Gzipped Firehose requests of `batch` CloudTrail records each, built before the clock."""
    bodies = []
    for i in range(0, len(records), batch):
        chunk = records[i : i + batch]
        if logs:
            datas = [
                gzip.compress(orjson.dumps(_logs_payload(chunk[k : k + LOG_EVENTS_PER_PAYLOAD])))
                for k in range(0, len(chunk), LOG_EVENTS_PER_PAYLOAD)
            ]
        else:
            datas = [orjson.dumps(r) for r in chunk]
        request = {
            "requestId": str(uuid.uuid4()),
            "timestamp": int(time.time() * 1000),
            "records": [{"data": base64.b64encode(d).decode()} for d in datas],
        }
        bodies.append(gzip.compress(orjson.dumps(request), compresslevel=1))
    return bodies


def _chunks(records: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [records[i : i + size] for i in range(0, len(records), size)]


def _logs_payload(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": "aws-cloudtrail-logs-bench",
        "logStream": "123456789012_CloudTrail_us-east-1",
        "subscriptionFilters": ["leash"],
        "logEvents": [
            {"id": str(i), "timestamp": 0, "message": orjson.dumps(r).decode()}
            for i, r in enumerate(records)
        ],
    }


def eventbridge_bodies(records: list[dict[str, Any]]) -> list[bytes]:
    return [
        orjson.dumps(
            {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "AWS API Call via CloudTrail",
                "source": "aws." + r["eventSource"].split(".")[0],
                "account": r.get("recipientAccountId", ""),
                "time": r["eventTime"],
                "region": r["awsRegion"],
                "resources": [],
                "detail": r,
            }
        )
        for r in records
    ]


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    bodies: list[bytes]
    records: int
    clients: int
    headers: dict[str, str] = field(default_factory=dict)


def send(client: httpx.Client, case: Case) -> float:
    """Seconds to get every body of `case` acknowledged by its concurrent senders."""

    def post(body: bytes) -> int:
        return client.post(case.path, content=body, headers=case.headers).status_code

    started = time.perf_counter()
    with ThreadPoolExecutor(case.clients) as pool:
        codes = set(pool.map(post, case.bodies))
    assert codes <= {200, 202}, f"{case.name}: unexpected answers {sorted(codes)}"
    return time.perf_counter() - started


def wait_stored(client: httpx.Client, total: int, started: float) -> float:
    while client.get("/v1/events", params={"limit": 1}).json()["total"] < total:
        time.sleep(0.05)
    return time.perf_counter() - started


def build_cases(args: argparse.Namespace) -> list[Case]:
    templates = load_templates()
    batch, n_fh = args.firehose_batch, args.firehose_requests * args.firehose_batch
    firehose = {"X-Amz-Firehose-Access-Key": KEY, "Content-Encoding": "gzip"}
    return [
        Case(
            "firehose, CloudTrail records",
            "/v1/ingest/firehose",
            firehose_bodies(fresh(templates, n_fh, 0), batch, logs=False),
            n_fh,
            args.firehose_clients,
            firehose,
        ),
        Case(
            "firehose, CloudWatch Logs payloads",
            "/v1/ingest/firehose",
            firehose_bodies(fresh(templates, n_fh, 1), batch, logs=True),
            n_fh,
            args.firehose_clients,
            firehose,
        ),
        Case(  # the yardstick: the same records as CloudTrail log files on the general endpoint
            f"/v1/events, {batch:,} records per request",
            "/v1/events",
            [
                gzip.compress(orjson.dumps({"Records": chunk}), compresslevel=1)
                for chunk in _chunks(fresh(templates, n_fh, 2), batch)
            ],
            n_fh,
            args.firehose_clients,
            {"Content-Encoding": "gzip"},
        ),
        Case(
            "eventbridge, one event per request",
            "/v1/ingest/eventbridge",
            eventbridge_bodies(fresh(templates, args.events, 3)),
            args.events,
            args.clients,
        ),
        Case(  # the yardstick: the same one-record requests on the general endpoint
            "/v1/events, one record per request",
            "/v1/events",
            [orjson.dumps(r) for r in fresh(templates, args.events, 4)],
            args.events,
            args.clients,
        ),
    ]


def measure(url: str, cases: list[Case]) -> None:
    stored = 0
    with httpx.Client(
        base_url=url,
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        timeout=180,
        limits=httpx.Limits(max_connections=max(c.clients for c in cases)),
    ) as client:
        for case in cases:
            started = time.perf_counter()
            acked_s = send(client, case)
            stored += case.records
            stored_s = wait_stored(client, stored, started)
            requests = f"{len(case.bodies):,} requests, {case.clients} client(s)"
            print(f"{case.name:36} {case.records:>7,} records, {requests}")
            print(
                f"{'':36} acknowledged {case.records / acked_s:>9,.0f} records/s "
                f"({acked_s / len(case.bodies) * 1000:,.1f} ms/request)"
            )
            print(f"{'':36} stored       {case.records / stored_s:>9,.0f} records/s")


def run(args: argparse.Namespace) -> None:
    cases = build_cases(args)
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = start_leash(Path(tmp) / "data", port, {"LEASH_API_KEYS": f"{KEY}:admin"})
        try:
            measure(f"http://127.0.0.1:{port}", cases)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--firehose-requests", type=int, default=10)
    parser.add_argument("--firehose-batch", type=int, default=10_000, help="records per request")
    parser.add_argument("--firehose-clients", type=int, default=1, help="requests in flight")
    parser.add_argument("--events", type=int, default=5000, help="EventBridge requests")
    parser.add_argument("--clients", type=int, default=8, help="concurrent EventBridge senders")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
