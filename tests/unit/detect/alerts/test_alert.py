"""Alerts: one per principal and incident that grows; quiet gaps, status, suppression, storage."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from detect.alerts.alert import Alert, AlertStore
from detect.alerts.incidents import AlertBook
from detect.engine import DetectionEngine
from detect.findings import Finding
from ingest.events import AuditEvent, Normalizer
from ingest.store.chdb import ChdbStore
from tests.factories import make_record

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
MIN_MS = 60_000
NORMALIZER = Normalizer()


def deletes(n: int, start: datetime = T0, gap_s: float = 2.0, **kw: object) -> list[AuditEvent]:
    return [
        NORMALIZER.normalize(
            make_record(
                at=start + timedelta(seconds=gap_s * i),
                eventName="DeleteBucket",
                eventSource="s3.amazonaws.com",
                requestParameters={"bucketName": f"prod-{i}"},
                **kw,
            )
        )
        for i in range(n)
    ]


def finding(
    at_ms: int,
    *,
    rule: str = "r",
    severity: str = "medium",
    ids: tuple[str, ...] = ("e",),
    principal: str = "p",
    kind: str = "rule",
) -> Finding:
    return Finding(
        principal=principal,
        actor_kind="agent",
        kind=kind,
        rule=rule,
        severity=severity,
        score=0.6,
        summary=f"{rule} fired",
        event_ids=ids,
        first_event_ms=at_ms,
        last_event_ms=at_ms,
    )


class StopRule:
    """A tiny single-event rule standing in for detect.rules.base."""

    name = "test:stop_logging"

    def evaluate(self, event: AuditEvent) -> Finding | None:
        if event.action != "StopLogging":
            return None
        return finding(
            event.event_time_ms,
            rule=self.name,
            severity="critical",
            ids=(event.event_id,),
            principal=event.principal_key,
        )


def test_a_burst_of_500_deletes_is_one_alert_that_grows() -> None:
    engine = DetectionEngine()
    burst = deletes(500, gap_s=0.5)
    changes = [
        c for start in range(0, 500, 50) for c in engine.process(burst[start : start + 50]).changes
    ]
    opened = [a for kind, a in changes if kind == "alert.opened"]
    assert len(opened) == 1  # one change per alert and batch; later batches update it
    final = [a for _, a in changes][-1]
    assert {a.id for _, a in changes} == {opened[0].id}
    assert final.event_count == 500
    assert final.last_event_ms == burst[-1].event_time_ms
    assert final.severity == "critical"
    # a new agent (no history yet) deleting production buckets pages at the 5th: no missing
    # history excuses destroying production (detect.anomaly.destruction CATASTROPHIC)
    assert final.explanation["trigger_event_id"] == burst[4].event_id


def test_an_incident_ends_after_a_quiet_gap_in_event_time() -> None:
    engine = DetectionEngine(quiet_gap_ms=30 * MIN_MS)
    first = engine.process(deletes(10)).changes
    # 7 h later: past the quiet gap and past the 6-hour slow window that would bridge them
    second = engine.process(deletes(10, T0 + timedelta(hours=7))).changes
    assert first[-1][1].id != second[-1][1].id
    assert [kind for kind, _ in second][0] == "alert.opened"


def test_harmful_calls_hours_apart_are_one_story_and_reads_are_another() -> None:
    """A slow delete: one out-of-scope delete at 10:00, a first-seen delete at 11:00, a
    first-seen bucket-policy change at 12:00. Each is past the 30-minute quiet gap, each from
    a different detector: one alert, not three. A secret read an hour on is not that story."""
    book = AlertBook(quiet_gap_ms=30 * MIN_MS)
    hour = 60 * MIN_MS
    kind, alert = book.merge(finding(0, rule="out_of_scope", ids=("a",)), "destructive")  # type: ignore[misc]
    assert kind == "alert.opened"
    steps = (
        (hour, "first_seen_destructive", "destructive"),
        (2 * hour, "new_sensitive_actions", "privilege"),
    )
    for at, rule, action_class in steps:
        kind, grown = book.merge(finding(at, rule=rule, ids=(rule,)), action_class)  # type: ignore[misc]
        assert (kind, grown.id) == ("alert.updated", alert.id)
    kind, other = book.merge(finding(3 * hour, rule="credential_sweep", ids=("s",)), "read")  # type: ignore[misc]
    assert kind == "alert.opened" and other.id != alert.id
    late = 3 * hour + 7 * hour  # beyond the story gap: a new alert even for a harmful call
    kind, _ = book.merge(finding(late, rule="first_seen_destructive", ids=("z",)), "destructive")  # type: ignore[misc]
    assert kind == "alert.opened"


def test_a_held_finding_hours_after_a_high_alert_joins_its_story() -> None:
    """Fresh seed 1080: a person's keys excluded management events from the trail (a high
    alert) at 08:40, and at 11:51 pulled 307 objects -- volume alone, held for a second sign.
    The alert is that sign: the held finding grows it. Past the story gap, after a medium
    alert, or once the alert is resolved, it waits as before."""
    hour = 60 * MIN_MS

    def held(at: int, rule: str = "bulk_data_read") -> Finding:
        return replace(finding(at, rule=rule, ids=(f"r{at}",)), tier="hold")

    book = AlertBook(quiet_gap_ms=30 * MIN_MS)
    _, alert = book.merge(
        finding(0, rule="event_selectors_reduced", severity="high"), "defense_evasion"
    )  # type: ignore[misc]
    kind, grown = book.merge(held(3 * hour), "read", may_open=False)  # type: ignore[misc]
    assert (kind, grown.id) == ("alert.updated", alert.id)
    assert "bulk_data_read" in grown.rules
    # six hours from the alert's start, not from its newest event: holds do not chain all day
    assert book.merge(held(6 * hour + 30 * MIN_MS, "denied_burst"), "read", may_open=False) is None

    medium = AlertBook(quiet_gap_ms=30 * MIN_MS)
    medium.merge(finding(0, rule="console_new_network", severity="medium"), "read")
    assert medium.merge(held(3 * hour), "read", may_open=False) is None

    resolved = AlertBook(quiet_gap_ms=30 * MIN_MS)
    _, first = resolved.merge(
        finding(0, rule="event_selectors_reduced", severity="high"), "defense_evasion"
    )  # type: ignore[misc]
    resolved.set_status(first.id, "resolved")
    assert resolved.merge(held(3 * hour), "read", may_open=False) is None


def test_a_spree_of_deletes_after_hours_of_quiet_is_a_new_alert_a_drip_is_not() -> None:
    """An agent destroys an environment at 16:42, and another 2.5 h later: two pages. Its
    six-hour count at the second spree reaches back into the first, and still opens anew. A
    slow drip (a few deletes every hour) stays one alert."""
    book = AlertBook(quiet_gap_ms=30 * MIN_MS)
    hour = 60 * MIN_MS
    kind, first = book.merge(finding(0, rule="lasting", ids=("a", "b", "c")), "destructive")  # type: ignore[misc]
    assert kind == "alert.opened"
    later = 2 * hour + 30 * MIN_MS
    slow = replace(
        finding(later, rule="slow_lasting", ids=("a", "b", "c", "d", "e")), first_event_ms=0
    )
    kind, second = book.merge(slow, "destructive")  # type: ignore[misc]
    assert kind == "alert.opened" and second.id != first.id
    # the count reached back into the first spree: its events stay with the first alert
    assert second.event_ids == ("d", "e") and second.first_event_ms > first.last_event_ms
    reach = replace(
        finding(later + MIN_MS, rule="lasting", ids=("b", "c", "f", "g")), first_event_ms=0
    )
    kind, grown = book.merge(reach, "destructive")  # type: ignore[misc]
    assert (kind, grown.id) == ("alert.updated", second.id)
    assert grown.event_ids == ("d", "e", "f", "g") and grown.first_event_ms == second.first_event_ms
    drip = AlertBook(quiet_gap_ms=30 * MIN_MS)
    _, opened = drip.merge(finding(0, rule="slow_lasting", ids=("a", "b")), "destructive")  # type: ignore[misc]
    for n in range(1, 6):  # an hour and a quarter apart, each a count of the drip so far
        at = n * (hour + 15 * MIN_MS)
        kind, grown = drip.merge(
            finding(at, rule="slow_lasting", ids=(f"x{n}", f"y{n}")), "destructive"
        )  # type: ignore[misc]
        assert (kind, grown.id) == ("alert.updated", opened.id)


def test_a_spree_after_another_alert_leaves_the_first_sprees_events_to_the_first() -> None:
    """Spree at 16:18 (alert 1), a busy hour's refusals at 20:03 (alert 2), a spree at 20:43
    whose six-hour count reaches back to 16:18 (alert 3): alert 3 holds only its own deletes,
    not the first spree's again (fresh seed 1033 paged a stack deletion twice)."""
    book = AlertBook(quiet_gap_ms=30 * MIN_MS)
    hour = 60 * MIN_MS
    _, first = book.merge(finding(0, rule="lasting", ids=("a", "b", "c")), "destructive")  # type: ignore[misc]
    kind, busy = book.merge(finding(4 * hour, rule="denied", ids=("r1", "r2")), "read")  # type: ignore[misc]
    assert kind == "alert.opened" and busy.id != first.id
    spree = 4 * hour + 40 * MIN_MS
    kind, third = book.merge(finding(spree, rule="lasting", ids=("d", "e")), "destructive")  # type: ignore[misc]
    assert kind == "alert.opened" and third.id not in (first.id, busy.id)
    slow = replace(
        finding(spree + MIN_MS, rule="slow_lasting", ids=("a", "b", "c", "d", "e", "f")),
        first_event_ms=0,
    )
    kind, grown = book.merge(slow, "destructive")  # type: ignore[misc]
    assert (kind, grown.id) == ("alert.updated", third.id)
    assert grown.event_ids == ("d", "e", "f") and grown.first_event_ms == spree


