"""Rule protocol, raw-record helpers shared by red-flag and Sigma rules, and load_rules()."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Protocol

import orjson

from detect.findings import Finding
from ingest.events import AuditEvent

__all__ = [
    "DEFAULT_EXCLUDED",
    "SEVERITY_SCORE",
    "Hit",
    "RedFlag",
    "Rule",
    "base_action",
    "build_finding",
    "caller_names",
    "allows",
    "field",
    "has_star",
    "load_rules",
    "outcome",
    "public_statements",
    "record_of",
    "statements",
]

logger = logging.getLogger(__name__)

SEVERITY_SCORE = {"low": 0.4, "medium": 0.6, "high": 0.8, "critical": 1.0}
# Packaged Sigma rules that match routine traffic on every account; measured on the invictus-ir
# background set (see tests/unit/detect/rules/test_sigma.py).
# Opt back in with load_rules(exclude=()).
DEFAULT_EXCLUDED = frozenset(
    {
        "sigma:aws_sts_assumerole_misuse",  # every API call made with an assumed role
    }
)
_RECORD_CACHE_SIZE = 64  # raw texts; rules evaluate one event at a time, so a few suffice
_DENIED_MARKERS = ("accessdenied", "unauthorized", "forbidden", "notauthorized")
_VERSION_SUFFIX = re.compile(r"\d{4}_?\d{2}_?\d{2}(v\d+)?$")  # Lambda/CloudFront API versions
# Condition keys that pin a "Principal: *" statement to known networks, accounts or sources.
_RESTRICTING_KEYS = frozenset(
    k.casefold()
    for k in (
        "aws:SourceIp",
        "aws:SourceVpc",
        "aws:SourceVpce",
        "aws:PrincipalOrgID",
        "aws:PrincipalOrgPaths",
        "aws:PrincipalAccount",
        "aws:PrincipalArn",
        "aws:SourceAccount",
        "aws:SourceArn",
        "aws:SourceOwner",
        "aws:userid",
        "aws:username",
        "kms:CallerAccount",
        "kms:ViaService",
    )
)


class Rule(Protocol):
    """A single-event detection rule.

    `name` is stable and unique ("redflag:stop_logging", "sigma:<file stem>"); it names the rule
    in alerts. `evaluate` is pure: it reads the event (and its raw record), keeps no state between
    calls, and returns a Finding keyed on `event.principal_key`, or None when the event is fine.
    `name` is declared read-only so frozen dataclasses satisfy the protocol.
    """

    @property
    def name(self) -> str: ...

    def evaluate(self, event: AuditEvent) -> Finding | None: ...


@functools.lru_cache(maxsize=_RECORD_CACHE_SIZE)
def _parse(raw: str) -> Mapping[str, Any]:
    value = orjson.loads(raw)
    return value if isinstance(value, Mapping) else {}


def record_of(event: AuditEvent) -> Mapping[str, Any]:
    """The raw CloudTrail record, parsed once per event and shared by all rules: do not mutate."""
    return _parse(event.raw)


def _lookup(node: Any, key: str) -> Any:
    if not isinstance(node, Mapping):
        return None
    value = node.get(key)
    if value is None:
        lower = key.lower()
        if lower != key:
            value = node.get(lower)
    return value


def field(node: Any, *path: str) -> Any:
    """node[path[0]][path[1]]…; each key as written, else lowercased (data-lake exports)."""
    for key in path:
        node = _lookup(node, key)
        if node is None:
            return None
    return node


def base_action(action: str) -> str:
    """eventName without an API-version suffix: AddPermission20150331v2 -> AddPermission."""
    return _VERSION_SUFFIX.sub("", action)


def outcome(record: Mapping[str, Any]) -> str:
    """ "ok", "denied" (AccessDenied-like errorCode) or "failed" (any other error or Failure)."""
    code = field(record, "errorCode")
    if isinstance(code, str) and code:
        folded = code.casefold()
        return "denied" if any(m in folded for m in _DENIED_MARKERS) else "failed"
    response = field(record, "responseElements")
    if isinstance(response, Mapping) and "Failure" in response.values():
        return "failed"  # ConsoleLogin / PasswordUpdated / ExternalIdPDirectoryLogin outcomes
    return "ok"


def caller_names(record: Mapping[str, Any]) -> set[str]:
    """Names that denote the caller itself: IAM user name, or the session name of a role."""
    identity = field(record, "userIdentity")
    names: set[str] = set()
    arn = field(identity, "arn")
    if isinstance(arn, str) and "/" in arn:
        names.add(arn.rsplit("/", 1)[1])
    user = field(identity, "userName")
    if isinstance(user, str) and user:
        names.add(user)
    names |= {n.split("@", 1)[0] for n in names if "@" in n}
    return {n.casefold() for n in names}


def statements(policy: Any) -> Iterator[Mapping[str, Any]]:
    """The statements of an IAM/resource policy given as a JSON string or an object."""
    if isinstance(policy, str):
        try:
            policy = orjson.loads(policy)
        except orjson.JSONDecodeError:
            return
    body = field(policy, "Statement")
    for item in body if isinstance(body, list) else [body]:
        if isinstance(item, Mapping):
            yield item


def allows(statement: Mapping[str, Any]) -> bool:
    """True for an "Effect": "Allow" policy statement."""
    return str(field(statement, "Effect") or "").casefold() == "allow"


def has_star(value: Any) -> bool:
    """True when "*" appears in a Principal/Action/Resource value (string, list or mapping)."""
    if isinstance(value, str):
        return value == "*"
    if isinstance(value, list):
        return any(has_star(v) for v in value)
    if isinstance(value, Mapping):
        return any(has_star(v) for v in value.values())
    return False


def _restricted(statement: Mapping[str, Any]) -> bool:
    condition = field(statement, "Condition")
    if not isinstance(condition, Mapping):
        return False
    return any(
        isinstance(block, Mapping) and any(k.casefold() in _RESTRICTING_KEYS for k in block)
        for block in condition.values()
    )


def public_statements(policy: Any) -> list[Mapping[str, Any]]:
    """Allow statements open to any principal ("*" / {"AWS": "*"}) without a pinning Condition."""
    return [
        st
        for st in statements(policy)
        if allows(st) and has_star(field(st, "Principal")) and not _restricted(st)
    ]


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


@dataclass(frozen=True)
class RedFlag:
    """A deterministic rule over a single CloudTrail record (see detect.rules.redflags.identity).

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

    def evaluate(self, event: AuditEvent) -> Finding | None:
        if self.sources and event.source not in self.sources:
            return None
        if self.actions and base_action(event.action) not in self.actions:
            return None
        record = record_of(event)
        result = outcome(record)
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


