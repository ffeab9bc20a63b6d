"""AlertBook: one open incident per principal; findings open and grow it, a quiet gap ends it."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from detect.alerts.alert import (
    MAX_ALERT_EVENT_IDS,
    Alert,
    alert_id,
    principals_of,
    severity_rank,
)
from detect.features.actor import actor_of
from detect.findings import HOLDER_BACK_RULE, SEVERITIES, Finding, evolve
from ingest.catalogue import HARMFUL_CLASSES
from ingest.events import AuditEvent

__all__ = ["ATTACH_CLASSES", "EVIDENCE_ONLY", "MAX_OPEN", "AlertBook", "incident_key"]

MAX_TRACKED_IDS = 20_000  # ids remembered per open incident to count distinct events
MAX_OPEN = 10_000  # open incidents held by default; the least recently active are let go beyond
STORY_GAP_MS = 6 * 3_600_000  # a detector firing again this soon continues its incident
# ...but a spree of deletes after this long a quiet is a new act: an agent that destroyed an
# environment at 16:42 and destroys another at 19:12 is paged twice (a slow drip deletes every
# hour or so, and stays one story)
SPREE_BREAK_MS = 2 * 3_600_000
# a finding raised on a read (a bulk download, a sweep of secrets) stores at most this many of
# an alert's MAX_ALERT_EVENT_IDS ids: an agent that read 3,000 objects and then deleted
# production keeps the deletes in its evidence, not 1,000 GetObject calls and a count
READ_ID_ROOM = MAX_ALERT_EVENT_IDS // 2
ESCALATE_AT_EVENTS = 50  # flagged events after which an alert's severity rises one level
ATTACH_CLASSES = HARMFUL_CLASSES
_HIGH = severity_rank("high")
EVIDENCE_ONLY = frozenset({"trace", "note"})  # tiers that join an alert as evidence, without events
MAX_NAMED = 20  # principals an alert names (the count says how many more)


def incident_key(principal: str) -> str:
    """The incident a principal's findings join: its actor's (detect.features.actor.actor_of). A
    session with a stable name is its own principal (ingest.identity), and an AI agent that
    goes on in a new session (`data-agent`, then `data-agent-42f5`) is one spree, as its
    per-run sessions (`claude-<uuid>`, keyed by the role) are (fresh seeds 1158, 1160: two
    alerts for one agent's deletes across two sessions, minutes apart)."""
    return actor_of(principal)


@dataclass
class _Incident:
    alert: Alert
    ids: set[str]
    detectors: dict[str, dict[str, Any]]
    top: tuple[int, float]  # (severity rank, score) of the finding that names the alert
    base_severity: str
    classes: set[str] = field(default_factory=set)  # action classes further events attach by
    earlier: set[str] = field(default_factory=set)  # ids of the incident this one came after
    read_ids: int = 0  # stored ids that findings raised on reads brought (READ_ID_ROOM)
    principals: set[str] = field(default_factory=set)  # whose findings and events it holds


class AlertBook:
    """Open incidents per principal; `merge` turns a finding into an opened or grown alert.

    A finding joins the principal's open incident when it starts within `quiet_gap_ms` (event
    time) of the incident's last event and the alert was not resolved; otherwise it opens a new
    alert. Growth adds distinct events, widens the time span and may raise the severity.

    At most `max_open` incidents are held (each remembers up to MAX_TRACKED_IDS event ids):
    past it `expire` lets go of those whose last event is oldest. Their alerts stay stored and
    open; a later finding of that principal opens a new alert instead of growing the old one --
    unless it asks the old one's question again (`merge`'s `resume`): incidents let go while
    their alerts stay open are parked for that when `parkable()` names them (counted with the
    open ones against `max_open`, the least recently grown let go first).
    """

    def __init__(
        self,
        *,
        quiet_gap_ms: int,
        max_open: int = MAX_OPEN,
        clock: Callable[[], float] = time.time,
        parkable: Callable[[], Collection[str]] = frozenset,
    ) -> None:
        self.quiet_gap_ms = quiet_gap_ms
        self.max_open = max_open
        self._clock = clock
        self._parkable = parkable  # the alert ids a later finding may resume (`merge`)
        self._open: dict[str, _Incident] = {}
        # alert id -> an incident let go (a quiet gap, a newer alert) while its alert stayed
        # open: a repeat of a call it left unvetted grows it (`merge`'s `resume`)
        self._parked: dict[str, _Incident] = {}

    def __len__(self) -> int:
        return len(self._open)

    def current(self, principal: str) -> Alert | None:
        incident = self._open.get(incident_key(principal))
        return incident.alert if incident else None

    def adopt(self, alerts: Iterable[Alert]) -> None:
        """Resume incidents loaded from the store (after a restart)."""
        for alert in alerts:
            key = incident_key(alert.principal)
            known = self._open.get(key)
            if known is None or known.alert.last_event_ms < alert.last_event_ms:
                detectors = dict(alert.explanation.get("detectors", {}))
                self._open[key] = _Incident(
                    alert,
                    set(alert.event_ids),
                    detectors,
                    (severity_rank(alert.severity), alert.score),
                    alert.severity,
                    principals=set(principals_of(alert)),
                )

    def set_status(self, alert_id_: str, status: str) -> None:
        """Reflect a status change made elsewhere; a resolved alert takes no more findings."""
        for principal, incident in list(self._open.items()):
            if incident.alert.id == alert_id_:
                if status == "resolved":
                    del self._open[principal]
                else:
                    incident.alert = replace(incident.alert, status=status)
        parked = self._parked.get(alert_id_)
        if parked is not None:
            if status == "resolved":
                del self._parked[alert_id_]
            else:
                parked.alert = replace(parked.alert, status=status)

    def open_ids(self) -> list[str]:
        return [i.alert.id for i in self._open.values()]

    def expire(
        self, clock_of: Callable[[str], int], *, after_ms: int, forget_before_ms: int
    ) -> None:
        """Forget incidents whose quiet gap ended more than `after_ms` before their principal's
        own latest event time (`clock_of`), or that ended before `forget_before_ms` at all.

        Each principal's own clock, not the newest event time seen anywhere: a backlog is read
        partition by partition, so one partition's event time can run hours ahead of another's,
        and its clock must not close the other principals' incidents before their own next
        events arrive. `forget_before_ms` (far behind) bounds the memory of principals that fall
        silent.
        """
        parkable: Collection[str] | None = None  # (asked for once, when one is let go)
        for key, incident in list(self._open.items()):
            ended_ms = incident.alert.last_event_ms + self.quiet_gap_ms
            clock = max(map(clock_of, incident.principals), default=0)
            if ended_ms + after_ms < clock or ended_ms < forget_before_ms:
                parkable = self._parkable() if parkable is None else parkable
                self._park(self._open.pop(key), parkable)
        for alert_id_, incident in list(self._parked.items()):
            if incident.alert.last_event_ms + self.quiet_gap_ms < forget_before_ms:
                del self._parked[alert_id_]
        if len(self._open) > self.max_open:
            by_age = sorted(self._open.items(), key=lambda item: item[1].alert.last_event_ms)
            for key, _ in by_age[: len(by_age) - self.max_open]:
                del self._open[key]
        room = self.max_open - len(self._open)  # (parked and open count together)
        while self._parked and len(self._parked) > room:
            del self._parked[next(iter(self._parked))]  # (the least recently grown first)

    def _park(self, incident: _Incident, parkable: Collection[str] | None = None) -> None:
        """Keep a let-go incident whose alert a later finding may resume (its id is in
        `parkable`, by default the book's `parkable()`); any other is let go for good."""
        if incident.alert.id in (self._parkable() if parkable is None else parkable):
            self._parked[incident.alert.id] = incident

    def forget(self, principal: str) -> None:
        """The principal is let go: its incident too, unless another session goes on in it."""
        key = incident_key(principal)
        incident = self._open.get(key)
        if incident is not None:
            incident.principals.discard(principal)
            if not incident.principals:
                del self._open[key]
        for alert_id_, parked in list(self._parked.items()):
            if incident_key(parked.alert.principal) == key:
                parked.principals.discard(principal)
                if not parked.principals:
                    del self._parked[alert_id_]

    def attach(self, event: AuditEvent) -> tuple[str, Alert] | None:
        """Add a non-flagged event to its principal's open incident when it continues it.

        It continues the incident when it falls within the quiet gap and has an action class
        (destructive, privilege or defense_evasion) of the findings that built the incident.
        """
        incident = self._open.get(incident_key(event.principal_key))
        if incident is None or event.action_class not in incident.classes:
            return None
        alert = incident.alert
        if event.event_time_ms > alert.last_event_ms + self.quiet_gap_ms:
            return None
        if event.event_id in incident.ids:
            return None
        if len(incident.ids) < MAX_TRACKED_IDS:
            incident.ids.add(event.event_id)
        explanation = alert.explanation
        if _joins(incident, event.principal_key):
            explanation = {**explanation, **_named(incident.principals)}
        count = alert.event_count + 1
        ids = alert.event_ids + (
            (event.event_id,) if len(alert.event_ids) < MAX_ALERT_EVENT_IDS else ()
        )
        incident.alert = replace(
            alert,
            event_count=count,
            event_ids=ids,
            updated_at_ms=int(self._clock() * 1000),
            last_event_ms=max(alert.last_event_ms, event.event_time_ms),
            severity=_escalate(incident.base_severity, count),
            summary=_summary(count, alert.summary),
            explanation=explanation,
        )
        return "alert.updated", incident.alert

    def merge(
        self,
        finding: Finding,
        action_class: str = "",
        *,
        may_open: bool = True,
        resume: Sequence[str] = (),
    ) -> tuple[str, Alert] | None:
        """Apply a finding: ("alert.opened" | "alert.updated", alert), None if nothing changed.

        With `may_open` False the finding only corroborates an open incident (weak evidence).
        `resume`: open alerts whose question the finding asks again -- its call is one they
        left unvetted (detect.anomaly.vetting). A finding that would open an alert grows the
        latest of them instead when its detector named it, no more severe than the alert: an
        agent's first push of a function's code, unresolved, is one question however many days
        it repeats (fresh seed 1391: five alerts in five days for one call). The resumed
        incident stays let go: the repeat is evidence in it, and the rest of the session opens
        its own alert if it pages (review: a stolen session's StopLogging minutes after the
        repeat grew the days-old alert). Which calls resume: DetectionEngine._asked_before.
        """
        key = incident_key(finding.principal)
        incident = self._open.get(key)
        previous = None
        if incident is not None and (
            not self._continues(incident, finding, action_class)
            or (finding.rule == HOLDER_BACK_RULE and incident.alert.id not in resume)
        ):  # (the holder's return grows the alert that named them, not whatever is open)
            previous, incident = incident, None
        if incident is None and not may_open:
            return None
        if incident is None and resume:
            for asked in reversed(resume):  # (the latest first)
                held = previous if previous and previous.alert.id == asked else None
                held = held or self._parked.get(asked)
                if held is None or not _asks(held.alert, finding):
                    continue
                if severity_rank(finding.severity) > severity_rank(held.alert.severity):
                    break  # worse than what it asked: a page of its own (review)
                if held is previous:  # grown as evidence, it takes no more of the session
                    del self._open[key]
                    self._park(previous)
                else:  # (re-inserted: the bound lets go of the least recently grown first)
                    self._parked[asked] = self._parked.pop(asked)
                return self._grown(held, finding, action_class)
        if incident is None and finding.rule == HOLDER_BACK_RULE:
            return None  # (it says an alert goes on; with that alert gone it opens nothing)
        if incident is None:
            earlier = _earlier(previous) if previous is not None else set()
            if previous is not None:
                finding = _without(earlier, finding, previous.alert.last_event_ms + 1)
            incident = self._open_incident(finding, action_class)
            incident.earlier = earlier
            if previous is not None:
                self._park(previous)
            if action_class in ATTACH_CLASSES:
                incident.classes.add(action_class)
            return "alert.opened", incident.alert
        return self._grown(incident, finding, action_class)

    def _grown(
        self, incident: _Incident, finding: Finding, action_class: str
    ) -> tuple[str, Alert] | None:
        if action_class in ATTACH_CLASSES and finding.tier not in EVIDENCE_ONLY:
            incident.classes.add(action_class)
        before = incident.alert
        self._grow(incident, finding, action_class)
        if incident.alert is before or incident.alert == before:  # (`is`: most traces)
            return None
        return "alert.updated", incident.alert

    def _continues(self, incident: _Incident, finding: Finding, action_class: str) -> bool:
        """Within the quiet gap -- or within STORY_GAP_MS for a detector that already fired in
        it, or for another harmful call (a delete, a permission or monitoring change) when
        harmful calls built it: a slow drip, privilege creep over hours, a spree resumed from a
        new session, a slow delete that also weakens a bucket policy are one story, one alert,
        not one alert per hour and per detector. A held finding (one waiting for a second sign)
        has that sign in a high or critical alert of the same principal that began within
        STORY_GAP_MS: credentials that turned monitoring off are still in the attacker's hands
        hours later (fresh seed 1080: a person's keys excluded management events from the trail
        with an attack tool's client at 08:40, and at 11:51 pulled 307 objects, held as volume
        alone)."""
        alert = incident.alert
        if _spree(finding, action_class) and (
            finding.last_event_ms > alert.last_event_ms + SPREE_BREAK_MS
        ):
            return False  # (judged by its latest call: a 6-hour count reaches back into the old)
        if finding.first_event_ms <= alert.last_event_ms + self.quiet_gap_ms:
            return True
        if (
            finding.tier == "hold"
            and severity_rank(alert.severity) >= _HIGH
            and finding.first_event_ms <= alert.first_event_ms + STORY_GAP_MS
        ):
            return True  # (from the alert's start: held findings do not chain a day long)
        same_story = (
            finding.rule in alert.rules
            or finding.rule == alert.rule
            or (action_class in ATTACH_CLASSES and bool(incident.classes))
        )
        return same_story and finding.first_event_ms <= alert.last_event_ms + STORY_GAP_MS

    def _open_incident(self, finding: Finding, action_class: str = "") -> _Incident:
        now = int(self._clock() * 1000)
        ids = list(dict.fromkeys(finding.event_ids))
        stored = ids[: READ_ID_ROOM if action_class == "read" else MAX_ALERT_EVENT_IDS]
        alert = Alert(
            # named by the event that opened it: a window's earlier events may belong to an
            # incident already resolved, whose id must not be reused
            id=alert_id(finding.principal, ids[-1] if ids else str(finding.last_event_ms)),
            created_at_ms=now,
            updated_at_ms=now,
            principal=finding.principal,
            actor_kind=finding.actor_kind,
            kind=finding.kind,
            rule=finding.rule,
            severity=finding.severity,
            score=finding.score,
            status="open",
            first_event_ms=finding.first_event_ms,
            last_event_ms=finding.last_event_ms,
            event_count=len(ids),
            event_ids=tuple(stored),
            summary=_summary(len(ids), finding.summary),
            rules=(finding.rule,),
        )
        incident = _Incident(
            alert, set(ids), {}, (severity_rank(finding.severity), finding.score), finding.severity
        )
        incident.read_ids = len(stored) if action_class == "read" else 0
        incident.principals.add(finding.principal)
        incident.alert = replace(alert, explanation=self._explain(incident, finding, ids))
        self._open[incident_key(finding.principal)] = incident
        return incident

    def _grow(self, incident: _Incident, finding: Finding, action_class: str = "") -> None:
        alert = incident.alert
        if (
            finding.tier == "trace"
            and finding.rule in alert.rules
            and _escalate(incident.base_severity, alert.event_count) == alert.severity
            and _summary(alert.event_count, alert.summary) == alert.summary
        ):
            # the path below, for a trace (EVIDENCE_ONLY, and it does not weigh): no events or
            # read ids, no span, no other session joined, no headline, base severity or score,
            # and its rule is named already -- so it returns early there exactly when severity
            # and summary come out as they are, as checked here without the rest of the walk
            # (-2% CPU on the detect_windows bench's events, -1% on world 1178's)
            return
        event_ids, first_ms, last_ms = (
            finding.event_ids,
            finding.first_event_ms,
            finding.last_event_ms,
        )
        if finding.tier in EVIDENCE_ONLY:
            # hints and notes name their detector in the explanation but add no events and do
            # not stretch the incident: a busy hour's rate spike, or a new principal's every
            # window, must not pour the principal's day into the alert
            event_ids, first_ms, last_ms = (), alert.first_event_ms, alert.last_event_ms
        elif incident.earlier:
            kept = _without(incident.earlier, finding, alert.first_event_ms)
            event_ids, first_ms, last_ms = kept.event_ids, kept.first_event_ms, kept.last_event_ms
        # the ids the incident does not hold yet, each once, in order -- filtered before they
        # are deduplicated (the same list): a window's evidence is mostly held already, and a
        # dict of all of it was built for each finding
        fresh = [i for i in event_ids if i not in incident.ids]
        if len(fresh) > 1:
            fresh = list(dict.fromkeys(fresh))
        if len(incident.ids) < MAX_TRACKED_IDS:
            incident.ids.update(fresh)
        # another session of the actor (incident_key): the alert names it
        joined = finding.tier not in EVIDENCE_ONLY and _joins(incident, finding.principal)
        count = alert.event_count + len(fresh)
        room = MAX_ALERT_EVENT_IDS - len(alert.event_ids)
        if action_class == "read":
            room = max(0, min(room, READ_ID_ROOM - incident.read_ids))
            incident.read_ids += min(room, len(fresh))
        added = tuple(fresh[:room])
        changes: dict[str, Any] = {}
        rank = (severity_rank(finding.severity), finding.score)
        # a trace is what triage explained away (a twin's benign task, console noise): it is
        # evidence in the alert, never its headline or its severity (fresh seed 1092: a
        # developer's routine log-retention change, excused, made a held read-volume alert
        # "critical: first PutRetentionPolicy ever", and routes by severity follow that)
        weighs = finding.tier != "trace"
        if weighs and rank > incident.top:
            incident.top = rank
            changes.update(kind=finding.kind, rule=finding.rule)
        if weighs and severity_rank(finding.severity) > severity_rank(incident.base_severity):
            incident.base_severity = finding.severity
        severity = _escalate(incident.base_severity, count)
        top_rule = changes.get("rule", alert.rule)
        summary = alert.summary if top_rule == alert.rule and not changes else finding.summary
        rules = alert.rules if finding.rule in alert.rules else (*alert.rules, finding.rule)
        score = max(alert.score, finding.score) if weighs else alert.score
        first_ms, last_ms = min(alert.first_event_ms, first_ms), max(alert.last_event_ms, last_ms)
        summary = _summary(count, summary)
        if (
            not added
            and not joined
            and count == alert.event_count
            and rules is alert.rules
            and (severity, score, first_ms, last_ms, summary)
            == (
                alert.severity,
                alert.score,
                alert.first_event_ms,
                alert.last_event_ms,
                alert.summary,
            )
            and changes.get("kind", alert.kind) == alert.kind
            and changes.get("rule", alert.rule) == alert.rule
        ):
            return  # nothing the alert shows changes, so neither would its explanation (it
            # is rebuilt below only for a changed alert): most findings joining an open incident
            # repeat what it holds (a detector firing on every event of a burst), and rebuilding
            # the alert to compare it cost ~7% of the detector's time (bench.detect_windows)
        incident.alert = evolve(
            alert,
            **changes,
            severity=severity,
            score=score,
            first_event_ms=first_ms,
            last_event_ms=last_ms,
            event_count=count,
            event_ids=alert.event_ids + added,
            rules=rules,
            summary=summary,
        )
        if incident.alert != alert or joined:
            incident.alert = evolve(
                incident.alert,
                updated_at_ms=int(self._clock() * 1000),
                explanation=self._explain(incident, finding, fresh),
            )

    def _explain(self, incident: _Incident, finding: Finding, fresh: list[str]) -> dict[str, Any]:
        seen = incident.detectors.setdefault(
            finding.rule, {"kind": finding.kind, "findings": 0, "score": 0.0}
        )
        seen["findings"] += 1
        seen["score"] = max(seen["score"], finding.score)
        seen["summary"] = finding.summary
        old = dict(incident.alert.explanation)
        features = dict(old.get("features", {}))
        rules = dict(old.get("rules", {}))
        context = dict(old.get("context", {}))
        if finding.kind == "anomaly":
            for name, value in finding.explanation.items():
                if isinstance(value, Mapping) and "value" in value:
                    if _peak(value) >= _peak(features.get(name)):  # the alert's worst moment
                        features[name] = value
                else:  # what triage and the detector add: why it paged, how bad it is
                    context.setdefault(finding.rule, {})[name] = value
        else:
            rules[finding.rule] = dict(finding.explanation)
        trigger = old.get("trigger_event_id") or (fresh[-1] if fresh else "")
        return {
            "trigger_event_id": trigger,
            "detectors": {k: dict(v) for k, v in incident.detectors.items()},
            "features": features,
            "rules": rules,
            **({"context": context} if context else {}),
            **_named(incident.principals),
        }


def _asks(alert: Alert, finding: Finding) -> bool:
    """The finding's detector is one the alert names: the same question -- or it says the
    credentials' holder is back, whichever detector opened the alert (HOLDER_BACK_RULE)."""
    return (
        finding.rule == alert.rule
        or finding.rule in alert.rules
        or finding.rule == HOLDER_BACK_RULE
    )


def _joins(incident: _Incident, principal: str) -> bool:
    """Add a principal to the incident's; whether it is new there (at most MAX_TRACKED_IDS)."""
    if principal in incident.principals or len(incident.principals) >= MAX_TRACKED_IDS:
        return False
    incident.principals.add(principal)
    return True


def _named(principals: set[str]) -> dict[str, Any]:
    """The principals an alert holds, when more than one (at most MAX_NAMED, and how many)."""
    if len(principals) < 2:
        return {}
    named = sorted(principals)
    return {"principals": named[:MAX_NAMED], "principal_count": len(named)}


def _earlier(previous: _Incident) -> set[str]:
    """The ids a new incident must not take again: the one it follows, and the ones that one
    followed -- an alert in between (a busy hour's refusals at 20:03) must not let a six-hour
    count at 20:43 carry the 16:18 spree into a second alert (fresh seed 1033: a coding agent's
    stack deletion, paged at 16:18, was paged again with the next spree's). Bounded by
    MAX_TRACKED_IDS: past it only the incident just ended is kept."""
    if not previous.earlier or len(previous.ids) + len(previous.earlier) > MAX_TRACKED_IDS:
        return previous.ids
    return previous.ids | previous.earlier


def _without(earlier: set[str], finding: Finding, since_ms: int) -> Finding:
    """The finding without the events an earlier incident of its principal holds (starting no
    sooner than `since_ms` then): a six-hour count reaches back into the earlier spree, whose
    events are that alert's, not the next one's."""
    kept = tuple(i for i in finding.event_ids if i not in earlier)
    if not kept or len(kept) == len(finding.event_ids):
        return finding
    start = max(finding.first_event_ms, since_ms)
    return replace(finding, event_ids=kept, first_event_ms=min(start, finding.last_event_ms))


def _spree(finding: Finding, action_class: str) -> bool:
    """A count of deletes (two or more destructive calls), not one delete."""
    return (
        action_class == "destructive"
        and finding.tier not in EVIDENCE_ONLY
        and len(finding.event_ids) >= 2
    )


def _peak(feature: object) -> float:
    value = feature.get("value") if isinstance(feature, Mapping) else None
    return float(value) if isinstance(value, int | float) else float("-inf")


def _escalate(severity: str, event_count: int) -> str:
    if event_count >= ESCALATE_AT_EVENTS:
        return SEVERITIES[min(severity_rank(severity) + 1, len(SEVERITIES) - 1)]
    return severity


def _summary(count: int, text: str) -> str:
    head = text.split(" | ", 1)[-1] if " | " in text else text
    return f"{count} flagged event{'s' if count != 1 else ''} | {head}"
