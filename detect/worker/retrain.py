"""When the detector retrains, and the thread that does it: one schedule for both worker forms."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from detect.anomaly.forest import NotEnoughHistory
from detect.anomaly.model_file import SavedModel
from detect.anomaly.training import FitCancelled, train_and_save
from detect.settings import DetectSettings
from ingest.runtime import Runtime

__all__ = ["Retrainer"]

logger = logging.getLogger(__name__)


class Trained(Protocol):  # the running model, or what the detector child says of it
    @property
    def trained_at_ms(self) -> int: ...


class Retrainer:
    """Retrains on stored history every RETRAIN_INTERVAL_S or after RETRAIN_MIN_EVENTS new
    events -- either no sooner than RETRAIN_MIN_INTERVAL_S after the last training began --
    or at once when a model file exists that could not be used (`first`). One training at a
    time (the scheduled ones and `now`, POST /v1/detector/train's); the fit runs in a
    background thread (the history SQL here, the fit and the model file in its own child: see
    training) and `use` has the running engine load the new model file -- in this process or
    in the detector child."""

    def __init__(
        self,
        runtime: Runtime,
        settings: DetectSettings,
        use: Callable[[SavedModel], object],
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.first = False  # a model file exists but could not be used: retrain at once
        self.error: str | None = None
        self._use = use
        self._started = time.monotonic()
        self._events_at_train = 0
        self._last_began: float | None = None  # monotonic time the last training began
        # the last training's model: the detector child reports it only after loading it, and
        # a daily retrain judged by the child's older model started twice (review)
        self._trained_at_ms = 0
        self._events_seen = 0  # the detector's count at the last poll (maybe)
        self._serial = threading.Lock()  # held while a training runs
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()  # set at shutdown: a fit in progress is abandoned

    @property
    def running(self) -> bool:
        return self._thread is not None or self._serial.locked()

    def maybe(self, model: Trained | None, events_seen: int) -> None:
        """Start a retrain in the background if one is due and none is running."""
        self._events_seen = events_seen
        if not self.settings.auto_retrain or self.running or self._stop.is_set():
            return
        trained_at_ms = max(model.trained_at_ms if model else 0, self._trained_at_ms)
        if trained_at_ms:
            age_s = time.time() - trained_at_ms / 1000
        else:
            age_s = time.monotonic() - self._started
        due = age_s >= self.settings.retrain_interval_s
        counted = events_seen - self._events_at_train >= self.settings.retrain_min_events
        # failed trainings (too little history, a store error) leave the model as old as it
        # was: without the spacing a due one started again the moment the last one failed
        spaced = (
            self._last_began is None
            or time.monotonic() - self._last_began >= self.settings.retrain_min_interval_s
        )
        if self.first or (spaced and (due or counted)):
            self.first = False  # (now() counts the events and the time it began)
            self._thread = threading.Thread(target=self._quietly, name="detect-train", daemon=True)
            self._thread.start()

    def now(self) -> SavedModel:
        """Train on stored history, persist, and have the engine load the model (after any
        training already running)."""
        with self._serial:
            if self._stop.is_set():  # waited for one a shutdown cancelled: start none (review)
                raise FitCancelled("training stopped: the detector is shutting down")
            self._last_began = time.monotonic()
            self._events_at_train = self._events_seen
            try:
                saved = train_and_save(
                    self.runtime.store, self.runtime.settings, self.settings, cancel=self._stop
                )
                self._trained_at_ms = saved.trained_at_ms
                self.first = False  # the model file that could not be used is replaced
                self._use(saved)
            except Exception as exc:
                self.error = str(exc)
                raise
            self.error = None
            return saved

    def cancel(self) -> None:
        """Shutting down: stop a fit in progress (its child process) and start no other."""
        self._stop.set()

    def join(self, timeout_s: float) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)

    def _quietly(self) -> None:
        try:
            self.now()
        except (NotEnoughHistory, FitCancelled) as exc:
            logger.info("detector not retrained: %s", exc)
        except Exception:  # noqa: BLE001 - a failed training keeps the old model running
            logger.exception("detector training failed")
        finally:
            self._thread = None