def test_a_resolved_alert_takes_no_more_findings() -> None:
    book = AlertBook(quiet_gap_ms=30 * MIN_MS)
    _, alert = book.merge(finding(0, ids=("a",)))  # type: ignore[misc]
    book.set_status(alert.id, "resolved")
    kind, again = book.merge(finding(MIN_MS, ids=("b",)))  # type: ignore[misc]
    assert kind == "alert.opened" and again.id != alert.id


def test_growth_takes_the_worst_severity_and_names_its_rule() -> None:
    book = AlertBook(quiet_gap_ms=30 * MIN_MS)
    book.merge(finding(0, rule="baseline:x", ids=("a",)))
    kind, alert = book.merge(  # type: ignore[misc]
        finding(MIN_MS, rule="redflag:stop", severity="critical", ids=("b",))
    )
    assert kind == "alert.updated"
    assert (alert.rule, alert.severity, alert.event_count) == ("redflag:stop", "critical", 2)
    assert alert.rules == ("baseline:x", "redflag:stop")
    assert set(alert.explanation["detectors"]) == {"baseline:x", "redflag:stop"}
    assert (
        book.merge(finding(MIN_MS, rule="redflag:stop", severity="critical", ids=("b",))) is None
    )  # nothing new


def test_a_trace_joins_as_evidence_but_never_sets_the_severity_or_the_headline() -> None:
    """Fresh seed 1092: a developer's log-retention change, excused by triage as routine
    (a trace), joined a held read-volume alert and made it "critical: first
    PutRetentionPolicy ever" -- the severity webhook routes follow."""
    book = AlertBook(quiet_gap_ms=30 * MIN_MS)
    book.merge(finding(0, rule="baseline:bulk_data_read", ids=("a",)))
    excused = replace(
        finding(MIN_MS, rule="baseline:first_seen_evasion", severity="critical", ids=("b",)),
        tier="trace",
    )
    kind, alert = book.merge(excused)  # type: ignore[misc]
    assert kind == "alert.updated"
    assert (alert.rule, alert.severity) == ("baseline:bulk_data_read", "medium")
    assert alert.summary.endswith("baseline:bulk_data_read fired")
    assert alert.rules == ("baseline:bulk_data_read", "baseline:first_seen_evasion")
    _, alert = book.merge(  # type: ignore[misc]
        finding(2 * MIN_MS, rule="redflag:stop", severity="high", ids=("c",))
    )
    assert (alert.rule, alert.severity) == ("redflag:stop", "high")  # what weighs still does


