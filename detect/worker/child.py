"""The detector child of `leash up`: the engine's CPU (features, rules, forest) off the API's GIL.

`run_child` is the `spawn`ed process's entry point. It builds the same engine as the in-process
DetectionWorker, with its own copies of the response layer's detection-side state (the
approval-bypass rule, the event memo, suppressions, false-positive verdicts), loaded through a
PipeStore from the parent that owns the store; then it answers each Batch with a Result. It
holds nothing durable: the parent stores the alerts and commits the bus offsets, so a child
killed at any moment costs a replay of the batch it held, never an event or an alert.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import time
from multiprocessing.connection import Connection

from detect.alerts.alert import AlertStore
from detect.alerts.feedback import FalsePositives
from detect.alerts.suppression import EventMemo, Suppression, SuppressionBook
from detect.anomaly.training import model_dir
from detect.engine import DetectionEngine
from detect.gate.bypass import BypassRule
from detect.gate.policy import load_policy
from detect.settings import DetectSettings
from detect.worker.build import build_engine, load_model
from detect.worker.messages import (
    Batch,
    Control,
    FalsePositive,
    LoadModel,
    ModelInfo,
    Observe,
    Progress,
    Ready,
    Result,
    SetStatus,
    Stop,
    Suppress,
    Unsuppress,
)
from detect.worker.saving import settle_replay
from ingest.allocator import trim_heap
from ingest.events import AuditEvent, RecordError, decode_event
from ingest.identity import build_identity_rules
from ingest.settings import Settings
from ingest.store import Store
from ingest.store.pipe import PipeStore
from ingest.worker import die_with_parent

__all__ = ["ChildDetector", "MirroredSuppressions", "run_child", "tune_gc"]

logger = logging.getLogger(__name__)

STATUS_SYNC_S = 2.0  # seconds between reads of alert statuses other processes changed
# the young generation's collection threshold (CPython's default 700): the engine makes a few
# short-lived objects per event (findings, cases, rows) and keeps its windows for minutes, so the
# default collects every few events and scans the principals' state again and again -- ~10% of
# the child's CPU when profiled (bench.detect_windows); at 10,000 it is under 2%
GC_YOUNG = 10_000


def run_child(
    connection: Connection,
    settings: Settings,
    detect: DetectSettings,
    *,
    since_ms: int,
    shared: bool,
    log_level: int,
) -> None:
    """Serve batches on `connection` until Stop or until the parent goes away.

    `since_ms` is when the parent's bypass rule started; `shared` whether its store has other
    writers (ingest.store.Store.shared)."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: parent drains
    if settings.detector_nice:
        os.nice(settings.detector_nice)  # decide's loop first; detection takes the idle cycles
    logging.basicConfig(
        level=log_level, format="%(asctime)s %(levelname)s %(name)s[detect child]: %(message)s"
    )
    tune_gc()
    store = PipeStore(connection, shared=shared)
    detector = ChildDetector(store, settings=settings, detect=detect, since_ms=since_ms)
    connection.send(Ready(os.getpid(), detector.progress()))
    trimmed = time.monotonic()
    while True:
        try:
            message = connection.recv()
        except EOFError:
            return
        if isinstance(message, Stop):
            return
        connection.send(detector.handle(message))
        interval_s = settings.heap_trim_interval_s
        if interval_s and time.monotonic() - trimmed >= interval_s:  # between batches: idle
            trim_heap()
            trimmed = time.monotonic()


def tune_gc() -> None:
    """The detector's collector thresholds (GC_YOUNG), here and in bench.detect_windows."""
    gc.set_threshold(GC_YOUNG, 10, 10)


class MirroredSuppressions(SuppressionBook):
    """The child's copy of the parent's suppressions: changed by the parent's messages, never
    written to the store from here (the parent did that)."""

    def adopt(self, item: Suppression) -> None:
        with self._lock:
            self._items[item.id] = item

    def forget(self, suppression_id: str) -> None:
        with self._lock:
            self._items.pop(suppression_id, None)


