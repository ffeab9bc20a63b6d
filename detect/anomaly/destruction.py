"""LastingDestruction: deletes of lasting resources in 10 minutes and in 6 hours.

Most deletes in a cloud account are clean-up: preview stacks torn down, test fixtures, scratch
buckets, expired snapshots, objects an agent wrote an hour ago. The damage in an incident is to
resources that were meant to last. A resource counts as lasting unless its name says it is
temporary or the organisation created it within the last day (detect.context.org), and a
principal's count of such deletes is compared with its own days (detect.anomaly.tally): fast
(10 minutes, the burst) and slow (6 hours, the drip); a principal whose job is deleting lasting
things (a retention janitor) pages only far beyond its usual.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from detect.anomaly.tally import Tally, TallyBook, threshold
from detect.features import DAY_MS, PROD_RESOURCE_RE, PrincipalState
from detect.findings import Finding, evolve
from ingest.events import AuditEvent

__all__ = ["LastingDestruction"]

CATASTROPHIC = 5  # lasting production-named deletes in 10 min no missing history excuses
# ... nor this many different lasting resources others made, deleted in 10 min by a newcomer: a
# principal without its own history (PrincipalState.mature) whose identity (detect.features.actor.
# identity_of: a person's session, an AI agent's role, a dated job's sessions as one) the account
# first showed within two days, in an account whose own events Leash has read for a week --
# every weekly job has shown itself by then, so it is a new hire, a new agent, new
# credentials (DetectionEngine._newcomer). Not sooner: on an install's first days an automation
# role named like an agent (`inventory-retention-agent`) pruned snapshots twice a day, each run
# "6 to 26 lasting deletes" with nobody's history yet (fresh seed 1110: four false pages when AI
# agents were exempt from the week; the same world's new coding agent, first seen on the
# install's third day, deleting a staging environment, still pages at its 11th damaging call)
NEWCOMER_LASTING = 5
# A workload's floor of lasting deletes (5 in 10 min: a pipeline's clean-up runs wide) is not
# for production: this many different production resources past its own days page (fresh seed
# 1026: a CI role deleted a production function, two tables and the backups, paged at the 6th
# damaging call). Different resources: a release pruning one artifacts bucket in batches and
# dropping two old functions is three (review).
WORKLOAD_PRODUCTION = 4
# Out of scope: lasting deletes with calls the principal first used within the window (a
# coding agent that deletes objects daily, now deleting tables) -- this many page.
SCOPE_FLOORS = {"agent": 2, "human": 3, "service": 2}  # in 10 min
SLOW_SCOPE_FLOORS = {"agent": 3, "human": 4, "service": 3}  # in 6 h
SCOPE_RULE = "baseline:destruction_out_of_scope"
SLOW_RULE = "baseline:slow_lasting_destruction"
# a principal that deletes lasting resources for a living (a retention janitor) pages on volume
# alone only at ten times its usual: a big retention day (a backlog after a holiday, a policy
# change) runs at several times usual. What it deletes outside its scope pages at any volume.
JANITOR_MULTIPLIER = 10.0
# A job's run at the hours it ran on each earlier day (a retention janitor at 10:00 and 18:00)
# is its schedule, and on its first days its volume says little: fresh seed 1514's retention
# agent pruned 10 snapshots on the install's first day and 45 on the second, at the same two
# hours, and its 6-hour drip paged twice (23 and 22 lasting deletes against a high of 6), as
# 1449's and 1458's did on their second days. Up to SCHEDULE_DAYS learned days, an AI agent's or
# a workload's 6-hour drip made on schedule -- every lasting delete of the window made through a
# client that deleted lasting things within a SCHEDULE_SLOT_MS slot of the same time of day on
# each earlier day (at least one), with a call not new to it, nothing named production -- waits
# for a sign that is not volume (triage holds it, as a recurrence). Never the 10-minute burst,
# never a person, never production, never past a volume that paged before (review: stolen
# credentials from a new client, a drip begun off schedule, production snapshots, a day bigger
# than a paged one all page as before).
SCHEDULE_DAYS = 2
SCHEDULE_SLOT_MS = 30 * 60_000
SCHEDULE_KINDS = frozenset({"agent", "service"})
FANOUT_FLOOR = 4  # lasting resources CloudFormation deletes in 10 min on one principal's request
# a lasting bucket's contents emptied batch by batch count once per batch in 10 minutes, up to
# this many (seeds 1010, 1011, 1013: buckets purged batch by batch paged at the 6th-8th damaging
# call when the contents counted once): one prefix pruned in many batches stays at a person's
# floor (4) by itself, but not under an AI agent's (2) -- an agent's first purge of data meant
# to last is what Leash is for -- and with the bucket deleted after it passes a person's too:
# the bucket and thousands of its objects gone for good (held-out 1252, 1255, 1256: people
# emptying and deleting buckets paged at the 6th-7th damaging call with three)
CONTENTS_BATCHES = 4
# ... and one more for a person or an AI agent that never deleted anything meant to last (its
# 10-minute high of lasting deletes is none): its fifth batch in 10 minutes passes a person's
# floor before the DeleteBucket comes (fresh seed 1565: a developer's stolen session emptied a
# staging bucket in six batches over two minutes and paged at its DeleteBucket, the 7th damaging
# call). A trade:
# a person with no lasting deletes of their own pruning one prefix of a lasting bucket in five
# batches in 10 minutes (thousands of objects: `aws s3 rm --recursive`) pages; one who prunes
# such data on some day before does not (their high is not none). Not a workload's: five
# batches and the DeleteBucket would pass its floor (5) where a workload's new clean-up step
# counts each store once (_out_of_scope; review)
FIRST_PURGE_BATCHES = CONTENTS_BATCHES + 1
FANOUT_RULE = "baseline:stack_destroyed"
NO_FLOOR = {"agent": 0.0, "human": 0.0, "service": 0.0}
_PROD = re.compile(PROD_RESOURCE_RE)


@dataclass(frozen=True)
class _Window:
    rule: str
    window_ms: int
    floors: dict[str, float]
    job_high: float
    severity: str
    label: str
    job_multiplier: float = 3.0


WINDOWS = (
    _Window(  # an AI agent's third: "delete and recreate" starts with a function, its table
        # and its bucket (seeds 975, 987 paged at the 8th-11th damaging call with 3)
        "baseline:lasting_destruction",
        600_000,
        {"agent": 2, "human": 4, "service": 5},
        5.0,
        "high",
        "deletes of lasting resources in 10 min",
        job_multiplier=JANITOR_MULTIPLIER,
    ),
    _Window(
        SLOW_RULE,
        6 * 3_600_000,
        {"agent": 5, "human": 6, "service": 8},
        8.0,
        "high",
        "deletes of lasting resources in 6 h",
        job_multiplier=JANITOR_MULTIPLIER,
    ),
)


class LastingDestruction:
    """Per principal and window: lasting deletes, against the principal's own days."""

    def __init__(self) -> None:
        self._books = [(w, TallyBook(w.window_ms)) for w in WINDOWS]
        self._prod = TallyBook(WINDOWS[0].window_ms)
        self._first_use: dict[str, dict[str, int]] = {}  # principal -> delete call -> first ms
        # principal -> day -> (SCHEDULE_SLOT_MS slot of the day, client) it deleted lasting
        # things in; and the time of its latest lasting delete off that schedule
        self._slots: dict[str, dict[int, set[tuple[int, str]]]] = {}
        self._off: dict[str, int] = {}
        self._fanout = TallyBook(WINDOWS[0].window_ms)
        self._newcomers = TallyBook(WINDOWS[0].window_ms)  # lasting resources others made
        # ... the same two, of what CloudFormation deleted on the principal's request
        self._stack_prod = TallyBook(WINDOWS[0].window_ms)
        self._stack_newcomers = TallyBook(WINDOWS[0].window_ms)
        self._scope = [
            (TallyBook(WINDOWS[0].window_ms), SCOPE_FLOORS, "10 min"),
            (TallyBook(WINDOWS[1].window_ms), SLOW_SCOPE_FLOORS, "6 h"),
        ]

    def add(
        self,
        state: PrincipalState,
        event: AuditEvent,
        lasting: list[str],
        *,
        first_use: bool,
        renew: bool = False,
        newcomer: list[str] | None = None,
    ) -> list[Finding]:
        """Count `event` (which deleted the `lasting` resources; `first_use`: the first time
        this principal deletes with this call; `renew`: a call its open alert holds unvetted
        from when it was mature, new again; `newcomer`: for a principal new to an account
        Leash has watched for long, those of `lasting` others made -- NEWCOMER_LASTING) for
        `state`'s principal. A window counts what
        was destroyed, once: a call deleting several counts as its first, and a bucket's
        contents ("bucket/*", detect.context.org: CloudTrail logs DeleteObjects without its
        keys) once per batch up to CONTENTS_BATCHES in 10 minutes and once in 6 hours -- a
        prefix pruned in many batches is one act, and a day of pruning several buckets is
        not a drip of lasting deletes; the DeleteBucket or the next bucket carries the count
        on (seeds 922, 926, 932)."""
        uses = self._first_use.setdefault(state.key, {})
        if first_use and (
            event.action not in uses
            or (renew and event.event_time_ms - uses[event.action] > WINDOWS[1].window_ms)
        ):
            # new to it, or new again: a call its alert still holds unvetted is judged as
            # never made (detect.anomaly.vetting), so its window of novelty starts over --
            # unless an install-day page left it so (review: a janitor whose first run paged
            # paged every morning after)
            uses[event.action] = event.event_time_ms
        since = uses.get(event.action)  # None: a call it used before this process saw it
        novel = since is not None and event.event_time_ms - since <= WINDOWS[1].window_ms
        name = lasting[0] if lasting else ""
        found = self._out_of_scope(state, event, since, name) if name and novel else []
        at = event.event_time_ms
        production = any(_PROD.search(each) for each in lasting)
        scheduled = self._on_schedule(state, event, novel or production) if lasting else False
        for window, book in self._books:
            tally = book.get(state.key)
            if tally.day < 0:
                # after a restart: the trained profile's lasting high (names only: no births);
                # the 6-hour window takes the 10-minute one (a nightly job deletes in one go)
                tally.high = state.high.get("lasting_destructive_10m", 0.0)
            tally.roll(event.event_time_ms)
            if not lasting:
                continue
            first = not tally.high and state.actor_kind != "service"
            batches = FIRST_PURGE_BATCHES if first else CONTENTS_BATCHES
            key = _key(tally, name, at, batches) if window is WINDOWS[0] else name
            count = tally.add(at, event.event_id, key)
            limit = _bar(window, window.floors, state, tally)
            if count > limit:
                finding = self._finding(window, state, event, tally, count, limit)
                if window.rule == SLOW_RULE and tally.recurs(count):
                    # the drip back at no more than an earlier day paged at (a janitor whose
                    # run paged on the install's first days): triage holds it for another
                    # sign. Never the 10-minute burst: on seed 818 that held an agent's
                    # delete-and-recreate of production to its fifth lasting delete
                    finding = _with(finding, recurs=tally.paged)
                elif window.rule == SLOW_RULE and scheduled and not tally.paged:
                    finding = _with(finding, on_schedule=True)
                found.append(finding)
        if production:
            prod = self._prod.get(state.key)
            count = prod.add(at, event.event_id, name)
            if (
                state.actor_kind == "service"
                and count >= WORKLOAD_PRODUCTION
                and not any(f.rule == WINDOWS[0].rule for f in found)
            ):
                # the principal's own 10-minute bar, without its kind's floor
                own = _bar(WINDOWS[0], NO_FLOOR, state, self._books[0][1].get(state.key))
                if count > own:
                    found.append(self._production(state, event, prod, count, own))
            if note := _production_note(count):
                found = [_catastrophic(f, note) for f in found]
        if newcomer and (note := _newcomer_note(self._newcomers, state.key, event, newcomer)):
            found = [
                f if "catastrophic" in f.explanation else _catastrophic(f, note) for f in found
            ]
        return found

    def add_delegated(
        self,
        state: PrincipalState,
        event: AuditEvent,
        lasting: list[str],
        stack: str,
        *,
        deletes_stack: bool = False,
        newcomer: list[str] | None = None,
    ) -> Finding | None:
        """A lasting resource CloudFormation deleted on `state`'s principal's request (its
        DeleteStack or change set): one call that deletes many is one act, the requester's.
        When the operation deletes the stack (`deletes_stack`), its production-named resources
        and, for a newcomer (`add`'s `newcomer`), those others made count against the same bars
        no missing history excuses as the requester's own deletes (CATASTROPHIC,
        NEWCOMER_LASTING) -- kept apart from those, and never for an update or a change set,
        whose deletes are resources it replaces (review: a young deploy role's release that
        replaced five production functions paged).
        Fresh seed 1557: an AI agent first seen that morning, whose own spree had paged, had
        CloudFormation delete its production stack's 27 resources 35 minutes later -- every
        finding a note (no two days of history), and the alert never took the stack's events."""
        if not lasting:
            return None
        at = event.event_time_ms
        tally = self._fanout.get(state.key)
        count = tally.add(at, event.event_id, event.event_id)
        notes: list[str] = []
        if deletes_stack and any(_PROD.search(each) for each in lasting):
            prod = self._stack_prod.get(state.key).add(at, event.event_id, lasting[0])
            notes.append(_production_note(prod))
        if deletes_stack and newcomer:
            notes.append(_newcomer_note(self._stack_newcomers, state.key, event, newcomer))
        notes = [note for note in notes if note]
        if count < FANOUT_FLOOR:
            return None
        finding = _from_tally(
            state,
            event,
            tally,
            rule=FANOUT_RULE,
            severity="high",
            score=0.9,
            summary=(
                f"CloudFormation deleted {count:g} lasting resources of stack {stack or '?'} "
                "on this principal's request"
            ),
            explanation={
                "stack_resources_deleted_10m": {
                    "value": count,
                    "baseline": 0.0,
                    "threshold": FANOUT_FLOOR,
                },
                "stack": stack,
            },
        )
        return _catastrophic(finding, notes[0]) if notes else finding

    def _out_of_scope(
        self, state: PrincipalState, event: AuditEvent, since: int | None, name: str
    ) -> list[Finding]:
        for (book, floors, span), window in zip(self._scope, WINDOWS, strict=True):
            if since is None or event.event_time_ms - since > window.window_ms:
                continue  # the call is no longer new within this window
            tally = book.get(state.key)
            # a person's or an agent's first purge of a lasting bucket counts per batch, as the
            # 10-minute window does (held-out 1252, 1255: people's first DeleteObjects emptied
            # a data-lake bucket and deleted it, paged at the 7th damaging call when the
            # contents counted once); a workload's new clean-up step counts each store once
            key = (
                name
                if state.actor_kind == "service"
                else _key(tally, name, event.event_time_ms, CONTENTS_BATCHES)
            )
            count = tally.add(event.event_time_ms, event.event_id, key)
            floor = floors.get(state.actor_kind, max(floors.values()))
            if count >= floor:
                return [
                    _from_tally(
                        state,
                        event,
                        tally,
                        rule=SCOPE_RULE,
                        severity="high",
                        score=0.9,
                        summary=(
                            f"{count:g} deletes of lasting resources in {span} with calls this "
                            f"principal never deleted with before (latest {event.action})"
                        ),
                        explanation={
                            "out_of_scope_deletes": {
                                "value": count,
                                "baseline": 0.0,
                                "threshold": floor,
                            }
                        },
                    )
                ]
        return []

    @staticmethod
    def _finding(
        window: _Window,
        state: PrincipalState,
        event: AuditEvent,
        tally: Tally,
        count: float,
        limit: float,
    ) -> Finding:
        feature = window.rule.removeprefix("baseline:")
        return _from_tally(
            state,
            event,
            tally,
            rule=window.rule,
            severity="critical" if count >= 3 * limit else window.severity,
            score=round(0.5 + 0.5 * (1.0 - limit / count), 4),
            summary=f"{count:g} {window.label} (usual up to {tally.high:g}; threshold {limit:g})",
            explanation={feature: {"value": count, "baseline": tally.high, "threshold": limit}},
        )

    @staticmethod
    def _production(
        state: PrincipalState, event: AuditEvent, prod: Tally, count: float, own: float
    ) -> Finding:
        rule = WINDOWS[0].rule
        return _from_tally(
            state,
            event,
            prod,
            rule=rule,
            severity="high",
            score=0.9,
            summary=(
                f"{count:g} production resources deleted in 10 min (its own days allow "
                f"{own:g}; threshold {WORKLOAD_PRODUCTION - 1})"
            ),
            explanation={
                rule.removeprefix("baseline:"): {
                    "value": count,
                    "baseline": own,
                    "threshold": WORKLOAD_PRODUCTION - 1,
                }
            },
        )

    def _on_schedule(self, state: PrincipalState, event: AuditEvent, off: bool) -> bool:
        """Record this lasting delete's slot of the day and client; whether a young agent's or
        workload's drip is on its schedule: no lasting delete of the last 6 hours was off it --
        each earlier day (at least one) deleted lasting things through the same client within
        a SCHEDULE_SLOT_MS slot of its time of day, with a call not new to it (`off`: new, or
        of production)."""
        if state.actor_kind not in SCHEDULE_KINDS or state.learned_days > SCHEDULE_DAYS:
            return False  # nothing recorded: its days only grow, so it is never judged so again
        at = event.event_time_ms
        day, slot = divmod(at, DAY_MS)
        slot //= SCHEDULE_SLOT_MS
        days = self._slots.setdefault(state.key, {})
        for old in [d for d in days if d < day - SCHEDULE_DAYS]:
            del days[old]
        client = event.user_agent
        days.setdefault(day, set()).add((slot, client))
        earlier = [runs for d, runs in days.items() if d < day]
        # no wrap at midnight: a run that crosses it must not match its own earlier minutes
        near = (slot - 1, slot, slot + 1)
        fits = bool(earlier) and all(any((s, client) in runs for s in near) for runs in earlier)
        if off or not fits:
            self._off[state.key] = at
        since_off = at - self._off.get(state.key, at - WINDOWS[1].window_ms - 1)
        return since_off > WINDOWS[1].window_ms

    def mark_flagged(self, principal: str, time_ms: int) -> None:
        """The principal paged at `time_ms`: that day's counts do not become its usual."""
        for _, book in self._books:
            book.mark_flagged(principal, time_ms)

    def forget(self, principal: str) -> None:
        for _, book in self._books:
            book.forget(principal)
        for book, _, _ in self._scope:
            book.forget(principal)
        self._first_use.pop(principal, None)
        self._slots.pop(principal, None)
        self._off.pop(principal, None)
        self._fanout.forget(principal)
        self._prod.forget(principal)
        self._newcomers.forget(principal)
        self._stack_prod.forget(principal)
        self._stack_newcomers.forget(principal)


