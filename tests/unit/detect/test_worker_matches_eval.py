"""`leash eval` and streaming detection inside `leash up` raise the same alerts on the same traffic.

One small seeded scenario from the `leash eval` generator, scored twice:

- offline: `evaluate_scenario` itself (spied on only to keep its model and its Leash engine's
  alerts), exactly what `leash eval` runs;
- streaming: a real embedded runtime (memory bus + chDB) wired like `leash up` (sink, response
  layer, detection worker), the same history stored in its store, the model trained by the
  worker's own code path, the test days POSTed to /v1/events and the alerts read back through
  GET /v1/alerts and the alert store.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from detect.alerts.alert import Alert, AlertStore
from detect.anomaly.forest import DetectionModel
from detect.anomaly.training import train_and_save, train_detector
from detect.engine import DetectionEngine
from detect.eval import runner
from detect.eval.generator import generate
from detect.eval.runner import RunScore, score_run
from detect.eval.scenario import Scenario
from detect.rules.catalogue import load_rules
from detect.settings import DetectSettings
from detect.worker import DetectionWorker
from ingest.bus.embedded import EmbeddedBroker
from ingest.events import AuditEvent, decode_event, encode_event
from ingest.ledger import LedgerStore
from ingest.runtime import open_runtime
from ingest.store.chdb import ChdbStore
from leash.app import build_app, build_services, start_workers
from tests.conftest import INGEST_KEY, INGEST_KEY_NAME, READ_KEY, auth, make_settings

SEED = 11
# 2 days of history, 1 test day (a Friday), a third of the cast: ~10k history and ~8k test
# events, with every planned incident (2 mass deletes, 2 delete-and-recreates, ...) and the hard
# negatives (the nightly CI teardown, a big deploy, a new employee's first day) in the test day
DAYS, TRAIN_DAYS, SCALE = 3, 2, 0.3
# both sides run these settings; auto_retrain off so no scheduled training swaps the model
# mid-stream (with a fresh model and < retrain_min_events new events none would be due anyway)
CFG = DetectSettings(_env_file=None, auto_retrain=False)  # type: ignore[call-arg]
# a shipper-sized request: deliberately not the eval's 2000-event engine batches, so the worker
# sees other batch boundaries than run_engine does
POST_RECORDS = 500
WAIT_S = 60.0  # bound for the worker to consume one request; the test asserts results, not speed
VOLATILE = ("created_at", "updated_at")  # wall-clock stamps of when each side built the alert


@dataclass
class Traffic:
    scenario: Scenario
    history: list[AuditEvent]
    test: list[AuditEvent]


@dataclass
class Offline:
    score: RunScore
    alerts: list[Alert]
    model: DetectionModel


@dataclass
class Streamed:
    api_alerts: list[dict[str, Any]]  # GET /v1/alerts
    stored: list[Alert]  # the same alerts read from the alert store (for score_run)
    model: DetectionModel
    detector: dict[str, Any]  # GET /v1/detector
    score: RunScore


@pytest.fixture(scope="module")
def traffic() -> Traffic:
    scenario = generate(SEED, days=DAYS, train_days=TRAIN_DAYS, scale=SCALE)
    events = runner.normalize(scenario.records)  # the split evaluate_scenario makes
    return Traffic(
        scenario,
        [e for e in events if e.event_time_ms < scenario.train_until_ms],
        [e for e in events if e.event_time_ms >= scenario.train_until_ms],
    )


@pytest.fixture(scope="module")
def offline(traffic: Traffic) -> Offline:
    """`leash eval`'s own run; the spies only keep what evaluate_scenario builds and discards."""
    models: list[DetectionModel] = []
    runs: list[tuple[DetectionEngine, dict[str, Alert]]] = []
    run_engine = runner.run_engine

    def spy_train(*args: Any, **kwargs: Any) -> DetectionModel:
        models.append(train_detector(*args, **kwargs))
        return models[-1]

    def spy_run(engine: DetectionEngine, events: list[AuditEvent]) -> dict[str, Alert]:
        runs.append((engine, run_engine(engine, events)))
        return runs[-1][1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "train_detector", spy_train)
        patch.setattr(runner, "run_engine", spy_run)
        scores, _ = runner.evaluate_scenario(traffic.scenario, settings=CFG)
    (model,) = models
    (alerts,) = [found for engine, found in runs if engine.model is model]  # the Leash engine
    (leash,) = [s for s in scores if s.name == "leash"]
    return Offline(leash, list(alerts.values()), model)


