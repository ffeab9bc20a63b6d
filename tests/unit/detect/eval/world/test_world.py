"""Invariants of generated worlds: determinism, variety, labels, record shapes."""

from __future__ import annotations

import dataclasses
import random
import re
from pathlib import Path

from detect.eval.world import World, generate_world
from detect.eval.world.clock import DAY, iso
from detect.eval.world.org import sample_org

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
REQUIRED = (
    "eventVersion",
    "userIdentity",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "requestParameters",
    "responseElements",
    "eventID",
    "readOnly",
    "eventType",
    "managementEvent",
    "recipientAccountId",
    "eventCategory",
)


def test_deterministic_per_seed(world1: World) -> None:
    again = generate_world(1, baseline_days=2, test_days=2)
    assert len(again.records) == len(world1.records)
    assert again.records[:50] == world1.records[:50]
    assert again.records[-50:] == world1.records[-50:]
    assert again.labels == world1.labels


def test_variety_across_seeds(world1: World, world2: World) -> None:
    assert (
        world1.meta["org"] != world2.meta["org"]
        or world1.meta["accounts"] != world2.meta["accounts"]
    )
    fams1 = sorted(p.family for p in world1.principals)
    fams2 = sorted(p.family for p in world2.principals)
    assert fams1 != fams2
    variants1 = {(lb.kind, lb.variant) for lb in world1.labels}
    variants2 = {(lb.kind, lb.variant) for lb in world2.labels}
    assert variants1 != variants2


def test_baseline_length_sampled() -> None:
    lengths = set()
    for seed in range(12):
        org = sample_org(random.Random(f"world:{seed}:org"), None, 2)
        days = (org.baseline_until_ms - org.start_ms) // DAY
        assert 2 <= days <= 14
        lengths.add(days)
    assert len(lengths) > 3


def test_label_events_exist_and_damaging_subset(world1: World) -> None:
    ids = {r["eventID"] for r in world1.records}
    for lb in world1.labels:
        assert lb.event_ids and set(lb.event_ids) <= ids, lb.id
        assert set(lb.damaging_ids) <= set(lb.event_ids), lb.id
        order = {e: i for i, e in enumerate(lb.event_ids)}
        positions = [order[e] for e in lb.damaging_ids]
        assert positions == sorted(positions), lb.id


def test_incidents_inside_test_window(world1: World, world2: World) -> None:
    for w in (world1, world2):
        incidents = [lb for lb in w.labels if lb.category == "incident"]
        assert 16 <= len(incidents) <= 26
        for lb in incidents:
            assert w.baseline_until_ms <= lb.start_ms <= lb.end_ms < w.end_ms, lb.id
            assert lb.damaging_ids, lb.id


def test_benign_episodes_exist(world1: World) -> None:
    benign = [lb for lb in world1.labels if lb.category == "benign"]
    assert 10 <= len(benign) <= 16
    assert all(not lb.damaging_ids for lb in benign)
    assert all(world1.baseline_until_ms <= lb.start_ms for lb in benign)


def test_records_have_cloudtrail_fields(world1: World) -> None:
    for rec in world1.records[::97]:
        for field in REQUIRED:
            assert field in rec, (field, rec["eventName"])
        assert ISO.match(rec["eventTime"])
        assert UUID.match(rec["eventID"])
        assert rec["eventVersion"] in ("1.08", "1.09")
        assert rec["eventCategory"] in ("Management", "Data")
        assert rec["eventType"] in ("AwsApiCall", "AwsConsoleSignIn", "AwsServiceEvent")
        if "errorCode" in rec:
            assert rec["errorMessage"]


def test_identity_types_present(world1: World) -> None:
    types = {r["userIdentity"].get("type") for r in world1.records}
    assert {"AssumedRole", "IAMUser", "AWSService"} <= types
    cfn = [
        r
        for r in world1.records
        if r["userIdentity"].get("invokedBy") == "cloudformation.amazonaws.com"
    ]
    assert cfn and all(r["sourceIPAddress"] == "cloudformation.amazonaws.com" for r in cfn)
    for r in world1.records[::211]:
        ui = r["userIdentity"]
        if ui.get("type") == "AssumedRole":
            assert ui["sessionContext"]["sessionIssuer"]["arn"].startswith("arn:aws:iam::")
            assert "creationDate" in ui["sessionContext"]["attributes"]
        if ui.get("type") == "IAMUser" and r["eventName"] != "ConsoleLogin":
            assert ui["accessKeyId"].startswith(("AKIA", "ASIA"))


def test_records_sorted(world1: World) -> None:
    times = [r["eventTime"] for r in world1.records]
    assert times == sorted(times)
    assert iso(world1.start_ms) <= times[0] and times[-1] < iso(world1.end_ms)
    assert len({r["eventID"] for r in world1.records}) == len(world1.records)


def test_roundtrip_files(world2: World, tmp_path: Path) -> None:
    cut = next(
        i for i, r in enumerate(world2.records) if r["eventTime"] >= iso(world2.baseline_until_ms)
    )
    keep = world2.records[cut - 3000 : cut + 3000]
    world2 = dataclasses.replace(world2, records=keep)
    world2.to_files(tmp_path)
    for name in ("records.baseline.ndjson", "records.test.ndjson", "labels.json", "world.json"):
        assert (tmp_path / name).exists()
    back = World.from_files(tmp_path)
    assert back.labels == world2.labels
    assert back.records == world2.records
    baseline = (tmp_path / "records.baseline.ndjson").read_text().count("\n")
    assert baseline == 3000
    assert back.baseline_until_ms == world2.baseline_until_ms
    assert back.principals == world2.principals
