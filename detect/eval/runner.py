"""Scenario evaluation: train on stored history, stream the test days through the engine, score.

Leash and the two baselines run over the same events in the same call, each through its own
DetectionEngine (the streaming code path), and are scored against the same labels.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from detect.alerts.alert import Alert
from detect.anomaly.training import train_detector
from detect.engine import DetectionEngine
from detect.eval.baselines import InsightsRateRule, eval_rules
from detect.eval.scenario import Label, Scenario
from detect.settings import DetectSettings
from ingest import schema
from ingest.events import AuditEvent, Normalizer, RecordError
from ingest.migrate import apply_migrations
from ingest.sink.writer import STORED_COLUMNS, event_row
from ingest.store.chdb import ChdbStore

__all__ = ["KindScore", "RunScore", "evaluate_scenario", "normalize", "run_engine", "score_run"]

BATCH_EVENTS = 2000  # events per engine call: one full bus poll (DetectSettings.poll_max_records)
BURST_KINDS = ("mass_delete", "delete_recreate_env")  # must alert within 10 destructive events


def normalize(records: Iterable[Any], normalizer: Normalizer | None = None) -> list[AuditEvent]:
    """Records -> AuditEvents with the server's normaliser; rejected records are skipped."""
    norm = normalizer or Normalizer()
    events = []
    for record in records:
        try:
            events.append(norm.normalize(record))
        except RecordError:
            continue
    return events


def run_engine(engine: DetectionEngine, events: Sequence[AuditEvent]) -> dict[str, Alert]:
    """Feed events in bus-sized batches; returns the final state of every alert by id."""
    alerts: dict[str, Alert] = {}
    for start in range(0, len(events), BATCH_EVENTS):
        for _, alert in engine.process(events[start : start + BATCH_EVENTS]).changes:
            alerts[alert.id] = alert
    return alerts


@dataclass
class KindScore:
    kind: str
    category: str
    cases: int = 0
    detected: int = 0
    alerts: int = 0
    ttd_events: list[int] = field(default_factory=list)
    ttd_destructive: list[int] = field(default_factory=list)
    ttd_seconds: list[float] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.detected / self.cases if self.cases else 0.0

    @property
    def precision(self) -> float:
        """Pages that were the first for their incident: 1 - duplicate share."""
        return self.detected / self.alerts if self.alerts else 0.0


@dataclass
class RunScore:
    name: str
    alerts: int = 0
    true_alerts: int = 0
    false_alerts: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, KindScore] = field(default_factory=dict)

    @property
    def precision(self) -> float:
        return self.true_alerts / self.alerts if self.alerts else 0.0

    @property
    def recall(self) -> float:
        cases = [k for k in self.kinds.values() if k.category == "incident"]
        total = sum(k.cases for k in cases)
        return sum(k.detected for k in cases) / total if total else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def score_run(
    name: str, alerts: Iterable[Alert], labels: Sequence[Label], times: dict[str, int]
) -> RunScore:
    """Match alerts to labels through their event ids; time-to-detect from the trigger event."""
    owner = {eid: i for i, label in enumerate(labels) for eid in label.event_ids}
    result = RunScore(name)
    for label in labels:
        result.kinds.setdefault(label.kind, KindScore(label.kind, label.category)).cases += 1
    hits: dict[int, list[Alert]] = {}
    for alert in alerts:
        result.alerts += 1
        matched = {owner[e] for e in alert.event_ids if e in owner}
        incidents = [i for i in matched if labels[i].category == "incident"]
        for i in matched:
            hits.setdefault(i, []).append(alert)
        if incidents:
            result.true_alerts += 1
        else:
            source = labels[min(matched)].kind if matched else "background"
            result.false_alerts[source] = result.false_alerts.get(source, 0) + 1
    for i, found in hits.items():
        label = labels[i]
        kind = result.kinds[label.kind]
        kind.alerts += len(found)
        if label.category == "incident":
            kind.detected += 1
            _time_to_detect(kind, label, found, times)
    return result


def _time_to_detect(
    kind: KindScore, label: Label, found: list[Alert], times: dict[str, int]
) -> None:
    position = {eid: n for n, eid in enumerate(label.event_ids)}
    best: int | None = None
    for alert in found:
        trigger = str(alert.explanation.get("trigger_event_id", ""))
        if trigger not in position:
            trigger = next((e for e in alert.event_ids if e in position), "")
        if trigger in position and (best is None or position[trigger] < best):
            best = position[trigger]
    if best is None:
        return
    trigger_ms = times.get(label.event_ids[best], label.start_ms)
    destructive = set(label.destructive_ids)
    kind.ttd_events.append(best + 1)
    kind.ttd_destructive.append(sum(1 for e in label.event_ids[: best + 1] if e in destructive))
    kind.ttd_seconds.append(max(0.0, (trigger_ms - label.start_ms) / 1000))


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def store_events(store: ChdbStore, events: Sequence[AuditEvent]) -> None:
    now = datetime.now(UTC)
    for start in range(0, len(events), 50_000):
        rows = [event_row(e, now, "eval") for e in events[start : start + 50_000]]
        store.insert(schema.EVENTS, rows, STORED_COLUMNS)


def evaluate_scenario(
    scenario: Scenario,
    *,
    settings: DetectSettings | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[RunScore], dict[str, Any]]:
    """Train Leash on the scenario's history (through chDB), then score Leash and the baselines."""
    cfg = settings or DetectSettings()
    events = normalize(scenario.records)
    train = [e for e in events if e.event_time_ms < scenario.train_until_ms]
    test = [e for e in events if e.event_time_ms >= scenario.train_until_ms]
    with ChdbStore(None) as store:
        apply_migrations(store)
        store_events(store, train)
        model = train_detector(
            store,
            until_ms=scenario.train_until_ms,
            days=(scenario.train_until_ms - scenario.start_ms) / 86_400_000,
            threshold_quantile=cfg.threshold_quantile,
            baseline_quantile=cfg.baseline_quantile,
            n_estimators=cfg.n_estimators,
            min_rows=cfg.min_train_rows,
        )
    rules, rules_source = eval_rules()
    gap_ms = int(cfg.quiet_gap_s * 1000)
    engines = {  # the comparison detectors page on every finding (no corroboration gate)
        "leash": DetectionEngine(rules=rules, model=model, **cfg.engine_options()),
        "insights_zscore": DetectionEngine(
            rules=[
                InsightsRateRule.fit(
                    train, start_ms=scenario.start_ms, end_ms=scenario.train_until_ms
                )
            ],
            baselines=False,
            forest=False,
            quiet_gap_ms=gap_ms,
            human_sigma_solo_level="low",
        ),
        "rules_only": DetectionEngine(
            rules=rules,
            baselines=False,
            forest=False,
            quiet_gap_ms=gap_ms,
            human_sigma_solo_level="low",
        ),
    }
    times = {e.event_id: e.event_time_ms for e in test}
    scores = []
    for name, engine in engines.items():
        if progress:
            progress(f"seed {scenario.seed}: running {name} over {len(test)} events")
        scores.append(score_run(name, run_engine(engine, test).values(), scenario.labels, times))
    info = {
        "seed": scenario.seed,
        "events": len(events),
        "train_events": len(train),
        "test_events": len(test),
        "model": model.version,
        "rules": rules_source,
        "train_rows": model.metadata.get("rows"),
    }
    return scores, info