def _from_tally(
    state: PrincipalState,
    event: AuditEvent,
    tally: Tally,
    *,
    rule: str,
    severity: str,
    score: float,
    summary: str,
    explanation: dict[str, object],
) -> Finding:
    """A finding on `state`'s principal over the events `tally` holds, ending at `event`."""
    return Finding(
        principal=state.key,
        actor_kind=state.actor_kind,
        kind="anomaly",
        rule=rule,
        severity=severity,
        score=score,
        summary=summary,
        event_ids=tally.ids(),
        first_event_ms=tally.first_ms() or event.event_time_ms,
        last_event_ms=event.event_time_ms,
        explanation=explanation,
    )


def _bar(window: _Window, floors: dict[str, float], state: PrincipalState, tally: Tally) -> float:
    """The count past which `window` pages for `state`'s principal (`threshold`)."""
    return threshold(
        floors,
        state.actor_kind,
        tally.high,
        window.job_high,
        window.job_multiplier,
        learned_days=state.learned_days,
    )


def _key(tally: Tally, name: str, time_ms: int, batches: int) -> str:
    """The key `name` counts under in `tally` at `time_ms`: itself, or for a bucket's contents
    ("b/*") the first of "b/*", "b/*#2", ... "b/*#`batches`" not in the window yet (the last
    once all are)."""
    if not name.endswith("/*"):
        return name
    since = time_ms - tally.window_ms
    held = {key for at, _, key in tally.items if at > since}
    keys = [name, *(f"{name}#{n}" for n in range(2, batches + 1))]
    return next((key for key in keys if key not in held), keys[-1])


