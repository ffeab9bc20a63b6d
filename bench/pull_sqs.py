"""S3 + SQS pull benchmark: CloudTrail log files in moto's S3 server, announced on its SQS, pulled
by `leash up` itself (LEASH_SQS__QUEUE_URL) -- records/s until every message is deleted (each
file durable) and until every record is stored; the same volume shipped from local disk with
`leash ship` in the same run is the yardstick, and `leash ship s3://` backfills it once more.

    python -m bench.pull_sqs --files 40 --records 1000
"""

from __future__ import annotations

import argparse
import gzip
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import httpx
import orjson
from moto.server import ThreadedMotoServer

from bench.ingest_throughput import load_templates
from bench.receivers import fresh
from bench.serving import free_port, start_leash

KEY = "bench-key"
BUCKET = "org-trail-logs"
AWS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def total(url: str) -> int:
    response = httpx.get(
        f"{url}/v1/events", params={"limit": 1}, headers={"Authorization": f"Bearer {KEY}"}
    )
    return int(response.json()["total"])


def wait_total(url: str, expected: int, timeout_s: float = 600) -> float:
    deadline = time.monotonic() + timeout_s
    while total(url) < expected:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {total(url)} of {expected} stored after {timeout_s} s")
        time.sleep(0.1)
    return time.monotonic()


def ship(url: str, n: int, total_after: int, label: str, *sources: str) -> None:
    """`leash ship` of `n` records from `sources`; prints records/s acknowledged and stored."""
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "leash.cli",
            "ship",
            "--quiet",
            "--url",
            url,
            "--api-key",
            KEY,
            *sources,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    acked = time.monotonic()
    stored = wait_total(url, total_after)
    print(
        f"{label:<30} {n / (acked - started):>9,.0f} records/s "
        f"durable (202s),            {n / (stored - started):>9,.0f} records/s stored"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--records", type=int, default=1000, help="records per log file")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto logs every request
    moto_port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{moto_port}"
    os.environ.update({**AWS, "AWS_ENDPOINT_URL": endpoint})
    s3 = boto3.client("s3")
    sqs = boto3.client("sqs")
    s3.create_bucket(Bucket=BUCKET)
    queue = sqs.create_queue(QueueName="trail")["QueueUrl"]
    templates = load_templates()
    work = Path(tempfile.mkdtemp(prefix="leash-pull-bench-"))
    local = work / "files"
    local.mkdir()
    n = args.files * args.records
    keys = []
    for f in range(args.files):
        body = gzip.compress(
            orjson.dumps({"Records": fresh(templates, args.records, f * args.records)})
        )
        key = f"AWSLogs/o-bench/218007301253/CloudTrail/us-east-1/2026/12/02/f{f:04d}.json.gz"
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        (local / f"f{f:04d}.json.gz").write_bytes(
            gzip.compress(
                orjson.dumps(
                    {"Records": fresh(templates, args.records, (args.files + f) * args.records)}
                )
            )
        )
        keys.append(key)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **AWS,
        "AWS_ENDPOINT_URL": endpoint,
        "LEASH_API_KEYS": f"{KEY}:admin",
        "LEASH_SQS__QUEUE_URL": queue,
    }
    leash = start_leash(work / "data", port, env)
    try:
        print(f"{args.files} files x {args.records} records = {n:,} records per path")
        started = time.monotonic()
        for key in keys:
            message = orjson.dumps({"s3Bucket": BUCKET, "s3ObjectKey": [key]}).decode()
            sqs.send_message(QueueUrl=queue, MessageBody=message)
        while True:
            attrs = sqs.get_queue_attributes(
                QueueUrl=queue,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
            if not any(int(v) for v in attrs.values()):
                break
            time.sleep(0.05)
        deleted = time.monotonic()
        stored = wait_total(url, n)
        print(
            f"pull (S3 + SQS, in leash up)   {n / (deleted - started):>9,.0f} records/s "
            f"durable (messages deleted), {n / (stored - started):>9,.0f} records/s stored"
        )
        ship(url, n, 2 * n, "ship (local files, HTTP)", str(local))
        for f, path in enumerate(sorted(local.iterdir())):  # the same volume again, in S3
            records = fresh(templates, args.records, (2 * args.files + f) * args.records)
            s3.put_object(
                Bucket=BUCKET,
                Key=f"backfill/{path.name}",
                Body=gzip.compress(orjson.dumps({"Records": records})),
            )
        checkpoint = str(work / "ship.done")
        ship(
            url,
            n,
            3 * n,
            "ship s3:// (backfill, HTTP)",
            "--checkpoint",
            checkpoint,
            f"s3://{BUCKET}/backfill/",
        )
    finally:
        leash.send_signal(signal.SIGTERM)
        leash.wait(timeout=60)
        moto.stop()


if __name__ == "__main__":
    main()
