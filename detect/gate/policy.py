"""The decide gate's pure logic: request + context + policy -> Verdict; and the YAML policy file.

Who imports it: detect.gate.service (the stateful GateService) and tests. Nothing here does I/O
except `load_policy`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ingest.catalogue import HARMFUL_CLASSES

__all__ = [
    "ARGS_DIGEST",
    "ARGS_SHOWN",
    "REQUEST_COLUMNS",
    "DANGEROUS",
    "Budget",
    "GateContext",
    "GateRequest",
    "Policy",
    "PolicyRule",
    "Verdict",
    "evaluate",
    "load_policy",
]

DANGEROUS = HARMFUL_CLASSES
# a tool call's resources end with the digest of its arguments (the approval's exact request);
# policy rules' resource globs match the other resources (the command, the file)
ARGS_DIGEST = "args-sha256:"
ARGS_SHOWN = "args: "  # a tool call without a command or file shows its redacted arguments
SCORE_THRESHOLD = 0.9  # anomaly_score in [0, 1] at or above which dangerous actions need approval


class PolicyRule(BaseModel):
    """One policy entry; a pattern list matches when any glob matches (empty list = anything).

    `actions` match `DeleteBucket` or `s3:DeleteBucket`; `principals` match the full ARN or the
    stable key; when `resources` is set, every resource of the request must match one of them
    (and a request that names no resources does not match).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = ""
    effect: Literal["allow", "require_approval", "deny"]
    mode: Literal["enforce", "monitor"] = "enforce"  # monitor: record what it would answer
    approvals: int = Field(default=1, ge=1, le=5)  # distinct approvers require_approval needs
    principals: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()

    def matches(self, req: GateRequest) -> bool:
        if self.principals and not _any(self.principals, (req.principal, req.principal_key)):
            return False
        if self.actions and not _any(self.actions, (req.action, f"{req.service}:{req.action}")):
            return False
        if not self.resources:
            return True
        named = [r for r in req.resources if not r.startswith(ARGS_DIGEST)]
        return bool(named) and all(_any(self.resources, (r,)) for r in named)


