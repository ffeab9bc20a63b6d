"""Triage: decide each finding's tier (page, hold, note) from its context.

Every choice here trades recall for precision, so each one is a named, documented policy:
a finding leaves triage with the lowest tier any policy gives it, and the policies that
lowered it are recorded in `explanation["triage"]` (shown with the alert when it opens).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from detect.alerts.alert import severity_rank
from detect.context.org import delegated
from detect.features import PrincipalState
from detect.findings import TIERS, Finding
from ingest.events import AuditEvent

__all__ = ["FOREST_RULE", "Case", "Triage"]

FOREST_RULE = "isolation_forest"
SIGMA_PREFIX = "sigma:"
CATALOGUED = ("redflag:", "sigma:")  # the rule sets (not the gate's bypass or memo rules)
CONTEXT_RULES = frozenset({"baseline:rate_spike", "baseline:unusual_context"})


@dataclass(frozen=True)
class Case:
    """A finding with what triage may consult: the event that raised it and its principal."""

    finding: Finding
    event: AuditEvent
    state: PrincipalState
    routine: bool  # the (established) principal performs this action anyway


Policy = Callable[[Case], str | None]  # the tier it lowers the finding to, or None


class Triage:
    """Assigns tiers to findings (see detect.findings.Finding.tier).

    Parameters
    ----------
    human_sigma_solo_level : the lowest Sigma level that pages alone for a person with an
        established history; lesser ones are held for corroboration ("low" turns this off).
    """

    def __init__(self, *, sigma_solo_level: str = "high") -> None:
        self.solo_rank = severity_rank(sigma_solo_level)
        self.policies: tuple[tuple[str, Policy], ...] = (
            ("an AWS service acting on its own schedule", _aws_service),
            ("a call a service made on another principal's behalf", _on_behalf),
            ("a principal whose baseline is still being learned", _immature),
            ("volume or novelty alone is not an incident", _context_only),
            ("weak forest score", _weak_forest),
            ("routine action for this principal", _routine_rule),
            ("a generic Sigma rule below its solo level", self._lesser_sigma),
        )

    def assess(
        self, finding: Finding, event: AuditEvent, state: PrincipalState, *, routine: bool
    ) -> Finding:
        """The finding with its tier lowered by every policy that applies (never raised)."""
        case = Case(finding, event, state, routine)
        tier, reasons = finding.tier, []
        for name, policy in self.policies:
            lowered = policy(case)
            if lowered is not None and TIERS.index(lowered) < TIERS.index(tier):
                tier = lowered
                reasons.append(name)
        if tier == finding.tier:
            return finding
        explanation = {**finding.explanation, "triage": {"tier": tier, "because": reasons}}
        return replace(finding, tier=tier, explanation=explanation)

    def _lesser_sigma(self, case: Case) -> str | None:
        """Sigma's own scale: low is a hint, medium "review manually", high "should alert"."""
        finding = case.finding
        if finding.kind != "rule" or not finding.rule.startswith(SIGMA_PREFIX):
            return None
        if finding.severity == "low":
            return "note"
        return "hold" if severity_rank(finding.severity) < self.solo_rank else None


def _weak_forest(case: Case) -> str | None:
    finding = case.finding
    return "note" if finding.rule == FOREST_RULE and finding.severity == "low" else None


def _routine_rule(case: Case) -> str | None:
    """A rule on an action the (established) principal performs anyway: its benign twin is the
    principal's job (key rotation, releases, security administration)."""
    finding = case.finding
    if finding.kind != "rule" or not case.routine or not finding.rule.startswith(CATALOGUED):
        return None
    return "note" if finding.severity in ("low", "medium") else "hold"


def _aws_service(case: Case) -> str | None:
    """AWS's own service principals (scheduled secret deletion, scale-in, backup expiry) act on
    AWS's schedule: their volume is not an incident (their red flags still count)."""
    if case.finding.kind == "anomaly" and _is_aws_service(case.finding.principal):
        return "note"
    return None


def _on_behalf(case: Case) -> str | None:
    """CloudFormation deleting a stack's resources under its role does what the principal that
    deleted the stack asked: the finding belongs to that principal (the engine counts the
    deletions for it), not to the role."""
    event = case.event
    if case.finding.principal == event.principal_key and delegated(event):
        return "note"
    return None


def _immature(case: Case) -> str | None:
    """A fresh install, a new role, a new hire: without MATURE_DAYS of its own history a
    principal's "unusual" means nothing yet, so anomaly findings only note -- unless the
    detector marked them catastrophic (no history excuses them)."""
    finding = case.finding
    if finding.kind != "anomaly" or case.state.mature:
        return None
    return None if finding.explanation.get("catastrophic") else "note"


def _context_only(case: Case) -> str | None:
    """A busy hour, or new-looking context on its own, is how work looks; it corroborates."""
    return "note" if case.finding.rule in CONTEXT_RULES else None


def _is_aws_service(principal: str) -> bool:
    return principal.endswith(".amazonaws.com") or principal == "aws-service"
