"""`leash pull sqs` as a process, against moto's S3/SQS server and a real `leash up`:
kill -9 mid-file loses nothing and stores nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from tests.aws_local import AwsLocal, aws_local, trail_key
from tests.e2e.conftest import LeashProcess, start_leash, wait_for_total
from tests.e2e.test_durability import stored_ids
from tests.factories import make_record

__all__ = ["aws_local"]

pytestmark = pytest.mark.e2e

BUCKET = "org-trail-logs"


def pull_process(
    aws: AwsLocal, leash: LeashProcess, queue: str, log: Path, *extra: str
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **aws.env(),
        "LEASH_API_KEY": leash.key,
        "LEASH_SQS__BATCH_RECORDS": "250",  # many small deliveries: a kill lands mid-file
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "leash.cli",
            "pull",
            "sqs",
            "--queue-url",
            queue,
            "--url",
            leash.url,
            "--concurrency",
            "1",
            "--visibility",
            "3",
            "--wait",
            "0",
            *extra,
        ],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env=env,
    )


def test_kill_9_of_the_puller_mid_file_loses_nothing_and_stores_nothing_twice(
    aws_local: AwsLocal, tmp_path: Path
) -> None:
    leash = start_leash(tmp_path / "data")
    try:
        aws_local.s3.create_bucket(Bucket=BUCKET)
        queue = aws_local.queue("trail", visibility_s=3)
        expected: set[str] = set()
        for n, size in enumerate((12_000, 300, 300)):
            records = [make_record(eventID=f"f{n}-{i:05d}") for i in range(size)]
            expected |= {r["eventID"] for r in records}
            key = trail_key(f"218007301253_CloudTrail_us-east-1_20230710T12{n}0Z_x{n}.json.gz")
            aws_local.put_log(BUCKET, key, records)
            aws_local.sqs.send_message(
                QueueUrl=queue,
                MessageBody=orjson.dumps({"s3Bucket": BUCKET, "s3ObjectKey": [key]}).decode(),
            )
        log = tmp_path / "pull.log"
        first = pull_process(aws_local, leash, queue, log)
        # kill -9 once part of the big file is stored, before all of it is
        deadline = time.monotonic() + 120
        with leash.client() as client:
            while time.monotonic() < deadline:
                total = int(client.get("/v1/events", params={"limit": 1}).json()["total"])
                if total >= 1000:
                    break
                time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        partial = wait_for_total(leash, 0, timeout_s=1)
        assert 0 < partial < len(expected), log.read_text()[-2000:]
        assert sum(aws_local.depth(queue)) >= 1  # the big file's message was not deleted

        time.sleep(3.5)  # its visibility timeout: SQS hands it out again
        second = pull_process(aws_local, leash, queue, log, "--until-empty")
        assert second.wait(timeout=180) == 0, log.read_text()[-3000:]

        assert wait_for_total(leash, len(expected)) == len(expected)
        ids = stored_ids(leash)
        assert len(ids) == len(set(ids)) and set(ids) == expected
        assert aws_local.depth(queue) == (0, 0)
        summary = log.read_text().splitlines()[-1]
        assert "duplicates" in summary and " 0 duplicates" not in summary  # the redelivery
    finally:
        leash.stop()
