"""The pager keeps the evidence that corroborates, however many hints arrive meanwhile.

Stolen keys reading a bucket from a new network: one note says "a network this person never
used" (on the first call), then every read is a trace ("unusual context") and a held bulk-read
finding. Hundreds of traces used to fill the principal's waiting queue and push the note out
before the first held finding arrived, so the exfiltration never paged.
"""

from __future__ import annotations

from dataclasses import replace

from detect.alerts.incidents import AlertBook
from detect.alerts.paging import MAX_REMEMBERED, Pager
from detect.findings import CONSOLE_ONLY, KNOWN_NET, NEWS, UNUSED_REGION, Finding

WHO = "arn:aws:iam::123456789012:user/nils"
T0 = 1_737_830_762_000


def finding(rule: str, tier: str, at_s: float, n: int) -> Finding:
    return Finding(
        principal=WHO,
        actor_kind="human",
        kind="anomaly",
        rule=rule,
        severity="medium",
        score=0.5,
        summary=rule,
        event_ids=(f"e{n}",),
        first_event_ms=T0 + int(at_s * 1000),
        last_event_ms=T0 + int(at_s * 1000),
        tier=tier,
    )


def pager() -> Pager:
    return Pager(AlertBook(quiet_gap_ms=3_600_000), window_ms=1_800_000)


def test_a_note_survives_a_flood_of_traces_and_corroborates_the_held_finding() -> None:
    p = pager()
    assert p.apply(finding("context:new_source", "note", 0, 0), "read", "ListBuckets") == []
    for i in range(1, 4 * MAX_REMEMBERED):
        trace = finding("baseline:unusual_context", "trace", i, i)
        assert p.apply(trace, "read", "GetObject") == []
    changes = p.apply(finding("baseline:bulk_data_read", "hold", 300, 999), "read", "GetObject")
    opened = [c[1] for c in changes if c is not None and c[0] == "alert.opened"]
    assert [a.rule for a in opened] == ["baseline:bulk_data_read"]
    book_alert = p.book.current(WHO)
    assert book_alert is not None and "context:new_source" in book_alert.rules
    # the traces that waited within the window joined as evidence (bounded, newest kept)
    assert "baseline:unusual_context" in book_alert.rules


def test_a_full_queue_drops_a_repeated_rule_before_a_lone_one() -> None:
    p = pager()
    p.apply(finding("context:new_source", "note", 0, 0), "read", "ListBuckets")
    for i in range(1, 2 * MAX_REMEMBERED):  # same rule, same call: never corroborate each other
        p.apply(finding("sigma:aws_enum_buckets", "note", i, i), "read", "ListBuckets")
    waiting = [f.rule for f in p.waiting(WHO)]
    assert len(waiting) == MAX_REMEMBERED
    assert waiting[0] == "context:new_source"


def opened_rules(changes: list) -> list[str]:  # type: ignore[type-arg]
    return [c[1].rule for c in changes if c is not None and c[0] == "alert.opened"]


def test_volume_alone_does_not_corroborate_a_benign_twin_another_sign_does() -> None:
    """A person deleting their own temporary buckets (held as a twin) on a day of heavy reads
    (held as volume) is a busy day; the same twin beside a first-seen sensitive call pages."""
    busy = pager()
    twin = replace(finding("baseline:destruction_out_of_scope", "hold", 0, 0), twin="a temp target")
    assert busy.apply(finding("baseline:bulk_data_read", "hold", 0, 1), "read", "GetObject") == []
    assert busy.apply(twin, "destructive", "DeleteBucket") == []
    assert busy.book.current(WHO) is None
    signed = pager()
    signed.apply(
        finding("baseline:first_seen_evasion", "hold", 0, 1), "defense_evasion", "StopLogging"
    )
    changes = signed.apply(replace(twin, event_ids=("e9",)), "destructive", "DeleteBucket")
    assert opened_rules(changes), "a non-volume sign corroborates the twin"


