"""Request-parameter shapes of key APIs follow what CloudTrail writes."""

from __future__ import annotations

from typing import Any

from detect.eval.world import World


def _first(world: World, name: str) -> dict[str, Any] | None:
    return next((r for r in world.records if r["eventName"] == name and "errorCode" not in r), None)


def test_known_request_shapes(world1: World, world2: World) -> None:
    recs = world1.records + world2.records
    by_name: dict[str, dict[str, Any]] = {}
    for r in recs:
        if "errorCode" not in r:
            by_name.setdefault(r["eventName"], r)
    if "TerminateInstances" in by_name:
        items = by_name["TerminateInstances"]["requestParameters"]["instancesSet"]["items"]
        assert items[0]["instanceId"].startswith("i-")
    if "DeleteBucket" in by_name:
        assert "bucketName" in by_name["DeleteBucket"]["requestParameters"]
    if "DeleteObjects" in by_name:
        rec = by_name["DeleteObjects"]
        # as CloudTrail logs it: the request body (the keys) is not recorded
        assert rec["requestParameters"]["delete"] == ""
        assert rec["requestParameters"]["bucketName"]
        assert rec["managementEvent"] is False and rec["eventCategory"] == "Data"
    assert by_name["AssumeRoleWithWebIdentity"]["userIdentity"]["type"] == "WebIdentityUser"
    login = by_name["ConsoleLogin"]
    assert login["eventType"] == "AwsConsoleSignIn"
    assert login["responseElements"]["ConsoleLogin"] in ("Success", "Failure")


def test_shared_sso_roles(world1: World, world2: World) -> None:
    for w in (world1, world2):
        sso = [p for p in w.principals if "/sso:" in p.family]
        for p in sso:
            assert ":assumed-role/AWSReservedSSO_" in p.arn and "@" in p.arn
