"""Replay a generated world the way a fresh `leash up` meets it, and score the alerts.

Unlike `evaluate_scenario` (which trains on the history first and streams only the test days),
this is the user's path: a fresh install receives the whole world in event-time order -- the
baseline days first, with no model -- stores it, retrains after every `retrain_min_events` new
events on what is stored (as the detection worker does), and every alert it raises counts,
cold-start ones included. The scorer matches alerts to labels through their event ids.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from detect.alerts.alert import Alert
from detect.anomaly.forest import DetectionModel, NotEnoughHistory
from detect.anomaly.training import train_detector
from detect.engine import DetectionEngine
from detect.eval.runner import normalize
from detect.eval.world import World, generate_world
from detect.rules.base import Rule
from detect.rules.catalogue import load_rules
from detect.settings import DetectSettings
from ingest import schema
from ingest.events import AuditEvent
from ingest.migrate import apply_migrations
from ingest.sink.writer import STORED_COLUMNS, event_row
from ingest.store.chdb import ChdbStore

__all__ = ["IncidentHit", "WorldScore", "replay_events", "replay_world", "score_world"]

logger = logging.getLogger(__name__)

BATCH_EVENTS = 2000  # one bus poll of the detection worker
STORE_EVERY = 20_000  # events buffered before one store insert
BURST_KINDS = ("mass_delete", "env_recreate", "cfn_recreate", "two_session_spree")
BURST_DAMAGE_LIMIT = 5  # a destructive burst must page by its 5th damaging event


def replay_events(
    events: Sequence[AuditEvent],
    *,
    settings: DetectSettings | None = None,
    rules: Sequence[Rule] | None = None,
    extra_rules: Sequence[Rule] = (),
    progress: Callable[[int, int], None] | None = None,
    timer: Callable[[int, float], None] | None = None,
) -> dict[str, Alert]:
    """Stream events (event-time order) through a fresh engine with the worker's retraining.
    `timer` receives each batch's size and the CPU-seconds this thread spent detecting it
    (storing and training left out: bench.detect_world)."""
    cfg = settings or DetectSettings()
    engine = DetectionEngine(
        rules=list(load_rules() if rules is None else rules),
        extra_rules=list(extra_rules),
        **cfg.engine_options(),
    )
    alerts: dict[str, Alert] = {}
    with ChdbStore(None) as store:
        apply_migrations(store)
        pending: list[AuditEvent] = []
        since_training = 0
        for start in range(0, len(events), BATCH_EVENTS):
            batch = events[start : start + BATCH_EVENTS]
            pending.extend(batch)
            if len(pending) >= STORE_EVERY:
                _store(store, pending)
            began = time.thread_time()
            for _, alert in engine.process(batch).changes:
                alerts[alert.id] = alert
            if timer is not None:
                timer(len(batch), time.thread_time() - began)
            since_training += len(batch)
            if since_training >= cfg.retrain_min_events:
                _store(store, pending)
                model = _train(store, cfg)
                if model is not None:
                    engine.set_model(model)
                since_training = 0
            if progress is not None:
                progress(min(start + BATCH_EVENTS, len(events)), len(events))
    return alerts


def _store(store: ChdbStore, pending: list[AuditEvent]) -> None:
    if pending:
        now = datetime.now(UTC)
        store.insert(schema.EVENTS, [event_row(e, now, "replay") for e in pending], STORED_COLUMNS)
        pending.clear()


def _train(store: ChdbStore, cfg: DetectSettings) -> DetectionModel | None:
    try:
        return train_detector(
            store,
            days=cfg.train_days,
            threshold_quantile=cfg.threshold_quantile,
            baseline_quantile=cfg.baseline_quantile,
            n_estimators=cfg.n_estimators,
            min_rows=cfg.min_train_rows,
        )
    except NotEnoughHistory:
        return None


def replay_world(
    world: World,
    *,
    settings: DetectSettings | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, Alert], dict[str, AuditEvent]]:
    """Replay a world's records; returns the final alerts and the events by id."""
    events = sorted(normalize(world.records), key=lambda e: e.event_time_ms)
    alerts = replay_events(events, settings=settings, progress=progress)
    return alerts, {e.event_id: e for e in events}


@dataclass
class IncidentHit:
    """One incident and the alerts that matched it (through their event ids)."""

    label_id: str
    kind: str
    alerts: list[str] = field(default_factory=list)
    damaging_before: int | None = None  # damaging events up to the earliest alert trigger
    seconds_to_alert: float | None = None
    alerted_ms: int | None = None  # that trigger's event time


@dataclass
class WorldScore:
    """Precision/recall of one replay, with every false alert's cause."""

    seed: int
    alerts: int = 0
    true_alerts: int = 0
    baseline_alerts: int = 0  # alerts whose first event is in the baseline (cold start)
    false_alerts: list[tuple[str, str, str]] = field(default_factory=list)  # (cause, rule, id)
    incidents: dict[str, IncidentHit] = field(default_factory=dict)
    benign_paged: dict[str, int] = field(default_factory=dict)  # benign kind -> alerts

    @property
    def precision(self) -> float:
        return self.true_alerts / self.alerts if self.alerts else 1.0

    @property
    def recall(self) -> float:
        hits = self.incidents.values()
        return sum(1 for h in hits if h.alerts) / len(hits) if hits else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def duplicates(self) -> int:
        return sum(max(0, len(h.alerts) - 1) for h in self.incidents.values())

    def burst_damage(self) -> list[int]:
        return [
            h.damaging_before
            for h in self.incidents.values()
            if h.kind in BURST_KINDS and h.damaging_before is not None
        ]


