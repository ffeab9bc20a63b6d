"""The window's distinct-resource count is capped; feature_row stops gathering names there."""

from __future__ import annotations

from detect.features import FEATURE_NAMES, MAX_BUCKET_NAMES, Bucket, PrincipalState, feature_row

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