def test_two_counts_of_one_busy_hour_do_not_corroborate_each_other() -> None:
    """Many object reads from an SSE-KMS bucket are many KMS decrypts too: a bulk-read finding
    and a decrypt burst are one sign. A network the person never used beside them is another."""
    busy = pager()
    assert busy.apply(finding("baseline:bulk_data_read", "hold", 0, 1), "read", "GetObject") == []
    assert busy.apply(finding("baseline:decrypt_burst", "hold", 5, 2), "read", "Decrypt") == []
    assert busy.book.current(WHO) is None
    stolen = pager()
    stolen.apply(finding("context:new_source", "note", 0, 0), "read", "ListBuckets")
    changes = stolen.apply(finding("baseline:decrypt_burst", "hold", 5, 2), "read", "Decrypt")
    assert opened_rules(changes) == ["baseline:decrypt_burst"]


def test_a_persons_secret_sweep_on_a_heavy_reading_hour_is_one_sign() -> None:
    """More secrets than usual beside more objects than usual is a busy hour (the same work
    reads both); the sweep beside a network the person never used is stolen keys."""
    busy = pager()
    assert busy.apply(finding("baseline:bulk_data_read", "hold", 0, 1), "read", "GetObject") == []
    assert (
        busy.apply(finding("baseline:credential_sweep", "hold", 5, 2), "read", "GetSecretValue")
        == []
    )
    assert busy.book.current(WHO) is None
    stolen = pager()
    stolen.apply(finding("context:new_source", "note", 0, 0), "read", "ListSecrets")
    changes = stolen.apply(
        finding("baseline:credential_sweep", "hold", 5, 2), "read", "GetSecretValue"
    )
    assert opened_rules(changes) == ["baseline:credential_sweep"]


def test_calls_in_unused_regions_do_not_corroborate_the_twin_their_region_explained() -> None:
    """A security engineer deletes GuardDuty detectors in three regions nobody uses: the red
    flag is held as an unused region's, and "five regions in ten minutes" is that same fact.
    An admin policy attached beside it is another sign, and pages."""
    cleanup = pager()
    detector = replace(
        finding("redflag:guardduty_disabled", "hold", 60, 1), twin=UNUSED_REGION, severity="high"
    )
    spread = finding("baseline:region_spread", "hold", 0, 0)
    assert cleanup.apply(spread, "read", "ListDetectors") == []
    assert cleanup.apply(detector, "defense_evasion", "DeleteDetector") == []
    assert cleanup.book.current(WHO) is None
    grant = finding("redflag:admin_policy_attached", "hold", 120, 2)
    changes = cleanup.apply(grant, "privilege", "AttachUserPolicy")
    assert opened_rules(changes), "a sign of another kind corroborates"


def test_calls_in_unused_regions_do_not_corroborate_another_twin_either() -> None:
    """Seed 1003: the same admin onboarded a new hire (keys and a password for a user they just
    created: a twin) and deleted GuardDuty detectors in regions nobody uses (a twin). The
    clean-up's "five regions in ten minutes" paged the onboarding: two benign tasks, no sign."""
    day = pager()
    detector = replace(
        finding("redflag:guardduty_disabled", "hold", 0, 0), twin=UNUSED_REGION, severity="high"
    )
    assert day.apply(detector, "defense_evasion", "DeleteDetector") == []
    assert (
        day.apply(finding("baseline:region_spread", "hold", 80, 1), "read", "ListDetectors") == []
    )
    onboarding = replace(
        finding("redflag:login_profile_for_other_user", "hold", 1400, 2),
        twin="a user a person just created (onboarding)",
    )
    assert day.apply(onboarding, "privilege", "CreateLoginProfile") == []
    assert day.book.current(WHO) is None