def test_open_incidents_absorb_further_destructive_events_but_not_reads() -> None:
    engine = DetectionEngine()
    burst = deletes(8)
    engine.process(burst)
    (alert,) = [a for _, a in engine.process(deletes(1, T0 + timedelta(minutes=20))).changes]
    read = NORMALIZER.normalize(make_record(at=T0 + timedelta(minutes=21)))
    assert alert.event_count == 9
    assert engine.process([read]).changes == []


def test_extra_rules_and_suppressors_are_read_live() -> None:
    extra: list[object] = []
    suppressors: list[object] = []
    engine = DetectionEngine(extra_rules=extra, suppressors=suppressors)  # type: ignore[arg-type]
    stop = NORMALIZER.normalize(
        make_record(at=T0, eventName="StopLogging", eventSource="cloudtrail.amazonaws.com")
    )
    assert engine.process([stop]).changes == []
    extra.append(StopRule())
    suppressors.append(lambda f: f.principal == "someone-else")
    (opened,) = engine.process([stop]).changes
    assert opened[1].rule == "test:stop_logging"
    suppressors.append(lambda _: True)
    later = NORMALIZER.normalize(
        make_record(
            at=T0 + timedelta(hours=3),
            eventName="StopLogging",
            eventSource="cloudtrail.amazonaws.com",
        )
    )
    out = engine.process([later])
    assert (out.changes, out.suppressed) == ([], 1)


