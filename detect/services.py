"""Wires the response layer onto a Runtime: start_response(runtime) -> ResponseWorker.

Registers the alert listeners (webhooks, auto-quarantine), the suppressor, the extra rules
(approval bypass, event memo) and starts the outbox, decision-log and state-sync threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import detect.gate.approvals as approvals_mod
import detect.gate.service as decisions_mod
import detect.response.outbox as outbox_mod
from detect.alerts.suppression import EventMemo, SuppressionBook
from detect.gate.approvals import Approval, ApprovalBook
from detect.gate.bypass import BypassRule
from detect.gate.policy import load_policy
from detect.gate.service import DetectionHealth, GateService
from detect.response.outbox import Backoff, Outbox, OutboxWorker
from detect.response.principals import PrincipalChange, PrincipalRegistry, auto_response_listener
from detect.response.revokers import Revoker, RevokeResult, build_revokers
from detect.response.webhooks import AlertLike, AlertSink, WebhookSink, alert_event, new_event
from ingest import schema
from ingest.runtime import Runtime
from ingest.settings import Settings
from ingest.store.journal import BatchWriter

__all__ = [
    "ResponseConfig",
    "ResponseServices",
    "ResponseWorker",
    "response_services",
    "start_response",
]

logger = logging.getLogger(__name__)

STATE_FLUSH_S = 1.0  # approval and webhook-delivery rows: rare, and another process may wait
SYNC_INTERVAL_S = 0.5  # seconds between detector-health polls and cross-process state refreshes
UPDATE_WEBHOOK_MIN_S = 60.0  # seconds; alert.updated is sent at most this often per alert
REVOKE_WAIT_S = 10.0  # seconds the revoke API waits for revoker results


@dataclass(frozen=True)
class ResponseConfig:
    """The response layer's view of Settings; defaults serve tests that build one directly."""

    webhook_urls: tuple[str, ...] = ()
    webhook_secret: str | None = None
    public_url: str = "http://127.0.0.1:8000"
    auto_quarantine: bool = True
    auto_revoke: bool = False
    policy_file: Path | None = None
    webhook_max_attempts: int = 10
    webhook_backoff_s: float = 1.0
    webhook_backoff_max_s: float = 600.0
    revokers: tuple[str, ...] = ()
    revoker_webhook_url: str = ""
    aws_endpoint_url: str = ""
    aws_region: str = ""
    gate_max_lag_messages: int = 10_000
    gate_max_lag_s: float = 30.0
    approval_ttl_s: float = 900.0
    bypass_unasked_agents: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> ResponseConfig:
        secret = settings.webhook_secret
        return cls(
            webhook_urls=tuple(settings.webhook_urls),
            webhook_secret=secret.get_secret_value() if secret is not None else None,
            public_url=settings.api_url or f"http://{settings.host}:{settings.port}",
            auto_quarantine=settings.auto_quarantine,
            auto_revoke=settings.auto_revoke,
            policy_file=settings.policy_file,
            webhook_max_attempts=settings.webhook_max_attempts,
            webhook_backoff_s=settings.webhook_backoff_s,
            webhook_backoff_max_s=settings.webhook_backoff_max_s,
            revokers=tuple(settings.revokers),
            revoker_webhook_url=settings.revoker_webhook_url,
            aws_endpoint_url=settings.aws_endpoint_url,
            aws_region=settings.aws_region,
            gate_max_lag_messages=settings.gate_max_lag_messages,
            gate_max_lag_s=settings.gate_max_lag_s,
            approval_ttl_s=settings.approval_ttl_s,
            bypass_unasked_agents=settings.bypass_unasked_agents,
        )


@dataclass
class ResponseServices:
    """Everything the response routes and workers share (runtime.extensions["response"])."""

    config: ResponseConfig
    outbox: Outbox
    sink: AlertSink
    registry: PrincipalRegistry
    approvals: ApprovalBook
    gate: GateService
    bypass: BypassRule
    memo: EventMemo
    suppressions: SuppressionBook
    revokers: list[Revoker]
    decision_log: BatchWriter
    approval_log: BatchWriter
    outbox_log: BatchWriter
    notifier: ThreadPoolExecutor
    shared_store: bool = True  # other processes write to the store: re-read their changes
    pending_revocations: dict[str, list[Future[RevokeResult]]] = field(default_factory=dict)

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