def wait_caught_up(worker: DetectionWorker, events: int) -> None:
    """Until the worker has processed `events` and committed them (alerts stored first)."""
    deadline = time.monotonic() + WAIT_S
    while worker.backlog() or worker.engine.events_seen < events:
        assert worker.alive(), "the detection worker died"
        assert time.monotonic() < deadline, (
            f"worker still behind after {WAIT_S}s: lag {worker.backlog()}, "
            f"{worker.engine.events_seen}/{events} events"
        )
        time.sleep(0.01)


@pytest.fixture(scope="module")
def streamed(traffic: Traffic, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Streamed]:
    test_ids = {e.event_id for e in traffic.test}
    records = [r for r in traffic.scenario.records if r["eventID"] in test_ids]
    assert len(records) == len(traffic.test)
    # the records come from a collector trusted to make Leash act, as the eval's do
    settings = make_settings(tmp_path_factory.mktemp("leash-up")).model_copy(
        update={"trusted_keys": [INGEST_KEY_NAME]}
    )
    with open_runtime(settings) as runtime:
        store = runtime.store
        assert isinstance(store, LedgerStore)  # the ledger chained over...
        assert isinstance(store.backend, ChdbStore)  # ...the embedded store `leash up` opens
        # the history lands in the store the way evaluate_scenario stores it (not through the
        # bus: the eval's engine starts cold on the test day, so must the worker's)
        runner.store_events(store.backend, traffic.history)
        # the worker's own training path (DetectionWorker.train_now, POST /v1/detector/train and
        # `leash train` all call train_and_save); the worker then loads the model from disk as
        # `leash up` does on start
        train_and_save(runtime.store, runtime.settings, CFG)
        # exactly `leash up`'s wiring (sink, services, detection), with CFG for the detector
        services = build_services(runtime)
        start_workers(runtime, sink=True, services=services, detect=True, detect_settings=CFG)
        worker = services.detection
        assert worker is not None and worker.engine.model is not None
        # the response layer's rules joined the engine: the approval-bypass rule only judges
        # events from after the process started, and nothing asks the gate, so on this
        # March 2026 traffic they stay silent like the eval (which has no gate)
        assert len(worker.engine.extra_rules) == 2 and len(worker.engine.suppressors) == 1
        with TestClient(build_app(services)) as client:
            for start in range(0, len(records), POST_RECORDS):
                chunk = records[start : start + POST_RECORDS]
                posted = client.post(
                    "/v1/events", json={"Records": chunk}, headers=auth(INGEST_KEY)
                )
                assert posted.status_code == 202, posted.text
                assert posted.json()["accepted"] == len(chunk)
                # a shipper's pace: the next request once this one is consumed (a backlog read
                # partition by partition is the last test's case)
                wait_caught_up(worker, start + len(chunk))
            listed = client.get("/v1/alerts", params={"limit": "1000"}, headers=auth(READ_KEY))
            assert listed.status_code == 200
            api_alerts = list(listed.json()["alerts"])
            detector = dict(client.get("/v1/detector", headers=auth(READ_KEY)).json())
        stored = AlertStore(runtime.store).list(limit=1000)
        model = worker.engine.model
        times = {e.event_id: e.event_time_ms for e in traffic.test}
        yield Streamed(
            api_alerts,
            stored,
            model,
            detector,
            score_run("leash", stored, traffic.scenario.labels, times),
        )


def comparable(alert: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in alert.items() if k not in VOLATILE}


def opening(alerts: list[dict[str, Any]]) -> dict[str, tuple[str, str, str]]:
    """Alert id -> (principal, event that opened it, rule that opened it)."""
    return {
        a["id"]: (a["principal"], a["explanation"]["trigger_event_id"], a["rules"][0])
        for a in alerts
    }


def table_row(score: RunScore) -> dict[str, Any]:
    """What `leash eval` tabulates from a RunScore. The time-to-detect lists follow the order the
    alerts were given in (run_engine's dict vs. the store's newest first), so they are compared
    as sorted lists; the table shows their medians."""
    return {
        "alerts": score.alerts,
        "true_alerts": score.true_alerts,
        "false_alerts": score.false_alerts,
        "precision": score.precision,
        "recall": score.recall,
        "f1": score.f1,
        "kinds": {
            name: (
                k.category,
                k.cases,
                k.detected,
                k.alerts,
                sorted(k.ttd_events),
                sorted(k.ttd_destructive),
                sorted(k.ttd_seconds),
            )
            for name, k in score.kinds.items()
        },
    }