def test_a_broken_rule_does_not_stop_detection() -> None:
    class Broken:
        name = "broken"

        def evaluate(self, event: AuditEvent) -> Finding | None:
            raise RuntimeError(f"bug on {event.event_id}")

    engine = DetectionEngine(rules=[Broken()])
    assert len(engine.process(deletes(8)).changes) == 1


def _alert(**kw: object) -> Alert:
    base: dict[str, object] = {
        "id": "al_1",
        "created_at_ms": 1_700_000_000_000,
        "updated_at_ms": 1_700_000_000_000,
        "principal": "arn:aws:sts::1:assumed-role/deploy-agent",
        "actor_kind": "agent",
        "kind": "anomaly",
        "rule": "baseline:destructive_burst",
        "severity": "high",
        "score": 0.7,
        "status": "open",
        "first_event_ms": 1_700_000_000_000,
        "last_event_ms": 1_700_000_060_000,
        "event_count": 6,
        "event_ids": ("a", "b"),
        "summary": "6 flagged events",
        "explanation": {"features": {"destructive_10m": {"value": 6, "baseline": 1}}},
        "rules": ("baseline:destructive_burst",),
    }
    base.update(kw)
    return Alert(**base)  # type: ignore[arg-type]


def test_to_json_has_the_api_shape() -> None:
    body = _alert().to_json()
    assert body["created_at"] == "2023-11-14T22:13:20.000+00:00"
    assert body["first_event_time"] < body["last_event_time"]
    assert {
        "id",
        "principal",
        "actor_kind",
        "kind",
        "rule",
        "severity",
        "score",
        "status",
        "event_count",
        "event_ids",
        "summary",
        "explanation",
    } <= set(body)


def test_store_keeps_the_latest_content_and_a_separate_status(store: ChdbStore) -> None:
    alerts = AlertStore(store)
    alerts.save([_alert()])
    alerts.save([_alert(event_count=40, severity="critical")])
    assert alerts.get("al_1") == _alert(event_count=40, severity="critical")
    changed = alerts.set_status("al_1", "acknowledged", actor="key_1", note="on it")
    assert changed is not None
    assert (changed.status, changed.status_actor, changed.status_note) == (
        "acknowledged",
        "key_1",
        "on it",
    )
    alerts.save([_alert(event_count=41)])  # the detector keeps growing it
    assert alerts.get("al_1").status == "acknowledged"  # type: ignore[union-attr]
    assert alerts.statuses(["al_1", "nope"]) == {"al_1": "acknowledged"}
    assert alerts.set_status("nope", "resolved", actor="k") is None
    with pytest.raises(ValueError, match="unknown alert status"):
        alerts.set_status("al_1", "closed", actor="k")


def test_store_lists_with_filters_newest_first(store: ChdbStore) -> None:
    alerts = AlertStore(store)
    alerts.save(
        [
            _alert(id="old", created_at_ms=1_000_000_000_000),
            _alert(
                id="new",
                created_at_ms=1_800_000_000_000,
                principal="other",
                last_event_ms=1_800_000_000_000,
            ),
        ]
    )
    alerts.set_status("old", "resolved", actor="k")
    assert [a.id for a in alerts.list()] == ["new", "old"]
    assert [a.id for a in alerts.list(status="open")] == ["new"]
    assert [a.id for a in alerts.list(principal="other")] == ["new"]
    assert [a.id for a in alerts.list(since=1_750_000_000_000)] == ["new"]
    assert [a.id for a in alerts.list(limit=1)] == ["new"]
    assert [a.id for a in alerts.open_incidents(since_ms=0)] == ["new"]


