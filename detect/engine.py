"""The in-process detection engine: events -> rules, baselines, forest -> findings -> alerts.

Streaming (detect.worker) and evaluation (detect.eval) both feed events through
DetectionEngine.process, so they run the same code path.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import chain

import numpy as np

from detect.alerts.alert import Alert, principals_of, severity_rank
from detect.alerts.incidents import (
    ATTACH_CLASSES,
    EVIDENCE_ONLY,
    MAX_OPEN,
    AlertBook,
    incident_key,
)
from detect.alerts.paging import Pager
from detect.alerts.provenance import UntrustedSpans
from detect.anomaly.baseline import Baselined, BaselineDetector
from detect.anomaly.behaviour import ELSEWHERE_RULE, BehaviourDetector, Novelty
from detect.anomaly.destruction import LastingDestruction
from detect.anomaly.forest import DetectionModel, explain_rows
from detect.anomaly.refusals import HOLDER_RULES
from detect.anomaly.unreported import UnreportedCalls
from detect.anomaly.vetting import ON_PROD, RunUp, Unvetted
from detect.context.org import (
    LOG_GROUP_DELETES,
    OrgMemory,
    account_of,
    delegated,
    prunes,
)
from detect.context.peers import PeerGroups
from detect.context.triage import (
    ANALYST_VERDICT,
    EXCUSED_CALLS,
    FOREST_RULE,
    RECURRING,
    SCHEDULED,
    Triage,
    about_the_call,
    explained_by_excused,
    judged_without,
    may_be_excused,
    opens_unexcused,
)
from detect.features import (
    DAY_MS,
    FEATURE_NAMES,
    FIRST_SEEN_PROD_DESTRUCTIVE,
    FIRST_SEEN_SENSITIVE,
    GRANT_ACTIONS,
    Excused,
    PrincipalState,
    matured,
    net_of,
    source_of,
    without,
)
from detect.features.actor import identity_of
from detect.findings import HOLDER_BACK_RULE, SEVERITIES, Finding
from detect.rules.base import Rule
from detect.rules.catalogue import RuleIndex
from detect.rules.record import field as record_field
from detect.rules.record import record_of
from ingest.catalogue import HARMFUL_CLASSES
from ingest.events import AuditEvent
from ingest.identity import IdentityRules, build_identity_rules

__all__ = ["DetectionEngine", "EngineOutput"]

logger = logging.getLogger(__name__)

FOREST_OPEN_MARGIN = 0.08  # forest score above its threshold needed to open an alert on its own
FOREST_HIGH_MARGIN = 0.12  # anomaly score above the threshold that makes a forest finding "high"
MAX_STATES = 200_000  # principals kept in memory by default; the least recently active beyond
# a network first used this long before a sign that someone else holds the credentials paged
# on it is the holder's (DetectionEngine._holder_net)
HOLDER_NET_NEW_MS = 6 * 3_600_000
RESUME_NET_MS = 24 * 3_600_000  # a network first used this recently resumes no alert
_HIGH = severity_rank("high")  # an alert this severe names the holder's network
EXPIRE_AFTER_MS = 6 * 3_600_000  # principal's own event time after an incident's gap: forget it
# an account watched this long has shown every weekly job: a principal it has not seen is new
# to the account, not only to Leash (detect.anomaly.destruction.NEWCOMER_LASTING)
NEWCOMER_WATCH_MS = 7 * 86_400_000
NEWCOMER_MS = 2 * 86_400_000  # ... and one whose identity it first showed this recently
NEWCOMER_AFTER_MS = 86_400_000  # first week: an agent first seen this long after the watch began
WEB_IDENTITY_SIGN_IN = "AssumeRoleWithWebIdentity"  # its findings are the opened session's
FORGET_AFTER_MS = 7 * 86_400_000  # newest event time anywhere after which any incident is dropped
VETTED_CLASSES = HARMFUL_CLASSES  # and GRANT_ACTIONS:
# calls whose first use, once it paged, stays unvetted until its alert is resolved


Pending = tuple[int, Finding, PrincipalState]  # (event index, finding, whose state judges it)
# a window to score: (event index, state, features, event, what excused calls add to them)
Scored = tuple[int, PrincipalState, list[float], AuditEvent, Excused | None]


@dataclass
class EngineOutput:
    """What one `process` call changed: the latest state of each touched alert, in order."""

    changes: list[tuple[str, Alert]] = field(default_factory=list)
    findings: int = 0
    suppressed: int = 0
    triggers: list[tuple[str, str]] = field(default_factory=list)  # (event id, rule) per finding


class DetectionEngine:
    """Per-principal state, rules, baselines and the forest, merged into deduplicated alerts.

    `extra_rules` and `suppressors` are live lists (the runtime's extension lists): callables
    added later are used from the next batch on. Not thread-safe: one caller at a time.

    `human_sigma_solo_level`: a Sigma finding on a human principal opens an alert on its own only
    at this level or above (Sigma's own scale: medium = "review manually", high = "should trigger
    an alert"). A lesser one (a person deleting their own scratch bucket trips the medium "bucket
    deleted" rule) is held for `corroboration_window_ms` of event time: it opens an alert when an
    anomaly finding (baseline or forest, even one too weak to open alone) or another rule on
    another event of the same principal comes within the window, and it joins any alert of that
    principal opened or open meanwhile as evidence. Only principals with an established history
    are held: for a stranger the anomaly detectors are blind, so their silence means nothing.
    Red flags and extra rules are never held; "low" turns the gate off.

    `false_positive(principal, rule)` is the analysts' verdicts (detect.alerts.feedback): a
    pattern marked false positive is held and corroborates nothing by itself.

    `max_states` bounds the principals held in memory (a state holds minute windows and up to
    `MAX_SEEN` values per dimension): past it, the least recently active are forgotten with
    everything kept about them (incidents, held findings), as if never seen. `max_incidents`
    bounds the open incidents held (detect.alerts.incidents.AlertBook).
    """

    def __init__(
        self,
        *,
        rules: Sequence[Rule] = (),
        extra_rules: list[Rule] | None = None,
        suppressors: list[Callable[[Finding], bool]] | None = None,
        model: DetectionModel | None = None,
        baselines: bool = True,
        forest: bool = True,
        quiet_gap_ms: int = 1_800_000,
        explain_top: int = 5,
        human_sigma_solo_level: str = "high",
        corroboration_window_ms: int = 1_800_000,
        false_positive: Callable[[str, str], bool] | None = None,
        max_states: int = MAX_STATES,
        max_incidents: int = MAX_OPEN,
        clock: Callable[[], float] = time.time,
        identity: IdentityRules | None = None,
    ) -> None:
        if human_sigma_solo_level not in SEVERITIES:
            raise ValueError(f"human_sigma_solo_level must be one of {SEVERITIES}")
        self.rules = list(rules)
        self.identity = identity or build_identity_rules()  # how the normaliser keys principals
        self._rule_index = RuleIndex(self.rules)  # each event meets only rules it could match
        self.extra_rules = extra_rules if extra_rules is not None else []
        self.suppressors = suppressors if suppressors is not None else []
        self.model = model
        self.peer_groups = PeerGroups()  # principals by the jobs their names say they share
        self._peer_views: dict[str, PeerView] = {}  # mature trained peers not active here yet
        self._peer_cache: dict[str, tuple[int, list[Baselined]]] = {}  # key -> (minute, peers)
        self.baselines = BaselineDetector(peers=self._mature_peers) if baselines else None
        self.use_forest = forest
        self.explain_top = explain_top
        self.book = AlertBook(
            quiet_gap_ms=quiet_gap_ms,
            max_open=max_incidents,
            clock=clock,
            # alerts a later finding may resume: a repeat of a call they left unvetted, or the
            # credentials' holder back on their network
            parkable=lambda: self.unvetted.alert_ids() | self._marks.keys(),
        )
        self.pager = Pager(self.book, window_ms=corroboration_window_ms)
        self.untrusted = UntrustedSpans()  # alerts over pushed-by-anyone events do not act
        self.org = OrgMemory()
        self.destruction = LastingDestruction()
        self.behaviour = BehaviourDetector(self.org)
        self.unreported = UnreportedCalls()  # an agent's harmful calls outside its tool calls
        self._new_destructive: set[str] = set()  # this batch's first deletes with their call
        self.unvetted = Unvetted()  # sensitive calls first made in an alert nobody resolved
        self.runup = RunUp()  # mature principals' first sensitive calls that paged nothing
        # alerts that carry a sign someone else holds the credentials -> their principal
        self._marks: OrderedDict[str, set[str]] = OrderedDict()
        # person -> held signs that someone else holds its credentials: (event id, network, ms)
        self._held_signs: OrderedDict[str, deque[tuple[str, str, int]]] = OrderedDict()
        self._verdicts: dict[int, bool] = {}  # id(finding) -> suppressed, within one batch
        self.triage = Triage(
            org=self.org, sigma_solo_level=human_sigma_solo_level, false_positive=false_positive
        )
        self.states: dict[str, PrincipalState] = {}
        self.max_states = max_states
        self.scores: dict[str, float] = {}
        self.watermark_ms = 0
        self.events_seen = 0
        self.events_replayed = 0  # (process(..., replay=True))
        if model is not None:
            self._remember_accounts(model)

    def set_model(self, model: DetectionModel) -> None:
        """Swap in a newly trained model; live states keep their windows and gain its highs
        (its medians stay in the model's profiles, where explanations read them)."""
        self.model = model
        self._peer_views.clear()
        self._peer_cache.clear()
        self._remember_accounts(model)
        for key, state in self.states.items():
            profile = model.profiles.get(key)
            if profile is not None:
                for name, value in profile.high.items():
                    state.high[name] = max(state.high.get(name, 0.0), value)

    def _remember_accounts(self, model: DetectionModel) -> None:
        """The trained history says since when Leash has watched each account: a restart does
        not make an account young again (detect.context.org.OrgMemory.young_account)."""
        for profile in model.profiles.values():
            self.peer_groups.add(profile.key)
            account = account_of(profile.key)
            if account and profile.first_ms:
                self.org.remember_account(account, profile.first_ms)
                self.org.remember_watched(account, profile.first_ms)
                self.org.remember_identity(profile.key, profile.first_ms)

    def principal_score(self, key: str) -> float | None:
        return self.scores.get(key)

    def process(self, events: Sequence[AuditEvent], *, replay: bool = False) -> EngineOutput:
        """Run every detector over the events (in order) and merge the findings into alerts.

        Findings are triaged as their event is processed, before the organisation's memory
        learns from it: a resource this very call creates is not "created recently".

        `replay`: events another detector already processed (a partition taken over: the bus's
        Record.replay), run for the state they leave -- the caller discards the output, then
        settles the alerts it names (settle_replay). They are counted apart
        (`events_replayed`), and an agent's calls waiting for their tool-call report are
        neither added nor released by them (those findings would be discarded with the output).
        """
        pending: list[Pending] = []
        scoring: dict[str, list[Scored]] = {}
        forest = self.model is not None and self.use_forest
        initiators: dict[int, str] = {}  # event -> the principal whose stack operation it serves
        # events whose sensitive call is new (or unvetted) to its maker -> what was new: the
        # call, or the call on production (Unvetted's ON_PROD key)
        firsts: dict[int, str] = {}
        self._verdicts.clear()
        for idx, event in enumerate(events):
            state = self._state(event)
            self.untrusted.observe(event)
            source = source_of(event)
            unvetted = self.unvetted.of(state.key, event.event_time_ms)
            again = event.action in unvetted
            again_prod = again or event.action + ON_PROD in unvetted
            new = Novelty.of(state, event, source, unvetted=again, unvetted_prod=again_prod)
            if (
                event.action_class == "destructive"
                and (again or event.action not in state.seen["destructive"])
            ) or (event.action in LOG_GROUP_DELETES and new.action):
                self._new_destructive.add(event.event_id)
            routine = (
                state.established
                and self.baselines is not None
                and not new.action
                and not state.privilege_new(event)
            )
            flags = state.observe(event, source, unvetted=again, unvetted_prod=again_prod)
            first = (new.action or new.prod_grant or flags) and _sensitive(event)
            # only production was new to it: the call elsewhere stays its own (fresh seed 1100:
            # a coding agent's first push to a production function paged, and each of its daily
            # pushes to staging paged after it as a "first" while the alert stayed open)
            scope_only = (
                not new.action
                and not flags & FIRST_SEEN_SENSITIVE
                and (new.prod_grant or bool(flags & FIRST_SEEN_PROD_DESTRUCTIVE))
            )
            key = event.action + ON_PROD if scope_only else event.action
            x = state.features()
            self.watermark_ms = max(self.watermark_ms, event.event_time_ms)
            found: list[Pending] = []
            for rule in chain(self._rule_index.candidates(event), self.extra_rules):
                finding = _evaluate(rule, event)
                if finding is not None:
                    found.append((idx, finding, state))
            if self.baselines is not None:
                for f in self.baselines.evaluate(state, x, event, flags):
                    found.append((idx, f, state))
                found.extend(self._destruction(idx, event, state, initiators))
                for f in self.behaviour.evaluate(state, event, new):
                    found.append((idx, f, state))
            assess = self.triage.assess
            judged = [
                (i, self._to_opened_session(assess(f, event, st, routine=routine), event), st)
                for i, f, st in found
            ]
            # (one walk for what the tests below need first: a twin held one of the principal's
            # own findings -- _excused_call's premise -- or one of them pages)
            own_twin = own_page = False
            for _, f, _ in judged:
                if f.principal == state.key:
                    own_twin = own_twin or bool(f.twin)
                    own_page = own_page or f.tier == "page"
            if own_twin and _excused_call([f for _, f, _ in judged if f.principal == state.key]):
                state.excuse(
                    event, new_action=new.action, new_sensitive=bool(flags & FIRST_SEEN_SENSITIVE)
                )
            excused = state.excused_counts()
            if excused is not None and any(may_be_excused(f, state.key) for _, f, _ in judged):
                # counts that cross only with excused calls are explained
                rest = without(x, excused)
                judged = [(i, _rest_judged(f, rest, state.key), st) for i, f, st in judged]
                own_page = any(f.tier == "page" and f.principal == state.key for _, f, _ in judged)
            pending.extend(judged)
            if own_page and any(
                f.tier == "page"
                and f.principal == state.key
                and _names_holder(f)
                and not self._suppressed(f)
                for _, f, _ in judged
            ):
                # someone else holds the credentials: the volume of today back on a later day
                # is not the principal's habit (triage); marked here, as the event is judged,
                # so a later event of the same batch sees it as the next batch would (review)
                self.org.mark_compromised(state.key, event.event_time_ms)
            if first and own_page:
                # unvetted from this event on, so a repeat later in the batch is judged the
                # same as in the next one; _merge names the alert
                self.unvetted.record(state.key, key, "", event.event_time_ms, renew=state.mature)
                firsts[idx] = key
            elif first and any(f.principal == state.key and _context(f) for _, f, _ in judged):
                # excused by its context (an unused region, a temporary target): that does
                # not make the call the principal's own elsewhere (fresh seed 1106: a security
                # auditor's GuardDuty clean-up in two unused regions made her deletion of the
                # main region's detector 13 minutes later "routine"); no alert vets it, so it
                # is learned a week after (Unvetted.MAX_AGE_MS)
                self.unvetted.record(state.key, key, "", event.event_time_ms)
            elif first and state.mature:
                # an alert that follows makes it its own (_merge); a young principal's firsts
                # are its first days' work, and an install-day page must not unlearn them
                self.runup.note(state.key, key, event.event_id, event.event_time_ms)
            if forest:
                scoring.setdefault(state.actor_kind, []).append((idx, state, x, event, excused))
            if self.baselines is not None and not replay:
                self.unreported.observe(event, state)
            self.org.observe(event)
        if replay:
            self.events_replayed += len(events)
        else:
            self.events_seen += len(events)
        self._new_destructive.clear()
        for kind, rows in scoring.items():
            for i, f, st, excused_only in self._score(kind, rows):
                judged_f = self.triage.assess(f, events[i], st, routine=False)
                if excused_only and opens_unexcused(judged_f):
                    judged_f = explained_by_excused(judged_f)
                pending.append((i, self._to_opened_session(judged_f, events[i]), st))
        late = [
            (event, self._to_opened_session(self.triage.assess(f, event, st, routine=False), event))
            for event, st, f in (() if replay else self.unreported.due(self.watermark_ms))
        ]
        output = self._merge(events, pending, initiators, late, firsts)
        self._verdicts.clear()  # (keyed by object id: only while this batch's findings live)
        floor = self.watermark_ms - FORGET_AFTER_MS
        self.book.expire(self._clock_of, after_ms=EXPIRE_AFTER_MS, forget_before_ms=floor)
        self.pager.expire(self._clock_of, floor_ms=floor)
        if len(self.states) > self.max_states:
            self._evict()
        return output

    def _destruction(
        self, idx: int, event: AuditEvent, state: PrincipalState, initiators: dict[int, str]
    ) -> list[Pending]:
        """Lasting resources deleted: counted for the principal that asked for it -- for a
        call CloudFormation made under its role, the principal of the stack operation."""
        deletes = event.action_class == "destructive" or event.action in LOG_GROUP_DELETES
        if not deletes or event.error_code:
            return []
        lasting = self.org.lasting(event)
        first_use = event.event_id in self._new_destructive
        if delegated(event):
            op = self.org.initiator(event)
            owner = self.states.get(op.principal_key) if op is not None else None
            if op is None or owner is None:
                return []
            initiators[idx] = owner.key
            state = owner
            first_use = event.action not in owner.seen["destructive"]
            whole = op.action == "DeleteStack"
            fanout = self.destruction.add_delegated(
                state,
                event,
                lasting,
                op.stack,
                deletes_stack=whole,
                newcomer=self._newcomer(state, event, lasting) if whole else None,
            )
            if fanout is not None:
                return [(idx, fanout, state)]
        found = self.destruction.add(
            state,
            event,
            lasting,
            first_use=first_use,
            renew=first_use and self.unvetted.renews(state.key, event.action, event.event_time_ms),
            newcomer=self._newcomer(state, event, lasting),
        )
        return [(idx, f, state) for f in found]

    def _newcomer(
        self, state: PrincipalState, event: AuditEvent, lasting: list[str]
    ) -> list[str] | None:
        """For a newcomer -- a principal with no history of its own yet, whose identity
        (detect.features.actor.identity_of) the account first showed within NEWCOMER_MS, in an
        account whose own events Leash has read for NEWCOMER_WATCH_MS -- the resources of
        `lasting` others made (another session of its identity made its own); else None. A
        session named by the date (`prune-2026-11-05`) is never mature, but its job is old."""
        if state.mature or not lasting:
            return None
        at = event.event_time_ms
        watched = self.org.watched_ms(event.account, at)
        known = self.org.known_for_ms(state.key, at)
        if watched < NEWCOMER_WATCH_MS and (
            state.actor_kind != "agent" or prunes(event) or watched - known < NEWCOMER_AFTER_MS
        ):
            # the install's first week: a weekly job is new only to Leash -- but an AI agent
            # that first showed itself after Leash had watched the account for a day and
            # deletes live resources (not snapshots, images, old versions, logs: a retention
            # job's) is judged as a newcomer (fresh seed 1543: a new coding agent on the
            # install's third day deleted eight functions and a table of staging in 10 s, then
            # as much again in a second session -- all notes, and its next day's spree was
            # "usual": the first one had become its baseline). One there from the install's
            # first hours is new only to Leash
            return None
        if known > NEWCOMER_MS:
            return None
        mine = identity_of(state.key)
        return [
            name
            for name in lasting
            if (birth := self.org.born(name.removesuffix("/*"), at)) is None
            or identity_of(birth[1]) != mine  # (another session of its role made it: its own)
        ]

    def _state(self, event: AuditEvent) -> PrincipalState:
        state = self.states.get(event.principal_key)
        if state is None:
            profile = self.model.profiles.get(event.principal_key) if self.model else None
            state = PrincipalState(event.principal_key, event.actor_kind, profile)
            self.states[event.principal_key] = state
            self.peer_groups.add(event.principal_key)
        return state

    def _mature_peers(self, state: PrincipalState) -> list[Baselined]:
        """The principal's peers (detect.context.peers) whose own baselines are learned: as
        this process holds them, else as the model trained them (a PeerView of the profile's
        highs, made once). Kept for the principal's current minute: a burst's findings ask once
        a minute, not once a check and event (review: 2.5x per event with 64 peers)."""
        minute = state.last_event_ms // 60_000
        kept = self._peer_cache.get(state.key)
        if kept is not None and kept[0] == minute:
            return kept[1]
        found: list[Baselined] = []
        for key in self.peer_groups.peers(state.key):
            live = self.states.get(key)
            if live is not None:
                if live.mature:
                    found.append(live)
                continue
            view = self._peer_views.get(key)
            if view is None and self.model is not None:
                profile = self.model.profiles.get(key)
                if profile is None or not matured(profile.active_days, profile.minutes):
                    continue
                view = PeerView(profile.actor_kind, profile.high, max(profile.active_days - 1, 0))
                if len(self._peer_views) < MAX_PEER_VIEWS:
                    self._peer_views[key] = view
            if view is not None:
                found.append(view)
        if len(self._peer_cache) >= MAX_PEER_VIEWS:
            self._peer_cache.clear()
        self._peer_cache[state.key] = (minute, found)
        return found

    def _score(
        self, kind: str, rows: list[Scored]
    ) -> list[tuple[int, Finding, PrincipalState, bool]]:
        """Forest findings for the windows that score over their principal's threshold, each
        with whether the window without its excused calls (Scored's last item) would have been
        no more than a weak score -- the excused calls made it."""
        assert self.model is not None
        found = self.model.detector_for(kind)
        if found is None:
            return []
        _, detector = found
        model = self.model
        X = np.asarray([row[2] for row in rows], dtype=np.float64)
        scores = detector.score_samples(X)
        limits = np.asarray([model.threshold_for(row[1].key, detector) for row in rows])
        for (_, state, _, _, _), score in zip(rows, scores, strict=True):
            self.scores[state.key] = round(float(score), 4)
        hits = np.flatnonzero(scores > limits)
        if not len(hits):
            return []
        usual = np.asarray([self.model.usual_for(rows[i][1].key, kind) for i in hits])
        reasons = explain_rows(detector, X[hits], usual, top=self.explain_top, scores=scores[hits])
        excused = [(int(i), without(rows[i][2], c)) for i in hits if (c := rows[i][4]) is not None]
        made_by_excused: set[int] = set()
        if excused:  # the window again without them: were they what made it a hit?
            rest = detector.score_samples(np.asarray([row for _, row in excused], np.float64))
            made_by_excused = {
                i
                for (i, _), score in zip(excused, rest, strict=True)
                if score - limits[i] <= FOREST_OPEN_MARGIN
            }
        out = []
        for i, reason in zip(hits, reasons, strict=True):
            idx, state, _, event, _ = rows[i]
            score, limit = float(scores[i]), float(limits[i])
            margin = score - limit
            severity = (
                "high"
                if margin > FOREST_HIGH_MARGIN
                else "medium"
                if margin > FOREST_OPEN_MARGIN
                else "low"
            )
            drivers = ", ".join(
                f"{n} {v['value']:g} (usual {v['baseline']:g})" for n, v in reason.items()
            )
            out.append(
                (
                    idx,
                    Finding(
                        principal=state.key,
                        actor_kind=state.actor_kind,
                        kind="anomaly",
                        rule=FOREST_RULE,
                        severity=severity,
                        score=round(score, 4),
                        summary=(
                            f"unusual {kind} activity "
                            f"(anomaly score {score:.2f} > {limit:.2f}): "
                            f"{drivers or 'no single driver'}"
                        ),
                        event_ids=(event.event_id,),
                        first_event_ms=event.event_time_ms,
                        last_event_ms=event.event_time_ms,
                        explanation=reason,
                    ),
                    state,
                    int(i) in made_by_excused,
                )
            )
        return out

    def _merge(
        self,
        events: Sequence[AuditEvent],
        pending: list[Pending],
        initiators: dict[int, str],
        late: Sequence[tuple[AuditEvent, Finding]] = (),
        firsts: Mapping[int, str] | None = None,
    ) -> EngineOutput:
        """Merge triaged findings in event order; events without findings may continue an
        incident (AlertBook.attach) -- their own principal's, or for a call CloudFormation made,
        the incident of the principal whose stack operation it carried out. `late` findings
        (judged after a grace period, about events of earlier batches) come last. A sensitive
        call new to its maker (`firsts`) that pages stays unvetted while its alert is open."""
        output = EngineOutput()
        changes: dict[str, tuple[str, Alert]] = {}
        by_event: dict[int, list[Finding]] = {}
        for idx, finding, _ in pending:
            by_event.setdefault(idx, []).append(finding)
        for idx, event in enumerate(events):
            results: list[tuple[str, Alert] | None] = []
            for finding in by_event.get(idx, ()):
                results += self._apply(finding, event, output)
            if firsts and idx in firsts:
                self._unvet(event, firsts[idx], results)
            if event.action_class in ATTACH_CLASSES:
                weight = [f for f in by_event.get(idx, ()) if f.tier not in EVIDENCE_ONLY]
                if not weight:  # no finding, or only hints and notes: the call itself may
                    results.append(self.book.attach(event))  # continue the incident
                if idx in initiators:
                    self.untrusted.observe(event, initiators[idx])
                    results.append(self.book.attach(replace(event, principal_key=initiators[idx])))
            for result in results:
                if result is not None:
                    self._take_runup(result[1])
                    _record(changes, *result)
        for event, finding in late:
            for result in self._apply(finding, event, output):
                if result is not None:
                    self._take_runup(result[1])
                    _record(changes, *result)
        output.changes = [(kind, self.untrusted.stamp(alert)) for kind, alert in changes.values()]
        return output

    def _apply(
        self, finding: Finding, event: AuditEvent, output: EngineOutput
    ) -> list[tuple[str, Alert] | None]:
        """One finding about `event` through suppression and the pager."""
        output.findings += 1
        if self._suppressed(finding):
            output.suppressed += 1
            return []
        ids = finding.event_ids
        # (the event is nearly always the evidence's last: asked first, before the scan of a
        # window's ids -- up to a few hundred a finding on a busy principal)
        if (ids and ids[-1] == event.event_id) or event.event_id in ids:
            output.triggers.append((event.event_id, finding.rule))
        if finding.tier == "page":
            self._flagged(finding.principal, event.event_time_ms)
        resume = self._asked_before(finding, event) if finding.tier == "page" else ()
        results = self.pager.apply(finding, event.action_class, event.action, resume=resume)
        if finding.tier != "page" and any(r is not None for r in results):
            # a finding that opened an alert with the held ones it corroborates, or joined one,
            # is the incident's as much as one that pages alone: its days must not teach the
            # principal's highs (review: the stolen session's decrypts became the person's
            # usual) -- from the alert's first event (a held burst before midnight,
            # corroborated by a new network's note after it). Its networks still vouch for
            # others (an alert opened so is more often a false one than a page)
            alert = next(r[1] for r in results if r is not None)
            today = event.event_time_ms // DAY_MS
            start = min(finding.first_event_ms, alert.first_event_ms) // DAY_MS
            for day in range(max(start, today - 1), today + 1):  # (an older incident's days
                self._flagged(finding.principal, day * DAY_MS, org=False)  # have taught)
        if finding.tier in ("page", "hold") and _names_holder(finding):
            # (also for findings judged late: an agent's unreported call) -- and remember
            # which alert carries the mark, so resolving it clears the mark (set_status). A
            # held sign counts where it opened the alert (corroborated: an attack tool's client
            # from a network new to the person) or joined a high one: its network is the
            # holder's, though the principal is not marked compromised for triage; one held
            # alone, or in a lesser alert, counts when a high alert takes it in
            # (_mark_held_signs)
            carrying = [
                result[1]
                for result in results
                if result is not None
                and _carries(result[1], finding.principal)
                and (
                    finding.tier == "page"
                    or result[1].rule == finding.rule
                    or severity_rank(result[1].severity) >= _HIGH
                )
            ]
            if finding.tier == "page":
                self.org.mark_compromised(finding.principal, event.event_time_ms)
            if any(severity_rank(alert.severity) >= _HIGH for alert in carrying):
                net = self._holder_net(finding.principal, event)
                if net:
                    self.org.mark_holder_net(finding.principal, net, event.event_time_ms)
            else:  # held, or in a lesser alert: a high alert that takes it in names its network
                self._hold_sign(finding.principal, event)
            self._remember_marks(carrying, finding.principal)
        if results and finding.principal in self._held_signs:
            high = [
                result[1]
                for result in results
                if result is not None
                and severity_rank(result[1].severity) >= _HIGH
                and _carries(result[1], finding.principal)
            ]
            if high:
                self._mark_held_signs(finding.principal, high, event.event_time_ms)
        return results

    def _remember_marks(self, alerts: Sequence[Alert], principal: str) -> None:
        """The alerts carry a sign that someone else holds the principal's credentials:
        resolving one clears the mark (set_status)."""
        for alert in alerts:
            marked = self._marks.pop(alert.id, set())
            marked.add(principal)  # (sessions of one incident: incident_key)
            self._marks[alert.id] = marked
            while len(self._marks) > MAX_MARKED_ALERTS:
                self._marks.popitem(last=False)

    def _holder_net(self, principal: str, event: AuditEvent) -> str:
        """The network of `event`, when a sign on it that someone else holds a person's
        credentials names that network as the holder's: the person first used it in the
        HOLDER_NET_NEW_MS before, mature by then (a network they worked from before is their
        own); "" otherwise. Marked once the sign names a high or critical alert (_apply): the
        holder's return there is watched (detect.anomaly.behaviour's HOLDER_BACK_RULE). Not
        below high (review: a medium rule held, corroborated by the very network's note, made
        a new home network "the holder's"), not for workloads or agents."""
        state = self.states.get(principal)
        if state is None or not state.late_nets or principal != event.principal_key:
            return ""
        if state.actor_kind != "human":
            return ""  # (a workload's or agent's runs come back every hour or so: their job)
        net = net_of(event.source_ip)
        age = state.late_net_age(net, event.event_time_ms)
        return net if age is not None and 0 <= age <= HOLDER_NET_NEW_MS else ""

    def _hold_sign(self, principal: str, event: AuditEvent) -> None:
        """A sign that someone else holds a person's credentials waits for a second one (held)
        or sits in a lesser alert: remember its event and network, for the high alert that
        takes it in (_mark_held_signs)."""
        net = self._holder_net(principal, event)
        if not net:
            return
        signs = self._held_signs.pop(principal, None) or deque(maxlen=MAX_HELD_SIGNS)
        signs.append((event.event_id, net, event.event_time_ms))
        self._held_signs[principal] = signs
        while len(self._held_signs) > MAX_MARKED_ALERTS:
            self._held_signs.popitem(last=False)

    def _mark_held_signs(self, principal: str, alerts: list[Alert], at_ms: int) -> None:
        """High or critical alerts of the principal that took in held signs of someone else
        holding its credentials (the pager's flush, for a page or a corroborated hold): their
        networks are the holder's, as if each sign had named the alert itself (review 53:
        marking was order-dependent). Marked at the event time `at_ms` that took them in: the
        visit went on from there while the sign waited."""
        signs = self._held_signs[principal]
        for alert in alerts:
            ids = set(alert.event_ids)
            taken = [sign for sign in signs if sign[0] in ids]
            for sign in taken:
                signs.remove(sign)
                self.org.mark_holder_net(principal, sign[1], max(sign[2], at_ms))
            if taken:
                self._remember_marks([alert], principal)
        if not signs:
            del self._held_signs[principal]

    def _asked_before(self, finding: Finding, event: AuditEvent) -> tuple[str, ...]:
        """The alerts that left the event's call unvetted, when the finding is about its own
        principal's call: a page about it grows them rather than open another (AlertBook.merge).
        Only for a call that changes code or opens access (new code on a function, a shell, a
        key pushed to a host) or harms nothing: a delete, a permission change or monitoring
        turned off after a quiet is an act of its own and pages anew (fresh seed 1139: a drip
        of deletes paged and was left open; the next day's spree with the same calls was a new
        incident; review: a second trail deleted, admin attached to a second user) -- and not
        from a network the principal first used in the last day (the same call from elsewhere
        is someone else asking)."""
        if finding.rule == HOLDER_BACK_RULE:  # the alerts that named the holder
            return tuple(a for a, marked in self._marks.items() if finding.principal in marked)
        if finding.principal != event.principal_key or (
            event.action_class in HARMFUL_CLASSES and event.action not in GRANT_ACTIONS
        ):
            return ()
        state = self.states.get(event.principal_key)
        if state is not None and state.late_nets:
            age = state.late_net_age(net_of(event.source_ip), event.event_time_ms)
            if age is not None and age <= RESUME_NET_MS:
                return ()
        unvetted = self.unvetted.of(event.principal_key, event.event_time_ms)
        if not unvetted:
            return ()
        ids: tuple[str, ...] = ()
        for key in (event.action, event.action + ON_PROD):
            entry = unvetted.get(key)
            if entry is not None:
                ids += entry[0]
        return ids

    def _unvet(
        self, event: AuditEvent, key: str, results: Sequence[tuple[str, Alert] | None]
    ) -> None:
        """Name the alert that carries a new sensitive call (`key`: the call, or the call on
        production) that paged -- or, when no alert took it (a suppression), let it be learned
        after all."""
        principal = event.principal_key
        for result in results:
            if result is not None and _carries(result[1], principal):
                self.unvetted.record(principal, key, result[1].id, event.event_time_ms)
                return
        self.unvetted.discard(principal, key)

    def _take_runup(self, alert: Alert) -> None:
        """The first calls its principals made (within RUNUP_MS) that the alert holds as
        evidence stay unvetted with it (fresh seed 1139: a key-rotation role's slow delete paged
        at its fourth call, the first three were learned, and its next day's spree with the same
        calls was not "calls it never deleted with": paged at the 6th damaging call)."""
        if not self.runup:
            return
        ids = frozenset(alert.event_ids)
        for principal in principals_of(alert):
            for key, at in self.runup.take(principal, ids):
                self.unvetted.record(principal, key, alert.id, at, renew=True)

    def set_status(self, alert_id: str, status: str) -> None:
        """An alert's status changed elsewhere (the API): a resolved alert takes no more
        findings, and the calls first made in it are the principal's own from now on (and
        the signs in it no compromise: detect.context.triage's recurrence)."""
        self.book.set_status(alert_id, status)
        if status == "resolved":
            self.unvetted.resolve(alert_id)
            for principal in sorted(self._marks.pop(alert_id, ())):
                self.org.vouch(principal)

    def settle_replay(self, alert_ids: Iterable[str], stored: Mapping[str, str]) -> None:
        """After a replay: the alerts it opened or grew are a former owner's, with the status
        the store holds (`stored`: id -> status) -- an analyst may have resolved one since, and
        the next live finding must then open a new alert, not grow the resolved one (review).
        One the former owner never stored (the replay, begun cold, judged otherwise) is let go:
        the next live finding opens it, and pages."""
        for alert_id in alert_ids:
            status = stored.get(alert_id)
            if status is None:
                self.book.set_status(alert_id, "resolved")  # (let go: no vetting, no vouching)
            elif status != "open":
                self.set_status(alert_id, status)

    def watched_alert_ids(self) -> list[str]:
        """Alerts whose status matters to detection: the open incidents, and the alerts whose
        resolution vets a call (polled where other processes resolve alerts)."""
        return sorted(set(self.book.open_ids()) | self.unvetted.alert_ids() | set(self._marks))

    def _flagged(self, principal: str, time_ms: int, *, org: bool = True) -> None:
        """A page at `time_ms`: that day's highs must not teach the baselines that it is
        normal, and (`org`) the principal's networks must not make them the organisation's."""
        if org:
            self.org.mark_flagged(principal)  # its networks vouch for nobody
        if self.baselines is not None:
            self.baselines.mark_flagged(principal, time_ms)
            self.destruction.mark_flagged(principal, time_ms)
            self.behaviour.mark_flagged(principal, time_ms)

    def _clock_of(self, principal: str) -> int:
        """A principal's own latest event time (0 when not tracked)."""
        state = self.states.get(principal)
        return state.last_event_ms if state is not None else 0

    def _to_opened_session(self, finding: Finding, event: AuditEvent) -> Finding:
        """A finding on a web identity's AssumeRoleWithWebIdentity is about the role session the
        call opened: CloudTrail logs the call under the identity (a GitHub repository's OIDC
        subject) and what the session does under the role, two principals -- two alerts for one
        token used from elsewhere (fresh seeds 1484, 1510, 1533). Routed to the session's key
        as the normaliser keys the session's own events (`identity`: a per-run session by its
        role), as the finding is judged: suppression, the compromise mark and the merge all see
        the one finding (review)."""
        if event.action != WEB_IDENTITY_SIGN_IN or finding.principal != event.principal_key:
            return finding
        opened = record_field(record_of(event), "responseElements", "assumedRoleUser", "arn")
        if not isinstance(opened, str) or not opened:
            return finding
        return replace(finding, principal=self.identity.principal_key(opened))

    def _suppressed(self, finding: Finding) -> bool:
        """Whether a suppressor covers the finding -- asked once per finding and batch (the
        compromise mark asks as the event is judged, the merge again; a suppression counts
        one hit, and its event checks may read the store)."""
        known = self._verdicts.get(id(finding))
        if known is not None:
            return known
        verdict = False
        for suppressor in list(self.suppressors):
            try:
                if suppressor(finding):
                    verdict = True
                    break
            except Exception:  # noqa: BLE001 - a broken suppressor must not drop findings
                logger.exception("suppressor %r failed", suppressor)
        self._verdicts[id(finding)] = verdict
        return verdict

    def _evict(self) -> None:
        """Forget the least recently active principals, down to nine tenths of `max_states`
        (so a batch that brings many new ones still ends within the bound)."""
        by_age = sorted(self.states.values(), key=lambda s: s.last_event_ms)
        for state in by_age[: len(by_age) - self.max_states * 9 // 10]:
            del self.states[state.key]
            self.scores.pop(state.key, None)
            if self.baselines is not None:
                self.baselines.forget(state.key)
            self.pager.forget(state.key)
            self.destruction.forget(state.key)
            self.behaviour.forget(state.key)
            self.book.forget(state.key)
            self.untrusted.forget(state.key)
            self.unreported.forget(state.key)
            self.unvetted.forget(state.key)
            self.runup.forget(state.key)


def _carries(alert: Alert, principal: str) -> bool:
    """The alert is the principal's incident (another session of the same AI agent may have
    opened it: detect.alerts.incidents.incident_key)."""
    return incident_key(alert.principal) == incident_key(principal)


def _record(changes: dict[str, tuple[str, Alert]], event_type: str, alert: Alert) -> None:
    previous = changes.pop(alert.id, None)
    if previous is not None and previous[0] == "alert.opened":
        event_type = "alert.opened"
    changes[alert.id] = (event_type, alert)


MAX_MARKED_ALERTS = 10_000  # alerts remembered as carrying a compromise mark (oldest dropped)
MAX_HELD_SIGNS = 8  # held signs of a holder remembered per person (_hold_sign)
# twins that are verdicts on the principal's habit, not context that excuses one call, and
# the hold of an aggregate made of excused calls (which is not the call's own context either)
_VERDICTS = frozenset({ANALYST_VERDICT, RECURRING, SCHEDULED})
_NOT_CONTEXT = _VERDICTS | {EXCUSED_CALLS}


def _rest_judged(finding: Finding, rest: list[float], key: str) -> Finding:
    """The principal's own window-count finding judged without its excused calls."""
    return judged_without(finding, rest, FEATURE_NAMES) if may_be_excused(finding, key) else finding


def _context(finding: Finding) -> bool:
    """Whether a benign twin -- the call's own context -- held the finding."""
    return bool(finding.twin) and finding.twin not in _NOT_CONTEXT


def _excused_call(own: list[Finding]) -> bool:
    """Whether a call's own context explained it: a twin held one of its findings and nothing
    they say of the call itself stands unexplained (review: the window count on an admin grant
    to a user made a minute ago was held as "a target created recently" while the grant's own
    red flag, which that twin refuses to excuse -- the backdoor itself -- paged)."""
    return any(_context(f) for f in own) and not any(
        f.tier != "trace" and not f.twin and about_the_call(f) for f in own
    )


def _names_holder(finding: Finding) -> bool:
    """A finding that says who holds the credentials, not what they did: a rule (a red flag, a
    Sigma rule: an attack tool, a backdoor), a workload's credentials used elsewhere, or a
    session refused from its first minutes."""
    return finding.kind == "rule" or finding.rule == ELSEWHERE_RULE or finding.rule in HOLDER_RULES


def _sensitive(event: AuditEvent) -> bool:
    return event.action_class in VETTED_CLASSES or event.action in GRANT_ACTIONS


MAX_PEER_VIEWS = 10_000  # trained peers viewed without a live state (cleared with a new model)


@dataclass(frozen=True, slots=True)
class PeerView:
    """A mature peer as its trained profile left it: what a check's threshold reads
    (detect.anomaly.baseline.Baselined), without a live state's windows and seen values."""

    actor_kind: str
    high: Mapping[str, float]
    learned_days: int


def _evaluate(rule: Rule, event: AuditEvent) -> Finding | None:
    try:
        return rule.evaluate(event)
    except Exception:  # noqa: BLE001 - one faulty rule must not stop detection
        logger.exception("rule %s failed on event %s", getattr(rule, "name", rule), event.event_id)
        return None
