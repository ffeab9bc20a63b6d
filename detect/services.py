"""Typed wiring of a Leash process beyond ingest: build_services(runtime) -> Services.

`Services` holds the response layer (principal states, revokers, signed webhooks and their
outbox, suppression), the gate (decide, approvals, approval-bypass detection, the decision log)
and the alert listeners, as typed fields; `start_detection` adds the detection worker wired to
them, and `ServiceWorker` runs their background threads. Routers and the decide fast path are
handed the Services they use; nothing is looked up by name.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache

import detect.gate.approvals as approvals_mod
import detect.gate.service as decisions_mod
import detect.response.outbox as outbox_mod
from detect.alerts.alert import AlertListener
from detect.alerts.feedback import FalsePositives
from detect.alerts.suppression import EventMemo, SuppressionBook
from detect.findings import Finding
from detect.gate.approvals import Approval, ApprovalBook
from detect.gate.bypass import BypassRule
from detect.gate.health import DetectionHealth
from detect.gate.policy import load_policy
from detect.gate.service import GateService
from detect.metrics import DetectMetrics
from detect.response.outbox import Backoff, Outbox, OutboxWorker
from detect.response.principals import PrincipalRegistry, auto_response_listener
from detect.response.revokers import Revoker, RevokeResult, build_revokers, revocation_listener
from detect.response.routing import load_routes
from detect.response.webhooks import Notifier, WebhookNotifier, alert_webhook_listener, new_event
from detect.rules.base import Rule
from detect.settings import DetectSettings
from detect.worker import DetectionWorker
from detect.worker.messages import Control
from detect.worker.process import ChildDied, DetectorProcess
from ingest import schema
from ingest.runtime import Runtime
from ingest.store.journal import JournaledWriter
from ingest.worker import ThreadWorker

__all__ = ["ServiceWorker", "Services", "build_services", "start_detection"]

logger = logging.getLogger(__name__)

STATE_FLUSH_S = 1.0  # approval and webhook-delivery rows: rare, and another process may wait
SYNC_INTERVAL_S = 0.5  # seconds between detector-health polls and cross-process state refreshes
PRINCIPAL_EVENTS = {  # the webhook sent when a principal enters a state
    "quarantined": "principal.quarantined",
    "revoked": "principal.revoked",
    "active": "principal.restored",
}
REVOKE_WAIT_S = 10.0  # seconds the revoke API waits for revoker results


@dataclass
class Services:
    """Everything the response and gate routes, the fast path and the workers share.

    `listeners` hear every alert change (webhooks, auto-quarantine); `extra_rules` and
    `suppressors` plug the gate's bypass detection and the suppression book into detection;
    `detection` is this process's detection worker -- its engine in a thread here
    (DetectionWorker) or in a child process (DetectorProcess) -- None where another process
    runs it.
    """

    runtime: Runtime
    outbox: Outbox
    notifier: Notifier
    registry: PrincipalRegistry
    approvals: ApprovalBook
    gate: GateService
    bypass: BypassRule
    memo: EventMemo
    suppressions: SuppressionBook
    false_positives: FalsePositives
    revokers: list[Revoker]
    decision_log: JournaledWriter
    approval_log: JournaledWriter
    outbox_log: JournaledWriter
    background: ThreadPoolExecutor  # webhooks for approvals and revoker calls, off the hot path
    metrics: DetectMetrics
    listeners: list[AlertListener] = field(default_factory=list)
    detection: DetectionWorker | DetectorProcess | None = None
    pending_revocations: dict[str, list[Future[RevokeResult]]] = field(default_factory=dict)

    @property
    def extra_rules(self) -> list[Rule]:
        return [self.bypass, self.memo]

    @property
    def suppressors(self) -> list[Callable[[Finding], bool]]:
        return [self.suppressions]

    def forward(self, control: Control) -> None:
        """Tell a detector in a child process what changed here (one in this process shares
        the suppression book, the verdicts and the bypass rule already)."""
        if isinstance(self.detection, DetectorProcess):
            self.detection.forward(control)

    def revoker_results(
        self, change_id: str, timeout_s: float = REVOKE_WAIT_S
    ) -> list[RevokeResult]:
        futures = self.pending_revocations.pop(change_id, [])
        results = []
        for future in futures:
            try:
                results.append(future.result(timeout_s))
            except Exception as exc:  # noqa: BLE001 - timeout or crash: report, keep going
                results.append(RevokeResult("?", False, f"{type(exc).__name__}"))
        return results


def _kind_of(runtime: Runtime, bypass: BypassRule) -> Callable[[str, str], str]:
    identity = runtime.normalizer.identity

    @lru_cache(maxsize=65536)
    def derived(principal: str) -> str:
        if not principal.startswith("arn:"):
            return "agent"  # an unknown shape asking the gate: assume the strict case
        arn = (
            principal + "/session"
            if principal.count("/") == 1 and ":assumed-role/" in principal
            else principal
        )
        return identity.actor_kind({"arn": arn, "type": "AssumedRole"}, "", False)

    def kind_of(principal: str, key: str) -> str:
        seen, guessed = bypass.actor_kind(key), derived(principal)
        if "agent" in (seen, guessed):
            return "agent"
        return seen or guessed

    return kind_of


def build_services(
    runtime: Runtime, *, notifier: Notifier | None = None, clock: Callable[[], float] = time.time
) -> Services:
    """The process's response and gate services, their state loaded and their listeners wired."""
    settings = runtime.settings
    store = runtime.store
    key_of = runtime.normalizer.identity.principal_key
    journal = settings.journal_dir
    outbox_log = JournaledWriter(
        store,
        table=schema.WEBHOOK_OUTBOX,
        columns=outbox_mod.COLUMNS,
        key=("delivery_id", "version"),
        journal_dir=journal,
        interval_s=STATE_FLUSH_S,
    )
    outbox = Outbox(
        store,
        endpoints=tuple(settings.webhook_urls),
        clock=clock,
        write=outbox_log.add,
        flush=outbox_log.flush,
        max_pending=settings.webhook_max_pending,
    )
    approval_log = JournaledWriter(
        store,
        table=schema.APPROVALS,
        columns=approvals_mod.COLUMNS,
        key=("approval_id", "version"),
        journal_dir=journal,
        interval_s=STATE_FLUSH_S,
    )
    decision_log = JournaledWriter(
        store, table=schema.DECISIONS, columns=decisions_mod.COLUMNS, journal_dir=journal
    )
    registry = PrincipalRegistry(store, key_of=key_of, clock=clock)
    approvals = ApprovalBook(
        store, key_of=key_of, ttl_s=settings.approval_ttl_s, clock=clock, write=approval_log.add
    )
    policy = load_policy(settings.policy_file)
    bypass = BypassRule(
        unasked_agents=settings.bypass_unasked_agents, named_by_policy=policy.names, clock=clock
    )
    health = DetectionHealth(
        lambda: services.detection,  # bound below; None until start_detection runs
        max_lag_messages=settings.gate_max_lag_messages,
        max_lag_s=settings.gate_max_lag_s,
    )
    gate = GateService(
        registry=registry,
        approvals=approvals,
        health=health,
        policy=policy,
        classify=runtime.normalizer.catalogue.classify,
        kind_of=_kind_of(runtime, bypass),
        log=decision_log.add,
        clock=clock,
    )
    memo = EventMemo()
    routes = load_routes(settings.webhook_routes_file) if settings.webhook_routes_file else []
    services = Services(
        runtime=runtime,
        outbox=outbox,
        notifier=notifier or WebhookNotifier(outbox, routes),
        registry=registry,
        approvals=approvals,
        gate=gate,
        bypass=bypass,
        memo=memo,
        suppressions=SuppressionBook(store, key_of=key_of, memo=memo, clock=clock),
        false_positives=FalsePositives(),
        revokers=build_revokers(
            tuple(settings.revokers),
            webhook_url=settings.revoker_webhook_url,
            outbox=outbox,
            aws_endpoint_url=settings.aws_endpoint_url,
            aws_region=settings.aws_region,
        ),
        decision_log=decision_log,
        approval_log=approval_log,
        outbox_log=outbox_log,
        background=ThreadPoolExecutor(2, thread_name_prefix="response-notify"),
        metrics=DetectMetrics.of(runtime.metrics.registry),
    )
    _load(services)
    _register(services)
    return services


