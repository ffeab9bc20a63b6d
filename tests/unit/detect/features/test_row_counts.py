"""The window's distinct-resource count is capped; feature_row stops gathering names there."""

from __future__ import annotations

import random
from datetime import timedelta

from detect.features import FEATURE_NAMES, MAX_BUCKET_NAMES, Bucket, PrincipalState, feature_row
from tests.factories import BASE_TIME, make_event

DISTINCT = FEATURE_NAMES.index("distinct_resources_10m")


def window(names_per_bucket: list[set[str]]) -> PrincipalState:
    state = PrincipalState("p", "human")
    for minute, names in enumerate(names_per_bucket):
        state.push_bucket(Bucket(minute, n=len(names), resources=set(names)))
    return state


def test_distinct_resources_counts_every_name_up_to_the_cap() -> None:
    overlapping = [{f"r{i}" for i in range(m * 20, m * 20 + 30)} for m in range(6)]
    assert feature_row(window(overlapping))[DISTINCT] == 130  # 0..129: overlaps counted once


def test_distinct_resources_stops_at_the_cap_whatever_later_buckets_hold() -> None:
    big = [{f"b{m}-{i}" for i in range(MAX_BUCKET_NAMES)} for m in range(3)]
    assert feature_row(window(big))[DISTINCT] == MAX_BUCKET_NAMES
    almost = [{f"a{i}" for i in range(MAX_BUCKET_NAMES - 1)}, {"x", "y"}, {"z"}]
    assert feature_row(window(almost))[DISTINCT] == MAX_BUCKET_NAMES
    under = [{f"a{i}" for i in range(MAX_BUCKET_NAMES - 3)}, {"x"}, {"a0"}]
    assert feature_row(window(under))[DISTINCT] == MAX_BUCKET_NAMES - 2


def test_the_kept_closed_totals_match_a_fresh_count_after_every_event() -> None:
    """PrincipalState keeps its closed buckets' totals between events; whatever arrives -- the
    next minute, a late event into a closed bucket, one too old for the window, one hours in
    the past that restarts it, deletes and re-creates of the same names -- the row it gives is
    the row counted afresh from the buckets."""
    rng = random.Random(11)
    actions = [
        ("DeleteBucket", "s3", "bucketName"),
        ("CreateBucket", "s3", "bucketName"),
        ("GetObject", "s3", "bucketName"),
        ("DeleteTable", "dynamodb", "tableName"),
        ("CreateTable", "dynamodb", "tableName"),
        ("AttachRolePolicy", "iam", "roleName"),
        ("StopLogging", "cloudtrail", "name"),
    ]
    state = PrincipalState("p", "human")
    minute, churned = 0.0, 0
    for step in range(1500):
        roll = rng.random()
        if roll < 0.6:
            minute += rng.choice((0.0, 0.1, 0.5, 1.0))
            at = minute
        elif roll < 0.9:
            at = minute - rng.uniform(0, 12)  # late: into a closed bucket, or out of the window
        else:
            at = minute - rng.choice((30.0, 600.0))  # far back: the window restarts
        action, source, key = rng.choice(actions)
        event = make_event(
            eventName=action,
            eventSource=f"{source}.amazonaws.com",
            readOnly=action.startswith("Get"),
            requestParameters={key: f"name-{rng.randrange(12)}"},
            awsRegion=rng.choice(("eu-west-1", "us-east-1", "ap-south-1")),
            at=BASE_TIME + timedelta(minutes=at),
        )
        state.observe(event)
        row = state.features()
        assert row == feature_row(state), step  # kept totals == totals counted afresh
        assert {name: row[FEATURE_NAMES.index(name)] for name in COUNTED} == counted(state), step
        churned += row[FEATURE_NAMES.index("churn_10m")] > 0
    assert churned > 100  # (the stream re-creates names it deleted)


COUNTED = (
    "events_10m",
    "destructive_10m",
    "distinct_resources_10m",
    "churn_10m",
    "distinct_regions_10m",
)


def counted(state: PrincipalState) -> dict[str, float]:
    """The window's counts the plain way: every bucket, every time."""
    buckets = list(state.buckets)
    first_delete: dict[str, int] = {}
    last_create: dict[str, int] = {}
    for b in buckets:
        for name, (d, c) in b.churn.items():
            if d:
                first_delete[name] = min(first_delete.get(name, d), d)
            last_create[name] = max(last_create.get(name, 0), c)
    destructive = sum(b.destructive for b in buckets)
    churn = sum(1 for name, d in first_delete.items() if last_create.get(name, 0) > d)
    return {
        "events_10m": float(sum(b.n for b in buckets)),
        "destructive_10m": float(destructive),
        "distinct_resources_10m": float(
            min(len(set().union(*(b.resources for b in buckets))), MAX_BUCKET_NAMES)
        ),
        "churn_10m": float(churn if destructive else 0),
        "distinct_regions_10m": float(len(set().union(*(b.regions for b in buckets)))),
    }
