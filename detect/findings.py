"""Finding: what a rule or detector says about one principal's events; the input of alerting."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

__all__ = [
    "ADMIN_GRANTS",
    "ADMIN_POLICY_RULE",
    "BUSY",
    "CONSOLE_ONLY",
    "NEWS",
    "READ_VOLUME_RULES",
    "RESTATES",
    "SEVERITIES",
    "SOURCE_RULES",
    "FROM_NEW_NETWORK",
    "FROM_ELSEWHERE",
    "TIERS",
    "UNUSED_REGION",
    "VOLUME_RULES",
    "Finding",
]

SEVERITIES = ("low", "medium", "high", "critical")
TIERS = ("trace", "note", "hold", "page")  # what a finding may do on its own: Finding.tier

# administrator access granted: AWS's AdministratorAccess (or a policy text allowing everything)
# put on an identity by a red flag, or a managed policy of the organisation's own that allows
# everything attached, or made so by a new default version (detect.anomaly.behaviour)
ADMIN_POLICY_RULE = "baseline:allow_all_policy"
ADMIN_GRANTS = frozenset({"redflag:admin_policy_attached", ADMIN_POLICY_RULE})

# findings that say only "more than usual" (reads, events, KMS decrypts, distinct secrets,
# deletes that include temporary ones, over 10 minutes or six hours): how a busy day looks, so
# they never corroborate what a benign twin already explains, nor each other (objects read from
# an SSE-KMS bucket are KMS decrypts too; a day of heavy reads is often a day of deleting one's
# scratch objects; a person reading a service's secrets reads its objects too -- on fresh seeds
# 651-706, 5 people's sweeps paged on other volume alone, all false, against 1 true)
VOLUME_RULES = frozenset(
    {
        "baseline:bulk_data_read",
        "baseline:slow_data_read",
        "baseline:credential_sweep",
        "baseline:rate_spike",
        "baseline:destructive_burst",
        "baseline:slow_destructive",
        "baseline:decrypt_burst",
    }
)

# a finding's flag: its count rose with the principal's whole volume (an AI agent refused sixteen
# different calls in a minute among 1,400 that worked, 1%, as on its busy days): volume, like
# VOLUME_RULES, not a sign apart (detect.anomaly.refusals, detect.alerts.paging)
BUSY = "busy"
# the isolation forest's findings: a score over the principal's windows, which hold every call
# of the story -- the calls a benign twin explained too (detect.alerts.paging)
FOREST_RULE = "isolation_forest"
# the benign twin for a call in a region the organisation does not use (detect.context.twins)
UNUSED_REGION = "a region the organisation does not use"
# findings that restate the very context a twin excused: calls in several regions beside a call
# excused because its region is unused (a security engineer deleting GuardDuty detectors in
# three unused regions touches five regions in ten minutes) are one fact, not two signs
RESTATES = {UNUSED_REGION: frozenset({"baseline:region_spread"})}
# findings whose whole point is where the call came from: a note that the network is new to the
# principal says it again, and is no second sign for them
SOURCE_RULES = frozenset({"baseline:console_new_network"})
# findings that count calls because they came from a network new to the principal: a note whose
# only news is a new network is their premise, not a second sign (fresh seed 1138: a person on
# her third day signed in with MFA from home and read five secrets at her usual pace; the
# sign-in's own "new network" note corroborated them and paged). A new client still is one.
FROM_NEW_NETWORK = frozenset({"baseline:console_secrets"})
# a finding's flag: its premise is a network and a client both new to a person, where nobody
# here works (behaviour._discovery_burst): the context note saying so is not its second sign,
# and it does not wait for one as a person's first use of a call does (triage)
FROM_ELSEWHERE = "from_elsewhere"
# a context note's flag: its only news is the console (a browser) on a known network. The console
# reads for the page it shows -- dozens of calls a view -- so more reads than usual through it is
# what a person's first console day looks like (seed 980: a developer's first Parameter Store
# visit, 47 parameters from the office): it corroborates no read-volume finding (deletes, and
# signs of other kinds, it does)
CONSOLE_ONLY = "console_only"
# a context note's flag: the call came from a network the principal or its colleagues work from
# (a new network that its novelty share does not count as news is not one: detect.alerts.paging)
KNOWN_NET = "known_net"
# a context note's news: which of "client" and "net" was new (a new tool alone says nothing about
# who holds the credentials: detect.alerts.paging)
NEWS = "news"
# the volume findings that reading makes (what a console's page views add up to)
READ_VOLUME_RULES = frozenset(
    {
        "baseline:bulk_data_read",
        "baseline:slow_data_read",
        "baseline:credential_sweep",
        "baseline:rate_spike",
        "baseline:decrypt_burst",
    }
)


_Frozen = TypeVar("_Frozen")

# Finding's default explanation: a new empty dict each time (its field's default_factory)
_FRESH: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, init=False)
class Finding:
    """One reason to alert.

    `principal` is the stable principal key; `kind` is "rule" or "anomaly"; `rule` names the rule or
    detector (e.g. "sigma:aws_cloudtrail_disable_logging", "baseline:destructive_burst",
    "isolation_forest"); `score` is in [0, 1], higher is worse; `event_ids` are the events that
    triggered it, with `first_event_ms` / `last_event_ms` their event-time span; `explanation`
    holds the driving features (name -> {"value": now, "baseline": usual}) or rule details.

    `tier` says what the finding may do on its own (detect.context.triage decides it): "page"
    opens an alert; "hold" opens one only when corroborated -- another rule or detector on
    another event of the same principal within the corroboration window; "note" (behaviour too
    weak to open anything) never opens one but corroborates held findings; "trace" (a hint,
    such as a low-level Sigma match) only joins an open alert as evidence. Any tier joins the
    principal's open incident.
    """

    principal: str
    actor_kind: str
    kind: str
    rule: str
    severity: str
    score: float
    summary: str
    event_ids: tuple[str, ...]
    first_event_ms: int
    last_event_ms: int
    explanation: Mapping[str, Any] = field(default_factory=dict)
    tier: str = "page"
    twin: str = ""  # the benign-twin context that held it, if any (two such never corroborate)

    def __init__(
        self,
        principal: str,
        actor_kind: str,
        kind: str,
        rule: str,
        severity: str,
        score: float,
        summary: str,
        event_ids: tuple[str, ...],
        first_event_ms: int,
        last_event_ms: int,
        explanation: Mapping[str, Any] = _FRESH,
        tier: str = "page",
        twin: str = "",
    ) -> None:
        # the generated __init__ of a frozen dataclass, without object.__setattr__ per field
        # (the same attributes, in the same order): a finding is made per check that fires and
        # per rule match, and the generated one was ~3% of bench.detect_windows' CPU
        state = self.__dict__
        state["principal"] = principal
        state["actor_kind"] = actor_kind
        state["kind"] = kind
        state["rule"] = rule
        state["severity"] = severity
        state["score"] = score
        state["summary"] = summary
        state["event_ids"] = event_ids
        state["first_event_ms"] = first_event_ms
        state["last_event_ms"] = last_event_ms
        state["explanation"] = {} if explanation is _FRESH else explanation
        state["tier"] = tier
        state["twin"] = twin


def evolve(frozen: _Frozen, **changes: Any) -> _Frozen:
    """`dataclasses.replace(frozen, **changes)` without its generic machinery, for a frozen
    dataclass with no __post_init__ and no InitVar (Finding, detect.alerts.incidents' Alert): a
    copy of its fields is the same object replace builds. Triage re-tiers most findings, and
    replace was a tenth of its time; an incident grows by two copies a change."""
    new = object.__new__(type(frozen))
    state = new.__dict__
    state.update(frozen.__dict__)
    state.update(changes)
    return new