def test_bulk_reads_fill_at_most_half_an_alerts_evidence_the_deletes_after_them_are_kept() -> None:
    """An agent downloads 3,000 objects and, still in the same incident, deletes production:
    the stored ids keep room for the deletes (seed 763: 992 reads filled the 1,000 ids and the
    three delete sprees after them were in the count only)."""
    book = AlertBook(quiet_gap_ms=30 * MIN_MS)
    reads = tuple(f"get-{i}" for i in range(3000))
    opened = book.merge(finding(0, rule="baseline:bulk_data_read", ids=reads), "read")
    assert opened is not None and len(opened[1].event_ids) == 500
    more = book.merge(finding(MIN_MS, rule="baseline:rate_spike", ids=reads[:10] + ("x",)), "read")
    assert more is not None and len(more[1].event_ids) == 500  # no more room for reads
    deletes = tuple(f"del-{i}" for i in range(40))
    grown = book.merge(
        finding(2 * MIN_MS, rule="baseline:lasting_destruction", ids=deletes), "destructive"
    )
    assert grown is not None
    alert = grown[1]
    assert alert.event_count == 3041 and len(alert.event_ids) == 540
    assert alert.event_ids[-40:] == deletes


def test_the_book_holds_at_most_max_open_incidents_and_keeps_the_most_recent() -> None:
    book = AlertBook(quiet_gap_ms=30 * MIN_MS, max_open=3)
    for n in range(6):
        book.merge(finding(n * MIN_MS, principal=f"p{n}", ids=(f"e{n}",)), "destructive")
    book.expire(lambda _: 6 * MIN_MS, after_ms=6 * 60 * MIN_MS, forget_before_ms=0)
    assert len(book) == 3  # six principals each opened one
    assert [book.current(f"p{n}") is not None for n in range(6)] == [False] * 3 + [True] * 3


def test_a_finding_asking_an_open_alerts_question_again_grows_it_after_the_incident_closed() -> (
    None
):
    """AlertBook.merge's `resume` (the engine passes the open alerts that left a call unvetted):
    a day later, after the incident was let go and another opened and was let go, the same
    detector's finding grows the first alert. Another detector's opens its own; a resolved
    alert is not resumed; parked incidents are bounded like open ones."""
    day = 24 * 60 * MIN_MS
    resumable: set[str] = set()  # (the engine's: alerts that left a call unvetted)
    book = AlertBook(quiet_gap_ms=30 * MIN_MS, max_open=2, parkable=lambda: resumable)
    _, first = book.merge(finding(0, rule="first_access_grant", ids=("a",)), "write")  # type: ignore[misc]
    resumable.add(first.id)
    _, other = book.merge(finding(day // 2, rule="bucket_public", ids=("b",)), "privilege")  # type: ignore[misc]
    book.expire(lambda _: 2 * day, after_ms=0, forget_before_ms=0)  # both let go, still open
    assert book.current("p") is None
    again = finding(day, rule="first_access_grant", ids=("c",))
    kind, grown = book.merge(again, "write", resume=(first.id,))  # type: ignore[misc]
    assert (kind, grown.id) == ("alert.updated", first.id)
    assert grown.event_ids == ("a", "c") and grown.last_event_ms == day
    assert book.current("p") is None  # evidence only: it takes no more of the session
    other_rule = finding(day + 60 * MIN_MS, rule="bucket_public", ids=("d",))  # past the gap
    kind, opened = book.merge(other_rule, "privilege", resume=(first.id,))  # type: ignore[misc]
    assert kind == "alert.opened" and opened.id not in (first.id, other.id)
    book.set_status(first.id, "resolved")
    later = finding(2 * day, rule="first_access_grant", ids=("e",))
    kind, fresh = book.merge(later, "write", resume=(first.id,))  # type: ignore[misc]
    assert kind == "alert.opened" and fresh.id != first.id
    assert other.id not in book._parked  # no unvetted call named it: let go for good
    for n in range(5):  # many let go: open and parked together at most max_open
        _, alert = book.merge(  # type: ignore[misc]
            finding(3 * day + n * day, rule=f"r{n}", ids=(f"x{n}",), principal=f"q{n}")
        )
        resumable.add(alert.id)
    book.expire(lambda _: 10 * day, after_ms=0, forget_before_ms=0)
    assert len(book._parked) + len(book) <= 2
