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

    # (a first day of 4: with 5 or more in one go it is a janitor, and 35 does not page at
    # all -- test_a_janitors_batch_makes_its_six_hours_a_janitors_too)
    def after_a_flagged_day(first_day: int = 4) -> tuple[LastingDestruction, PrincipalState]:
        detector = LastingDestruction()
        first = snapshot_deletes(0, 1)[0]
        state = PrincipalState(first.principal_key, first.actor_kind)
        lasting_counts(detector, state, snapshot_deletes(0, first_day))
        lasting_counts(detector, state, snapshot_deletes(1, 35))
        detector.mark_flagged(first.principal_key)  # the engine marks a principal that paged
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


def test_a_janitors_batch_makes_its_six_hours_a_janitors_too() -> None:
    """Fresh seeds 1449 and 1458: a retention agent pruned 5-6 snapshots in one go twice on its
    first day -- a janitor by its ten minutes (the burst's job high, 5), not by its six hours
    (the drip's, 8) -- and its second day's runs of 21-26 paged as a drip of lasting deletes.
    The six hours of a principal whose ten minutes make it a janitor are a janitor's: ten
    times its usual. One that never deleted five at once is judged as before."""

    def slow_counts(first_run: int, next_run: int) -> list[float]:
        detector = LastingDestruction()
        first = snapshot_deletes(0, 1)[0]
        state = PrincipalState(first.principal_key, first.actor_kind)
        for hour in (4, 21):
            lasting_counts(detector, state, snapshot_deletes(0, first_run, hour=hour))
        counts = []
        for e in snapshot_deletes(1, next_run, hour=4):
            state.observe(e)
            for f in detector.add(state, e, [e.resources[0]], first_use=False):
                if f.rule == "baseline:slow_lasting_destruction":
                    counts.append(f.explanation["slow_lasting_destruction"]["value"])
        return counts

    assert slow_counts(6, 26) == []
    assert slow_counts(4, 26), "a principal that never deleted five at once: its drip pages"


def test_a_drip_by_a_principal_that_once_deleted_a_batch_is_judged_as_a_drip() -> None:
    """Review: a CI role that once deleted five functions at once, stolen, deleted thirty
    more one every eleven minutes -- judged as a janitor's six hours (ten times its usual), no
    page. Only a batch in the ten minutes makes the six hours a janitor's."""
    ci = {"role": "ci-deployer", "session": "build-7", "userAgent": "Boto3/1.34.10"}

    def delete(at: timedelta, name: str) -> AuditEvent:
        return make_event(
            eventName="DeleteFunction",
            eventSource="lambda.amazonaws.com",
            readOnly=False,
            requestParameters={"functionName": name},
            at=BASE_TIME + at,
            **ci,
        )

    detector = LastingDestruction()
    first = delete(timedelta(0), "svc-0")
    state = PrincipalState(first.principal_key, first.actor_kind)
    batch = [delete(timedelta(hours=9, seconds=20 * i), f"svc-{i}") for i in range(5)]
    habit = [delete(timedelta(days=d, hours=10), f"old-{d}") for d in range(1, 5)]
    for e in [*batch, *habit]:
        state.observe(e)
        detector.add(state, e, [e.resources[0]], first_use=False)
    paged = []
    for i in range(30):
        e = delete(timedelta(days=5, hours=8, minutes=11 * i), f"billing-{i}")
        state.observe(e)
        found = detector.add(state, e, [e.resources[0]], first_use=False)
        if any(f.rule == "baseline:slow_lasting_destruction" for f in found):
            paged.append(i + 1)
    assert paged and paged[0] <= 9, paged[:1]
