"""Refusals: bursts of denied calls past a principal's own, and sessions refused from their
first minutes (stolen or freshly assumed credentials finding out what they may do). Part of
BehaviourDetector (detect.anomaly.behaviour)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Container, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from detect.anomaly.habit import JOB_HIGH, WINDOW_MS, make_finding, past_own, past_own_finding
from detect.anomaly.tally import Tally, TallyBook
from detect.features import DAY_MS, PrincipalState
from detect.findings import BUSY, Finding
from detect.rules.record import field as lookup
from ingest.events import AuditEvent

__all__ = ["HOLDER_RULES", "Refusals"]

DENIED_FLOORS = {"agent": 8, "human": 12, "service": 8}  # distinct denied actions in 10 min
DENIED_FAST_FLOORS = {"agent": 15, "human": 20, "service": 15}  # ... and in one minute
FAST_WINDOW_MS = 60_000
FAST_REFUSED_SHARE = 0.2  # of the minute's calls refused, for a fast burst to be a script's
# ... and at most this share refused, the burst rose with a busy agent's volume (BUSY): a
# coding agent refused 16 different calls among 1,400 in a minute (1%, fresh seeds 1031, 1033).
# An attacker's own download beside a probe dilutes the share too, but not this far (review:
# 17 refusals beside 150 reads were 10%; a quiet agent's slow probe 2 of its last 12 calls)
BUSY_REFUSED_SHARE = 0.05
SESSION_START_MS = 5 * 60_000  # a session's first minutes
SESSION_DENIALS = 10  # refused credential reads in them that page with no history (workloads)
# A workload's session that is refused this many different calls, and little else, in its first
# minutes is not its job running (a deploy that lacks one permission fails on it and stops):
# its credentials are in someone else's hands, finding out what they may do (seed 847: a
# deploy role's first seventeen calls all refused, nine different listings, then it read
# buckets). A role
# with no days of its own may be a new pipeline still missing its permissions: it waits.
SESSION_REFUSED_CALLS = 8
SESSION_REFUSED_SHARE = 0.8
# ... and an AI agent with no days of its own whose session, begun from a network new to it, is
# refused this many different calls within FAST_WINDOW_MS of its start, nearly all it did,
# pages however young it is: a script enumerating what the credentials may do -- a new agent
# missing a permission is refused as fast when it makes tool calls in parallel, but from where
# it runs (review) (fresh seed 1557: an AI agent first seen that morning, on an install's first
# working day; a session from a network it never used was refused 16 different calls in 24 s)
YOUNG_REFUSED_CALLS = DENIED_FAST_FLOORS["agent"]
# Calls that hand over a credential or a secret: a new session refused these again and again is
# someone trying stolen credentials on secrets (an agent hitting its permission boundary is
# refused all sorts of calls, and does not page for it -- unless it is refused little else as
# its session starts, beyond its habit: _refused_start)
CREDENTIAL_CALLS = frozenset(
    {
        "GetPasswordData",
        "DescribeInstanceAttribute",
        "GetSecretValue",
        "BatchGetSecretValue",
        "GetParameter",
        "GetParameters",
        "GetParametersByPath",
        "Decrypt",
        "GetSessionToken",
        "GetFederationToken",
        "CreateAccessKey",
        "GetRoleCredentials",
    }
)
# an AI agent's new temporary key on a session ARN that called from the same network this
# recently is its SDK refreshing the run's credentials, not a new start (review)
REFRESH_GAP_MS = 15 * 60_000
MAX_SESSIONS = 50_000  # sessions remembered (oldest forgotten first)
REFUSED_START_RULE = "baseline:refused_session_start"
DENIED_START_RULE = "baseline:denied_session_start"
# a session refused from its first minutes is someone else holding the credentials, not what
# the principal did: while its alert is open, the same volume back is the intruder back
# (detect.context.triage's recurrence; fresh seed 1150: a CI role probed from a stolen session
# paged, and the next day's probe from another network waited as the role's habit)
HOLDER_RULES = frozenset({REFUSED_START_RULE, DENIED_START_RULE})


@dataclass
class Session:  # one run of a role (its session ARN), one user, or a workload's temporary key
    first_ms: int
    denied: list[str] = field(default_factory=list)  # denied credential reads, first minutes
    calls: int = 0  # calls in its first minutes
    refusals: int = 0  # ... of them refused
    refused: dict[str, str] = field(default_factory=dict)  # refused call -> event id, same
    last_ms: int = 0  # its latest call
    last_ip: str = ""  # ... and where it came from
    elsewhere: bool = False  # its first call came from a network new to the principal


class Refusals:
    """The checks over what a principal is refused (see module)."""

    def __init__(self) -> None:
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        # AI agent -> the first day one of its sessions started refused (not paged): its habit
        self._refused_starts: OrderedDict[str, int] = OrderedDict()
        self._denied = TallyBook(WINDOW_MS)
        self._denied_fast = TallyBook(FAST_WINDOW_MS)

    def denied_burst(
        self, state: PrincipalState, event: AuditEvent, *, own: Container[str] = frozenset()
    ) -> Finding | None:
        """Distinct calls denied in 10 min, or in one minute, beyond the principal's own: a
        role that gets refused now and then over a deploy (a Terraform plan probing) is not
        one refused twenty different calls in thirty seconds (stolen credentials enumerating
        what they may do).

        A window pages only when the calls the principal (a workload or an AI agent) never
        made successfully (not in `own`) reach its threshold by themselves: a probe tries what
        the credentials' owner does not do, while refusals of its own working calls are a
        permission that changed or ran out -- a tightened policy, a quarantine, an expired
        session (fresh seed 1058: a CI role refused nine of its own deploy calls -- stacks,
        images, objects, parameters -- in ten minutes, on a baseline day). Its own calls still
        count toward passing the threshold (seed 982: 16 different calls refused in a minute,
        one of them the role's daily GetCallerIdentity, over a threshold of 15), and padding a
        probe with refusals of its own calls hides nothing (the others still reach it)."""
        over = [
            (found, span)
            for book, floors, span in (
                (self._denied, DENIED_FLOORS, "10m"),
                (self._denied_fast, DENIED_FAST_FLOORS, "1m"),
            )  # both windows count every denial, whichever pages
            if (found := past_own(book, state, event, event.action, floors, JOB_HIGH))
        ]
        if own:  # refusals of its own working calls alone are a changed permission
            over = [(found, span) for found, span in over if _foreign(found[0], own) >= found[2]]
        if not over:
            return None
        found, span = over[0]
        # a script enumerating is refused most of what it tries; an agent refused sixteen
        # different calls among two thousand in the minute is a busy agent (seed 880): its
        # refusals rose with its volume, and corroborate no other volume (fresh seeds 1031,
        # 1033: a coding agent's busy hour, its refusals and its reads, paged as two signs)
        share = refused_share(state, event)
        fast = share >= FAST_REFUSED_SHARE and any(span == "1m" for _, span in over)
        notes = (
            {"denied_fast": True} if fast else {BUSY: True} if share <= BUSY_REFUSED_SHARE else None
        )
        return past_own_finding(
            state,
            event,
            "baseline:denied_burst",
            f"{found[1]:g} different calls denied in {span.replace('m', ' min')}: probing for "
            "permissions",
            found,
            f"denied_actions_{span}",
            notes,
        )

    def session_start(
        self,
        state: PrincipalState,
        event: AuditEvent,
        record: Mapping[str, Any],
        *,
        denied: bool,
        new_net: bool = False,
    ) -> Finding | None:
        """A workload session refused credential reads again and again in its first minutes:
        stolen or freshly assumed credentials being tried on secrets. Needs no history: the
        session itself is new. `new_net`: the event came from a network the principal, seen
        from others before, never came from (a session's first call tells where it began)."""
        if state.actor_kind == "human":
            return None
        at = event.event_time_ms
        session = self._session(event.principal, at)
        # how the credentials themselves began: the temporary key AWS issued (session_of), else
        # the session -- an agent's role assumed under one fixed session name ("GitHubActions")
        # is one session ARN for its whole life, its runs told apart by their keys alone
        key = session_of(event, record)
        if key == event.principal:
            start = session
        else:
            fresh = key not in self._sessions
            start = self._session(key, at)
            if (
                fresh
                and state.actor_kind == "agent"
                and session.last_ms
                and at - session.last_ms <= REFRESH_GAP_MS
                and session.last_ip == event.source_ip
            ):
                # the run's credentials refreshed: its start is long past (an agent exploring
                # at its permission boundary right after a refresh is its run going on)
                start.first_ms = at - SESSION_START_MS - 1
        session.last_ms, session.last_ip = max(session.last_ms, at), event.source_ip
        found = None
        if at - start.first_ms <= SESSION_START_MS:
            if not start.calls:
                start.elsewhere = new_net
            start.calls += 1
            start.refusals += denied
            if (
                denied
                and len(start.refused) < YOUNG_REFUSED_CALLS
                and event.action not in start.refused
            ):  # (judged as each different call joins)
                start.refused[event.action] = event.event_id
                if len(start.refused) == SESSION_REFUSED_CALLS:
                    found = self._refused_start(state, event, start)
                elif len(start.refused) == YOUNG_REFUSED_CALLS:
                    found = self._young_refused_start(state, event, start)
        # (credential refusals are counted whatever the call above found: review)
        if at - session.first_ms > SESSION_START_MS:
            return found
        if not denied or event.action not in CREDENTIAL_CALLS:
            return found
        session.denied.append(event.event_id)
        if len(session.denied) != SESSION_DENIALS or found is not None:
            return found
        text = (
            f"{SESSION_DENIALS} credential reads refused in the first 5 minutes of session "
            f"{event.principal}"
        )
        return make_finding(
            state,
            event,
            DENIED_START_RULE,
            "high",
            text + ": new credentials being tried out",
            ids=tuple(session.denied),
            first_ms=session.first_ms,
            explanation={"catastrophic": text, "session": event.principal},
        )

    def _session(self, name: str, at_ms: int) -> Session:
        """The session `name` (kept while in use; the least recently used forgotten)."""
        session = self._sessions.get(name)
        if session is None:
            session = self._sessions[name] = Session(at_ms)
            if len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        else:
            self._sessions.move_to_end(name)
        return session

    def _refused_start(
        self, state: PrincipalState, event: AuditEvent, session: Session
    ) -> Finding | None:
        """SESSION_REFUSED_CALLS different calls refused, nearly all it did, as a mature
        workload's or AI agent's session starts. One whose sessions started that way on an
        earlier day does it by habit (an agent that explores at its permission boundary, a
        scanner refused in the regions a policy denies; a workload's day that paged teaches it
        too: each cold start is a session), and an agent this
        process has not watched for a whole day (after a restart) waits for a second sign (seed
        994: an ops agent's session from a new network refused 14 different listings, 34 of its
        first 35 calls, then it read prod exports; 1002: a coding agent refused 9-16 different
        calls in its sessions' first minutes, but among hundreds that worked)."""
        if state.actor_kind not in ("service", "agent"):
            return None
        if session.refusals < SESSION_REFUSED_SHARE * session.calls:
            return None
        day = event.event_time_ms // DAY_MS
        first = self._refused_starts.get(state.key)
        if first is not None and first < day:
            return None  # its habit
        if not state.mature:
            self._remember_refused_start(state, day)
            return None
        finding = make_finding(
            state,
            event,
            REFUSED_START_RULE,
            "high",
            f"{len(session.refused)} different calls refused in the first minutes of session "
            f"{event.principal}, {session.refusals} of its {session.calls} calls: its credentials "
            "in other hands, finding out what they may do",
            ids=tuple(session.refused.values()),
            first_ms=session.first_ms,
            explanation={"refused": sorted(session.refused), "calls": session.calls},
        )
        if state.actor_kind == "agent" and not self._denied.get(state.key).days:
            self._remember_refused_start(state, day)
            return replace(finding, tier="hold")  # a restart: its habit is not known yet
        if state.actor_kind == "service":
            self._remember_refused_start(state, day)
        return finding

    def _young_refused_start(
        self, state: PrincipalState, event: AuditEvent, session: Session
    ) -> Finding | None:
        """YOUNG_REFUSED_CALLS different calls refused within FAST_WINDOW_MS of an immature AI
        agent's session start, nearly all it did, in a session begun from a network new to an
        agent seen from others (review: a new agent missing a permission, making its tool calls
        in parallel from where it runs, is refused as fast) -- unless one of its sessions
        started refused on an earlier day (its habit: _refused_start). The session that pages
        teaches no habit: the same probe tomorrow is the intruder back (review)."""
        at, day = event.event_time_ms, event.event_time_ms // DAY_MS
        if state.actor_kind != "agent" or state.mature or at - session.first_ms > FAST_WINDOW_MS:
            return None
        if not session.elsewhere or session.refusals < SESSION_REFUSED_SHARE * session.calls:
            return None
        first = self._refused_starts.get(state.key)
        if first is not None and first < day:
            return None
        if first == day:  # (its 8th refusal remembered it: _refused_start)
            del self._refused_starts[state.key]
        text = (
            f"{len(session.refused)} different calls refused within a minute of session "
            f"{event.principal}'s start, {session.refusals} of its {session.calls} calls"
        )
        return make_finding(
            state,
            event,
            REFUSED_START_RULE,
            "high",
            f"{text}: a script finding out what the credentials may do",
            ids=tuple(session.refused.values()),
            first_ms=session.first_ms,
            explanation={
                "refused": sorted(session.refused),
                "calls": session.calls,
                "catastrophic": text,
            },
        )

    def _remember_refused_start(self, state: PrincipalState, day: int) -> None:
        self._refused_starts.setdefault(state.key, day)
        if len(self._refused_starts) > MAX_SESSIONS:
            self._refused_starts.popitem(last=False)

    def mark_flagged(self, principal: str, time_ms: int) -> None:
        self._denied.mark_flagged(principal, time_ms)
        self._denied_fast.mark_flagged(principal, time_ms)

    def forget(self, principal: str) -> None:
        self._denied.forget(principal)
        self._denied_fast.forget(principal)
        self._refused_starts.pop(principal, None)


def session_of(event: AuditEvent, record: Mapping[str, Any]) -> str:
    """A session: its temporary credentials (the access key AWS issued when the role was
    assumed), not its session ARN -- Lambda names every session of a function after the
    function, and a GitHub Actions role is assumed as `GitHubActions` on every job, so the ARN
    stays one "session" for the role's whole life (fresh seed 1022: a Lambda role's new
    credentials, used from outside, refused eight different listings in their first seconds,
    then read three buckets' exports; 1208: a CI agent's stolen job credentials refused twenty
    of their first twenty-three calls; nothing paged)."""
    key = lookup(record, "userIdentity", "accessKeyId")
    if isinstance(key, str) and key.startswith("ASIA"):
        return f"{event.principal}#{key}"
    return event.principal


def _foreign(tally: Tally, own: Container[str]) -> int:
    """The window's different refused calls that are not the principal's own working calls."""
    return sum(1 for key in tally.keys if key not in own)


def refused_share(state: PrincipalState, event: AuditEvent) -> float:
    """The share of the principal's calls refused in this minute and the one before."""
    minute = event.event_time_ms // 60_000
    calls = errors = 0
    for bucket in reversed(state.buckets):
        if bucket.minute < minute - 1:
            break
        calls, errors = calls + bucket.n, errors + bucket.errors
    return errors / calls if calls else 1.0