def _production_note(count: float) -> str:
    """The catastrophic note for `count` production resources deleted in 10 minutes ("" under
    CATASTROPHIC)."""
    return f"{count:g} production resources deleted in 10 min" if count >= CATASTROPHIC else ""


def _newcomer_note(book: TallyBook, key: str, event: AuditEvent, newcomer: list[str]) -> str:
    """Count `newcomer`, lasting resources others made, in `key`'s 10-minute tally of `book`
    (different resources: a bucket's batches are one); the catastrophic note once
    NEWCOMER_LASTING are ("" before)."""
    tally, count = book.get(key), 0.0
    for each in newcomer:
        count = tally.add(event.event_time_ms, event.event_id, each)
    if count < NEWCOMER_LASTING:
        return ""
    return (
        f"{count:g} lasting resources others made deleted in 10 min by a principal new to the "
        "account"
    )


def _catastrophic(finding: Finding, note: str) -> Finding:
    """No earlier page excuses production going: it pages however often it was seen."""
    notes = {k: v for k, v in finding.explanation.items() if k not in ("recurs", "on_schedule")}
    return evolve(finding, explanation={**notes, "catastrophic": note})


def _with(finding: Finding, **notes: object) -> Finding:
    return evolve(finding, explanation={**finding.explanation, **notes})