def start_detection(
    services: Services, *, settings: DetectSettings | None = None, child: bool = False
) -> DetectionWorker | DetectorProcess:
    """Start this process's detection worker, wired to the services' rules and listeners.

    `child`: run the engine in a child process (DetectorProcess), so its CPU never holds this
    process's GIL; where no child can start, it runs in a thread here and says why.
    """
    if child:
        try:
            return _start_detector_process(services, settings)
        except (ChildDied, OSError) as exc:
            logger.error("cannot run the detector in a child process (%s); running it here", exc)
    worker = DetectionWorker(
        services.runtime,
        settings=settings,
        extra_rules=services.extra_rules,
        suppressors=services.suppressors,
        listeners=services.listeners,
        false_positive=services.false_positives,
    ).start()
    services.detection = worker
    services.metrics.watch_detector(worker)
    return worker


def _start_detector_process(services: Services, settings: DetectSettings | None) -> DetectorProcess:
    worker = DetectorProcess(
        services.runtime,
        settings=settings,
        listeners=services.listeners,
        bypass=services.bypass,
        suppressions=services.suppressions,
        before_start=services.decision_log.flush,
    ).start()
    services.detection = worker
    services.gate.observers.append(worker.observe)
    services.metrics.watch_detector(worker)
    return worker


