"""Harmful cloud calls an agent made with no tool call of its own behind them.

An agent that reports its tool calls (OpenTelemetry `execute_tool` spans, `POST /v1/events` with
source `tool:<runtime>`) acts in the cloud from inside those calls: a `terraform destroy` tool
call makes the DeleteX calls CloudTrail records while it runs. A destructive, privilege or
defense-evasion call by such an agent's principal (an agent's or a workload's identity, not a
person's: people run coding agents on their own roles and act by hand beside them) at a moment
no reported call covers was made
around the agent's tool channel -- its credentials used from elsewhere, or a process it left
running -- and becomes `agent:unreported_call`.

A tool span is exported when the call ends, while CloudTrail delivers minutes late, so a call is
judged only once the stream has moved GRACE_MS past it (event time, any principal): by then the
span of a call that was running has arrived. A call marked with a tool call id
(`leash-call/<id>` in its user agent, or a session named after the call: ingest.causal) is
covered when that call was reported.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from detect.features import PrincipalState
from detect.findings import Finding
from detect.rules.record import field as lookup
from detect.rules.record import record_of
from ingest.catalogue import HARMFUL_CLASSES
from ingest.catalogue.tools import is_tool_source
from ingest.causal import call_duration_ms, call_id_of
from ingest.events import AuditEvent

__all__ = ["RULE", "UnreportedCalls"]

RULE = "agent:unreported_call"
HARMFUL = HARMFUL_CLASSES
REPORTING_MS = 24 * 3_600_000  # a principal counts as reporting this long after its last call
GRACE_MS = 15 * 60_000  # how far the stream must move past a call before it is judged
BEFORE_MS = 5_000  # clock skew between the agent's host and AWS
AFTER_MS = 60_000  # a call's last requests may be logged a moment after its span ends
MAX_CALLS = 512  # reported tool calls remembered per principal
MAX_WAITING = 1_000  # harmful calls waiting to be judged (the oldest are judged at once)


@dataclass
class _Reporter:
    calls: deque[tuple[int, int]] = field(default_factory=deque)  # (start, end) ms, by arrival
    ids: deque[str] = field(default_factory=deque)
    last_ms: int = 0

    def covers(self, event: AuditEvent) -> bool:
        call_id = call_id_of({"user_agent": event.user_agent, "principal": event.principal})
        if call_id and call_id in self.ids:
            return True
        at = event.event_time_ms
        return any(start - BEFORE_MS <= at <= end + AFTER_MS for start, end in self.calls)


class UnreportedCalls:
    """Per principal that reports tool calls, the calls it reported; harmful cloud calls of such
    a principal wait GRACE_MS of stream time, then become findings if still uncovered."""

    def __init__(self) -> None:
        self._reporters: dict[str, _Reporter] = {}
        self._waiting: deque[tuple[AuditEvent, PrincipalState]] = deque()

    def observe(self, event: AuditEvent, state: PrincipalState) -> None:
        """A tool call widens its principal's covered time; a harmful cloud call of a principal
        that reports its calls waits to be judged."""
        if is_tool_source(event.source):
            self._reported(event)
            return
        if event.action_class not in HARMFUL or event.error_code or event.actor_kind == "human":
            return  # a person may run a coding agent on their own role and also act by hand
        reporter = self._reporters.get(event.principal_key)
        if reporter is None or event.event_time_ms > reporter.last_ms + REPORTING_MS:
            return
        self._waiting.append((event, state))

    def due(self, watermark_ms: int) -> list[tuple[AuditEvent, PrincipalState, Finding]]:
        """Findings for the waiting calls the stream has moved GRACE_MS past, still uncovered."""
        out = []
        while self._waiting and (
            self._waiting[0][0].event_time_ms + GRACE_MS <= watermark_ms
            or len(self._waiting) > MAX_WAITING
        ):
            event, state = self._waiting.popleft()
            reporter = self._reporters.get(event.principal_key)
            if reporter is not None and not reporter.covers(event):
                out.append((event, state, _finding(event, state)))
        return out

    def forget(self, principal_key: str) -> None:
        self._reporters.pop(principal_key, None)

    def _reported(self, event: AuditEvent) -> None:
        reporter = self._reporters.setdefault(event.principal_key, _Reporter())
        record = record_of(event)
        duration = call_duration_ms(lookup(record, "additionalEventData", "durationMs"))
        reporter.calls.append((event.event_time_ms, event.event_time_ms + duration))
        reporter.last_ms = max(reporter.last_ms, event.event_time_ms + duration)
        call_id = lookup(record, "requestParameters", "toolCallId")
        if isinstance(call_id, str) and call_id:
            reporter.ids.append(call_id)
        while len(reporter.calls) > MAX_CALLS:
            reporter.calls.popleft()
        while len(reporter.ids) > MAX_CALLS:
            reporter.ids.popleft()


def _finding(event: AuditEvent, state: PrincipalState) -> Finding:
    return Finding(
        principal=event.principal_key,
        actor_kind=state.actor_kind,
        kind="rule",  # a fact (two channels disagree), not a departure from a baseline
        rule=RULE,
        severity="high",
        score=0.85,
        summary=(
            f"{event.action} ({event.action_class}) by a principal that reports its tool calls, "
            "with no tool call of its own running: its credentials were used around the agent"
        ),
        event_ids=(event.event_id,),
        first_event_ms=event.event_time_ms,
        last_event_ms=event.event_time_ms,
        explanation={
            "action": event.action,
            "source_ip": event.source_ip,
            "user_agent": event.user_agent[:200],
            "why": (
                "this principal reports its tool calls, and no reported call covers this "
                f"moment ({BEFORE_MS // 1000} s before a call's start to "
                f"{AFTER_MS // 1000} s after its end), nor does the call carry a reported "
                "tool call id"
            ),
        },
    )
