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


def test_a_run_back_at_the_volume_that_paged_an_earlier_day_is_marked_recurring() -> None:
    """Seed 807: a retention agent's second day (35 snapshots against a first day's 6) paged
    on the install's first days, then every run after paged again at the same volume. A run
    no bigger than a flagged day's says so (triage holds it for another sign); a bigger one
    does not, and production going says it is catastrophic, never recurring. The 10-minute
    burst is never marked: a delete-and-recreate on a later day pages at once (seed 818)."""

    def after_a_flagged_day(first_day: int = 6) -> tuple[LastingDestruction, PrincipalState]:
        detector = LastingDestruction()
        first = snapshot_deletes(0, 1)[0]
        state = PrincipalState(first.principal_key, first.actor_kind)
        lasting_counts(detector, state, snapshot_deletes(0, first_day))
        second = snapshot_deletes(1, 35)
        lasting_counts(detector, state, second)
        # the engine marks a principal that paged
        detector.mark_flagged(first.principal_key, second[-1].event_time_ms)
        return detector, state

    def notes(
        detector: LastingDestruction,
        state: PrincipalState,
        events: list[AuditEvent],
        name: str = "",
    ) -> list[dict[str, object]]:
        found = []
        for e in events:
            state.observe(e)
            found += [
                f.explanation
                for f in detector.add(state, e, [f"{name}{e.resources[0]}"], first_use=False)
                if f.rule == "baseline:slow_lasting_destruction"
            ]
        return found

    detector, state = after_a_flagged_day()
    again = notes(detector, state, snapshot_deletes(2, 30))
    assert again and all(n.get("recurs") == 35 for n in again), again[:1]
    bigger = notes(detector, state, snapshot_deletes(2, 80, hour=3))  # 110 in six hours
    assert bigger and not bigger[-1].get("recurs"), bigger[-1]
    detector, state = after_a_flagged_day(first_day=2)
    burst = []
    for e in snapshot_deletes(2, 20):
        state.observe(e)
        burst += detector.add(state, e, [e.resources[0]], first_use=False)
    burst_notes = [f.explanation for f in burst if f.rule == "baseline:lasting_destruction"]
    assert burst_notes and not any("recurs" in n for n in burst_notes)  # the burst pages
    detector, state = after_a_flagged_day()
    prod = notes(detector, state, snapshot_deletes(2, 30), name="orders-prod-db/")
    assert prod and "catastrophic" in prod[-1] and "recurs" not in prod[-1], prod[-1]
