"""The pager keeps the evidence that corroborates, however many hints arrive meanwhile.

Stolen keys reading a bucket from a new network: one note says "a network this person never
used" (on the first call), then every read is a trace ("unusual context") and a held bulk-read
finding. Hundreds of traces used to fill the principal's waiting queue and push the note out
before the first held finding arrived, so the exfiltration never paged.
"""

from __future__ import annotations

from detect.alerts.incidents import AlertBook
from detect.alerts.paging import MAX_REMEMBERED, Pager
from detect.findings import Finding

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
