"""Per-principal baseline detectors: explicit thresholds over a principal's own history.

An isolation forest saturates: beyond everything seen in training it cannot tell 30 deletes from
500. These checks fire on their own when a window count passes the principal's own high quantile
(learned in training, then daily from quiet days), never below a per-actor-kind floor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from detect.anomaly.tally import paged_days, youth_margin
from detect.context.peers import MIN_PEERS, PEERS
from detect.features import (
    DAY_MS,
    FEATURE_NAMES,
    FIRST_SEEN_PROD_DESTRUCTIVE,
    FIRST_SEEN_SENSITIVE,
    PrincipalState,
    is_data_read,
)
from detect.findings import SEVERITIES, Finding
from ingest.events import AuditEvent

__all__ = ["DEFAULT_CHECKS", "BaselineCheck", "BaselineDetector", "Baselined"]

WINDOW_MS = 600_000  # the checks' window: a run over a threshold survives a gap this long
FIRST_SEEN_SCORE = 0.8  # score of first-seen findings (no magnitude to scale by)
# Destruction no history can excuse: this many deletes of production-named resources in 10 min
# pages even for a principal whose baseline is still being learned (see detect.context.triage).
CATASTROPHIC_PROD_DESTRUCTIVE = 10
CONTEXT_OFFHOURS = 0.5  # off-hours share above the principal's own that, with a new IP, fires


class Baselined(Protocol):
    """What a check's threshold reads of a principal: a PrincipalState, or a peer's view."""

    @property
    def actor_kind(self) -> str: ...

    @property
    def high(self) -> Mapping[str, float]: ...

    @property
    def learned_days(self) -> int: ...


@dataclass(frozen=True)
class BaselineCheck:
    """Fire when `feature` exceeds max(floor for the actor kind, multiplier x high + slack).

    `high` is the principal's high quantile of the feature; `evidence` picks the event ids a
    finding carries: the 10-minute window's "destructive" events, its privilege/evasion
    ("sensitive") events, the 6-hour window's destructive events ("slow"), or the "event".
    """

    rule: str
    feature: str
    floors: Mapping[str, float]
    multiplier: float
    slack: float
    severity: str
    evidence: str
    label: str
    classes: frozenset[str] = frozenset()  # action classes that can fire it; empty = any
    data_reads_only: bool = False  # only a data read itself (features.is_data_read) fires
    # a principal whose high reaches `job_high` does this for a living (a retention janitor, a
    # teardown pipeline): it fires only at `job_multiplier` x that high. 0 = no such principal.
    job_high: float = 0.0
    job_multiplier: float = 3.0
    # a count of repeatable work (deletes, reads, grants) can recur as a habit; first-seen
    # actions are new by definition: as many again on a later day are new ones again
    habit: bool = True
    # it fires only on an event that is itself a first-seen sensitive action: a routine call
    # minutes after a new user's onboarding adds nothing to the count, and raising it there
    # again escaped the twin that explained it (seeds 882, 886)
    first_seen_only: bool = False

    def applies(self, event: AuditEvent) -> bool:
        if self.classes and event.action_class not in self.classes:
            return False
        return not self.data_reads_only or is_data_read(
            event.source, event.action, event.error_code
        )

    # no threshold is below the lowest floor: a value at or under it never fires
    lowest: float = field(init=False, repr=False, compare=False)
    highest: float = field(init=False, repr=False, compare=False)  # an unknown kind's floor

    def __post_init__(self) -> None:
        object.__setattr__(self, "lowest", min(self.floors.values()))
        object.__setattr__(self, "highest", max(self.floors.values()))

    def threshold(self, state: Baselined) -> float:
        floor = self.floors.get(state.actor_kind, self.highest)
        high = state.high.get(self.feature, 0.0)
        if self.job_high and high >= self.job_high:
            usual = self.job_multiplier * high
        else:
            usual = self.multiplier * high + self.slack
        return max(floor, usual * youth_margin(state.learned_days))


_DESTRUCTIVE = frozenset({"destructive"})
_SENSITIVE = frozenset({"privilege", "defense_evasion"})


def _kinds(agent: float, human: float, service: float) -> dict[str, float]:
    return {"agent": agent, "human": human, "service": service}


DEFAULT_CHECKS: tuple[BaselineCheck, ...] = (
    BaselineCheck(  # any deletes, temporary ones included: lasting ones have their own check
        "baseline:destructive_burst",
        "destructive_10m",
        _kinds(10, 12, 20),
        1.5,
        2.0,
        "high",
        "destructive",
        "destructive actions in 10 min",
        _DESTRUCTIVE,
        job_high=5.0,
    ),
    BaselineCheck(
        "baseline:slow_destructive",
        "destructive_6h",
        _kinds(8, 12, 20),
        1.5,
        3.0,
        "medium",
        "slow",
        "destructive actions in 6 h",
        _DESTRUCTIVE,
        job_high=10.0,
        job_multiplier=5.0,  # a janitor's big day spreads over hours: only far beyond usual
    ),
    BaselineCheck(
        "baseline:delete_recreate",
        "churn_10m",
        _kinds(2, 2, 2),
        1.5,
        1.0,
        "high",
        "destructive",
        "resources deleted then recreated in 10 min",
    ),
    BaselineCheck(
        "baseline:privilege_burst",
        "privilege_10m",
        _kinds(3, 4, 4),
        1.5,
        2.0,
        "high",
        "sensitive",
        "permission changes in 10 min",
        _SENSITIVE,
    ),
    BaselineCheck(
        "baseline:new_sensitive_actions",
        "new_sensitive_10m",
        _kinds(0, 1, 0),
        1.0,
        0.5,
        "medium",
        "sensitive",
        "first-seen privilege/evasion actions in 10 min",
        _SENSITIVE,
        habit=False,
        first_seen_only=True,
    ),
    BaselineCheck(
        "baseline:region_spread",
        "distinct_regions_10m",
        _kinds(3, 3, 4),
        1.0,
        1.5,
        "medium",
        "event",
        "regions used in 10 min",
    ),
    BaselineCheck(
        "baseline:rate_spike",
        "events_10m",
        _kinds(400, 300, 1500),
        3.0,
        50.0,
        "medium",
        "event",
        "events in 10 min",
    ),
    BaselineCheck(
        "baseline:bulk_data_read",
        "data_reads_10m",
        _kinds(100, 100, 300),
        1.5,
        20.0,
        "medium",
        "event",
        "data reads (objects, items, secret values) in 10 min",
        data_reads_only=True,
    ),
)
_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}
_OFFHOURS_SURPRISE = _INDEX["offhours_surprise_10m"]
_NEW_IPS = _INDEX["new_ips_10m"]
_NEW_REGIONS = _INDEX["new_regions_10m"]


@dataclass
class _Day:
    day: int = -1
    flagged: bool = False
    flag_days: tuple[int, ...] = ()  # days the principal paged before this reached them
    high: dict[str, float] = field(default_factory=dict)
    # the previous active day's highs, flagged or not (a weekend does not break a daily job)
    yesterday: dict[str, float] = field(default_factory=dict)
    paged: dict[str, float] = field(default_factory=dict)  # flagged days' highs, not learned
    # feature -> (first, last) event time of its current run over the threshold (a run ends
    # after a window without an excess): how long the principal has kept it up
    over: dict[str, tuple[int, int]] = field(default_factory=dict)


class BaselineDetector:
    """Evaluates the checks on a principal's current window; learns quiet days' highs.

    A day's window maxima become part of the principal's `high` only when the day ends without a
    page for that principal (a flagged day teaches what its previous active day also reached), so
    an incident never teaches the baseline that it is normal. A flagged day's maxima are kept
    apart: a finding back at no more than that on a later day says so (`recurs`).
    """

    def __init__(
        self,
        checks: Sequence[BaselineCheck] = DEFAULT_CHECKS,
        *,
        peers: Callable[[PrincipalState], Sequence[Baselined]] | None = None,
    ) -> None:
        """`peers(state)`: the principal's mature peers (detect.context.peers), for judging a
        principal whose own baseline is still being learned against theirs."""
        self.checks = tuple(checks)
        # each check's feature and its place in the row, in the checks' order (_roll_day)
        self._watched = tuple((c.feature, _INDEX[c.feature]) for c in self.checks)
        self.peers = peers
        # (action class, data read?) -> the checks that apply to such a call
        self._plans: dict[tuple[str, bool], tuple[tuple[BaselineCheck, int], ...]] = {}
        self._days: dict[str, _Day] = {}

    def mark_flagged(self, principal: str, time_ms: int) -> None:
        """The principal paged at `time_ms`: that day does not teach its highs (flagged when
        its window reaches the day, if the page came first: another principal's event can page
        it -- a twin, an initiator)."""
        day_no = time_ms // DAY_MS
        day = self._days.get(principal)
        if day is None:
            day = self._days[principal] = _Day()
        if day_no == day.day:
            day.flagged = True
        elif day_no > day.day:  # (a day left behind has taught already: Tally.mark_flagged)
            day.flag_days = paged_days(day.flag_days, day_no)

    def forget(self, principal: str) -> None:
        self._days.pop(principal, None)

    def evaluate(
        self, state: PrincipalState, x: Sequence[float], event: AuditEvent, flags: int
    ) -> list[Finding]:
        """Findings for the window that `event` just updated (x = state.features())."""
        self._roll_day(state, event.event_time_ms, x)
        first_seen = bool(flags & FIRST_SEEN_SENSITIVE)
        # the checks that apply depend only on the action class and whether it is a data read
        key = (event.action_class, is_data_read(event.source, event.action, event.error_code))
        plan = self._plans.get(key)
        if plan is None:  # (in order; BaselineCheck.applies asked once per kind of call)
            plan = self._plans[key] = tuple(
                (c, _INDEX[c.feature]) for c in self.checks if c.applies(event)
            )
        found: list[Finding] = []
        for c, i in plan:
            # (_check's own first test, asked before the call: most checks end there)
            if x[i] <= c.lowest or (c.first_seen_only and not first_seen):
                continue
            f = self._check(c, state, x, event)
            if f is not None:
                found.append(f)
        established = state.established
        if established and flags & FIRST_SEEN_PROD_DESTRUCTIVE:
            found.append(
                self._first_seen(
                    "baseline:first_seen_destructive",
                    state,
                    event,
                    f"first {event.action} by this principal on a production resource",
                )
            )
        if (
            established
            and flags & FIRST_SEEN_SENSITIVE
            and (event.action_class == "defense_evasion")
        ):
            found.append(
                self._first_seen(
                    "baseline:first_seen_evasion",
                    state,
                    event,
                    f"first {event.action} ever by this principal "
                    "(turns off or narrows monitoring)",
                )
            )
        if (
            established
            and x[_OFFHOURS_SURPRISE] >= CONTEXT_OFFHOURS
            and (x[_NEW_IPS] + x[_NEW_REGIONS] >= 1)
        ):
            found.append(
                self._first_seen(
                    "baseline:unusual_context",
                    state,
                    event,
                    f"active at hours this principal never works, from a new source "
                    f"(IP {event.source_ip}, region {event.region})",
                )
            )
        return found

    def _roll_day(self, state: PrincipalState, time_ms: int, x: Sequence[float]) -> None:
        day_no = time_ms // DAY_MS
        day = self._days.get(state.key)
        if day is None:  # (not setdefault: a _Day, four dicts, built and dropped each event)
            day = self._days[state.key] = _Day(day_no)
        if day_no > day.day:
            for name, value in day.high.items():
                # a quiet day teaches its highs; a flagged day only what yesterday reached too:
                # a job that runs daily is routine, an incident does not repeat every day
                learned = value if not day.flagged else min(value, day.yesterday.get(name, 0.0))
                state.high[name] = max(state.high.get(name, 0.0), learned)
                if day.flagged:
                    day.paged[name] = max(day.paged.get(name, 0.0), value)
            day.yesterday = day.high
            day.day, day.flagged, day.high = day_no, day_no in day.flag_days, {}
        high = day.high
        for feature, i in self._watched:
            value = x[i]
            if value > high.get(feature, 0.0):
                high[feature] = value

    def _check(
        self, check: BaselineCheck, state: PrincipalState, x: Sequence[float], event: AuditEvent
    ) -> Finding | None:
        value = x[_INDEX[check.feature]]
        if value <= check.lowest:
            return None
        limit = check.threshold(state)
        if value <= limit:
            return None
        severity = check.severity
        if value >= 3 * limit:
            severity = SEVERITIES[min(SEVERITIES.index(severity) + 1, len(SEVERITIES) - 1)]
        first_ms = event.event_time_ms
        if check.evidence == "event":
            ids: tuple[str, ...] = (event.event_id,)
        elif check.evidence == "slow":
            first_ms, slow_ids = state.slow_window()
            ids = tuple(slow_ids) or (event.event_id,)
        else:
            ids = tuple(state.window_ids(check.evidence)) or (event.event_id,)
            first_ms = _first_ms(state, check.evidence, event)
        usual = state.high.get(check.feature, 0.0)
        day = self._days[state.key]
        now = event.event_time_ms
        since, last = day.over.get(check.feature, (now, now))
        since = since if now - last <= WINDOW_MS else now
        day.over[check.feature] = (since, now)
        explanation: dict[str, object] = {
            check.feature: {"value": value, "baseline": usual, "threshold": limit}
        }
        if now > since:
            explanation["sustained_ms"] = now - since
        paged = day.paged.get(check.feature, 0.0)
        if check.habit and paged and value <= check.multiplier * paged + check.slack:
            explanation["recurs"] = paged  # as much paged on an earlier day: triage holds it
        if check.evidence == "destructive":
            prod = sum(b.prod_destructive for b in state.buckets)
            if prod >= CATASTROPHIC_PROD_DESTRUCTIVE:
                explanation["catastrophic"] = f"{prod} production resources deleted in 10 min"
        if not state.mature and check.habit and self.peers is not None:
            # (not a count of first-seen calls: every call of a new principal is one, a mature
            # peer's hardly ever -- review; only peers that learned the count: a peer's floor
            # says nothing of what the job does)
            peers = [p for p in self.peers(state) if p.high.get(check.feature, 0.0) > 0.0]
            bar = max((check.threshold(p) for p in peers), default=0.0)
            if len(peers) >= MIN_PEERS and bar > limit:
                # (peers whose bars are all the floor -- the principal's own bar -- say nothing
                # its own bar does not: review, "beyond" was every finding)
                explanation[PEERS] = {"mature": len(peers), "threshold": bar, "beyond": value > bar}
        return Finding(
            principal=state.key,
            actor_kind=state.actor_kind,
            kind="anomaly",
            rule=check.rule,
            severity=severity,
            score=round(0.5 + 0.5 * (1.0 - limit / value), 4),
            summary=f"{value:g} {check.label} (usual up to {usual:g}; threshold {limit:g})",
            event_ids=ids,
            first_event_ms=min(first_ms or event.event_time_ms, event.event_time_ms),
            last_event_ms=event.event_time_ms,
            explanation=explanation,
        )

    def _first_seen(
        self, rule: str, state: PrincipalState, event: AuditEvent, summary: str
    ) -> Finding:
        return Finding(
            principal=state.key,
            actor_kind=state.actor_kind,
            kind="anomaly",
            rule=rule,
            severity="high",
            score=FIRST_SEEN_SCORE,
            summary=summary,
            event_ids=(event.event_id,),
            first_event_ms=event.event_time_ms,
            last_event_ms=event.event_time_ms,
            explanation={
                "action": event.action,
                "resources": list(event.resources[:5]),
                "history_events": state.hist_events,
            },
        )


def _first_ms(state: PrincipalState, evidence: str, event: AuditEvent) -> int:
    if evidence == "event" or not state.buckets:
        return event.event_time_ms
    for bucket in state.buckets:
        ids = bucket.destructive_ids if evidence == "destructive" else bucket.sensitive_ids
        if ids:
            return bucket.minute * 60_000
    return event.event_time_ms
