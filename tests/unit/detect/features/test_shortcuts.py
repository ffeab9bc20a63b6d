"""The feature path's per-event shortcuts answer what the long way did: a resource's name without
the regex (but with it where a line break stops the regex's "."), a data read by either form of
its source, a seen value not asked again (the MAX_SEEN cap still holds), and the row's kept
counts of the newest bucket (kept totals against a fresh count: test_row_counts)."""

from __future__ import annotations

import random
from datetime import timedelta

from detect.features import FEATURE_NAMES, MAX_SEEN, PrincipalState, feature_row
from detect.features.bucket import _NAME_PREFIX, DATA_READ_ACTIONS, is_data_read, resource_name
from tests.factories import BASE_TIME, make_event


def test_a_resource_name_is_what_the_prefix_regex_leaves() -> None:
    rng = random.Random(5)
    names = [
        "",
        "/",
        ":",
        "a/b",
        "arn:aws:s3:::b/k/x.csv",
        "a/b/",
        "arn:aws:logs:r:1:log-group:/x:*",
    ]
    names += ["x\ny/z", "a/b\nc:d", "a:\n", "\n/", "a\r/b"]  # "." stops at a line break only
    names += [
        "".join(rng.choice("ab/:\n\r.") for _ in range(rng.randint(0, 10))) for _ in range(3000)
    ]
    for name in names:
        assert resource_name.__wrapped__(name) == _NAME_PREFIX.sub("", name), repr(name)


def test_a_data_read_is_known_by_its_service_or_its_event_source_only() -> None:
    for service, action in DATA_READ_ACTIONS:
        assert is_data_read(service, action, "")
        assert is_data_read(f"{service}.amazonaws.com", action, "")
        assert not is_data_read(f"{service}.amazonaws.com.amazonaws.com", action, "")
        assert not is_data_read(service, action, "AccessDenied")
    assert not is_data_read("s3.amazonaws.com", "PutObject", "")
    assert not is_data_read("ec2.amazonaws.com", "GetObject", "")


def test_a_full_seen_set_takes_no_new_value_and_flags_none() -> None:
    state = PrincipalState("p", "service")
    state.seen["ip"] = {f"10.0.{i // 256}.{i % 256}" for i in range(MAX_SEEN)}
    state.seen["region"].add("us-east-1")
    at = BASE_TIME
    state.observe(make_event(sourceIPAddress="10.0.0.1", at=at))  # known
    state.observe(make_event(sourceIPAddress="192.0.2.9", at=at))  # new, past the cap
    assert "192.0.2.9" not in state.seen["ip"] and len(state.seen["ip"]) == MAX_SEEN
    assert sum(b.new_ip for b in state.buckets) == 0
    state.observe(make_event(awsRegion="eu-west-1", at=at + timedelta(seconds=1)))
    assert sum(b.new_region for b in state.buckets) == 1  # below its cap a new value counts
    state.observe(make_event(awsRegion="eu-west-1", at=at + timedelta(seconds=2)))
    assert sum(b.new_region for b in state.buckets) == 1  # and only once


def test_the_six_hour_count_is_zero_once_every_delete_left_the_window() -> None:
    state = PrincipalState("p", "human")
    slow = FEATURE_NAMES.index("destructive_6h")
    state.observe(
        make_event(eventName="DeleteBucket", eventSource="s3.amazonaws.com", at=BASE_TIME)
    )
    assert state.features()[slow] == 1.0
    later = make_event(at=BASE_TIME + timedelta(hours=6, minutes=5))
    state.observe(later)
    assert state.slow  # the old slot is still kept, outside the window
    assert state.features()[slow] == 0.0 == feature_row(state)[slow]