def test_a_new_tool_does_not_corroborate_calls_in_several_regions_a_new_network_does() -> None:
    """Fresh seed 1015: an admin's GuardDuty clean-up (each detector in an unused region, a
    twin) ran through boto3, new to them, over five regions in ten minutes: the new client
    corroborated the spread and paged the clean-up. A new tool is how an admin's new script
    looks; a network never used before is who holds the credentials, and still corroborates."""
    for news, pages in ((["client"], False), (["net"], True), (["client", "net"], True)):
        day = pager()
        detector = replace(
            finding("redflag:guardduty_disabled", "hold", 0, 0),
            twin=UNUSED_REGION,
            severity="high",
        )
        assert day.apply(detector, "defense_evasion", "DeleteDetector") == []
        note = finding("context:new_source", "note", 60, 1)
        note = replace(note, explanation={NEWS: news})
        assert day.apply(note, "read", "ListDetectors") == []
        changes = day.apply(
            finding("baseline:region_spread", "hold", 90, 2), "read", "ListDetectors"
        )
        assert bool(opened_rules(changes)) is pages, news


def test_the_forests_score_does_not_corroborate_a_twin() -> None:
    """Seed 937: an SRE deleted four dev VPCs and their flow logs. The flow logs' red flag is
    held as the deleted networks' (a twin); the forest's score of the same deletions is the same
    story, not a second sign. A sign of another kind still pages."""
    cleanup = pager()
    logs = replace(
        finding("redflag:flow_logs_deleted", "hold", 60, 1), twin="a deleted network's logs"
    )
    assert (
        cleanup.apply(finding("isolation_forest", "hold", 0, 0), "destructive", "DeleteVpc") == []
    )
    assert cleanup.apply(logs, "defense_evasion", "DeleteFlowLogs") == []
    assert cleanup.book.current(WHO) is None
    grant = finding("redflag:admin_policy_attached", "hold", 120, 2)
    changes = cleanup.apply(grant, "privilege", "AttachUserPolicy")
    assert opened_rules(changes), "a sign of another kind corroborates"


def test_a_persons_first_console_day_does_not_corroborate_reading_more_through_it() -> None:
    """The console loads dozens of calls a view: a person's first browser session on a known
    network, reading more secrets than usual through it, is one story (seed 980). The same
    sweep from a network never used, or the console note beside a non-volume sign, pages."""
    console = replace(
        finding("context:new_source", "note", 0, 0),
        explanation={"new": ["a new client (mozilla)"], CONSOLE_ONLY: True},
    )
    sweep = finding("baseline:credential_sweep", "hold", 5, 2)
    first_day = pager()
    first_day.apply(console, "read", "DescribeStacks")
    assert first_day.apply(sweep, "read", "GetParameter") == []
    assert first_day.book.current(WHO) is None
    elsewhere = pager()
    elsewhere.apply(finding("context:new_source", "note", 0, 0), "read", "DescribeStacks")
    assert opened_rules(elsewhere.apply(sweep, "read", "GetParameter")) == [sweep.rule]
    granted = pager()
    granted.apply(console, "read", "DescribeStacks")
    grant = finding("baseline:first_access_grant", "hold", 5, 3)
    assert opened_rules(granted.apply(grant, "privilege", "SendCommand")) == [grant.rule]
    deleting = pager()  # page views read; they do not delete
    deleting.apply(console, "read", "DescribeStacks")
    burst = finding("baseline:destructive_burst", "hold", 5, 4)
    assert opened_rules(deleting.apply(burst, "destructive", "DeleteBucket")) == [burst.rule]


def test_a_persons_new_tool_does_not_corroborate_the_volume_it_makes() -> None:
    """Fresh seed 1093: a developer's first Terraform run from his usual network -- a new client,
    31 KMS decrypts and 314 reads in ten minutes -- paged as two signs. A person's new tool from
    a network they or colleagues use is the person trying a tool; the same volume from a network
    they never used pages -- also when a roaming person's novelty share keeps that network out
    of the news (review) -- and so does a workload's new client (its tooling is fixed, its
    network changes every run: the client is what says someone else holds its credentials)."""
    cases = (
        ("human", ["client"], True, False),
        ("human", ["client"], False, True),
        ("human", ["net"], False, True),
        ("human", ["client", "net"], False, True),
        ("service", ["client"], True, True),
    )
    for kind, news, known, pages in cases:
        day = pager()
        note = replace(finding("context:new_source", "note", 0, 0), actor_kind=kind)
        note = replace(note, explanation={NEWS: news, **({KNOWN_NET: True} if known else {})})
        assert day.apply(note, "read", "ListKeys") == []
        burst = replace(finding("baseline:decrypt_burst", "hold", 60, 1), actor_kind=kind)
        changes = day.apply(burst, "read", "Decrypt")
        assert bool(opened_rules(changes)) is pages, (kind, news, known)
        assert (day.book.current(WHO) is not None) is pages


