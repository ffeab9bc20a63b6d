"""DetectionHealth: is the detector fresh enough for the gate to trust its silence?"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

__all__ = ["DetectionHealth", "DetectorView"]


class DetectorView(Protocol):
    """What the gate reads of a running detector (detect.worker.DetectionWorker is one).

    `status()` has at least `stale` (bool: dead, or its model too old) and `lag` (bus records
    not yet processed); `principal_score` is the principal's live anomaly score, if any.
    """

    def status(self) -> Mapping[str, Any]: ...

    def principal_score(self, principal_key: str) -> float | None: ...


HEALTH_MAX_AGE_S = 5.0  # seconds; a health reading older than this counts as stale


class DetectionHealth:
    """Cached freshness of the detector, polled off the hot path.

    Not ok (fail safe) when this process runs no detector (`detector()` is None), when it says
    it is stale, when it has been more than `max_lag_messages` behind the bus for longer than
    `max_lag_s` (shorter lag is a burst of ingest being caught up: "catching up", still ok), or
    when no poll happened in HEALTH_MAX_AGE_S.
    """

    def __init__(
        self,
        detector: Callable[[], DetectorView | None],
        *,
        max_lag_messages: int,
        max_lag_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._detector = detector
        self._max_lag = max_lag_messages
        self._max_lag_s = max_lag_s
        self._clock = clock
        self._reading: tuple[bool, str, float] = (False, "detector status not read yet", 0.0)
        self._caught_up_at = clock()

    def poll(self) -> tuple[bool, str]:
        now = self._clock()
        ok, reason = self._check(now)
        self._reading = (ok, reason, now)
        return ok, reason

    def _check(self, now: float) -> tuple[bool, str]:
        detection = self._detector()
        if detection is None:
            return False, "no detector is running"
        try:
            status = detection.status()
        except Exception as exc:  # noqa: BLE001 - a failing detector is a stale detector
            return False, f"detector status failed: {type(exc).__name__}"
        if status.get("stale", True):
            return False, "detector model is stale"
        lag = int(status.get("lag") or 0)
        if lag <= self._max_lag:
            self._caught_up_at = now
            return True, "ok"
        behind_s = now - self._caught_up_at
        if behind_s > self._max_lag_s:
            return False, f"pipeline {lag} messages behind for {behind_s:.0f}s"
        return True, "catching up"

    def current(self) -> tuple[bool, str]:
        ok, reason, at = self._reading
        if self._clock() - at > HEALTH_MAX_AGE_S:
            return False, "detector health not polled recently"
        return ok, reason

    def score(self, principal_key: str) -> float | None:
        detection = self._detector()
        if detection is None:
            return None
        try:
            value = detection.principal_score(principal_key)
        except Exception:  # noqa: BLE001 - no score is no evidence either way
            return None
        return None if value is None else float(value)
