"""A principal that deletes lasting resources for a living pages on volume only at 10x usual."""

from __future__ import annotations

from datetime import timedelta

from detect.anomaly.destruction import JANITOR_MULTIPLIER, LastingDestruction
from detect.features import PrincipalState
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

JANITOR = {"role": "snapshot-retention", "session": "nightly", "userAgent": "Boto3/1.34.10"}


def snapshot_deletes(day: int, n: int, hour: int = 0) -> list[AuditEvent]:
    start = BASE_TIME + timedelta(days=day, hours=hour)
    return [
        make_event(
            eventName="DeleteSnapshot",
            eventSource="ec2.amazonaws.com",
            requestParameters={"snapshotId": f"snap-{day:02d}{hour:02d}{i:05d}"},
            at=start + timedelta(seconds=2 * i),
            **JANITOR,
        )
        for i in range(n)
    ]


def lasting_counts(
    detector: LastingDestruction, state: PrincipalState, events: list[AuditEvent]
) -> list[float]:
    """The window count of each lasting-destruction finding the events raise."""
    counts = []
    for e in events:
        state.observe(e)
        for f in detector.add(state, e, [e.resources[0]], first_use=False):
            if f.rule == "baseline:lasting_destruction":
                counts.append(f.explanation["lasting_destruction"]["value"])
    return counts


def test_a_retention_janitors_big_day_waits_ten_times_its_usual_pages() -> None:
    detector = LastingDestruction()
    first = snapshot_deletes(0, 1)[0]
    state = PrincipalState(first.principal_key, first.actor_kind)
    for day in range(6):  # 20 snapshots expire every night
        lasting_counts(detector, state, snapshot_deletes(day, 20))
    assert lasting_counts(detector, state, snapshot_deletes(6, 120)) == []  # 6x: a backlog
    counts = lasting_counts(detector, state, snapshot_deletes(6, 260, hour=3))
    assert counts, "13x its usual night pages"
    assert JANITOR_MULTIPLIER * 20 < counts[0] < JANITOR_MULTIPLIER * 20 * 1.05
