"""Ship all of ../shared/datasets into a real `leash up`: each distinct valid record is stored."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest.catalogue import default_catalogue
from ingest.parse import parse_records
from ingest.ship import iter_sources, read_sources
from tests.e2e.conftest import LeashProcess, wait_for_total
from tests.factories import DATASETS

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not DATASETS.is_dir(), reason=f"datasets not found at {DATASETS}"),
]


def _field(record: Mapping[str, Any], key: str) -> Any:
    return record.get(key, record.get(key.lower()))


def is_valid(record: Any) -> bool:
    """The oracle, written independently of ingest.events: what a CloudTrail record must carry."""
    if not isinstance(record, dict):
        return False
    identity = _field(record, "userIdentity")
    return (
        isinstance(_field(record, "eventName"), str)
        and isinstance(_field(record, "eventSource"), str)
        and (_field(record, "eventTime") is not None or "@timestamp" in record)
        and isinstance(identity, dict)
        and any(identity.get(k) for k in ("arn", "principalId", "userName", "invokedBy"))
    )


def dataset_records() -> Iterator[tuple[str, Any]]:
    for path in iter_sources([str(DATASETS)]):
        assert path is not None
        if not path.name.endswith((".json", ".jsonl", ".cloudtrail", ".zip")):
            continue
        for label, data in read_sources(path):
            try:
                parsed = parse_records(data)
            except ValueError:
                continue
            for record in parsed.records:
                yield label, record


def fetch_all(leash: LeashProcess) -> dict[str, dict[str, Any]]:
    stored: dict[str, dict[str, Any]] = {}
    with leash.client() as client:
        offset = 0
        while True:
            page = client.get("/v1/events", params={"limit": 5000, "offset": offset}).json()
            for event in page["events"]:
                stored[event["event_id"]] = event
            offset += len(page["events"])
            if not page["events"]:
                return stored


def test_every_distinct_valid_record_is_stored_once(leash_up: LeashProcess, tmp_path: Path) -> None:
    expected: dict[str, dict[str, Any]] = {}
    invalid = 0
    for _, record in dataset_records():
        if is_valid(record) and _field(record, "eventID"):
            expected[str(_field(record, "eventID"))] = record
        elif not is_valid(record):
            invalid += 1
    rejects = tmp_path / "rejects.jsonl"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "leash.cli",
            "ship",
            "--url",
            leash_up.url,
            "--api-key",
            leash_up.key,
            "--quiet",
            "--rejects",
            str(rejects),
            str(DATASETS),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr  # the datasets hold bad records
    rejected = [orjson.loads(line) for line in rejects.read_bytes().splitlines()]
    assert len(rejected) == invalid
    assert all(r["source"] and r["index"] >= 0 and r["error"] for r in rejected)
    assert {r["error"] for r in rejected} <= {
        "eventName is missing or not a string",
        "eventTime is missing",
        "userIdentity is missing or not an object",
    }

    assert wait_for_total(leash_up, len(expected)) >= len(expected)
    stored = fetch_all(leash_up)
    missing = sorted(set(expected) - set(stored))
    assert not missing, f"{len(missing)} valid records not stored, e.g. {missing[:3]}"
    catalogue = default_catalogue()
    for event_id, record in expected.items():
        event = stored[event_id]
        identity = _field(record, "userIdentity")
        if identity.get("arn"):
            assert event["principal"] == identity["arn"], event_id
        assert event["action"] == _field(record, "eventName"), event_id
        assert event["action_class"] == catalogue.classify(
            _field(record, "eventSource"), _field(record, "eventName")
        ), event_id
    assert len(stored) == len(expected) + sum(  # records without eventID get a content hash
        1 for event_id in stored if event_id.startswith("sha256:")
    )
    assert f"{len(rejected)} rejected" in result.stdout
