"""FalsePositives: what analysts marked false positive, so the same pattern does not page again.

Marking an alert false positive (POST /v1/alerts/{id}/false-positive, the dashboard's button)
teaches detection that this principal's findings of the alert's rules are benign for it. They
are not silenced -- a suppression does that, on request -- but held, and held as explained (like
a benign twin): the same pattern alone never opens an alert again, while a different detector
on another call of the same principal still corroborates it into one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from detect.alerts.alert import AlertStore
from ingest import schema
from ingest.store import Store

__all__ = ["FalsePositives"]


class FalsePositives:
    """(principal key, rule) pairs analysts marked false positive; callable as a check."""

    def __init__(self) -> None:
        self._pairs: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def add(self, principal: str, rules: Iterable[str]) -> None:
        with self._lock:
            self._pairs.update((principal, rule) for rule in rules)

    def load(self, store: Store) -> int:
        """Read back every false-positive verdict (with all the rules its alert carried)."""
        rows = store.query(
            f"SELECT DISTINCT alert_id, principal, rule FROM {schema.ALERT_FEEDBACK} "
            "WHERE verdict = 'false_positive'"
        )
        alerts = AlertStore(store)
        for alert_id, principal, rule in rows:
            alert = alerts.get(str(alert_id))
            self.add(str(principal), alert.rules if alert is not None else (str(rule),))
        return len(rows)

    def __call__(self, principal: str, rule: str) -> bool:
        with self._lock:
            return (principal, rule) in self._pairs

    def __len__(self) -> int:
        with self._lock:
            return len(self._pairs)