def score_world(world: World, alerts: Iterable[Alert], events: dict[str, AuditEvent]) -> WorldScore:
    """Match each alert to the labels sharing an event id with it; everything else is false."""
    owner: dict[str, int] = {}
    for i, label in enumerate(world.labels):
        for event_id in label.event_ids:
            owner.setdefault(event_id, i)
    result = WorldScore(world.seed)
    for label in world.labels:
        if label.category == "incident":
            result.incidents[label.id] = IncidentHit(label.id, label.kind)
    for alert in sorted(alerts, key=lambda a: (a.first_event_ms, a.id)):
        result.alerts += 1
        if alert.first_event_ms < world.baseline_until_ms:
            result.baseline_alerts += 1
        matched = {owner[e] for e in alert.event_ids if e in owner}
        incidents = [
            world.labels[i] for i in sorted(matched) if world.labels[i].category == "incident"
        ]
        for label in incidents:
            _hit(result.incidents[label.id], label.damaging_ids, alert, events)
        if incidents:
            result.true_alerts += 1
            continue
        benign = [world.labels[i].kind for i in sorted(matched)]
        cause = benign[0] if benign else "background"
        if benign:
            result.benign_paged[cause] = result.benign_paged.get(cause, 0) + 1
        result.false_alerts.append((cause, alert.rule, alert.id))
    return result


def _hit(
    hit: IncidentHit, damaging: Sequence[str], alert: Alert, events: dict[str, AuditEvent]
) -> None:
    """Count `alert` for the incident; time to detect runs to the earliest trigger among its
    alerts (an alert opened hours later may hold the incident's first events as evidence, and
    sort first by them, as score_run's ttd does)."""
    hit.alerts.append(alert.id)
    trigger = str(alert.explanation.get("trigger_event_id", "")) if alert.explanation else ""
    at = events[trigger].event_time_ms if trigger in events else alert.first_event_ms
    if hit.alerted_ms is not None and hit.alerted_ms <= at:
        return
    hit.alerted_ms = at
    times = [events[d].event_time_ms for d in damaging if d in events]
    hit.damaging_before = sum(1 for t in times if t <= at)
    if trigger in damaging and trigger in events:
        # CloudTrail times calls to the second: damaging calls in the trigger's second after
        # it (in the label's order, the calls' own) came after the page (fresh seed 1584: an
        # admin's fifth and sixth deletes in one second, paged at the fifth, counted as six)
        same = [d for d in damaging if d in events and events[d].event_time_ms == at]
        hit.damaging_before -= len(same) - 1 - same.index(trigger)
    if times:
        hit.seconds_to_alert = max(0.0, (at - times[0]) / 1000)


def summarize(scores: Sequence[WorldScore]) -> dict[str, float]:
    """Mean and worst precision/recall/F1 and the duplicate count over several replays."""
    return {
        "p_mean": statistics.fmean(s.precision for s in scores),
        "r_mean": statistics.fmean(s.recall for s in scores),
        "f1_mean": statistics.fmean(s.f1 for s in scores),
        "p_worst": min(s.precision for s in scores),
        "r_worst": min(s.recall for s in scores),
        "f1_worst": min(s.f1 for s in scores),
        "dup_worst": max(s.duplicates for s in scores),
    }


def render_worlds(scores: Sequence[WorldScore]) -> str:
    """One row per world, then the mean and the worst seed, then the false alerts by cause."""
    lines = [
        "world replays (independent generator; cold start, baseline then test days)",
        "seed  alerts  true  false  baseline  P     R     F1    dups  damaging-before-alert",
    ]
    for s in sorted(scores, key=lambda s: s.seed):
        burst = s.burst_damage()
        lines.append(
            f"{s.seed:>4}  {s.alerts:>6}  {s.true_alerts:>4}  {len(s.false_alerts):>5}  "
            f"{s.baseline_alerts:>8}  {s.precision:.2f}  {s.recall:.2f}  {s.f1:.2f}  "
            f"{s.duplicates:>4}  max {max(burst, default=0)}"
        )
    if scores:
        summary = summarize(scores)
        worst = min(scores, key=lambda s: (s.f1, s.seed))
        lines.append(
            f"mean  P {summary['p_mean']:.2f}  R {summary['r_mean']:.2f}  "
            f"F1 {summary['f1_mean']:.2f}"
        )
        lines.append(
            f"worst P {summary['p_worst']:.2f}  R {summary['r_worst']:.2f}  "
            f"F1 {summary['f1_worst']:.2f}  duplicates {summary['dup_worst']:.0f}  "
            f"(worst seed by F1: {worst.seed})"
        )
        causes: dict[str, int] = {}
        for s in scores:
            for cause, _, _ in s.false_alerts:
                causes[cause] = causes.get(cause, 0) + 1
        ranked = sorted(causes.items(), key=lambda kv: (-kv[1], kv[0]))
        lines.append("false alerts by cause: " + (", ".join(f"{c} {n}" for c, n in ranked) or "-"))
        missed: dict[str, int] = {}
        for s in scores:
            for hit in s.incidents.values():
                if not hit.alerts:
                    missed[hit.kind] = missed.get(hit.kind, 0) + 1
        ranked = sorted(missed.items(), key=lambda kv: (-kv[1], kv[0]))
        lines.append(
            "missed incidents by kind: " + (", ".join(f"{k} {n}" for k, n in ranked) or "-")
        )
    return "\n".join(lines) + "\n"


def score_seed(seed: int) -> WorldScore:
    """Generate world `seed`, replay it cold and score it (a process pool's unit of work)."""
    world = generate_world(seed)
    alerts, events = replay_world(world)
    return score_world(world, alerts.values(), events)
