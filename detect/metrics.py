"""Prometheus metrics of detection, the gate, webhooks and response (on the ingest registry).

Served by the same `GET /metrics` as the ingest series: detector events processed and lag,
alerts opened by severity and rule family, decide answers by outcome with a latency histogram,
webhook deliveries by outcome and the outbox backlog, and principal state changes. Each series
is fed by a hook the services already expose (alert listeners, gate observers, the outbox's
outcome callbacks, registry listeners); the detector's own counters are read at scrape time.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from detect.alerts.alert import Alert

if TYPE_CHECKING:
    from detect.gate.service import Decision
    from detect.response.principals import PrincipalChange


class DetectorCounters(Protocol):
    """What a scrape reads of a detection worker (in this process's thread or a child's)."""

    @property
    def events_seen(self) -> int: ...

    @property
    def watermark_ms(self) -> int: ...

    @property
    def undecodable(self) -> int: ...

    def backlog(self) -> int: ...

    def alive(self) -> bool: ...


__all__ = ["DetectMetrics", "DetectorCounters", "rule_family"]

DECIDE_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


def rule_family(rule: str) -> str:
    """The family of a rule id: `redflag`, `sigma`, `baseline`, `gate`, `isolation_forest`..."""
    return rule.split(":", 1)[0] if ":" in rule else rule


_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, DetectMetrics] = (
    weakref.WeakKeyDictionary()
)


class DetectMetrics:
    """The series, registered on `registry` (the process's ingest registry): use
    `DetectMetrics.of(registry)`, which registers them once per registry."""

    @classmethod
    def of(cls, registry: CollectorRegistry) -> DetectMetrics:
        found = _BY_REGISTRY.get(registry)
        if found is None:
            found = _BY_REGISTRY[registry] = cls(registry)
        return found

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.alerts_opened = Counter(
            "leash_alerts_opened",
            "Alerts opened, by severity and rule family of the rule that opened them",
            ["severity", "family"],
            registry=r,
        )
        self.decisions = Counter(
            "leash_decisions", "POST /v1/decide answers, by decision", ["decision"], registry=r
        )
        self.decide_seconds = Histogram(
            "leash_decide_seconds",
            "Time the gate took to decide (inside the process, without HTTP)",
            buckets=DECIDE_BUCKETS,
            registry=r,
        )
        self.webhooks = Counter(
            "leash_webhook_deliveries",
            "Webhook delivery attempts, by outcome (delivered, retry, dead)",
            ["outcome"],
            registry=r,
        )
        self.outbox_backlog = Gauge(
            "leash_webhook_outbox_backlog", "Webhook deliveries waiting (pending)", registry=r
        )
        self.principal_changes = Counter(
            "leash_principal_changes",
            "Principal state changes, by the state entered (quarantined, revoked, active)",
            ["state"],
            registry=r,
        )
        self._detector = _DetectorCollector()
        r.register(self._detector)

    def alert_listener(self, event_type: str, alert: Alert) -> None:
        if event_type == "alert.opened":
            self.alerts_opened.labels(alert.severity, rule_family(alert.rule)).inc()

    def decision_observer(self, decision: Decision) -> None:
        self.decisions.labels(decision.decision).inc()

    def webhook_outcome(self, outcome: str) -> None:
        self.webhooks.labels(outcome).inc()

    def principal_listener(self, change: PrincipalChange) -> None:
        self.principal_changes.labels(change.to_state).inc()

    def watch_backlog(self, pending: Callable[[], int]) -> None:
        self.outbox_backlog.set_function(lambda: float(pending()))

    def watch_detector(self, worker: DetectorCounters) -> None:
        self._detector.worker = worker


class _DetectorCollector(Collector):
    """Read at scrape time from this process's detection worker (none: no series)."""

    def __init__(self) -> None:
        self.worker: DetectorCounters | None = None

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        worker = self.worker
        if worker is None:
            return
        yield CounterMetricFamily(
            "leash_detector_events",
            "Events the detection engine processed",
            value=worker.events_seen,
        )
        yield CounterMetricFamily(
            "leash_detector_undecodable", "Bus messages detection skipped", value=worker.undecodable
        )
        yield GaugeMetricFamily(
            "leash_detector_lag",
            "Bus messages the detector has not processed",
            value=worker.backlog(),
        )
        yield GaugeMetricFamily(
            "leash_detector_watermark_seconds",
            "Event time (Unix seconds) the detector has processed up to",
            value=worker.watermark_ms / 1000,
        )
        yield GaugeMetricFamily(
            "leash_detector_up", "1 while the detection worker runs", value=float(worker.alive())
        )
