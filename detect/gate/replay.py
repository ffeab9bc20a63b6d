"""Replay: what a candidate policy would have answered to the gate's recent traffic.

Before a stricter policy goes live, replay the stored decide requests -- and the dangerous and
write calls agents made without asking (their CloudTrail, tool-call and Kubernetes events) --
through it. Each request is judged as the gate would judge it today with fresh detection and an
active principal (the policy is on trial, not today's quarantines), with autonomy budgets
counted along the replay. The report says how many requests it would allow, ask about or deny,
per principal and deciding rule, and how many answers change against what was answered.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from detect.gate.policy import DANGEROUS, GateContext, GateRequest, Policy, evaluate
from ingest import schema
from ingest.store import Store

__all__ = ["ReplayReport", "replay"]

HOUR_MS = 3_600_000
MAX_ROWS = 200_000  # requests replayed at most (the newest are kept)
EXAMPLES = 3  # actions shown per principal and rule


@dataclass(frozen=True)
class _Row:
    request: GateRequest
    at_ms: int
    answered: str  # the recorded decision, or "never asked" for an event


@dataclass
class ReplayReport:
    requests: int = 0
    would: Counter[str] = field(default_factory=Counter)  # decision -> count
    changed: Counter[tuple[str, str]] = field(default_factory=Counter)  # (was, would) -> count
    by_principal: dict[tuple[str, str, str], Counter[str]] = field(default_factory=dict)
    examples: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        rows: list[dict[str, Any]] = [
            {
                "principal_key": key,
                "rule": rule,
                "decision": decision,
                "count": sum(counts.values()),
                "answered": dict(counts),
                "examples": self.examples.get((key, rule, decision), []),
            }
            for (key, rule, decision), counts in self.by_principal.items()
        ]
        rows.sort(key=lambda r: (r["decision"] == "allow", -int(r["count"]), r["principal_key"]))
        return {
            "requests": self.requests,
            "would": dict(self.would),
            "changed": [
                {"was": was, "would": would, "count": n}
                for (was, would), n in self.changed.most_common()
            ],
            "principals": rows,
        }


def replay(store: Store, policy: Policy, *, since_ms: int, until_ms: int) -> ReplayReport:
    """Replay the decisions and unasked agent calls stored in [since_ms, until_ms)."""
    rows = _requests(store, since_ms, until_ms)
    report = ReplayReport(requests=len(rows))
    allowed: dict[str, deque[int]] = {}
    for row in rows:
        req = row.request
        dangerous = req.action_class in DANGEROUS
        recent = allowed.setdefault(req.principal_key, deque())
        while recent and recent[0] <= row.at_ms - HOUR_MS:
            recent.popleft()
        ctx = GateContext(
            detection_ok=True, detection_reason="replay", dangerous_last_hour=len(recent)
        )
        verdict = evaluate(req, ctx, policy)
        if verdict.decision == "allow" and dangerous:
            recent.append(row.at_ms)
        report.would[verdict.decision] += 1
        if row.answered != verdict.decision:
            report.changed[(row.answered, verdict.decision)] += 1
        slot = (req.principal_key, verdict.rule, verdict.decision)
        report.by_principal.setdefault(slot, Counter())[row.answered] += 1
        examples = report.examples.setdefault(slot, [])
        if len(examples) < EXAMPLES and req.action not in examples:
            examples.append(req.action)
    return report


def _requests(store: Store, since_ms: int, until_ms: int) -> list[_Row]:
    window = {"since": since_ms, "until": until_ms, "n": MAX_ROWS}
    decided = store.query(
        "SELECT principal, principal_key, actor_kind, source, action, action_class, resources, "
        f"toUnixTimestamp64Milli(decided_at), decision FROM {schema.DECISIONS} "
        "WHERE decided_at >= fromUnixTimestamp64Milli({since:Int64}) "
        "AND decided_at < fromUnixTimestamp64Milli({until:Int64}) "
        "ORDER BY decided_at DESC LIMIT {n:UInt32}",
        window,
    )
    unasked = store.query(
        "SELECT principal, principal_key, actor_kind, source, action, action_class, resources, "
        f"toUnixTimestamp64Milli(event_time), 'never asked' FROM {schema.EVENTS} FINAL "
        "WHERE event_time >= fromUnixTimestamp64Milli({since:Int64}) "
        "AND event_time < fromUnixTimestamp64Milli({until:Int64}) "
        "AND actor_kind = 'agent' AND action_class != 'read' AND error_code = '' "
        "ORDER BY event_time DESC LIMIT {n:UInt32}",
        window,
    )
    asked = {(str(r[1]), str(r[4])) for r in decided}  # its decisions speak for those calls
    rows = [_row(r) for r in decided]
    rows += [_row(r) for r in unasked if (str(r[1]), str(r[4])) not in asked]
    rows.sort(key=lambda r: r.at_ms)
    return rows[-MAX_ROWS:]


def _row(values: Sequence[Any]) -> _Row:
    """A decision's or event's request columns, then its time and what was answered."""
    *request, at_ms, answered = values
    return _Row(GateRequest.from_row(request), int(at_ms), str(answered))
