"""`leash ship s3://bucket/prefix` against moto's S3 server and a real `leash up`: the same
events as shipping the files, digests skipped, resumable from its checkpoint."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.aws_local import AwsLocal, aws_local, invictus_files, trail_key
from tests.e2e.conftest import LeashProcess, leash_up, wait_for_total

__all__ = ["aws_local", "leash_up"]

pytestmark = pytest.mark.e2e

BUCKET = "org-trail-logs"
DIGEST = {
    "awsAccountId": "218007301253",
    "digestStartTime": "2023-07-10T11:00:00Z",
    "digestEndTime": "2023-07-10T12:00:00Z",
    "digestS3Bucket": BUCKET,
    "digestPublicKeyFingerprint": "0f1c5b3a",
    "logFiles": [],
}


def ship(aws: AwsLocal, leash: LeashProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "leash.cli",
            "ship",
            "--url",
            leash.url,
            "--api-key",
            leash.key,
            "--quiet",
            *args,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **aws.env()},
        timeout=300,
    )


def test_ship_from_s3_stores_what_shipping_the_files_stores_and_resumes(
    aws_local: AwsLocal, leash_up: LeashProcess, tmp_path: Path
) -> None:
    files = invictus_files()[:20]
    aws_local.s3.create_bucket(Bucket=BUCKET)
    ids: set[str] = set()
    for path in files:
        ids |= {r["eventID"] for r in orjson.loads(path.read_bytes())["Records"]}
        body = gzip.compress(path.read_bytes())
        aws_local.s3.put_object(Bucket=BUCKET, Key=trail_key(path.name + ".gz"), Body=body)
        digest_name = path.name.replace("CloudTrail_", "CloudTrail-Digest_") + ".gz"
        aws_local.s3.put_object(
            Bucket=BUCKET,
            Key=trail_key(digest_name, digest=True),
            Body=gzip.compress(orjson.dumps(DIGEST)),
        )
    checkpoint = tmp_path / "ship.done"
    url = f"s3://{BUCKET}/AWSLogs/"

    first = ship(aws_local, leash_up, "--checkpoint", str(checkpoint), url)

    assert first.returncode == 0, first.stdout + first.stderr
    assert f"shipped {len(files)} files" in first.stdout
    assert f"{len(files)} CloudTrail digest files skipped" in first.stdout
    assert wait_for_total(leash_up, len(ids)) == len(ids)
    assert len(checkpoint.read_text().splitlines()) == len(files)

    # a rerun skips what the checkpoint holds; forgetting three keys re-sends only those
    kept = checkpoint.read_text().splitlines()[3:]
    checkpoint.write_text("".join(f"{k}\n" for k in kept))
    again = ship(aws_local, leash_up, "--checkpoint", str(checkpoint), url)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "shipped 3 files" in again.stdout and " 0 accepted" in again.stdout
    assert f"{len(files) - 3} S3 objects already shipped" in again.stdout
    assert wait_for_total(leash_up, len(ids)) == len(ids)


def test_a_synced_trail_bucket_with_digests_ships_without_an_error(
    leash_up: LeashProcess, tmp_path: Path, aws_local: AwsLocal
) -> None:
    """`aws s3 sync` of a trail bucket brings digest files along: skipped, counted, exit 0."""
    tmp_path = tmp_path / "sync"  # the fixture's data dir lives in tmp_path itself
    root = tmp_path / "AWSLogs" / "218007301253"
    log = root / "CloudTrail" / "us-east-1" / "2023" / "07" / "10"
    digests = root / "CloudTrail-Digest" / "us-east-1" / "2023" / "07" / "10"
    log.mkdir(parents=True)
    digests.mkdir(parents=True)
    source = invictus_files()[0]
    (log / (source.name + ".gz")).write_bytes(gzip.compress(source.read_bytes()))
    (digests / "218007301253_CloudTrail-Digest_us-east-1_x.json.gz").write_bytes(
        gzip.compress(orjson.dumps(DIGEST))
    )
    (tmp_path / "renamed-digest.json").write_bytes(orjson.dumps(DIGEST))  # found by content
    result = ship(aws_local, leash_up, str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "shipped 1 files" in result.stdout
    assert "2 CloudTrail digest files skipped" in result.stdout


def test_an_object_with_rejected_records_stays_out_of_the_checkpoint(
    aws_local: AwsLocal, leash_up: LeashProcess, tmp_path: Path
) -> None:
    aws_local.s3.create_bucket(Bucket=BUCKET)
    good = invictus_files()[0]
    aws_local.s3.put_object(
        Bucket=BUCKET, Key=trail_key(good.name + ".gz"), Body=gzip.compress(good.read_bytes())
    )
    aws_local.s3.put_object(
        Bucket=BUCKET, Key=trail_key("broken.json.gz"), Body=gzip.compress(b"{not json")
    )
    checkpoint = tmp_path / "ship.done"
    url = f"s3://{BUCKET}/AWSLogs/"
    for _ in range(2):  # the rerun ships the broken object again and says so again
        result = ship(aws_local, leash_up, "--checkpoint", str(checkpoint), url)
        assert result.returncode == 1
        assert "broken.json.gz" in result.stdout
        assert checkpoint.read_text().splitlines() == [trail_key(good.name + ".gz")]
