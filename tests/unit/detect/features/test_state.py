"""Window features: streaming state semantics, and SQL history == streaming rows on chDB."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from detect.anomaly.history import load_history
from detect.features import (
    ESTABLISHED_EVENTS,
    FEATURE_NAMES,
    PrincipalProfile,
    PrincipalState,
    build_features,
    is_offhours,
    net_of,
    resource_name,
)
from ingest import schema
from ingest.events import AuditEvent, Normalizer
from ingest.sink.writer import STORED_COLUMNS, event_row
from ingest.store.chdb import ChdbStore
from tests.factories import make_record

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday, working hours
NORMALIZER = Normalizer()
F = {name: i for i, name in enumerate(FEATURE_NAMES)}


def event(
    at: datetime, name: str = "DescribeInstances", source: str = "ec2", **kw: object
) -> AuditEvent:
    record = make_record(at=at, eventName=name, eventSource=f"{source}.amazonaws.com", **kw)
    return NORMALIZER.normalize(record)


def bucket_event(at: datetime, name: str, bucket: str, **kw: object) -> AuditEvent:
    return event(at, name, "s3", requestParameters={"bucketName": bucket}, **kw)


def row(events: list[AuditEvent]) -> dict[str, float]:
    X, names = build_features(events)
    return dict(zip(names, X[-1], strict=True))


def test_names_are_fixed_and_rows_follow_them() -> None:
    X, names = build_features([event(T0), event(T0 + timedelta(seconds=5))])
    assert names == FEATURE_NAMES
    assert X.shape == (2, len(FEATURE_NAMES))
    assert X[:, F["events_1m"]].tolist() == [1.0, 2.0]


def test_destructive_counts_expire_with_their_window() -> None:
    burst = [bucket_event(T0 + timedelta(seconds=i), "DeleteBucket", f"b{i}") for i in range(4)]
    later = event(T0 + timedelta(minutes=11))
    inside, after = row(burst), row([*burst, later])
    assert (inside["destructive_10m"], inside["destructive_1m"]) == (4, 4)
    assert (after["destructive_10m"], after["destructive_6h"]) == (0, 4)
    assert row([*burst, event(T0 + timedelta(hours=7))])["destructive_6h"] == 0


@pytest.mark.parametrize(
    ("order", "churn"),
    [
        pytest.param(["DeleteBucket", "CreateBucket"], 1, id="delete then recreate is churn"),
        pytest.param(["CreateBucket", "DeleteBucket"], 0, id="create then delete is cleanup"),
    ],
)
def test_churn_needs_a_recreate_after_the_delete(order: list[str], churn: int) -> None:
    events = [
        bucket_event(T0 + timedelta(seconds=10 * i), name, "arn:aws:s3:::prod-db")
        for i, name in enumerate(order)
    ]
    assert row(events)["churn_10m"] == churn


def test_resource_names_match_across_arn_and_plain_forms() -> None:
    assert resource_name("arn:aws:s3:::prod-db") == resource_name("prod-db") == "prod-db"
    assert resource_name("arn:aws:lambda:us-east-1:1:function:api") == "api"


def test_first_seen_counts_only_once_a_principal_is_established() -> None:
    history = [event(T0 + timedelta(seconds=20 * i)) for i in range(ESTABLISHED_EVENTS + 5)]
    young = row([history[0], event(T0 + timedelta(seconds=1), "ListUsers", "iam")])
    new_action = event(T0 + timedelta(hours=2), "ListUsers", "iam", awsRegion="eu-north-1")
    grown = row([*history, new_action])
    assert young["new_actions_10m"] == 0
    new = (grown["new_actions_10m"], grown["new_services_10m"], grown["new_regions_10m"])
    assert new == (1, 1, 1)


def test_a_profile_seeds_history_so_known_values_are_not_new() -> None:
    e = event(T0, "ListUsers", "iam")
    profile = PrincipalProfile(
        key=e.principal_key,
        actor_kind="agent",
        events=1000,
        minutes=300,
        offhours=0,
        destructive=0,
        seen={
            "action": ("ListUsers",),
            "service": ("iam.amazonaws.com",),
            "region": ("us-east-1",),
            "ip": ("203.0.113.10",),
        },
        usual={},
        high={},
    )
    state = PrincipalState(e.principal_key, "agent", profile)
    state.observe(e)
    x = dict(zip(FEATURE_NAMES, state.features(), strict=True))
    assert state.established
    assert x["new_actions_10m"] == x["new_ips_10m"] == 0


@pytest.mark.parametrize(
    ("at", "off"),
    [
        pytest.param(datetime(2026, 3, 2, 10, tzinfo=UTC), False, id="monday 10:00"),
        pytest.param(datetime(2026, 3, 2, 3, tzinfo=UTC), True, id="monday 03:00"),
        pytest.param(datetime(2026, 3, 2, 19, tzinfo=UTC), True, id="monday 19:00"),
        pytest.param(datetime(2026, 3, 7, 12, tzinfo=UTC), True, id="saturday noon"),
    ],
)
def test_offhours(at: datetime, off: bool) -> None:
    assert is_offhours(int(at.timestamp() * 1000)) is off


def test_an_ipv6_address_has_a_network_as_an_ipv4_one_does() -> None:
    """Keys used over a dual-stack endpoint come from an IPv6 address: its site's /48 is its
    network (review: as "" every IPv6 source was a known network, never news; a provider's /32
    would make every tenant of a cloud region one network)."""
    assert net_of("2a05:d018:1a2b:3c00::3344") == "2a05:d018:1a2b::/48"
    assert net_of("2A05:D018:1A2B:FFFF::1") == net_of("2a05:d018:1a2b:3c00::3344")
    assert net_of("2a05:d018:1a2c::1") != net_of("2a05:d018:1a2b::1")
    assert net_of("198.51.100.23") == "198.51.0.0/16"
    mapped = ("::ffff:198.51.100.23", "0:0:0:0:0:ffff:198.51.100.23", "fe80::1%eth0")
    for other in (*mapped, "s3.amazonaws.com", "AWS Internal", "1:2:zz", "\u00b9.2.3.4", ""):
        assert net_of(other) == "", other


def test_late_events_keep_history_but_not_old_windows() -> None:
    state = PrincipalState("p", "agent")
    state.observe(event(T0 + timedelta(minutes=30)))
    state.observe(event(T0))  # 30 minutes late: outside the 10-minute window
    assert state.features()[F["events_10m"]] == 1
    assert state.hist_events == 1


def _mixed_events(n: int, seed: int) -> list[AuditEvent]:
    rnd = random.Random(seed)
    at = T0
    out = []
    calls = [
        ("DescribeInstances", "ec2"),
        ("DeleteBucket", "s3"),
        ("CreateBucket", "s3"),
        ("PutObject", "s3"),
        ("AttachRolePolicy", "iam"),
        ("StopLogging", "cloudtrail"),
        ("GetObject", "s3"),
        ("GetObject", "s3"),
        ("Scan", "dynamodb"),
    ]
    for _ in range(n):
        at += timedelta(seconds=rnd.randint(1, 50))
        name, source = rnd.choice(calls)
        extra = {"errorCode": "AccessDenied"} if rnd.random() < 0.2 else {}
        out.append(
            event(
                at,
                name,
                source,
                role=rnd.choice(["build-agent", "reporting"]),
                session="s1",
                awsRegion=rnd.choice(["us-east-1", "eu-west-1"]),
                sourceIPAddress=rnd.choice(
                    [
                        "198.51.100.1",
                        "203.0.113.9",
                        "s3.amazonaws.com",
                        "2a05:d018:1a2b:3c00::3344",  # IPv6 (a dual-stack endpoint)
                        "2600:1F18:ABCD::9",
                        "::ffff:198.51.100.1",
                        "0:0:0:0:0:ffff:198.51.100.1",
                    ]
                ),
                userAgent=rnd.choice(["aws-cli/2.15.0 Python/3.11", "[Boto3/1.34 md/Botocore"]),
                requestParameters={"bucketName": rnd.choice(["prod-a", "b", "tmp-c"])},
                **extra,
            )
        )
    return out


def test_sql_history_rebuilds_the_streaming_rows(store: ChdbStore) -> None:
    events = _mixed_events(700, seed=3)
    now = datetime.now(UTC)
    store.insert(schema.EVENTS, [event_row(e, now, "b1") for e in events], STORED_COLUMNS)
    streamed, _ = build_features(events)
    last_of_minute = {(e.principal_key, e.event_time_ms // 60_000): i for i, e in enumerate(events)}
    compared = 0
    for history in load_history(store, since_ms=0, until_ms=2**62):
        state = PrincipalState(history.key, history.actor_kind)
        for bucket in history.buckets:
            state.push_bucket(bucket)
            expected = streamed[last_of_minute[(history.key, bucket.minute)]]
            np.testing.assert_allclose(state.features(), expected, err_msg=str(bucket.minute))
            compared += 1
        assert set(history.seen["action"]) <= {e.action for e in events}
        live = PrincipalState(history.key, history.actor_kind)
        for e in events:
            if e.principal_key == history.key:
                live.observe(e)
        for dim in ("net", "client", "store", "ip", "region"):  # the same values, SQL or not
            assert set(history.seen[dim]) == live.seen[dim], dim
    assert compared > 100
    assert streamed[:, F["data_reads_10m"]].max() > 0  # the data-read count is compared too
    lasting, destructive = F["lasting_destructive_10m"], F["destructive_10m"]
    assert (
        streamed[:, lasting].max() > 0 and (streamed[:, lasting] <= streamed[:, destructive]).all()
    )


def test_a_principal_matures_with_days_and_minutes_or_with_days_of_a_scheduled_job() -> None:
    """Two active days and half an hour of activity; a job that works five minutes a day has
    shown its whole job after three days."""
    busy, job = PrincipalState("busy", "service"), PrincipalState("job", "service")
    for day in range(2):
        for minute in range(20):
            busy.observe(event(T0 + timedelta(days=day, minutes=minute)))
        for minute in range(5):
            job.observe(event(T0 + timedelta(days=day, minutes=minute)))
    assert busy.mature and not job.mature
    job.observe(event(T0 + timedelta(days=2)))
    assert job.hist_minutes < 30 and job.mature
    once = PrincipalState("once", "service")
    for minute in range(120):
        once.observe(event(T0 + timedelta(minutes=minute)))
    assert not once.mature  # a long first day is still one day