def _load(services: Services) -> None:
    store = services.runtime.store
    services.decision_log.recover()  # rows a killed process journaled, before anything reads
    services.approval_log.recover()
    services.outbox_log.recover()
    services.outbox.load()
    services.registry.load()
    services.approvals.load()
    services.suppressions.load()
    services.false_positives.load(store)
    services.bypass.load(store)
    services.gate.load_budgets(store)


def _register(services: Services) -> None:
    settings = services.runtime.settings
    services.gate.observers.append(services.bypass.observe)
    metrics = services.metrics
    services.gate.observers.append(metrics.decision_observer)
    services.gate.timings.append(metrics.decide_seconds.observe)
    services.outbox.outcomes.append(metrics.webhook_outcome)
    metrics.watch_backlog(services.outbox.backlog)
    services.registry.listeners.append(metrics.principal_listener)
    services.listeners.append(metrics.alert_listener)

    def queue_notice(approval: Approval) -> None:
        services.background.submit(_notify_approval, services, approval)

    services.gate.on_approval.append(queue_notice)
    services.registry.listeners.append(
        lambda change: services.notifier.send(
            new_event(PRINCIPAL_EVENTS[change.to_state], change.to_json())
        )
    )
    services.registry.listeners.append(
        revocation_listener(
            revokers=services.revokers,
            background=services.background,
            pending=services.pending_revocations,
        )
    )
    services.listeners.append(alert_webhook_listener(services.notifier, settings.public_url))
    services.listeners.append(
        auto_response_listener(
            services.registry, quarantine=settings.auto_quarantine, revoke=settings.auto_revoke
        )
    )


def _notify_approval(services: Services, approval: Approval) -> None:
    base = services.runtime.settings.public_url.rstrip("/")
    actions = {verb: f"{base}/v1/approvals/{approval.id}/{verb}" for verb in ("approve", "deny")}
    services.notifier.send(
        new_event("approval.requested", {"approval": approval.to_json(), "actions": actions})
    )


class ServiceWorker(ThreadWorker):
    """The services' threads: outbox delivery, journaled logs, detector-health poll, state sync."""

    def __init__(self, services: Services) -> None:
        super().__init__("response-sync")
        self.services = services
        settings = services.runtime.settings
        secret = settings.webhook_secret
        backoff = Backoff(
            settings.webhook_backoff_s,
            settings.webhook_backoff_max_s,
            settings.webhook_max_attempts,
        )
        self._outbox = OutboxWorker(
            services.outbox,
            secret=secret.get_secret_value() if secret is not None else None,
            backoff=backoff,
        )
        self._shared = services.runtime.store.shared
        self._logs = (services.decision_log, services.approval_log, services.outbox_log)

    def start(self) -> ServiceWorker:
        self.services.gate.health.poll()
        for part in (*self._logs, self._outbox):
            part.start()
        return super().start()

    def alive(self) -> bool:
        return super().alive() and all(p.alive() for p in (*self._logs, self._outbox))

    def backlog(self) -> int:
        """Webhook deliveries not yet done."""
        return self._outbox.backlog()

    def _close(self) -> None:
        self.services.background.shutdown(wait=True)
        self.services.decision_log.stop()
        self.services.approval_log.stop()
        self._outbox.stop()
        self.services.outbox_log.stop()  # after the outbox worker: it records outcomes

    def _run(self) -> None:
        services, ticks = self.services, 0
        while not self._stopping.wait(SYNC_INTERVAL_S):
            ticks += 1
            try:
                services.gate.health.poll()
                if ticks % 2 == 0:
                    # Re-read what other processes wrote. An embedded store has no other writer,
                    # and each chDB query costs ~5 ms of this (the API's) process's CPU.
                    if self._shared:
                        services.registry.refresh()
                        services.approvals.load()
                    services.approvals.expire()
            except Exception:  # noqa: BLE001 - keep polling; the gate fails safe meanwhile
                logger.exception("response state sync failed")
