"""Real CloudTrail (invictus-ir) repacked into every delivery shape AWS uses arrives identical to
`POST /v1/events` of the files (what `leash ship` sends): S3 + SQS pull, EventBridge, Firehose
with plain records and with CloudWatch Logs payloads."""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from fastapi.testclient import TestClient

from ingest.aws.deliver import ServiceDelivery
from ingest.aws.pull import SqsPuller
from ingest.events import EVENT_COLUMNS
from ingest.runtime import Runtime, open_runtime
from ingest.sink.worker import SinkWorker
from tests.aws_local import AwsLocal, aws_local, invictus_files, trail_key
from tests.conftest import INGEST_KEY, INGEST_KEY_NAME, auth, make_settings
from tests.unit.ingest.test_receivers import eventbridge_event, logs_payload, post_firehose

__all__ = ["aws_local"]

Rows = list[tuple[Any, ...]]


@contextmanager
def leash(root: Path) -> Iterator[tuple[Runtime, TestClient]]:
    from leash.app import build_app, build_services, start_workers

    with open_runtime(make_settings(root)) as runtime:
        start_workers(runtime, sink=True, detect=False)
        with TestClient(build_app(build_services(runtime))) as client:
            yield runtime, client


PROVENANCE = ("origin", "trusted")


def stored(runtime: Runtime) -> Rows:
    sinks = [w for w in runtime.workers if isinstance(w, SinkWorker)]
    deadline = time.monotonic() + 30
    while any(s.backlog() for s in sinks) and time.monotonic() < deadline:
        time.sleep(0.02)
    columns = ", ".join(c for c in EVENT_COLUMNS if c not in PROVENANCE)
    return [
        tuple(r) for r in runtime.store.query(f"SELECT {columns} FROM events ORDER BY event_id")
    ]


def origins(runtime: Runtime) -> set[tuple[str, bool]]:
    return {
        (str(o), bool(t))
        for o, t in runtime.store.query("SELECT DISTINCT origin, trusted FROM events")
    }


def test_every_delivery_shape_stores_what_posting_the_files_stores(
    aws_local: AwsLocal, tmp_path: Path
) -> None:
    files = invictus_files()[:15]
    records = [r for f in files for r in orjson.loads(f.read_bytes())["Records"]]

    def by_post(runtime: Runtime, client: TestClient) -> None:
        for f in files:
            response = client.post(
                "/v1/events",
                content=gzip.compress(f.read_bytes()),
                headers={**auth(INGEST_KEY), "Content-Encoding": "gzip"},
            )
            assert response.status_code == 202, response.text

    def by_sqs(runtime: Runtime, client: TestClient) -> None:
        aws_local.s3.create_bucket(Bucket="trail")
        queue = aws_local.queue("trail")
        for f in files:
            key = trail_key(f.name + ".gz")
            aws_local.s3.put_object(Bucket="trail", Key=key, Body=gzip.compress(f.read_bytes()))
            body = orjson.dumps({"s3Bucket": "trail", "s3ObjectKey": [key]}).decode()
            aws_local.sqs.send_message(QueueUrl=queue, MessageBody=body)
        puller = SqsPuller(
            queue,
            ServiceDelivery(runtime.service, queue_url=queue),
            sqs=aws_local.sqs,
            s3=aws_local.s3,
            wait_s=0,
            concurrency=2,
        )
        assert puller.run(until_empty=True).left == 0

    def by_eventbridge(runtime: Runtime, client: TestClient) -> None:
        for record in records:
            response = client.post(
                "/v1/ingest/eventbridge", json=eventbridge_event(record), headers=auth(INGEST_KEY)
            )
            assert response.status_code == 202, response.text

    def by_firehose(runtime: Runtime, client: TestClient) -> None:
        half = len(records) // 2
        plain = [orjson.dumps(r) for r in records[:half]]
        logs = [logs_payload(records[i : i + 50]) for i in range(half, len(records), 50)]
        for datas in (plain, logs):
            assert post_firehose(client, datas).status_code == 200

    paths: dict[str, Callable[[Runtime, TestClient], None]] = {
        "post": by_post,
        "sqs": by_sqs,
        "eventbridge": by_eventbridge,
        "firehose": by_firehose,
    }
    results: dict[str, Rows] = {}
    stamped: dict[str, set[tuple[str, bool]]] = {}
    for name, deliver in paths.items():
        with leash(tmp_path / name) as (runtime, client):
            deliver(runtime, client)
            results[name] = stored(runtime)
            stamped[name] = origins(runtime)

    reference = results.pop("post")
    assert len(reference) == len({r["eventID"] for r in records})
    for name, rows in results.items():
        assert rows == reference, f"{name} stored other rows than POST /v1/events of the files"
    # each path says how its events arrived; only what Leash pulled from the trail is trusted
    # without asking (an unbound ingest key's pushes could be forged by any holder of the key)
    key = INGEST_KEY_NAME
    assert stamped == {
        "post": {(f"http:{key}", False)},
        "sqs": {("sqs:trail", True)},
        "eventbridge": {(f"eventbridge:{key}", False)},
        "firehose": {(f"firehose:{key}", False)},
    }