def test_a_persons_new_tool_does_not_corroborate_the_forests_score_of_its_calls() -> None:
    """Fresh seed 1152: a person's first boto3 script from his own network, on a baseline day,
    and the forest scoring the ten minutes it ran as unusual (more resources touched, a few
    refusals) paged as two signs: the odd windows are the new tool's own. From a network he
    never used, or for a workload, the client still corroborates the forest -- and so it does
    a high forest score, far out of the person's shape (review: recon through a new tool)."""
    cases = (
        ("human", True, "medium", False),
        ("human", True, "high", True),
        ("human", False, "medium", True),
        ("service", True, "medium", True),
    )
    for kind, known, severity, pages in cases:
        day = pager()
        note = replace(finding("context:new_source", "note", 0, 0), actor_kind=kind)
        note = replace(note, explanation={NEWS: ["client"], **({KNOWN_NET: True} if known else {})})
        assert day.apply(note, "write", "UpdateFunctionCode") == []
        forest = replace(
            finding("isolation_forest", "hold", 500, 1), actor_kind=kind, severity=severity
        )
        changes = day.apply(forest, "read", "GetCallerIdentity")
        assert bool(opened_rules(changes)) is pages, (kind, known, severity)


def test_a_new_network_corroborates_a_count_past_its_bar_not_one_at_it() -> None:
    """Fresh seeds 1323 and 1362: a developer's 101 reads in ten minutes against a bar of 100,
    a data scientist's 374 against 373.75, each from a network new to them -- a busy evening at
    home paged as two signs. A new network corroborates a person's count MARGIN times its bar
    or more, from the finding that gets there; a new network and a new client corroborate any
    count, and so does a new network a workload's or an agent's (they do not roam), or beside
    a count of what was read (a sweep of secrets never opened: review)."""
    cases = ((["net"], 101.0, False), (["net"], 126.0, True), (["client", "net"], 101.0, True))
    for news, count, pages in cases:
        day = pager()
        note = replace(finding("context:new_source", "note", 0, 0), explanation={NEWS: news})
        assert day.apply(note, "read", "GetObject") == []
        reads = {"data_reads_10m": {"value": count, "baseline": 50.0, "threshold": 100.0}}
        burst = replace(finding("baseline:bulk_data_read", "hold", 60, 1), explanation=reads)
        assert bool(opened_rules(day.apply(burst, "read", "GetObject"))) is pages, (news, count)
    for kind, rule in (
        ("service", "baseline:bulk_data_read"),
        ("human", "baseline:credential_sweep"),
    ):
        day = pager()
        note = replace(finding("context:new_source", "note", 0, 0), actor_kind=kind)
        day.apply(replace(note, explanation={NEWS: ["net"]}), "read")
        counts = {"count_10m": {"value": 101.0, "baseline": 50.0, "threshold": 100.0}}
        held = replace(finding(rule, "hold", 60, 1), actor_kind=kind, explanation=counts)
        assert opened_rules(day.apply(held, "read", "GetObject")) == [rule], kind
    # the pull goes on: its next count past the margin pages with the same note
    day = pager()
    day.apply(
        replace(finding("context:new_source", "note", 0, 0), explanation={NEWS: ["net"]}), "read"
    )
    for n, count in enumerate((101.0, 118.0, 131.0), start=1):
        reads = {"data_reads_10m": {"value": count, "baseline": 50.0, "threshold": 100.0}}
        burst = replace(finding("baseline:bulk_data_read", "hold", 60 * n, n), explanation=reads)
        opened = opened_rules(day.apply(burst, "read", "GetObject"))
        assert bool(opened) is (count > 125), count
