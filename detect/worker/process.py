"""DetectorProcess: the detection worker of `leash up` with its engine in a child process.

The API process keeps the bus, the store and every side effect; the child (detect.worker.child)
keeps the engine, whose CPU (features, rules, forest scoring) held the API's GIL in slices of
up to 5 ms. This thread polls the detector's consumer group, sends each batch's values down a
pipe, answers the child's store reads, stores the alerts it gets back, tells the listeners
(webhooks, auto-quarantine) and only then commits the offsets -- the same order as the
in-process DetectionWorker, so a child killed mid-batch costs a replay of that batch only.
A child that dies is started again (the batch it held is sent again); one that keeps dying
(MAX_RESTARTS within RESTART_WINDOW_S) ends this worker, which `leash up` treats as fatal.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from detect.alerts.alert import Alert, AlertListener, AlertStore, notify_listeners
from detect.alerts.suppression import SuppressionBook
from detect.anomaly.model_file import CURRENT_FILE, SavedModel
from detect.anomaly.training import model_dir
from detect.gate.bypass import BypassRule
from detect.gate.service import Decision
from detect.settings import DetectSettings
from detect.worker.child import run_child
from detect.worker.messages import (
    Batch,
    Control,
    LoadModel,
    Observe,
    Progress,
    Ready,
    Result,
    SetStatus,
    Stop,
)
from detect.worker.retrain import Retrainer
from detect.worker.saving import save_alerts
from ingest.bus import TopicPartition
from ingest.events import event_time_iso
from ingest.runtime import Runtime
from ingest.store.pipe import StoreQuery, answer_query
from ingest.worker import ThreadWorker

__all__ = ["ChildDied", "DetectorProcess"]

logger = logging.getLogger(__name__)

POLL_TIMEOUT_S = 0.05  # seconds; short so controls, stop and retrain checks stay prompt
CHILD_CHECK_S = 1.0  # seconds between liveness checks while waiting on the child
START_TIMEOUT_S = 120.0  # seconds a new child may take to import and build its engine
STOP_TIMEOUT_S = 10.0  # seconds the child gets to exit after Stop
MAX_RESTARTS = 5  # child deaths tolerated within RESTART_WINDOW_S before giving up
RESTART_WINDOW_S = 60.0  # seconds


class ChildDied(RuntimeError):
    """The detector child exited or its pipe broke."""


class _Child:
    """One spawned detector process and the parent's end of its pipe."""

    def __init__(self, process: BaseProcess, connection: Connection) -> None:
        self.process = process
        self.connection = connection

    def exchange(
        self,
        message: object,
        answer: Callable[[StoreQuery], object],
        *,
        timeout_s: float | None = None,
    ) -> object:
        """Send `message` (None: send nothing) and return the child's reply, answering its
        store queries meanwhile; ChildDied when it dies, or says nothing for `timeout_s`."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        try:
            if message is not None:
                self.connection.send(message)
            while True:
                if not self.connection.poll(CHILD_CHECK_S):
                    if not self.process.is_alive():
                        raise ChildDied(f"detector child exited ({self.process.exitcode})")
                    if deadline is not None and time.monotonic() > deadline:
                        self.process.kill()
                        raise ChildDied(f"detector child silent for {timeout_s:.0f}s")
                    continue
                reply = self.connection.recv()
                if not isinstance(reply, StoreQuery):
                    return reply
                self.connection.send(answer(reply))
        except (EOFError, OSError) as exc:
            raise ChildDied(f"detector child gone ({type(exc).__name__})") from exc

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.send(Stop())
        self.process.join(STOP_TIMEOUT_S)
        if self.process.is_alive():
            logger.warning("detector child did not stop in %.0fs; killing it", STOP_TIMEOUT_S)
            self.process.kill()
            self.process.join(STOP_TIMEOUT_S)
        self.connection.close()


class DetectorProcess(ThreadWorker):
    """The DetectionWorker's interface (status, principal_score, apply_status, train_now,
    backlog) for an engine that runs in a child process.

    `bypass` and `suppressions` are the API process's own: the kinds and suppression hits the
    child reports land there. `before_start` runs before each child starts (the decision log's
    flush, so a restarted child's bypass rule reads every decide answered so far).
    """

    def __init__(
        self,
        runtime: Runtime,
        *,
        settings: DetectSettings | None = None,
        listeners: list[AlertListener] | None = None,
        bypass: BypassRule,
        suppressions: SuppressionBook,
        before_start: Callable[[], object] = lambda: None,
    ) -> None:
        super().__init__("detect-supervisor")
        self.runtime = runtime
        self.settings = settings or DetectSettings()
        self.listeners: list[AlertListener] = listeners if listeners is not None else []
        self.alerts = AlertStore(runtime.store)
        self._bypass = bypass
        self._suppressions = suppressions
        self._before_start = before_start
        self._subscriber = runtime.bus.subscriber(
            [runtime.settings.kafka.topic],
            runtime.settings.kafka.detect_group_id,
            warm_messages=self.settings.warm_messages,
            warm_s=self.settings.warm_s,
        )
        self._context = multiprocessing.get_context("spawn")
        self._controls: list[Control] = []
        self._controls_lock = threading.Lock()
        self._child: _Child | None = None
        self._progress: Progress | None = None
        self._scores: OrderedDict[str, float] = OrderedDict()
        self._deaths: deque[float] = deque()
        self.retrainer = Retrainer(runtime, self.settings, lambda _: self.forward(LoadModel()))
        self._gave_up = False
        self.restarts = 0
        self.child_pid: int | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> DetectorProcess:
        """Start the child and wait until its engine is built, then the polling thread."""
        self._spawn()
        progress = self._progress
        has_file = (model_dir(self.runtime.settings) / CURRENT_FILE).exists()
        self.retrainer.first = progress is not None and progress.model is None and has_file
        super().start()
        return self

    def backlog(self) -> int:
        """Bus records not yet processed (the detector's consumer lag)."""
        return self._subscriber.lag()

    def stop(self, timeout_s: float = 30.0) -> None:
        super().stop(timeout_s)

    def _close(self) -> None:
        self.retrainer.cancel()
        self.retrainer.join(30.0)
        child, self._child = self._child, None
        if child is not None:
            child.stop()
        self._subscriber.close()

    def _spawn(self) -> None:
        try:
            self._before_start()
        except Exception:  # noqa: BLE001 - the child then misses only the newest decisions
            logger.exception("preparing the detector child failed; starting it anyway")
        parent_end, child_end = self._context.Pipe()
        process = self._context.Process(
            target=run_child,
            args=(child_end, self.runtime.settings, self.settings),
            kwargs={
                "since_ms": self._bypass.since_ms,
                "shared": self.runtime.store.shared,
                "log_level": logging.getLogger().getEffectiveLevel(),
            },
            name="leash-detect",
            daemon=True,
        )
        process.start()
        child_end.close()  # so the parent reads EOF when the child dies
        child = _Child(process, parent_end)
        reply = child.exchange(None, self._answer, timeout_s=START_TIMEOUT_S)
        if not isinstance(reply, Ready):
            child.process.kill()
            raise ChildDied(f"detector child did not start: {reply!r}")
        self._progress = reply.progress
        self.child_pid = reply.pid
        self._child = child
        logger.info("detector child running (pid %d)", reply.pid)

    def _answer(self, query: StoreQuery) -> object:
        return answer_query(self.runtime.store, query)

    # -- the loop -----------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stopping.is_set() and not self._gave_up:
            if self._progress is not None:
                self.retrainer.maybe(self._progress.model, self._progress.events_seen)
            records = self._subscriber.poll(self.settings.poll_max_records, POLL_TIMEOUT_S)
            controls = self._take_controls()
            if not records and not controls:
                self._check_idle_child()
                continue
            offsets: dict[TopicPartition, int] = {}
            for record in records:
                if not record.replay:  # (a replay's offset is the group's already)
                    offsets[(record.topic, record.partition)] = record.offset + 1
            values = [r.value for r in records if not r.replay]
            replayed = [r.value for r in records if r.replay]
            result = self._call(Batch(values, controls, replayed))
            if result is None:
                return  # stopping or given up: the batch's offsets stay uncommitted: replayed
            self._mirror(result)
            if not self._store_alerts([alert for _, alert in result.changes]):
                return
            for event_type, alert in result.changes:
                notify_listeners(self.listeners, event_type, alert)
            if offsets:
                self._subscriber.commit(offsets)

    def _call(self, batch: Batch) -> Result | None:
        """The child's Result for `batch`; a child that dies is replaced and sent it again."""
        while True:
            child = self._child
            try:
                if child is None:
                    self._spawn()
                    continue
                reply = child.exchange(batch, self._answer)
                if isinstance(reply, Result):
                    return reply
                raise ChildDied(f"unexpected reply {type(reply).__name__}")
            except ChildDied as exc:
                if child is not None:
                    child.connection.close()
                    child.process.join(1.0)
                self._child = None
                if self._stopping.is_set():
                    logger.warning("detector child ended while stopping: %s", exc)
                    return None
                if not self._may_restart(exc):
                    return None

    def _check_idle_child(self) -> None:
        """Notice a child that died while there was nothing to send, and start another now
        (the gate reads the detector as stale until it runs)."""
        child = self._child
        if child is not None and child.process.is_alive():
            return
        result = self._call(Batch([]))
        if result is not None:
            self._mirror(result)

    def _may_restart(self, why: Exception) -> bool:
        now = time.monotonic()
        self._deaths.append(now)
        while self._deaths and self._deaths[0] < now - RESTART_WINDOW_S:
            self._deaths.popleft()
        if len(self._deaths) > MAX_RESTARTS:
            logger.critical(
                "detector child died %d times in %.0fs (last: %s): giving up; detection is down",
                len(self._deaths),
                RESTART_WINDOW_S,
                why,
            )
            self._gave_up = True
            return False
        self.restarts += 1
        logger.error("%s: starting a new one (restart %d)", why, self.restarts)
        return True

    def _mirror(self, result: Result) -> None:
        self._progress = result.progress
        for key, kind in result.kinds.items():
            self._bypass.remember_kind(key, kind)
        scores = self._scores
        for key, value in result.scores.items():
            scores[key] = value
            scores.move_to_end(key)
        while len(scores) > self.settings.max_principals:  # as many as the child keeps
            scores.popitem(last=False)
        hits = self._suppressions.hits
        for suppression_id, count in result.hits.items():
            hits[suppression_id] = hits.get(suppression_id, 0) + count

    def _store_alerts(self, alerts: list[Alert]) -> bool:
        return save_alerts(
            self.alerts, alerts, self._subscriber, self._stopping, poll_timeout_s=POLL_TIMEOUT_S
        )

    # -- what the API process tells the child -------------------------------------------------
    def forward(self, control: Control) -> None:
        """Queue a change for the child; it is applied before the next batch's events."""
        with self._controls_lock:
            self._controls.append(control)

    def _take_controls(self) -> list[Control]:
        with self._controls_lock:
            taken, self._controls = self._controls, []
        return taken

    def observe(self, decision: Decision) -> None:
        """A gate observer: decide answers reach the child's approval-bypass rule."""
        self.forward(Observe(decision))

    def apply_status(self, alert_id: str, status: str) -> None:
        self.forward(SetStatus(alert_id, status))

    # -- training (in this process, which owns the store; the fit runs in its own child) -----
    def train_now(self) -> SavedModel:
        """Train on stored history, persist, and have the child load the new model."""
        return self.retrainer.now()

    # -- status for the gate, the dashboard and /metrics ----------------------------------------
    @property
    def events_seen(self) -> int:
        return self._progress.events_seen if self._progress else 0

    @property
    def watermark_ms(self) -> int:
        return self._progress.watermark_ms if self._progress else 0

    @property
    def undecodable(self) -> int:
        return self._progress.undecodable if self._progress else 0

    def principal_score(self, principal_key: str) -> float | None:
        return self._scores.get(principal_key)

    def status(self) -> dict[str, Any]:
        progress = self._progress
        model = progress.model if progress else None
        age_s = time.time() - model.trained_at_ms / 1000 if model else None
        running = self._child is not None
        # stale while no child runs (starting again after a death): the gate fails safe
        stale = (
            not self.alive()
            or not running
            or (age_s is not None and age_s > self.settings.stale_after_s)
        )
        watermark = progress.watermark_ms if progress else 0
        return {
            "model_version": model.version if model else None,
            "model_trained_at": event_time_iso(model.trained_at_ms) if model else None,
            "last_event_time": event_time_iso(watermark) if watermark else None,
            "lag": self.backlog(),
            "stale": stale,
            "alive": self.alive(),
            "events_processed": progress.events_seen if progress else 0,
            "undecodable": progress.undecodable if progress else 0,
            "open_incidents": progress.open_incidents if progress else 0,
            "training": self.retrainer.running,
            "training_error": self.retrainer.error,
            "model": dict(model.metadata) if model else None,
            "process": {"pid": self.child_pid if running else None, "restarts": self.restarts},
        }