class ChildDetector:
    """The engine and its detection-side state; `handle(batch)` is one round trip's work."""

    def __init__(
        self, store: Store, *, settings: Settings, detect: DetectSettings, since_ms: int
    ) -> None:
        identity = build_identity_rules(settings.identity)
        self._store = store
        self._models = model_dir(settings)
        self.memo = EventMemo()
        self.suppressions = MirroredSuppressions(
            store, key_of=identity.principal_key, memo=self.memo
        )
        self.suppressions.load()
        self.false_positives = FalsePositives()
        self.false_positives.load(store)
        self.bypass = BypassRule(
            unasked_agents=settings.bypass_unasked_agents,
            named_by_policy=load_policy(settings.policy_file).names,
            clock=lambda: since_ms / 1000,  # the API process's start, not this child's
        )
        self.bypass.load(store)
        self.engine: DetectionEngine = build_engine(
            store,
            models=self._models,
            settings=detect,
            extra_rules=[self.bypass, self.memo],
            suppressors=[self.suppressions],
            false_positive=self.false_positives,
            identity=identity,
        )
        self.undecodable = 0
        self._hits_sent: dict[str, int] = {}
        self._last_sync = time.monotonic()

    def handle(self, batch: Batch) -> Result:
        for control in batch.controls:
            self._apply(control)
        events = self._decode(batch.values)
        self._sync_statuses()
        # what a former owner of the partition processed: state, not pages
        settle_replay(self.engine, AlertStore(self._store), self._decode(batch.replayed))
        output = self.engine.process(events)
        kinds = {event.principal_key: event.actor_kind for event in events}
        scores = {key: s for key in kinds if (s := self.engine.scores.get(key)) is not None}
        return Result(output.changes, self.progress(), scores, kinds, self._new_hits())

    def progress(self) -> Progress:
        model = self.engine.model
        info = (
            ModelInfo(model.version, model.trained_at_ms, dict(model.metadata))
            if model is not None
            else None
        )
        return Progress(
            self.engine.events_seen,
            self.engine.watermark_ms,
            len(self.engine.book),
            self.undecodable,
            info,
        )

    def _apply(self, control: Control) -> None:
        match control:
            case Observe(decision):
                self.bypass.observe(decision)
            case SetStatus(alert_id, status):
                self.engine.set_status(alert_id, status)
            case Suppress(item):
                self.suppressions.adopt(item)
            case Unsuppress(suppression_id):
                self.suppressions.forget(suppression_id)
            case FalsePositive(principal, rules):
                self.false_positives.add(principal, rules)
            case LoadModel():
                model = load_model(self._models)
                if model is not None:
                    self.engine.set_model(model)

    def _decode(self, values: list[bytes]) -> list[AuditEvent]:
        events = []
        for value in values:
            try:
                events.append(decode_event(value))
            except RecordError as exc:
                self.undecodable += 1
                logger.warning("detect: skipping an undecodable message: %s", exc)
        return events

    def _sync_statuses(self) -> None:
        """Acks and resolves by other API processes (a shared store only: with an embedded
        store every change comes from the parent, as a SetStatus)."""
        now = time.monotonic()
        if not self._store.shared or now - self._last_sync < STATUS_SYNC_S:
            return
        self._last_sync = now
        try:
            changes = AlertStore(self._store).statuses(self.engine.watched_alert_ids())
        except Exception:  # noqa: BLE001 - a status read is advisory; detection goes on
            logger.exception("reading alert statuses failed")
            return
        for alert_id, status in changes.items():
            self.engine.set_status(alert_id, status)

    def _new_hits(self) -> dict[str, int]:
        hits = dict(self.suppressions.hits)
        new = {k: n - self._hits_sent.get(k, 0) for k, n in hits.items()}
        self._hits_sent = hits
        return {k: n for k, n in new.items() if n}
