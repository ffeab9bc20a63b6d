"""What the behaviour checks share: the findings they make, a principal's tallies against its
own past, and what a principal's state does not keep (Seen). Imported by detect.anomaly's
behaviour modules only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from detect.anomaly.tally import Tally, TallyBook, threshold
from detect.features import PrincipalState
from detect.findings import Finding
from ingest.events import AuditEvent

__all__ = [
    "JOB_HIGH",
    "MAX_VALUES",
    "WINDOW_MS",
    "Seen",
    "make_finding",
    "past_own",
    "past_own_finding",
]

WINDOW_MS = 600_000  # 10 minutes
JOB_HIGH = 10.0  # a principal whose quiet days reach this many does it for a living
MAX_VALUES = 512  # nets and clients remembered per principal


@dataclass(slots=True)
class Seen:
    """What a principal's state does not keep, per principal (see the checks using each)."""

    gpu_regions: set[str] = field(default_factory=set)  # regions it launched GPU instances in
    new_stores: dict[str, int] = field(default_factory=dict)  # store -> first read ms (new ones)
    denied_ms: int = -(10**15)  # latest denied call
    passed: set[str] = field(default_factory=set)  # "<service> <role>" it handed to new compute
    secrets: dict[str, int] = field(default_factory=dict)  # secret -> first read ms
    secrets_since: int | None = None  # when this process began remembering them
    # parameters a person read without decrypting them -> first read ms: they knew of them (only
    # for judging the secrets read after a console sign-in; never makes a sweep familiar)
    plain: dict[str, int] = field(default_factory=dict)
    # a console sign-in held for its new network: (ip, ms) and the secrets read from there since
    console: tuple[str, int] = ("", -(10**15))
    console_secrets: set[str] = field(default_factory=set)
    console_strange: bool = False  # ... from a network nobody here uses, by a known person
    console_traced: bool = False  # ... its first secrets were mostly known: the rest still count
    # functions it created with another function's own role: name -> (role, created ms, event)
    borrowed: dict[str, tuple[str, int, str]] = field(default_factory=dict)
    # a client product new to an agent or a workload that rarely sees one: (client, first ms),
    # and the secrets read through it since
    new_client: tuple[str, int] = ("", -(10**15))
    client_secrets: set[str] = field(default_factory=set)
    # a network new to a workload that rarely sees one (a context note), or to a person with a
    # new client at once where nobody here works: (net_of, first ms)
    new_net: tuple[str, int] = ("", -(10**15))
    # ... and any network a context note called new to this principal (one that rarely sees
    # one): (net_of, first ms) -- a person's own client from there included
    noted_net: tuple[str, int] = ("", -(10**15))
    # ... and the latest network it never came from before, noted or not
    fresh_net: tuple[str, int] = ("", -(10**15))
    # calls a workload or an AI agent made successfully (up to MAX_VALUES): its own calls,
    # which a burst of refusals does not count (detect.anomaly.refusals.Refusals.denied_burst)
    succeeded: set[str] = field(default_factory=set)


def in_console_session(seen: Seen, event: AuditEvent) -> bool:
    """`event` came from the address of the principal's latest held console sign-in
    (Seen.console), within WINDOW_MS of it."""
    ip, at = seen.console
    return event.source_ip == ip and 0 <= event.event_time_ms - at <= WINDOW_MS


def make_finding(
    state: PrincipalState,
    event: AuditEvent,
    rule: str,
    severity: str,
    summary: str,
    *,
    ids: tuple[str, ...] = (),
    first_ms: int = 0,
    explanation: Mapping[str, Any],
) -> Finding:
    return Finding(
        principal=state.key,
        actor_kind=state.actor_kind,
        kind="anomaly",
        rule=rule,
        severity=severity,
        score=0.8,
        summary=summary,
        event_ids=ids or (event.event_id,),
        first_event_ms=first_ms or event.event_time_ms,
        last_event_ms=event.event_time_ms,
        explanation=explanation,
    )


def past_own(
    book: TallyBook,
    state: PrincipalState,
    event: AuditEvent,
    key: str,
    floors: Mapping[str, float],
    job_high: float,
) -> tuple[Tally, float, float] | None:
    """Count `event` (once per `key` in the window) in the principal's tally: (tally, count,
    limit) when the count passes the principal's own threshold, else None."""
    tally = book.get(state.key)
    count = tally.add(event.event_time_ms, event.event_id, key)
    limit = threshold(
        floors, state.actor_kind, tally.high, job_high, learned_days=state.learned_days
    )
    return (tally, count, limit) if count > limit else None


def past_own_finding(
    state: PrincipalState,
    event: AuditEvent,
    rule: str,
    what: str,
    over: tuple[Tally, float, float],
    feature: str,
    notes: Mapping[str, Any] | None = None,
) -> Finding:
    """A high finding for a tally past the principal's own threshold (see _past_own)."""
    tally, count, limit = over
    return make_finding(
        state,
        event,
        rule,
        "high",
        f"{what} (usual up to {tally.high:g}; threshold {limit:g})",
        ids=tally.ids(),
        first_ms=tally.first_ms(),
        explanation={
            feature: {"value": count, "baseline": tally.high, "threshold": limit},
            **_recurrence(tally, count),
            **(notes or {}),
        },
    )


def _recurrence(tally: Tally, count: float) -> dict[str, float]:
    """{"recurs": the earlier flagged day's high} when `count` is back at no greater volume."""
    return {"recurs": tally.paged} if tally.recurs(count) else {}