class Budget(BaseModel):
    """Autonomy budget: at most N autonomously allowed dangerous actions per hour per principal."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    principals: tuple[str, ...] = ("*",)
    max_destructive_per_hour: int = Field(ge=0)


class Policy(BaseModel):
    """The policy file: rules (first match wins), budgets (first match wins), score threshold,
    and `mode`: "monitor" answers allow everywhere a gate would not, recording what it would
    have answered (a rule's own `mode: monitor` does that for that rule alone)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["enforce", "monitor"] = "enforce"
    rules: tuple[PolicyRule, ...] = ()
    budgets: tuple[Budget, ...] = ()
    score_threshold: float = Field(default=SCORE_THRESHOLD, ge=0, le=1)

    def rule_for(self, req: GateRequest) -> PolicyRule | None:
        return next((rule for rule in self.rules if rule.matches(req)), None)

    def names(self, principal: str, principal_key: str) -> bool:
        """A rule that requires approval or denies names this principal (its `principals` match
        it): the policy expects the principal to ask decide, so it is enrolled in the gate.
        Budgets do not enrol: they bound what is allowed without asking."""
        values = (principal, principal_key)
        return any(
            rule.principals and rule.effect != "allow" and _any(rule.principals, values)
            for rule in self.rules
        )

    def budget_for(self, req: GateRequest) -> int | None:
        for budget in self.budgets:
            if _any(budget.principals, (req.principal, req.principal_key)):
                return budget.max_destructive_per_hour
        return None


def _any(patterns: Sequence[str], values: Sequence[str]) -> bool:
    return any(fnmatchcase(value, pattern) for pattern in patterns for value in values)


def load_policy(path: Path | None) -> Policy:
    """Read and validate a policy YAML; None (no LEASH_POLICY_FILE) is the empty policy."""
    if path is None:
        return Policy()
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return Policy.model_validate(data)


@dataclass(frozen=True)
class GateRequest:
    """One decide call with server-derived fields (action_class from the catalogue)."""

    principal: str
    principal_key: str
    actor_kind: str
    source: str
    action: str
    action_class: str
    resources: tuple[str, ...] = ()

    @property
    def service(self) -> str:
        return self.source.removesuffix(".amazonaws.com")

    def row(self) -> tuple[object, ...]:
        """The request's columns as stored with decisions and approvals (REQUEST_COLUMNS)."""
        return (
            self.principal,
            self.principal_key,
            self.actor_kind,
            self.source,
            self.action,
            self.action_class,
            list(self.resources),
        )

    def to_json(self) -> dict[str, Any]:
        return dict(zip(REQUEST_COLUMNS, self.row(), strict=True))

    @classmethod
    def from_row(cls, values: Sequence[Any]) -> GateRequest:
        """Inverse of `row` (values in REQUEST_COLUMNS order)."""
        principal, key, kind, source, action, action_class, resources = values
        return cls(
            str(principal),
            str(key),
            str(kind),
            str(source),
            str(action),
            str(action_class),
            tuple(str(r) for r in resources),
        )


REQUEST_COLUMNS = (  # GateRequest.row(): the request part of decision and approval rows
    "principal",
    "principal_key",
    "actor_kind",
    "source",
    "action",
    "action_class",
    "resources",
)


@dataclass(frozen=True)
class GateContext:
    """What the server knows at decision time.

    `approval` is the status of a live approval for this exact request ("" when none);
    `detection_ok` is False when the pipeline lags or the detector is stale or absent.
    """

    principal_state: str = "active"
    approval: str = ""
    detection_ok: bool = False
    detection_reason: str = "detector status unavailable"
    anomaly_score: float | None = None
    dangerous_last_hour: int = 0


@dataclass(frozen=True)
class Verdict:
    """`rule` names the branch that decided (stable ids, stored with the decision)."""

    decision: str
    reason: str
    rule: str
    approvals: int = 1  # distinct approvers a require_approval needs


# what a principal's state or an approver decided is enforced even in monitor mode
ENFORCED_ALWAYS = frozenset({"revoked", "approval_denied", "quarantine"})
MONITOR_RULE = "monitor"


def evaluate(req: GateRequest, ctx: GateContext, policy: Policy) -> Verdict:
    """Decide allow / require_approval / deny; never allows a dangerous action on stale data.

    Monitor mode: rules marked `mode: monitor` do not decide -- the answer is what the policy
    without them gives, and when they would have answered otherwise the reason says so
    ("monitor: would deny (policy): ..."). A policy whose own `mode` is monitor answers allow
    wherever it would not (rule "monitor"), except what a principal's state or an approver
    decided (revoked, quarantined, an approval denied).

    Order: revoked > denied approval > quarantine > granted approval > reads > policy deny >
    fail-safe > anomaly score > policy allow with budget > agents ask first.
    """
    live = policy
    if any(rule.mode == "monitor" for rule in policy.rules):
        live = policy.model_copy(
            update={"rules": tuple(r for r in policy.rules if r.mode != "monitor")}
        )
    verdict = _enforced(req, ctx, live)
    if live is not policy:
        trial = _enforced(req, ctx, _all_enforced(policy))
        if trial.decision != verdict.decision:
            verdict = replace(verdict, reason=f"{verdict.reason}; {_would(trial)}")
    if policy.mode != "monitor" or verdict.decision == "allow":
        return verdict
    if verdict.rule in ENFORCED_ALWAYS:
        return verdict
    return Verdict("allow", _would(verdict), MONITOR_RULE)


def _would(verdict: Verdict) -> str:
    return f"monitor: would {verdict.decision} ({verdict.rule}): {verdict.reason}"


def _all_enforced(policy: Policy) -> Policy:
    rules = tuple(r.model_copy(update={"mode": "enforce"}) for r in policy.rules)
    return policy.model_copy(update={"rules": rules})


def _enforced(req: GateRequest, ctx: GateContext, policy: Policy) -> Verdict:
    if ctx.principal_state == "revoked":
        return Verdict("deny", "principal is revoked", "revoked")
    if ctx.approval == "denied":
        return Verdict("deny", "an approver denied this exact action", "approval_denied")
    if ctx.principal_state == "quarantined":
        return _quarantined(req, ctx)
    if ctx.approval == "approved":
        return Verdict("allow", "approved by an admin (single use)", "approval")
    if req.action_class == "read":
        return Verdict("allow", "read-only action", "read")
    rule = policy.rule_for(req)
    if rule is not None and rule.effect == "deny":
        return Verdict("deny", f"denied by policy rule {rule.name or '(unnamed)'}", "policy")
    if req.action_class not in DANGEROUS:
        if rule is not None and rule.effect == "require_approval":
            return _ask(_asked_by(rule), "policy", rule.approvals)
        return Verdict("allow", f"{req.action_class} action", "write")
    return _dangerous(req, ctx, policy, rule)


def _quarantined(req: GateRequest, ctx: GateContext) -> Verdict:
    if req.action_class in DANGEROUS:
        return Verdict(
            "deny", f"principal is quarantined: no {req.action_class} actions", "quarantine"
        )
    if ctx.approval == "approved":
        return Verdict("allow", "approved by an admin (single use)", "approval")
    if req.action_class == "read":
        return Verdict("allow", "read-only action", "read")
    return _ask("principal is quarantined: writes need approval", "quarantine")


def _dangerous(
    req: GateRequest, ctx: GateContext, policy: Policy, rule: PolicyRule | None
) -> Verdict:
    what = f"{req.action_class} action"
    if not ctx.detection_ok:
        return _ask(
            f"{what} while detection is not current ({ctx.detection_reason}): fail safe",
            "fail_safe",
        )
    if ctx.anomaly_score is not None and ctx.anomaly_score >= policy.score_threshold:
        return _ask(
            f"{what} by a principal scoring {ctx.anomaly_score:.2f} as anomalous", "anomaly"
        )
    if rule is not None and rule.effect == "require_approval":
        return _ask(_asked_by(rule), "policy", rule.approvals)
    allowed_by = f"policy rule {rule.name or '(unnamed)'}" if rule is not None else ""
    if not allowed_by and req.actor_kind != "human":
        return _ask(
            f"{what} by a non-human ({req.actor_kind}) principal: agents ask first", "agent_default"
        )
    budget = policy.budget_for(req)
    if budget is not None and ctx.dangerous_last_hour >= budget:
        return _ask(
            f"autonomy budget spent ({ctx.dangerous_last_hour}/{budget} per hour): "
            "circuit breaker open",
            "budget",
        )
    return Verdict(
        "allow",
        f"{what} allowed by {allowed_by or 'human default'}",
        "policy" if allowed_by else "human",
    )


def _ask(reason: str, rule: str, approvals: int = 1) -> Verdict:
    return Verdict("require_approval", reason, rule, approvals)


def _asked_by(rule: PolicyRule) -> str:
    who = f"policy rule {rule.name or '(unnamed)'} requires approval"
    return who if rule.approvals == 1 else f"{who} by {rule.approvals} different approvers"