def response_services(
    runtime: Runtime,
    *,
    config: ResponseConfig | None = None,
    sink: AlertSink | None = None,
    clock: Callable[[], float] = time.time,
) -> ResponseServices:
    """The runtime's response services, built (and their state loaded) on first use."""
    existing = runtime.extensions.get("response")
    if isinstance(existing, ResponseServices):
        return existing
    cfg = config or ResponseConfig.from_settings(runtime.settings)
    store = runtime.store
    key_of = runtime.normalizer.identity.principal_key
    journal = runtime.settings.data_dir / "journal"
    outbox_log = BatchWriter(
        store,
        table=schema.WEBHOOK_OUTBOX,
        columns=outbox_mod.COLUMNS,
        key=("delivery_id", "version"),
        journal_dir=journal,
        interval_s=STATE_FLUSH_S,
    )
    outbox = Outbox(
        store, endpoints=cfg.webhook_urls, clock=clock, write=outbox_log.add, flush=outbox_log.flush
    )
    approval_log = BatchWriter(
        store,
        table=schema.APPROVALS,
        columns=approvals_mod.COLUMNS,
        key=("approval_id", "version"),
        journal_dir=journal,
        interval_s=STATE_FLUSH_S,
    )
    decision_log = BatchWriter(
        store, table=schema.DECISIONS, columns=decisions_mod.COLUMNS, journal_dir=journal
    )
    registry = PrincipalRegistry(store, key_of=key_of, clock=clock)
    approvals = ApprovalBook(
        store, key_of=key_of, ttl_s=cfg.approval_ttl_s, clock=clock, write=approval_log.add
    )
    bypass = BypassRule(unasked_agents=cfg.bypass_unasked_agents, clock=clock)
    health = DetectionHealth(
        runtime.extensions, max_lag_messages=cfg.gate_max_lag_messages, max_lag_s=cfg.gate_max_lag_s
    )
    gate = GateService(
        registry=registry,
        approvals=approvals,
        health=health,
        policy=load_policy(cfg.policy_file),
        classify=runtime.normalizer.catalogue.classify,
        kind_of=_kind_of(runtime, bypass),
        log=decision_log.add,
        clock=clock,
    )
    memo = EventMemo()
    services = ResponseServices(
        config=cfg,
        outbox=outbox,
        sink=sink or WebhookSink(outbox),
        registry=registry,
        approvals=approvals,
        gate=gate,
        bypass=bypass,
        memo=memo,
        suppressions=SuppressionBook(store, key_of=key_of, memo=memo, clock=clock),
        revokers=build_revokers(
            cfg.revokers,
            webhook_url=cfg.revoker_webhook_url,
            outbox=outbox,
            aws_endpoint_url=cfg.aws_endpoint_url,
            aws_region=cfg.aws_region,
        ),
        decision_log=decision_log,
        approval_log=approval_log,
        outbox_log=outbox_log,
        notifier=ThreadPoolExecutor(2, thread_name_prefix="response-notify"),
        shared_store=store.shared,
    )
    _load(services, runtime)
    _register(services, runtime)
    runtime.extensions["response"] = services
    return services


def _load(services: ResponseServices, runtime: Runtime) -> None:
    services.decision_log.recover()  # rows a killed process journaled, before anything reads
    services.approval_log.recover()
    services.outbox_log.recover()
    services.outbox.load()
    services.registry.load()
    services.approvals.load()
    services.suppressions.load()
    services.bypass.load(runtime.store)
    services.gate.load_budgets(runtime.store)


def _register(services: ResponseServices, runtime: Runtime) -> None:
    cfg = services.config
    services.gate.observers.append(services.bypass.observe)

    def queue_notice(approval: Approval) -> None:
        services.notifier.submit(_notify_approval, services, approval)

    services.gate.on_approval.append(queue_notice)
    services.registry.listeners.append(lambda change: _on_principal_change(services, change))
    listeners = runtime.extensions.setdefault("alert_listeners", [])
    listeners.append(_alert_webhooks(services.sink, cfg.public_url))
    listeners.append(
        auto_response_listener(
            services.registry, quarantine=cfg.auto_quarantine, revoke=cfg.auto_revoke
        )
    )
    runtime.extensions.setdefault("suppressors", []).append(services.suppressions)
    runtime.extensions.setdefault("extra_rules", []).extend([services.bypass, services.memo])


