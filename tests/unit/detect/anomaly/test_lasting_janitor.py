"""A principal that deletes lasting resources for a living pages on volume only at 10x usual."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from detect.anomaly.destruction import JANITOR_MULTIPLIER, SCHEDULE_DAYS, LastingDestruction
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


def slow_notes(
    detector: LastingDestruction,
    state: PrincipalState,
    events: list[AuditEvent],
    name: str = "",
) -> list[dict[str, object]]:
    """The explanations of the 6-hour findings the events raise (resources prefixed `name`)."""
    found = []
    for e in events:
        state.observe(e)
        found += [
            f.explanation
            for f in detector.add(state, e, [f"{name}{e.resources[0]}"], first_use=False)
            if f.rule == "baseline:slow_lasting_destruction"
        ]
    return found


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

    detector, state = after_a_flagged_day()
    again = slow_notes(detector, state, snapshot_deletes(2, 30))
    assert again and all(n.get("recurs") == 35 for n in again), again[:1]
    bigger = slow_notes(detector, state, snapshot_deletes(2, 80, hour=3))  # 110 in six hours
    assert bigger and not bigger[-1].get("recurs"), bigger[-1]
    detector, state = after_a_flagged_day(first_day=2)
    burst = []
    for e in snapshot_deletes(2, 20):
        state.observe(e)
        burst += detector.add(state, e, [e.resources[0]], first_use=False)
    burst_notes = [f.explanation for f in burst if f.rule == "baseline:lasting_destruction"]
    assert burst_notes and not any("recurs" in n for n in burst_notes)  # the burst pages
    detector, state = after_a_flagged_day()
    prod = slow_notes(detector, state, snapshot_deletes(2, 30), name="orders-prod-db/")
    assert prod and "catastrophic" in prod[-1] and "recurs" not in prod[-1], prod[-1]


def test_a_young_jobs_drip_at_the_hours_it_ran_before_waits_for_another_sign() -> None:
    """Fresh seed 1514: a retention agent pruned 10 snapshots at 10:00 and 18:00 on the
    install's first day and 45 at the same hours on its second; its 6-hour drip paged twice.
    On a young job's schedule the drip is marked (triage holds it); off schedule, or once the
    job has more days than SCHEDULE_DAYS, or for a person, it pages as before."""

    def second_day(hour: int, kind_role: str = "retention-agent") -> list[dict[str, object]]:
        detector = LastingDestruction()
        events = [
            *snapshot_deletes(0, 3, hour=10),
            *snapshot_deletes(0, 3, hour=18),
            *snapshot_deletes(1, 25, hour=hour),
        ]
        events = [
            make_event(
                eventName="DeleteSnapshot",
                eventSource="ec2.amazonaws.com",
                requestParameters={"snapshotId": e.resources[0]},
                at=datetime.fromtimestamp(e.event_time_ms / 1000, UTC),
                role=kind_role,
                session="janitor",
                userAgent="Boto3/1.34.10",
            )
            for e in events
        ]
        state = PrincipalState(events[0].principal_key, events[0].actor_kind)
        return slow_notes(detector, state, events)

    on_time = second_day(10)
    assert on_time and all(n.get("on_schedule") for n in on_time), on_time[:1]
    late = second_day(14)  # a run at an hour it never ran at
    assert late and not any(n.get("on_schedule") for n in late)


def test_a_job_past_its_first_days_or_a_person_is_not_excused_by_its_schedule() -> None:
    detector = LastingDestruction()
    first = snapshot_deletes(0, 1, hour=10)[0]
    state = PrincipalState(first.principal_key, first.actor_kind)
    assert state.actor_kind == "service"
    for day in range(SCHEDULE_DAYS + 1):  # a few quiet runs at 10:00
        slow_notes(detector, state, snapshot_deletes(day, 3, hour=10))
    grown = slow_notes(detector, state, snapshot_deletes(SCHEDULE_DAYS + 1, 40, hour=10))
    assert grown and not any(n.get("on_schedule") for n in grown)

    detector = LastingDestruction()
    person = [
        make_event(
            eventName="DeleteSnapshot",
            eventSource="ec2.amazonaws.com",
            requestParameters={"snapshotId": f"snap-p{day}{i:04d}"},
            at=BASE_TIME + timedelta(days=day, hours=10, seconds=30 * i),
            userIdentity={
                "type": "IAMUser",
                "arn": "arn:aws:iam::123456789012:user/dana",
                "accountId": "123456789012",
                "userName": "dana",
                "principalId": "AIDAEXAMPLE",
            },
            userAgent="aws-cli/2.15.30 Python/3.11.8 Linux/6.5",
        )
        for day, n in ((0, 3), (1, 30))
        for i in range(n)
    ]
    state = PrincipalState(person[0].principal_key, person[0].actor_kind)
    assert state.actor_kind == "human"
    theirs = slow_notes(detector, state, person)
    assert theirs and not any(n.get("on_schedule") for n in theirs)
