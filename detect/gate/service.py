"""GateService: the stateful decide path (in-memory state, batched decision log, budgets, health).

The hot path (`GateService.decide`) touches memory only: principal states, approvals, budgets,
cached detector health. Decisions and approval rows are queued, journaled and inserted in batches
by a JournaledWriter (ingest/store/journal.py).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from detect.gate.approvals import Approval, ApprovalBook
from detect.gate.health import DetectionHealth
from detect.gate.policy import (
    ARGS_DIGEST,
    ARGS_SHOWN,
    DANGEROUS,
    REQUEST_COLUMNS,
    GateContext,
    GateRequest,
    Policy,
    evaluate,
)
from detect.response.principals import PrincipalRegistry
from ingest import schema
from ingest.catalogue.tools import ToolCatalogue, is_tool_source, tool_catalogue
from ingest.store import Store

__all__ = ["Decision", "GateService", "AutonomyBudgets"]

logger = logging.getLogger(__name__)

COLUMNS = (
    "decision_id",
    "decided_at",
    *REQUEST_COLUMNS,
    "decision",
    "reason",
    "rule",
    "approval_id",
    "key_id",
)
HOUR_MS = 3_600_000


@dataclass(frozen=True)
class Decision:
    """One decide answer, stored in `decisions` as the audit event of the call."""

    id: str
    decided_at_ms: int
    request: GateRequest
    decision: str
    reason: str
    rule: str
    approval_id: str
    key_id: str

    def row(self) -> tuple[object, ...]:
        at = datetime.fromtimestamp(self.decided_at_ms / 1000, tz=UTC)
        return (
            self.id,
            at,
            *self.request.row(),
            self.decision,
            self.reason,
            self.rule,
            self.approval_id,
            self.key_id,
        )

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "decision": self.decision,
            "reason": self.reason,
            "decision_id": self.id,
            "rule": self.rule,
            "action_class": self.request.action_class,
            "principal_key": self.request.principal_key,
        }
        if self.approval_id:
            body["approval_id"] = self.approval_id
        return body


class AutonomyBudgets:
    """Per principal: times of autonomously allowed dangerous actions in the trailing hour."""

    def __init__(self) -> None:
        self._times: dict[str, deque[int]] = {}

    def count(self, principal_key: str, now_ms: int) -> int:
        times = self._times.get(principal_key)
        if not times:
            return 0
        while times and times[0] <= now_ms - HOUR_MS:
            times.popleft()
        return len(times)

    def record(self, principal_key: str, at_ms: int) -> None:
        self._times.setdefault(principal_key, deque()).append(at_ms)


class GateService:
    """decide(): server-side classification, state lookup, verdict, approval and audit row.

    Approvals asked for the same exact request are reused, so an agent polling decide while it
    waits gets the same approval id back. `observers` see every Decision (bypass detection);
    `on_approval` is told about each new approval (it must not block: webhooks are queued).
    """

    def __init__(
        self,
        *,
        registry: PrincipalRegistry,
        approvals: ApprovalBook,
        health: DetectionHealth,
        policy: Policy,
        classify: Callable[[str, str], str],
        kind_of: Callable[[str, str], str],
        log: Callable[[tuple[object, ...]], None],
        clock: Callable[[], float] = time.time,
        tools: ToolCatalogue | None = None,
    ) -> None:
        self.registry = registry
        self.approvals = approvals
        self.health = health
        self.policy = policy
        self.budgets = AutonomyBudgets()
        self._classify = classify
        self.tools = tools or tool_catalogue()
        self.kind_of = kind_of
        self._log = log
        self._clock = clock
        self._lock = threading.Lock()
        self.observers: list[Callable[[Decision], None]] = []
        self.timings: list[Callable[[float], None]] = []  # seconds each decide took
        self.on_approval: list[Callable[[Approval], None]] = []

    def decide(
        self,
        *,
        principal: str,
        action: str,
        source: str = "",
        resources: Sequence[str] = (),
        arguments: object = None,
        key_id: str = "",
    ) -> Decision:
        started = time.perf_counter()
        key = self.registry.key_of(principal)
        if is_tool_source(source):  # an agent's tool call: its class is in its arguments
            call = self.tools.classify(action, arguments)
            digest = f"{ARGS_DIGEST}{call.digest}"  # an approval is for exactly these arguments
            # what an approver reads: the command or file, else the redacted arguments
            shown = call.resources or ((f"{ARGS_SHOWN}{call.summary}",) if call.summary else ())
            action_class, resources = call.action_class, (*resources, *shown, digest)
        else:
            action_class = self._classify(source, action)
        req = GateRequest(
            principal,
            key,
            self.kind_of(principal, key),
            source,
            action,
            action_class,
            tuple(resources),
        )
        with self._lock:
            decision, created = self._decide_locked(req, key_id)
        self._log(decision.row())
        for observer in self.observers:
            observer(decision)
        for timing in self.timings:
            timing(time.perf_counter() - started)
        if created is not None:
            for notify in self.on_approval:
                notify(created)
        return decision

    def _decide_locked(self, req: GateRequest, key_id: str) -> tuple[Decision, Approval | None]:
        now = int(self._clock() * 1000)
        approval = self.approvals.lookup(req)
        foreign = (
            approval is not None
            and bool(approval.requested_by)
            and (approval.requested_by != key_id)
        )
        if foreign:  # an approval is consumed only by the key that asked for it
            approval = None
        dangerous = req.action_class in DANGEROUS
        ok, why = self.health.current() if dangerous else (True, "")
        ctx = GateContext(
            principal_state=self.registry.state(req.principal_key),
            approval=approval.status if approval else "",
            detection_ok=ok,
            detection_reason=why,
            anomaly_score=self.health.score(req.principal_key) if dangerous else None,
            dangerous_last_hour=self.budgets.count(req.principal_key, now) if dangerous else 0,
        )
        verdict = evaluate(req, ctx, self.policy)
        created = None
        if verdict.decision == "require_approval" and approval is None and not foreign:
            approval = created = self.approvals.request(
                req, reason=verdict.reason, requested_by=key_id, required=verdict.approvals
            )
        elif verdict.rule == "approval" and approval is not None:
            self.approvals.consume(approval)
        elif verdict.decision == "allow" and dangerous:
            self.budgets.record(req.principal_key, now)
        approval_id = approval.id if approval is not None and verdict.decision != "allow" else ""
        if verdict.rule == "approval" and approval is not None:
            approval_id = approval.id
        decision = Decision(
            _next_decision_id(),
            now,
            req,
            verdict.decision,
            verdict.reason,
            verdict.rule,
            approval_id,
            key_id,
        )
        return decision, created

    def load_budgets(self, store: Store) -> None:
        """Seed budgets with the last hour's autonomous dangerous allows (restart safety)."""
        rows = store.query(
            f"SELECT principal_key, toUnixTimestamp64Milli(decided_at) FROM {schema.DECISIONS} "
            "WHERE decided_at > now64(3) - INTERVAL 1 HOUR AND decision = 'allow' "
            "AND action_class IN ('destructive', 'privilege', 'defense_evasion') "
            "AND rule IN ('policy', 'human') ORDER BY decided_at"
        )
        for key, at_ms in rows:
            self.budgets.record(str(key), int(at_ms))


_ID_PREFIX = uuid.uuid4().hex[:12]  # per process; a counter after it keeps ids unique and cheap
_ID_COUNTER = itertools.count(1)


def _next_decision_id() -> str:
    # uuid4() per request cost ~0.25 ms here (os.urandom is slow in this sandbox)
    return f"dec_{_ID_PREFIX}{next(_ID_COUNTER):08x}"