def _notify_approval(services: ResponseServices, approval: Approval) -> None:
    base = services.config.public_url.rstrip("/")
    actions = {verb: f"{base}/v1/approvals/{approval.id}/{verb}" for verb in ("approve", "deny")}
    services.sink.send(
        new_event("approval.requested", {"approval": approval.to_json(), "actions": actions})
    )


def _on_principal_change(services: ResponseServices, change: PrincipalChange) -> None:
    event_type = {
        "quarantined": "principal.quarantined",
        "revoked": "principal.revoked",
        "active": "principal.restored",
    }[change.to_state]
    services.sink.send(new_event(event_type, change.to_json()))
    if change.to_state == "revoked":
        call: Callable[[Revoker], RevokeResult] = lambda r: r.revoke(change)  # noqa: E731
    elif change.from_state == "revoked":
        call = lambda r: r.restore(change)  # noqa: E731
    else:
        return
    services.pending_revocations[change.change_id] = [
        services.notifier.submit(_run_revoker, call, revoker) for revoker in services.revokers
    ]


def _run_revoker(call: Callable[[Revoker], RevokeResult], revoker: Revoker) -> RevokeResult:
    result = call(revoker)
    log = logger.info if result.ok else logger.error
    log("revoker %s: %s", result.revoker, result.detail)
    return result


def _alert_webhooks(sink: AlertSink, base_url: str) -> Callable[[str, AlertLike], None]:
    """Alert listener sending alert.* webhooks; alert.updated at most once a minute per alert."""
    last_update: dict[str, float] = {}

    def on_alert(event_type: str, alert: AlertLike) -> None:
        if event_type == "alert.updated":
            now = time.monotonic()
            if now - last_update.get(alert.id, -UPDATE_WEBHOOK_MIN_S) < UPDATE_WEBHOOK_MIN_S:
                return
            last_update[alert.id] = now
        sink.send(alert_event(event_type, alert, base_url=base_url))

    return on_alert


class ResponseWorker:
    """The response layer's threads: outbox delivery, batched logs, health poll and state sync."""

    def __init__(self, services: ResponseServices) -> None:
        self.services = services
        cfg = services.config
        backoff = Backoff(
            cfg.webhook_backoff_s, cfg.webhook_backoff_max_s, cfg.webhook_max_attempts
        )
        self._outbox = OutboxWorker(services.outbox, secret=cfg.webhook_secret, backoff=backoff)
        self._stop = threading.Event()
        self._sync = threading.Thread(target=self._run_sync, name="response-sync", daemon=True)
        self._shared = services.shared_store

    def start(self) -> ResponseWorker:
        self.services.gate.health.poll()
        for part in (
            self.services.decision_log,
            self.services.approval_log,
            self.services.outbox_log,
            self._outbox,
        ):
            part.start()
        self._sync.start()
        return self

    def alive(self) -> bool:
        parts: Sequence[Any] = (
            self.services.decision_log,
            self.services.approval_log,
            self.services.outbox_log,
            self._outbox,
            self._sync,
        )
        return all(p.is_alive() if isinstance(p, threading.Thread) else p.alive() for p in parts)

    def lag(self) -> int:
        """Webhook deliveries not yet done (not bus lag)."""
        return self.services.outbox.pending_count()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._sync.join(timeout_s)
        self.services.notifier.shutdown(wait=True)
        self.services.decision_log.stop(timeout_s)
        self.services.approval_log.stop(timeout_s)
        self._outbox.stop(timeout_s)
        self.services.outbox_log.stop(timeout_s)  # after the worker: it records outcomes

    def _run_sync(self) -> None:
        services, ticks = self.services, 0
        while not self._stop.wait(SYNC_INTERVAL_S):
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


def start_response(
    runtime: Runtime, *, config: ResponseConfig | None = None, sink: AlertSink | None = None
) -> ResponseWorker:
    """Build the response services on `runtime` (if not yet) and start their threads."""
    return ResponseWorker(response_services(runtime, config=config, sink=sink)).start()
