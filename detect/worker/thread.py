"""Streaming detection worker: bus (own consumer group) -> DetectionEngine -> alerts -> listeners.

`detect.services.start_detection` runs it inside `leash up` and `leash detect`, wired to the
response layer's listeners, suppressors and extra rules.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from detect.alerts.alert import AlertListener, AlertStore, notify_listeners
from detect.anomaly.model_file import CURRENT_FILE, SavedModel, load_model
from detect.anomaly.training import model_dir
from detect.findings import Finding
from detect.rules.base import Rule
from detect.settings import DetectSettings
from detect.worker.build import build_engine
from detect.worker.retrain import Retrainer
from detect.worker.saving import save_alerts, settle_replay
from ingest.bus import Record, TopicPartition
from ingest.events import AuditEvent, RecordError, decode_event, event_time_iso
from ingest.identity import build_identity_rules
from ingest.runtime import Runtime
from ingest.worker import ThreadWorker

__all__ = ["DetectionWorker"]

logger = logging.getLogger(__name__)

POLL_TIMEOUT_S = 0.05  # seconds; short so stop and retrain checks stay prompt
STATUS_SYNC_S = 2.0  # seconds between reads of API status changes (for other processes' acks)


class DetectionWorker(ThreadWorker):
    """A thread: poll > decode > engine > store alerts > notify > commit, plus scheduled retraining.

    Offsets are committed only after the batch's alerts are stored, so a crash replays the batch;
    alert ids are deterministic, so the replay rewrites the same alerts. `extra_rules`,
    `suppressors`, `listeners` and the analysts' `false_positive` verdicts come from the
    response layer (see detect.services).
    """

    def __init__(
        self,
        runtime: Runtime,
        *,
        settings: DetectSettings | None = None,
        extra_rules: Sequence[Rule] = (),
        suppressors: Sequence[Callable[[Finding], bool]] = (),
        listeners: list[AlertListener] | None = None,
        false_positive: Callable[[str, str], bool] | None = None,
    ) -> None:
        super().__init__("detect")
        self.runtime = runtime
        self.settings = settings or DetectSettings()
        self.engine = build_engine(
            runtime.store,
            models=model_dir(runtime.settings),
            settings=self.settings,
            extra_rules=extra_rules,
            suppressors=suppressors,
            false_positive=false_positive,
            identity=build_identity_rules(runtime.settings.identity),
        )
        self.alerts = AlertStore(runtime.store)
        # the caller's list itself, so a listener registered later hears alerts too
        self.listeners: list[AlertListener] = listeners if listeners is not None else []
        self._lock = threading.Lock()
        self._subscriber = runtime.bus.subscriber(
            [runtime.settings.kafka.topic],
            runtime.settings.kafka.detect_group_id,
            warm_messages=self.settings.warm_messages,
            warm_s=self.settings.warm_s,
        )
        self.retrainer = Retrainer(runtime, self.settings, self._use_model)
        # a model file exists but could not be used (e.g. older features): retrain at once
        self.retrainer.first = (
            self.engine.model is None and (model_dir(runtime.settings) / CURRENT_FILE).exists()
        )
        self._last_sync = 0.0
        self.undecodable = 0

    # -- lifecycle ----------------------------------------------------------------------------
    def backlog(self) -> int:
        """Bus records not yet processed (the detector's consumer lag)."""
        return self._subscriber.lag()

    def stop(self, timeout_s: float = 30.0) -> None:
        super().stop(timeout_s)

    def _close(self) -> None:
        self.retrainer.cancel()
        self.retrainer.join(30.0)
        self._subscriber.close()

    # -- the loop -----------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stopping.is_set():
            self.retrainer.maybe(self.engine.model, self.engine.events_seen)
            records = self._subscriber.poll(self.settings.poll_max_records, POLL_TIMEOUT_S)
            if records:
                self._handle(records)

    def _handle(self, records: list[Record]) -> None:
        offsets: dict[TopicPartition, int] = {}
        events: list[AuditEvent] = []
        replayed: list[AuditEvent] = []
        for record in records:
            if not record.replay:  # (a replay's offset is the group's already: never again)
                offsets[(record.topic, record.partition)] = record.offset + 1
            try:
                (replayed if record.replay else events).append(decode_event(record.value))
            except RecordError as exc:
                self.undecodable += 1
                logger.warning(
                    "detect: skipping undecodable message %s:%d@%d: %s",
                    record.topic,
                    record.partition,
                    record.offset,
                    exc,
                )
        self._sync_statuses()
        with self._lock:
            # what a former owner of the partition processed: state, not pages
            settle_replay(self.engine, self.alerts, replayed)
            output = self.engine.process(events)
        if not self._store_alerts([alert for _, alert in output.changes]):
            return  # stopping with unsaved alerts: leave the offsets uncommitted so they replay
        for event_type, alert in output.changes:
            notify_listeners(self.listeners, event_type, alert)
        if offsets:
            self._subscriber.commit(offsets)

    def _store_alerts(self, alerts: list[Any]) -> bool:
        return save_alerts(
            self.alerts, alerts, self._subscriber, self._stopping, poll_timeout_s=POLL_TIMEOUT_S
        )

    def _sync_statuses(self) -> None:
        """Pick up acks/resolves made by API processes that do not share this engine."""
        now = time.monotonic()
        if now - self._last_sync < STATUS_SYNC_S:
            return
        self._last_sync = now
        try:
            changes = self.alerts.statuses(self.engine.watched_alert_ids())
        except Exception:  # noqa: BLE001 - a status read is advisory; detection goes on
            logger.exception("reading alert statuses failed")
            return
        with self._lock:
            for alert_id, status in changes.items():
                self.engine.set_status(alert_id, status)

    def apply_status(self, alert_id: str, status: str) -> None:
        """Reflect an API status change at once (same process)."""
        with self._lock:
            self.engine.set_status(alert_id, status)

    # -- training -----------------------------------------------------------------------------
    def train_now(self) -> SavedModel:
        """Train on stored history, persist, and swap the model into the running engine."""
        return self.retrainer.now()

    def _use_model(self, saved: SavedModel) -> None:
        model = load_model(saved.path)  # the engine runs in this process: it loads the file
        with self._lock:
            self.engine.set_model(model)

    # -- status for the gate and dashboard ----------------------------------------------------
    @property
    def events_seen(self) -> int:
        return self.engine.events_seen

    @property
    def watermark_ms(self) -> int:
        return self.engine.watermark_ms

    def principal_score(self, principal_key: str) -> float | None:
        return self.engine.principal_score(principal_key)

    def status(self) -> dict[str, Any]:
        model = self.engine.model
        lag = self.backlog()
        age_s = time.time() - model.trained_at_ms / 1000 if model else None
        # Stale means the detector cannot be trusted at all: dead, or its model too old. Lag is
        # reported, not judged here: the gate allows LEASH_GATE_MAX_LAG_S of it (a burst of
        # ingest is normal) before it fails safe, and it alone knows how long lag has lasted.
        stale = not self.alive() or (age_s is not None and age_s > self.settings.stale_after_s)
        return {
            "model_version": model.version if model else None,
            "model_trained_at": event_time_iso(model.trained_at_ms) if model else None,
            "last_event_time": (
                event_time_iso(self.engine.watermark_ms) if self.engine.watermark_ms else None
            ),
            "lag": lag,
            "stale": stale,
            "alive": self.alive(),
            "events_processed": self.engine.events_seen,
            "undecodable": self.undecodable,
            "open_incidents": len(self.engine.book),
            "training": self.retrainer.running,
            "training_error": self.retrainer.error,
            "model": dict(model.metadata) if model else None,
        }
