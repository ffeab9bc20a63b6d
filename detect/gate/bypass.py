"""Approval-bypass detection: a stateful Rule that matches dangerous events to decide answers.

The Kiro failure: the gate existed, and the permissions went around it. A successful dangerous
event raises a critical Finding when the principal's matching decide said require_approval or
deny (and nothing later allowed it), or -- for agents enrolled in the gate -- when no decide
was asked for it. An agent is enrolled once it has asked decide at all, or when the policy names
it; on the day Leash is installed no agent asks yet, so an unenrolled agent's unasked dangerous
call is a note (evidence in its incident), never a critical finding that quarantines it.
Events older than the rule's start are not judged "never asked" (historical replays).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from detect.findings import Finding
from detect.gate.policy import DANGEROUS
from detect.gate.service import Decision
from ingest import schema
from ingest.events import AuditEvent
from ingest.store import Store

__all__ = ["BypassRule"]

WINDOW_S = 3600.0  # seconds after a decide during which events count as covered by it
SKEW_S = 300.0  # seconds an event may carry a time before its decide (clock skew)
MAX_PER_PRINCIPAL = 10_000  # decisions kept per principal
MAX_KINDS = 200_000  # principals whose observed actor kind is remembered


@dataclass(frozen=True)
class _Asked:
    at_ms: int
    action: str
    service: str
    resources: tuple[str, ...]
    decision: str
    approval_id: str


def _service(source: str) -> str:
    return source.removesuffix(".amazonaws.com")


def _same_resource(a: str, b: str) -> bool:
    return a == b or a.endswith((f"/{b}", f":{b}")) or b.endswith((f"/{a}", f":{a}"))


def _covers(asked: _Asked, event: AuditEvent) -> bool:
    if asked.action != event.action:
        return False
    if asked.service and asked.service != _service(event.source):
        return False
    if not asked.resources or not event.resources:
        return True
    return any(_same_resource(a, b) for a in asked.resources for b in event.resources)


class BypassRule:
    """Rule protocol (`name`, `evaluate`) plus `observe(decision)`, fed by the gate."""

    name = "response:approval_bypass"

    def __init__(
        self,
        *,
        unasked_agents: bool = True,
        named_by_policy: Callable[[str, str], bool] | None = None,
        window_s: float = WINDOW_S,
        skew_s: float = SKEW_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._unasked_agents = unasked_agents
        self._named_by_policy = named_by_policy
        self._enrolled: set[str] = set()  # principal keys that have asked decide
        self._window_ms = int(window_s * 1000)
        self._skew_ms = int(skew_s * 1000)
        self._since_ms = int(clock() * 1000)
        self._asked: dict[str, deque[_Asked]] = {}
        self._kinds: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def observe(self, decision: Decision) -> None:
        req = decision.request
        asked = _Asked(
            decision.decided_at_ms,
            req.action,
            _service(req.source),
            req.resources,
            decision.decision,
            decision.approval_id,
        )
        with self._lock:
            self._asked.setdefault(req.principal_key, deque(maxlen=MAX_PER_PRINCIPAL)).append(asked)
            self._enrolled.add(req.principal_key)

    def enrolled(self, event: AuditEvent) -> bool:
        """The agent has asked decide before, or the policy names it."""
        with self._lock:
            asked = event.principal_key in self._enrolled
        named = self._named_by_policy
        return asked or (named is not None and named(event.principal, event.principal_key))

    def load(self, store: Store) -> int:
        """Seed with the decisions of the last window and every principal that ever asked (so
        a restart forgets neither)."""
        keys = store.query(f"SELECT DISTINCT principal_key FROM {schema.DECISIONS}")
        with self._lock:
            self._enrolled.update(str(key) for (key,) in keys)
        rows = store.query(
            f"SELECT principal_key, toUnixTimestamp64Milli(decided_at), action, source, resources,"
            f" decision, approval_id FROM {schema.DECISIONS} "
            "WHERE decided_at > now64(3) - toIntervalSecond({w:UInt32}) ORDER BY decided_at",
            {"w": (self._window_ms + self._skew_ms) // 1000},
        )
        with self._lock:
            for key, at, action, source, resources, decision, approval_id in rows:
                self._asked.setdefault(str(key), deque(maxlen=MAX_PER_PRINCIPAL)).append(
                    _Asked(
                        int(at),
                        str(action),
                        _service(str(source)),
                        tuple(resources),
                        str(decision),
                        str(approval_id),
                    )
                )
        return len(rows)

    @property
    def since_ms(self) -> int:
        """When this rule started: older events are never judged "never asked"."""
        return self._since_ms

    def actor_kind(self, principal_key: str) -> str | None:
        """The actor kind last seen in the event stream for this principal."""
        return self._kinds.get(principal_key)

    def evaluate(self, event: AuditEvent) -> Finding | None:
        self._remember_kind(event)
        if event.action_class not in DANGEROUS or event.error_code:
            return None
        with self._lock:
            asked = [
                a
                for a in self._asked.get(event.principal_key, ())
                if a.at_ms - self._skew_ms <= event.event_time_ms <= a.at_ms + self._window_ms
                and _covers(a, event)
            ]
        if any(a.decision == "allow" for a in asked):
            return None
        if asked:
            last = asked[-1]
            stamp = datetime.fromtimestamp(last.at_ms / 1000, tz=UTC).isoformat()
            summary = (
                f"approval bypass: decide answered {last.decision} for {event.action} "
                f"at {stamp}, and the action ran anyway"
            )
            detail: dict[str, object] = {
                "decision": last.decision,
                "decided_at": stamp,
                "approval_id": last.approval_id,
            }
        elif (
            self._unasked_agents
            and event.actor_kind == "agent"
            and event.event_time_ms >= self._since_ms - self._skew_ms
        ):
            enrolled = self.enrolled(event)
            summary = (
                f"gate bypass: agent ran {event.action} without asking decide first"
                if enrolled
                else f"agent ran {event.action} without asking decide (it is not enrolled in "
                "the gate: it never asked and no policy names it)"
            )
            detail = {"decision": None, "enrolled": enrolled}
            if not enrolled:
                return self._finding(event, summary, detail, severity="medium", tier="note")
        else:
            return None
        return self._finding(event, summary, detail)

    def _finding(
        self,
        event: AuditEvent,
        summary: str,
        detail: dict[str, object],
        *,
        severity: str = "critical",
        tier: str = "page",
    ) -> Finding:
        return Finding(
            principal=event.principal_key,
            actor_kind=event.actor_kind,
            kind="rule",
            rule=self.name,
            severity=severity,
            score=1.0 if tier == "page" else 0.5,
            summary=summary,
            event_ids=(event.event_id,),
            first_event_ms=event.event_time_ms,
            last_event_ms=event.event_time_ms,
            explanation={
                "action": event.action,
                "source": event.source,
                "action_class": event.action_class,
                "resources": list(event.resources),
                **detail,
            },
            tier=tier,
        )

    def _remember_kind(self, event: AuditEvent) -> None:
        self.remember_kind(event.principal_key, event.actor_kind)

    def remember_kind(self, principal_key: str, actor_kind: str) -> None:
        """Note the actor kind the event stream shows for a principal (a detector in another
        process reports the kinds it saw)."""
        with self._lock:
            self._kinds[principal_key] = actor_kind
            self._kinds.move_to_end(principal_key)
            if len(self._kinds) > MAX_KINDS:
                self._kinds.popitem(last=False)
