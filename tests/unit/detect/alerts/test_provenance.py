"""Untrusted evidence: an alert over events pushed by a key automatic response does not trust
says so (explanation["untrusted"]), however the trusted and untrusted events interleave."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from detect.alerts.alert import Alert
from detect.alerts.provenance import UNTRUSTED, UntrustedSpans
from detect.engine import DetectionEngine
from ingest.events import AuditEvent, Origin
from tests.factories import make_record
from tests.unit.detect.alerts.test_alert import NORMALIZER, T0, deletes

PUSHED = Origin("http:collector", trusted=False)


def pushed(events: list[AuditEvent]) -> list[AuditEvent]:
    return [replace(e, origin=PUSHED.name, trusted=False) for e in events]


def alerts(engine: DetectionEngine, events: list[AuditEvent]) -> list[Alert]:
    return [alert for _, alert in engine.process(events).changes]


def test_a_burst_from_the_trail_is_clean_a_forged_one_is_marked_with_its_origin() -> None:
    trusted = alerts(DetectionEngine(), deletes(12))
    assert trusted and all(UNTRUSTED not in a.explanation for a in trusted)
    forged = alerts(DetectionEngine(), pushed(deletes(12)))
    assert forged and forged[-1].severity == "critical"
    assert forged[-1].explanation[UNTRUSTED]["origins"] == {"http:collector": 12}


def test_one_pushed_event_inside_a_trusted_story_marks_it_one_outside_does_not() -> None:
    """A pushed call in the middle of a real spree may be what made it critical; one hours
    before the story or by another principal says nothing about it."""
    early = pushed([NORMALIZER.normalize(_record(T0 - timedelta(hours=3)))])  # a read
    other = pushed(deletes(1, T0 + timedelta(seconds=5), role="billing-agent"))
    engine = DetectionEngine()
    clean = alerts(engine, [*early, *deletes(8), *other])
    assert [a for a in clean if a.principal.endswith("deploy-agent")]
    assert all(UNTRUSTED not in a.explanation for a in clean if "deploy-agent" in a.principal)

    engine = DetectionEngine()
    spree = deletes(12)
    mixed = alerts(engine, [*spree[:6], *pushed(spree[6:7]), *spree[7:]])
    assert mixed[-1].explanation[UNTRUSTED]["origins"] == {"http:collector": 1}


def test_spans_merge_stay_bounded_and_are_forgotten_with_the_principal() -> None:
    spans = UntrustedSpans()
    for hour in range(200):  # a day-long stream of pushes, hours apart: at most 64 spans kept
        at = T0 + timedelta(hours=hour)
        spans.observe(pushed([NORMALIZER.normalize(_record(at))])[0])
    key = next(iter(spans._spans))
    assert len(spans._spans[key]) == 64
    assert spans._spans[key][0].first_ms == int((T0 + timedelta(hours=136)).timestamp() * 1000)
    spans.forget(key)
    assert len(spans) == 0


def _record(at: datetime) -> dict[str, Any]:
    return make_record(at=at)
