"""Finding: what a rule or detector says about one principal's events; the input of alerting."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, TypeVar, dataclass_transform

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
    "ON_CONSOLE_NET",
    "TIERS",
    "UNUSED_REGION",
    "VOLUME_RULES",
    "Finding",
    "evolve",
    "frozen_record",
]

SEVERITIES = ("low", "medium", "high", "critical")
TIERS = ("trace", "note", "hold", "page")  # what a finding may do on its own: Finding.tier

# administrator access granted: AWS's AdministratorAccess (or a policy text allowing everything)
# put on an identity by a red flag, or a managed policy of the organisation's own that allows
# everything attached, or made so by a new default version (detect.anomaly.behaviour)
ADMIN_POLICY_RULE = "baseline:allow_all_policy"
ADMIN_GRANTS = frozenset({"redflag:admin_policy_attached", ADMIN_POLICY_RULE})

# the principal back on a network that a sign someone else holds its credentials came from,
# while that alert is unresolved (detect.anomaly.behaviour): it grows that alert
# (detect.alerts.incidents.AlertBook.merge's `resume`), whatever detector opened it
HOLDER_BACK_RULE = "baseline:credentials_holder_back"

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
# ... and a finding's flag saying the same of one finding (its count judged at a lower floor
# because its calls came from a console sign-in's network nobody here works from:
# behaviour._discovery_burst): the held sign-in is a sign apart, a note that the network is new
# is not
ON_CONSOLE_NET = "on_console_net"
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
# a finding's flag: its call came from a network a context note called new to the principal
# within the hour (detect.anomaly.behaviour: Seen.noted_net)
ON_NOTED_NET = "on_noted_net"
# ... from a network the principal never came from before, within the hour (Seen.fresh_net)
ON_FRESH_NET = "on_fresh_net"
# the benign twin of a call that tears down what its caller just made or what is named temporary
# (detect.context.twins; detect.alerts.paging: no new network corroborates it)
YOUNG_TARGET = "a target created recently or named as temporary"
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
_Record = TypeVar("_Record", bound=type)


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def frozen_record(cls: _Record) -> _Record:
    """`@dataclass(frozen=True)` whose __init__ stores the fields straight into the instance's
    __dict__: the generated one calls object.__setattr__ per field, and the records made per
    event, per finding and per finding triaged (Novelty, Finding, Case) spent ~3% of
    bench.detect_windows' CPU in it. The same attributes in the same order, the same signature
    (a default_factory runs when its argument is left out). For dataclasses without
    __post_init__, InitVar or slots -- evolve() copies them the same way."""
    dataclass(frozen=True, init=False)(cls)  # (a class without slots: made in place)
    if hasattr(cls, "__post_init__") or hasattr(cls, "__slots__"):
        raise TypeError(f"frozen_record: {cls.__name__} has __post_init__ or __slots__")
    scope: dict[str, Any] = {"_MISSING": MISSING}
    params, lines = [], []
    for spec in fields(cls):
        name = spec.name
        if name.startswith("_") or name == "self":  # the generated code's own names
            raise TypeError(f"frozen_record: {cls.__name__} has a field named {name}")
        if spec.default is not MISSING:
            scope[f"_default_{name}"] = spec.default
            params.append(f"{name}=_default_{name}")
            lines.append(f"    __attrs[{name!r}] = {name}")
        elif spec.default_factory is not MISSING:
            scope[f"_factory_{name}"] = spec.default_factory
            params.append(f"{name}=_MISSING")
            made = f"_factory_{name}() if {name} is _MISSING else {name}"
            lines.append(f"    __attrs[{name!r}] = {made}")
        else:
            params.append(name)
            lines.append(f"    __attrs[{name!r}] = {name}")
    source = f"def __init__(self, {', '.join(params)}):\n    __attrs = self.__dict__\n"
    exec(source + "\n".join(lines), scope)  # noqa: S102 -- our own field names, as dataclasses does
    init: Callable[..., None] = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[misc]
    return cls


@frozen_record
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
