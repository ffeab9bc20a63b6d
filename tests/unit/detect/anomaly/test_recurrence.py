"""A volume that paged once and comes back on later days is a habit, not a new incident.

A flagged day teaches the baseline only what the principal's previous active day also reached,
so a job that paged on the day Leash was installed used to page again every working day after
it: the flagged day taught nothing, and a weekend in between reset "yesterday".
"""

from __future__ import annotations

from datetime import datetime, timedelta

from detect.anomaly.tally import Tally
from detect.context.triage import RECURRING
from detect.engine import DetectionEngine
from detect.findings import Finding
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

FRIDAY, MONDAY = 4, 7  # days after BASE_TIME (a Monday)
DAY_MS = 86_400_000


def at_day(day: int, hours: float = 0.0) -> datetime:
    return BASE_TIME + timedelta(days=day, hours=hours)


def config_load(start: datetime, names: int = 20, app: str = "mobile-api") -> list[AuditEvent]:
    """An agent loading its configuration: `names` distinct secrets in under a minute."""
    return [
        make_event(
            eventSource="secretsmanager.amazonaws.com",
            eventName="GetSecretValue",
            requestParameters={"secretId": f"{app}/config-{i}"},
            at=start + timedelta(seconds=2 * i),
        )
        for i in range(names)
    ]


def working_day(day: int, names: int = 20, app: str = "mobile-api") -> list[AuditEvent]:
    reads = [
        make_event(eventName="DescribeInstances", at=at_day(day, 1 + m / 60))
        for m in range(0, 120, 3)
    ]
    loads = config_load(at_day(day, 1.5), names, app) + config_load(at_day(day, 5), names, app)
    return sorted(reads + loads, key=lambda e: e.event_time_ms)


def opened_by_day(days: list[tuple[int, int]]) -> dict[int, list[str]]:
    engine = DetectionEngine(rules=load_rules())
    opened: dict[int, list[str]] = {}
    for day, names in days:
        for change, alert in engine.process(working_day(day, names)).changes:
            if change == "alert.opened":
                opened.setdefault(day, []).append(alert.rule)
    return opened


def test_a_job_that_paged_on_install_day_does_not_page_again_after_the_weekend() -> None:
    opened = opened_by_day([(FRIDAY, 20), (MONDAY, 20), (MONDAY + 1, 20), (MONDAY + 2, 20)])
    # twenty secrets in a minute by an agent nobody has seen: no history excuses it
    assert opened == {FRIDAY: ["baseline:credential_sweep"]}


def test_a_sweep_well_beyond_what_paged_before_pages_again() -> None:
    # Monday taught its 20 as routine: a job's 3x, doubled while one day is learned, is 120
    opened = opened_by_day([(FRIDAY, 20), (MONDAY, 20), (MONDAY + 1, 150)])
    assert list(opened) == [FRIDAY, MONDAY + 1]


def test_a_flagged_day_teaches_what_the_previous_active_day_reached_across_a_gap() -> None:
    tally = Tally(600_000)
    for day in (FRIDAY, MONDAY):  # both days paged; the weekend in between had no activity
        for i in range(12):
            tally.add(day * DAY_MS + i * 1000, f"e{day}-{i}", f"k{i}")
        tally.flagged = True
    tally.roll((MONDAY + 1) * DAY_MS)
    assert tally.high == 12
    assert tally.paged == 12  # and both days' highs are remembered as paged
    assert tally.recurs(12) and tally.recurs(19) and not tally.recurs(20)


def test_recurrence_holds_a_finding_as_a_twin() -> None:
    engine = DetectionEngine(rules=load_rules())
    engine.process(working_day(FRIDAY))
    # one load of another app's secrets: the same ones again would be its own reads at a
    # faster pace (detect.anomaly.secretreads._familiar), recognised before recurrence is asked
    events = config_load(at_day(MONDAY, 1.5), app="orders-api")
    engine.process(events)
    held = [
        f
        for f in engine.pager.waiting(events[0].principal_key)
        if f.rule == "baseline:credential_sweep" and f.explanation.get("recurs")
    ]
    assert held, "Monday's config load was not recognised as Friday's volume back"
    assert {f.tier for f in held} == {"hold"}
    assert {f.twin for f in held} == {RECURRING}


def test_a_volume_back_after_a_red_flag_paged_is_the_intruder_back_not_a_habit() -> None:
    """Fresh seed 1087: a role's stolen session swept secrets through an attack tool, and the
    red flag paged; the next working day the same sweep, through the role's own client, waited
    as a recurrence of the paged day and never paged. Within a week of a red flag's page, the
    volume that day reached pages again; a week later it is held as any recurrence is."""
    for monday, pages in ((MONDAY, True), (FRIDAY + 8, False)):
        engine = DetectionEngine(rules=load_rules())
        friday = working_day(FRIDAY)
        tool = make_event(eventName="ListSecrets", userAgent="Pacu", at=at_day(FRIDAY, 1.4))
        opened = [
            alert
            for change, alert in engine.process(
                sorted([*friday, tool], key=lambda e: e.event_time_ms)
            ).changes
            if change == "alert.opened"
        ]
        assert [a.rule for a in opened] == ["redflag:offensive_tool_client"], opened
        events = config_load(at_day(monday, 1.5), app="orders-api")
        changes = engine.process(events).changes
        again = [alert.rule for change, alert in changes if change == "alert.opened"]
        assert bool(again) is pages, (monday, again)
        if pages:
            assert again == ["baseline:credential_sweep"]
        else:
            held = engine.pager.waiting(events[0].principal_key)
            assert any(f.twin == RECURRING for f in held)


FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0"


def monday_after(sign: AuditEvent, *, batches: int = 1, resolve: bool = False) -> list[str]:
    """Rules of the alerts opened on Monday: Friday's sweep paged; on Monday `sign` at 01:24,
    and seven hours later the same sweep again (too late to join the sign's alert). `resolve`:
    an analyst resolves each alert as it opens."""
    engine = DetectionEngine(rules=load_rules())
    for day in range(FRIDAY - 4, FRIDAY):  # quiet days: its usual volume is two secrets
        engine.process(working_day(day, names=2))
    engine.process(working_day(FRIDAY))
    monday = [sign, *config_load(at_day(MONDAY, 8.5), app="orders-api")]
    parts = [monday[:1], monday[1:]] if batches == 2 else [monday]
    opened: list[str] = []
    for part in parts:
        for change, alert in engine.process(part).changes:
            if change == "alert.opened":
                opened.append(alert.rule)
                if resolve:
                    engine.set_status(alert.id, "resolved")
    return opened


def test_a_sign_and_the_volume_after_it_page_alike_in_one_batch_or_two() -> None:
    """Review: the compromise was marked when the sign's finding was merged, after the whole
    batch was judged, so the sweep seven hours later in the same batch was still held."""
    tool = make_event(eventName="ListSecrets", userAgent="Pacu", at=at_day(MONDAY, 1.4))
    assert monday_after(tool) == monday_after(tool, batches=2)
    assert monday_after(tool) == ["redflag:offensive_tool_client", "baseline:credential_sweep"]


def test_a_workloads_credentials_in_a_browser_mark_it_as_a_red_flag_does() -> None:
    """Review: only a rule marked the compromise; the same stolen session driven from a browser
    instead of an attack tool paged as credentials used elsewhere, and the sweep after it
    waited as a recurrence."""
    browser = make_event(
        eventName="ListSecrets",
        userAgent=FIREFOX,
        sourceIPAddress="45.9.148.201",
        at=at_day(MONDAY, 1.4),
    )
    opened = monday_after(browser)
    assert opened[0] == "baseline:workload_credentials_elsewhere", opened
    assert opened[1:] == ["baseline:credential_sweep"]


def test_a_resolved_sign_is_no_compromise() -> None:
    """Review: an analyst resolving the red flag's alert (an authorised test) left the mark,
    so the principal's recurring volume paged for a week."""
    tool = make_event(eventName="ListSecrets", userAgent="Pacu", at=at_day(MONDAY, 1.4))
    assert monday_after(tool, batches=2, resolve=True) == ["redflag:offensive_tool_client"]


def test_a_suppressed_sign_marks_nothing() -> None:
    """Review: with the attack tool's red flag suppressed (a sanctioned red-team client), a
    held Sigma rule on the same call still marked the principal compromised."""
    engine = DetectionEngine(rules=load_rules())
    engine.suppressors.append(lambda finding: finding.rule == "redflag:offensive_tool_client")
    keys = make_event(
        eventName="CreateAccessKey",
        eventSource="iam.amazonaws.com",
        userAgent="Pacu",
        requestParameters={"userName": "svc-backup"},
        at=at_day(MONDAY, 1.4),
    )
    engine.process([keys])
    assert not engine.org.compromised(keys.principal_key, keys.event_time_ms + 60_000)


def test_resolving_the_signs_alert_after_its_incident_closed_still_clears_the_mark() -> None:
    """Review: the mark was cleared only while the sign's incident was open (found through the
    open incidents); an analyst resolving the alert hours later changed nothing."""
    engine = DetectionEngine(rules=load_rules())
    for day in range(FRIDAY - 4, FRIDAY):
        engine.process(working_day(day, names=2))
    engine.process(working_day(FRIDAY))
    tool = make_event(eventName="ListSecrets", userAgent="Pacu", at=at_day(MONDAY, 1.4))
    [sign] = [a for change, a in engine.process([tool]).changes if change == "alert.opened"]
    engine.process([make_event(eventName="DescribeInstances", at=at_day(MONDAY, 8.2))])
    assert sign.id not in engine.book.open_ids() and sign.id in engine.watched_alert_ids()
    engine.set_status(sign.id, "resolved")
    sweep = config_load(at_day(MONDAY, 8.5), app="orders-api")
    assert [a.rule for change, a in engine.process(sweep).changes if change == "alert.opened"] == []


def test_a_suppression_counts_one_hit_per_finding() -> None:
    """The compromise mark asks the suppressors as the event is judged and the merge asks
    again: a suppression's hits (GET /v1/suppressions) must count the finding once."""
    engine = DetectionEngine(rules=load_rules())
    asked: list[str] = []

    def sanctioned_red_team(finding: Finding) -> bool:
        asked.append(finding.rule)
        return finding.rule == "redflag:offensive_tool_client"

    engine.suppressors.append(sanctioned_red_team)
    engine.process([make_event(eventName="ListSecrets", userAgent="Pacu", at=at_day(MONDAY, 1))])
    assert asked.count("redflag:offensive_tool_client") == 1