def default_sigma_dir() -> Traversable:
    """The packaged SigmaHQ CloudTrail rules (detect/rules/sigma/rules, DRL 1.1, see its README)."""
    try:
        return files("detect.rules.sigma").joinpath("rules")
    except (NotADirectoryError, TypeError):
        # An editable install that maps `detect` as a namespace package breaks files() on 3.11.
        return Path(__file__).resolve().parent / "sigma" / "rules"


def load_rules(
    *, sigma_dir: Traversable | None = None, exclude: Collection[str] = DEFAULT_EXCLUDED
) -> list[Rule]:
    """The built-in red-flag rules plus the Sigma rules of `sigma_dir` (default: packaged).

    Sigma files that use constructs the matcher does not support are skipped with a warning;
    rules named in `exclude` are left out.
    """
    # Imported here: redflags and sigma import the helpers above from this module.
    from detect.rules.redflags.identity import RED_FLAGS
    from detect.rules.sigma.rule import load_sigma_rules

    loaded = load_sigma_rules(sigma_dir if sigma_dir is not None else default_sigma_dir())
    for source, reason in loaded.skipped:
        logger.warning("sigma rule %s skipped: %s", source, reason)
    rules: list[Rule] = [*RED_FLAGS, *loaded.rules]
    kept = [rule for rule in rules if rule.name not in exclude]
    logger.info(
        "loaded %d rules (%d red flags, %d sigma, %d sigma skipped, %d excluded)",
        len(kept),
        len(RED_FLAGS),
        len(loaded.rules),
        len(loaded.skipped),
        len(rules) - len(kept),
    )
    return kept


class RuleIndex:
    """Rules by the eventNames their prefilter admits, so each event meets only its candidates.

    Rules without an `actions` prefilter are candidates for every event. Each rule still applies
    its own prefilter in `evaluate`; the index only skips calls that could not match, and it keeps
    the rules' original order.
    """

    def __init__(self, rules: Sequence[Rule]) -> None:
        self._rules = list(rules)
        self._always: list[int] = []
        self._by_action: dict[str, list[int]] = {}
        for position, rule in enumerate(self._rules):
            actions = getattr(rule, "actions", None)
            if not actions:
                self._always.append(position)
                continue
            for name in actions:
                self._by_action.setdefault(name.casefold(), []).append(position)
        self._cache: dict[str, tuple[Rule, ...]] = {}

    def __len__(self) -> int:
        return len(self._rules)

    def candidates(self, action: str) -> tuple[Rule, ...]:
        found = self._cache.get(action)
        if found is None:
            keys = {action.casefold(), base_action(action).casefold()}
            positions = set(self._always)
            for key in keys:
                positions.update(self._by_action.get(key, ()))
            found = tuple(self._rules[p] for p in sorted(positions))
            if len(self._cache) < MAX_CACHED_ACTIONS:
                self._cache[action] = found
        return found


MAX_CACHED_ACTIONS = 65_536  # distinct eventNames remembered by RuleIndex.candidates
