"""`leash eval` behaviours on a small seeded scenario: bursts flagged once, CI teardown quiet."""

from __future__ import annotations

import random

import pytest

from detect.eval.actors import cast, label_of, run_background
from detect.eval.generator import generate
from detect.eval.incidents import delete_recreate_env, exfiltration, mass_delete
from detect.eval.report import render
from detect.eval.runner import RunScore, evaluate_scenario
from detect.eval.scenario import DAY_MS, HOUR_MS, START, Emitter, Scenario


@pytest.fixture(scope="module")
def scored() -> dict[str, RunScore]:
    rnd = random.Random(7)
    emitter = Emitter(rnd)
    crew = cast(rnd, scale=0.3)
    start = int(START.timestamp() * 1000)
    test_day = start + 2 * DAY_MS
    labels = run_background(
        emitter, crew, start_ms=start, end_ms=test_day + DAY_MS, test_from_ms=test_day, scale=0.2
    )
    first, second = crew.agents[0], crew.agents[1]
    labels.append(
        label_of(
            emitter,
            "mass_delete",
            "incident",
            first,
            mass_delete(emitter, first, test_day + 10 * HOUR_MS),
        )
    )
    labels.append(
        label_of(
            emitter,
            "delete_recreate_env",
            "incident",
            second,
            delete_recreate_env(emitter, second, test_day + 14 * HOUR_MS),
        )
    )
    # the ETL job's own principal, which bulk-reads its data lake every hour, exfiltrates
    labels.append(
        label_of(
            emitter,
            "exfiltration",
            "incident",
            crew.etl,
            exfiltration(emitter, crew.etl, test_day + 20 * HOUR_MS + 1_800_000),
        )
    )
    emitter.records.sort(key=lambda r: r["eventTime"])
    scenario = Scenario(7, emitter.records, labels, start, test_day, test_day + DAY_MS)
    scores, info = evaluate_scenario(scenario)
    assert info["train_rows"] > 200
    assert "leash" in render({s.name: [s] for s in scores}, [info], [])
    return {s.name: s for s in scores}


def test_the_seeded_mass_delete_is_one_alert_within_ten_destructive_events(
    scored: dict[str, RunScore],
) -> None:
    kind = scored["leash"].kinds["mass_delete"]
    assert (kind.cases, kind.detected, kind.alerts) == (1, 1, 1)
    assert kind.ttd_destructive[0] <= 10


def test_delete_and_recreate_is_caught(scored: dict[str, RunScore]) -> None:
    kind = scored["leash"].kinds["delete_recreate_env"]
    assert (kind.detected, kind.alerts) == (1, 1)


def test_exfiltration_is_caught_on_read_volume_long_before_it_ends(
    scored: dict[str, RunScore],
) -> None:
    kind = scored["leash"].kinds["exfiltration"]
    assert (kind.detected, kind.alerts) == (1, 1)
    assert kind.ttd_events[0] <= 350  # of 500-3000 object reads, not at the closing policy call


def test_the_nightly_ci_teardown_does_not_page(scored: dict[str, RunScore]) -> None:
    leash = scored["leash"]
    assert leash.kinds["ci_teardown"].cases == 1
    assert leash.false_alerts.get("ci_teardown", 0) == 0
    assert leash.recall == 1.0


def test_baselines_run_on_the_same_events(scored: dict[str, RunScore]) -> None:
    assert set(scored) == {"leash", "insights_zscore", "rules_only"}
    assert scored["leash"].f1 >= max(scored["insights_zscore"].f1, scored["rules_only"].f1)


def test_the_generator_is_deterministic_per_seed() -> None:
    one, again, other = (generate(s, days=1, train_days=0, scale=0.5) for s in (3, 3, 4))
    assert one.records == again.records
    assert [label.event_ids for label in one.labels] == [label.event_ids for label in again.labels]
    assert one.records != other.records