def test_the_worker_trains_the_model_the_eval_trains(offline: Offline, streamed: Streamed) -> None:
    # train_and_save trains on the last train_days before the newest stored event, the eval on
    # [start, train_until): both windows hold exactly the stored history, and the forests are
    # seeded, so everything but the version and window bounds must be equal
    ours, theirs = streamed.model, offline.model
    assert streamed.detector["model_version"] == ours.version
    for key in ("rows", "principals", "thresholds", "rows_by_kind"):
        assert ours.metadata[key] == theirs.metadata[key], key
    assert ours.metadata["rows"] > 1000
    assert ours.profiles == theirs.profiles
    assert ours.score_high == theirs.score_high
    assert ours.kind_usual == theirs.kind_usual


def test_every_test_event_went_through_the_worker(traffic: Traffic, streamed: Streamed) -> None:
    status = streamed.detector
    assert (status["events_processed"], status["undecodable"]) == (len(traffic.test), 0)
    assert (status["lag"], status["alive"], status["training_error"]) == (0, True, None)


def test_streaming_raises_exactly_the_alerts_the_eval_raises(
    offline: Offline,
    streamed: Streamed,
) -> None:
    expected = [a.to_json() for a in offline.alerts]
    assert len(expected) >= 10
    # the same incidents (alert ids hash principal + first event), opened by the same event
    # and rule: compared first on their own so a failure names what differs
    assert opening(streamed.api_alerts) == opening(expected)
    # then everything else: evidence, counts, time span, severity, score, explanation
    by_id = {a["id"]: comparable(a) for a in streamed.api_alerts}
    for alert in expected:
        assert by_id[alert["id"]] == comparable(alert), alert["id"]
    assert sorted(a.to_json()["id"] for a in streamed.stored) == sorted(by_id)


def test_the_eval_table_row_is_the_same_for_the_streamed_alerts(
    offline: Offline,
    streamed: Streamed,
) -> None:
    assert table_row(streamed.score) == table_row(offline.score)
    for kind in ("mass_delete", "delete_recreate_env"):
        score = streamed.score.kinds[kind]
        assert score.cases >= 1
        assert (score.detected, score.alerts) == (score.cases, score.cases), kind
    assert streamed.score.false_alerts == {}


def test_the_ci_teardown_pages_neither(
    traffic: Traffic,
    offline: Offline,
    streamed: Streamed,
) -> None:
    (teardown,) = [label for label in traffic.scenario.labels if label.kind == "ci_teardown"]
    assert len(teardown.destructive_ids) >= 40  # a real nightly teardown, in the test day
    teardown_ids = set(teardown.event_ids)
    ci_principals = {e.principal_key for e in traffic.test if e.event_id in teardown_ids}
    for side in ([a.to_json() for a in offline.alerts], streamed.api_alerts):
        assert not [a["id"] for a in side if set(a["event_ids"]) & teardown_ids]
        assert not [a["id"] for a in side if a["principal"] in ci_principals]
    assert offline.score.kinds["ci_teardown"].alerts == 0
    assert streamed.score.kinds["ci_teardown"].alerts == 0


def test_a_backlog_read_partition_by_partition_raises_the_same_alerts(
    traffic: Traffic,
    offline: Offline,
) -> None:
    """The worker's view of a backlog (downtime, a bulk `leash ship`): the test day is on the bus
    before detection polls. Same model, rules and settings as the worker; only the order differs:
    per-principal order is kept (keyed partitions), but each poll of poll_max_records drains one
    partition after another, so the event-time watermark runs hours ahead of the next partition.
    """
    broker = EmbeddedBroker(partitions=6)  # Settings().kafka.partitions
    try:
        subscriber = broker.subscriber(["events"], "detect")
        broker.publish(
            "events", [(e.principal_key.encode(), encode_event(e)) for e in traffic.test]
        ).result()
        engine = DetectionEngine(rules=load_rules(), model=offline.model, **CFG.engine_options())
        found: dict[str, Alert] = {}
        while batch := subscriber.poll(CFG.poll_max_records, 0):  # DetectionWorker._handle
            for _, alert in engine.process([decode_event(r.value) for r in batch]).changes:
                found[alert.id] = alert
    finally:
        broker.close()
    assert engine.events_seen == len(traffic.test)
    # Per-principal context is order-safe by construction; organisation-wide context (who
    # created a resource) is only safe while the creations a decision needs are read first.
    # Should this ever differ, look there first (a tag or a policy must not count as a birth).
    assert opening([a.to_json() for a in found.values()]) == opening(
        [a.to_json() for a in offline.alerts]
    )
