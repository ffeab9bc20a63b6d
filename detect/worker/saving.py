"""Storing a batch's alerts before its offsets commit, retried while the store fails: the same
for the in-process worker and the detector child's supervisor."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from detect.alerts.alert import Alert, AlertStore
from ingest.bus import Subscriber

if TYPE_CHECKING:
    from detect.engine import DetectionEngine
    from ingest.events import AuditEvent

__all__ = ["save_alerts", "settle_replay"]

logger = logging.getLogger(__name__)

BACKOFF_START_S = 0.05  # seconds; first retry delay when storing alerts fails
BACKOFF_MAX_S = 5.0  # seconds; retry delay cap


def save_alerts(
    store: AlertStore,
    alerts: Sequence[Alert],
    subscriber: Subscriber,
    stopping: threading.Event,
    *,
    poll_timeout_s: float,
) -> bool:
    """Save `alerts`, retrying with capped exponential backoff while the store fails; the
    subscriber is paused meanwhile and polled empty to keep its group membership. False when
    `stopping` is set before they were saved (the batch's offsets must then stay uncommitted)."""
    backoff = BACKOFF_START_S
    while True:
        try:
            store.save(alerts)
            subscriber.resume()
            return True
        except Exception as exc:  # noqa: BLE001 - any store failure: keep the batch, retry
            logger.warning(
                "storing %d alert(s) failed (%s); retry in %.2fs", len(alerts), exc, backoff
            )
            subscriber.pause()
            deadline = time.monotonic() + backoff
            while time.monotonic() < deadline:
                if stopping.is_set():
                    return False
                subscriber.poll(0, poll_timeout_s)  # keep the group membership alive
            backoff = min(backoff * 2, BACKOFF_MAX_S)


def settle_replay(engine: DetectionEngine, store: AlertStore, replayed: list[AuditEvent]) -> None:
    """Run `replayed` (Record.replay: a former owner's records) through `engine` for its state,
    then give the alerts the replay opened or grew their stored status (engine.settle_replay):
    nothing of it is stored, notified or committed."""
    if not replayed:
        return
    changes = engine.process(replayed, replay=True).changes
    ids = sorted({alert.id for _, alert in changes})
    stored = {i: found.status for i in ids if (found := store.get(i)) is not None}
    engine.settle_replay(ids, stored)
