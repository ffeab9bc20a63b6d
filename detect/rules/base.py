"""The Rule protocol, Finding construction, and RedFlag: a rule written as a Python matcher."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from detect.findings import Finding
from detect.rules.record import base_action, outcome_of, record_of
from ingest.events import AuditEvent

__all__ = ["SEVERITY_SCORE", "Hit", "RedFlag", "Rule", "build_finding"]

logger = logging.getLogger(__name__)

SEVERITY_SCORE = {"low": 0.4, "medium": 0.6, "high": 0.8, "critical": 1.0}


class Rule(Protocol):
    """A single-event detection rule.

    `name` is stable and unique ("redflag:stop_logging", "sigma:<file stem>"); it names the rule
    in alerts. `evaluate` is pure: it reads the event (and its raw record), keeps no state between
    calls, and returns a Finding keyed on `event.principal_key`, or None when the event is fine.
    `name` is declared read-only so frozen dataclasses satisfy the protocol.

    The engine also runs "extra" rules through this protocol -- approval bypass and the event
    memo that suppression matches against; those keep state across calls, and the engine calls
    every rule of a principal in event-time order from one thread.
    """

    @property
    def name(self) -> str: ...

    def evaluate(self, event: AuditEvent) -> Finding | None: ...


def build_finding(
    event: AuditEvent,
    *,
    rule: str,
    severity: str,
    summary: str,
    explanation: Mapping[str, Any],
) -> Finding:
    """A one-event rule Finding on the event's stable principal key."""
    return Finding(
        principal=event.principal_key,
        actor_kind=event.actor_kind,
        kind="rule",
        rule=rule,
        severity=severity,
        score=SEVERITY_SCORE[severity],
        summary=summary,
        event_ids=(event.event_id,),
        first_event_ms=event.event_time_ms,
        last_event_ms=event.event_time_ms,
        explanation=explanation,
    )


@dataclass(frozen=True)
class Hit:
    """What a red-flag matcher found: the resource, a human detail, an optional severity."""

    resource: str
    detail: str
    severity: str | None = None


Matcher = Callable[[Mapping[str, Any]], Hit | None]
# A rule that could match any eventName can say what else it needs, cheaply: (an AuditEvent
# attribute, a test of its value) that is False only where the rule cannot match -- while the
# attribute is the record's own text (catalogue.plain_fields; else every gate opens). The rule
# index (detect.rules.catalogue.RuleIndex) asks it before the rule itself: six rules without an
# eventName were ~9% of the detector's time on every event, for a root user, an attack tool's
# user agent, a Lambda layer or an instance's stolen credentials that almost no event shows;
# five have gates (Sigma's root rule tests userIdentity.type case-insensitively, which no field
# of the event holds). Ignored on a rule with `actions`.
Gate = tuple[str, Callable[[str], bool]]


@dataclass(frozen=True)
class RedFlag:
    """A deterministic rule over a single CloudTrail record (see detect.rules.redflags).

    The rule looks only at events whose eventSource is in `sources` and whose eventName (without
    an API-version suffix) is in `actions`; an empty set means any. Failed calls (an errorCode
    other than AccessDenied-like, or a "Failure" outcome) never fire. A denied call fires only
    when `denied_severity` is set: for rules where the attempt itself shows intent (blinding the
    logs, leaving the organisation), at that lower severity; otherwise a denied call is ignored
    and left to the anomaly detector's error-rate features.
    """

    name: str
    severity: str
    description: str
    sources: frozenset[str]
    actions: frozenset[str]
    match: Matcher
    denied_severity: str | None = None
    gate: Gate | None = None  # for a rule with no `actions`: see Gate

    def evaluate(self, event: AuditEvent) -> Finding | None:
        if self.sources and event.source not in self.sources:
            return None
        if self.actions and base_action(event.action) not in self.actions:
            return None
        record = record_of(event)
        result = outcome_of(event)
        if result == "failed" or (result == "denied" and self.denied_severity is None):
            return None
        hit = self.match(record)
        return None if hit is None else self._finding(event, hit, result=result)

    def _finding(self, event: AuditEvent, hit: Hit, *, result: str) -> Finding:
        denied = result == "denied"
        severity = self.denied_severity if denied else hit.severity
        resource = hit.resource or (event.resources[0] if event.resources else "-")
        verb = f"tried ({event.error_code}) to call" if denied else "called"
        service = event.source.removesuffix(".amazonaws.com")
        summary = f"{event.principal} {verb} {service}:{event.action} on {resource}: {hit.detail}"
        explanation = {
            "rule": self.name,
            "description": self.description,
            "detail": hit.detail,
            "action": f"{service}:{event.action}",
            "resource": resource,
            "outcome": result,
            "error_code": event.error_code,
        }
        return build_finding(
            event,
            rule=self.name,
            severity=severity or self.severity,
            summary=summary,
            explanation=explanation,
        )
