"""Triage: decide each finding's tier (page, hold, note) from its context.

Every choice here trades recall for precision, so each one is a named, documented policy:
a finding leaves triage with the lowest tier any policy gives it, and the policies that
lowered it are recorded in `explanation["triage"]` (shown with the alert when it opens).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from detect.alerts.alert import severity_rank
from detect.features import PrincipalState
from detect.findings import TIERS, Finding
from ingest.events import AuditEvent

__all__ = ["FOREST_RULE", "Case", "Triage"]

FOREST_RULE = "isolation_forest"
SIGMA_PREFIX = "sigma:"


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

    def __init__(self, *, human_sigma_solo_level: str = "high") -> None:
        self.solo_rank = severity_rank(human_sigma_solo_level)
        self.policies: tuple[tuple[str, Policy], ...] = (
            ("weak forest score", _weak_forest),
            ("routine action", _routine_rule),
            ("lesser Sigma rule on a known person", self._human_sigma),
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

    def _human_sigma(self, case: Case) -> str | None:
        finding = case.finding
        if (
            finding.kind == "rule"
            and finding.rule.startswith(SIGMA_PREFIX)
            and finding.actor_kind == "human"
            and case.state.established
            and severity_rank(finding.severity) < self.solo_rank
        ):
            return "hold"
        return None


def _weak_forest(case: Case) -> str | None:
    finding = case.finding
    return "note" if finding.rule == FOREST_RULE and finding.severity == "low" else None


def _routine_rule(case: Case) -> str | None:
    finding = case.finding
    if finding.kind == "rule" and case.routine and finding.severity in ("low", "medium"):
        return "note"
    return None
