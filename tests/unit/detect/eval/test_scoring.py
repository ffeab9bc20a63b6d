"""score_run and score_world: every quality number Leash reports comes from these two.

Hand-built labels and alerts with known answers: true and false alerts, recall per kind, a
benign label's alert counted under its kind, duplicates, time to detect (events, damaging events,
seconds) from the trigger event, and baseline-period alerts.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from detect.alerts.alert import Alert
from detect.eval.replay import render_worlds, score_world, summarize
from detect.eval.runner import score_run
from detect.eval.scenario import Label
from detect.eval.world.model import Label as WorldLabel
from detect.eval.world.model import World
from tests.factories import make_event
from tests.unit.detect.response.test_webhooks import make_alert

T0 = 1_790_000_000_000
SEC = 1000


def alert(alert_id: str, *event_ids: str, trigger: str = "", first_ms: int = T0) -> Alert:
    return make_alert(
        id=alert_id,
        event_ids=event_ids,
        event_count=len(event_ids),
        first_event_ms=first_ms,
        explanation={"trigger_event_id": trigger or event_ids[-1]},
    )


# -- score_run (leash eval's generator) -------------------------------------------------------
LABELS = [
    Label("mass_delete", "incident", "agent", ("m1", "m2", "m3", "m4"), ("m2", "m3", "m4"), T0, T0),
    Label("mass_delete", "incident", "agent", ("n1", "n2"), ("n1", "n2"), T0, T0),
    Label("ci_teardown", "hard_negative", "ci", ("c1", "c2"), ("c1", "c2"), T0, T0),
]
TIMES = {"m1": T0, "m2": T0 + 5 * SEC, "m3": T0 + 9 * SEC, "m4": T0 + 12 * SEC}


def test_score_run_counts_true_false_and_recall_per_kind() -> None:
    alerts = [
        alert("a1", "m1", "m2", "m3", trigger="m3"),  # true: third event, second damaging one
        alert("a2", "m4", "x9"),  # true again: a duplicate of the first incident
        alert("a3", "c1", "c2"),  # the hard negative paged: false, under its kind
        alert("a4", "x1"),  # no label at all: false, background
    ]
    score = score_run("leash", alerts, LABELS, TIMES)
    assert (score.alerts, score.true_alerts) == (4, 2)
    assert score.false_alerts == {"ci_teardown": 1, "background": 1}
    assert score.precision == pytest.approx(0.5)
    assert score.recall == pytest.approx(0.5)  # one of the two mass deletes
    assert score.f1 == pytest.approx(0.5)
    kind = score.kinds["mass_delete"]
    assert (kind.cases, kind.detected, kind.alerts) == (2, 1, 2)
    # time to detect: from the earliest trigger among the incident's alerts (a1's m3)
    assert (kind.ttd_events, kind.ttd_destructive, kind.ttd_seconds) == ([3], [2], [9.0])
    assert score.kinds["ci_teardown"].alerts == 1 and score.kinds["ci_teardown"].detected == 0


def test_score_run_of_no_alerts_is_zero_not_an_error() -> None:
    score = score_run("leash", [], LABELS, TIMES)
    assert (score.alerts, score.precision, score.recall, score.f1) == (0, 0.0, 0.0, 0.0)


# -- score_world (the independent world generator) --------------------------------------------
def world_label(
    label_id: str, kind: str, category: str, ids: tuple[str, ...], dmg: tuple[str, ...]
) -> WorldLabel:
    return WorldLabel(label_id, kind, category, ("p",), ids, dmg, T0, T0 + 60 * SEC, kind)


def test_score_world_matches_alerts_through_event_ids() -> None:
    labels = [
        world_label("L1", "mass_delete", "incident", ("w1", "w2", "w3", "w4"), ("w2", "w3", "w4")),
        world_label("L2", "backdoor_user", "incident", ("u1", "u2"), ("u2",)),
        world_label("L3", "flowlog_cleanup", "benign", ("f1",), ()),
    ]
    world = World(1, T0 - 86_400_000, T0 - 3_600_000, T0 + 86_400_000, [], labels, [], {})
    events = {
        eid: replace(make_event(), event_id=eid, event_time_ms=T0 + n * SEC)
        for n, eid in enumerate(("w1", "w2", "w3", "w4"))
    }
    alerts = [
        alert("a1", "w1", "w2", "w3", trigger="w3"),  # L1 by its 2nd damaging event
        alert("a2", "w4"),  # L1 again: one duplicate
        alert("a3", "f1"),  # the benign look-alike paged
        alert("a4", "zz", first_ms=T0 - 7_200_000),  # background, in the baseline period
    ]
    score = score_world(world, alerts, events)
    assert (score.alerts, score.true_alerts, score.baseline_alerts) == (4, 2, 1)
    assert score.precision == pytest.approx(0.5)
    assert score.recall == pytest.approx(0.5)  # L2 missed
    assert score.duplicates == 1
    assert sorted(cause for cause, _, _ in score.false_alerts) == ["background", "flowlog_cleanup"]
    assert score.benign_paged == {"flowlog_cleanup": 1}
    hit = score.incidents["L1"]
    assert (hit.alerts, hit.damaging_before, hit.seconds_to_alert) == (["a1", "a2"], 2, 1.0)
    assert score.burst_damage() == [2]
    assert score.incidents["L2"].alerts == []


def test_score_world_times_detection_by_the_earliest_trigger_not_the_alert_sorted_first() -> None:
    """Two alerts start at the incident's first event; the one sorted first (by id) triggered
    on a later spree and only carries the incident as evidence (fresh seed 1033)."""
    labels = [world_label("L1", "cfn_recreate", "incident", ("d1", "d2", "d3"), ("d1", "d2", "d3"))]
    world = World(1, T0 - 86_400_000, T0 - 3_600_000, T0 + 86_400_000, [], labels, [], {})
    events = {
        eid: replace(make_event(), event_id=eid, event_time_ms=T0 + n * SEC)
        for n, eid in enumerate(("d1", "d2", "d3", "late"))
    }
    events["late"] = replace(events["late"], event_time_ms=T0 + 4 * 3_600_000)
    alerts = [
        alert("a_later", "d1", "d2", "d3", "late", trigger="late"),
        alert("b_first", "d1", "d2", trigger="d2"),
    ]
    hit = score_world(world, alerts, events).incidents["L1"]
    assert (hit.alerts, hit.damaging_before, hit.seconds_to_alert) == (
        ["a_later", "b_first"],
        2,
        1.0,
    )


def test_damaging_calls_in_the_triggers_second_after_it_come_after_the_page() -> None:
    """Fresh seed 1584: the 5th and 6th deletes were logged in one second and the alert's
    trigger was the 5th: it paged by the 5th damaging call, not the 6th. A trigger that is not
    a damaging call counts every damaging call of its second."""
    ids = ("d1", "d2", "d3", "d4", "d5", "d6", "d7")
    labels = [world_label("L1", "mass_delete", "incident", ids, ids)]
    world = World(1, T0 - 86_400_000, T0 - 3_600_000, T0 + 86_400_000, [], labels, [], {})
    seconds = (0, 1, 2, 3, 4, 4, 4)
    events = {
        eid: replace(make_event(), event_id=eid, event_time_ms=T0 + n * SEC)
        for eid, n in zip((*ids, "read"), (*seconds, 4), strict=True)
    }
    for trigger, expected in (("d5", 5), ("d6", 6), ("d7", 7), ("read", 7), ("d4", 4)):
        hit = score_world(world, [alert("a1", *ids, trigger=trigger)], events).incidents["L1"]
        assert hit.damaging_before == expected, trigger


def test_summarize_reports_the_worst_seed_beside_the_mean() -> None:
    world = World(1, T0, T0, T0, [], [world_label("L", "k", "incident", ("e",), ())], [], {})
    caught = score_world(world, [alert("a", "e")], {})
    missed = score_world(world, [alert("b", "x")], {})
    summary = summarize([caught, missed])
    assert (summary["p_mean"], summary["p_worst"]) == (0.5, 0.0)
    assert (summary["r_mean"], summary["r_worst"]) == (0.5, 0.0)


def test_the_worlds_table_prints_each_seed_the_worst_seed_and_the_causes() -> None:
    def world(seed: int) -> World:
        labels = [world_label("L", "mass_delete", "incident", ("e",), ("e",))]
        return World(seed, T0, T0, T0, [], labels, [], {})

    good = score_world(world(7), [alert("a", "e")], {})
    bad = score_world(world(9), [alert("b", "x"), alert("c", "y")], {})
    text = render_worlds([bad, good])
    rows = [line.split() for line in text.splitlines() if line[:4].strip().isdigit()]
    assert [row[0] for row in rows] == ["7", "9"]  # by seed
    assert "worst P 0.00  R 0.00" in text and "(worst seed by F1: 9)" in text
    assert "false alerts by cause: background 2" in text
    assert "missed incidents by kind: mass_delete 1" in text
