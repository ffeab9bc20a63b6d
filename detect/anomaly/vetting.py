"""Calls first made inside an alert that paged stay unvetted until someone resolves it.

A principal's state learns every call it makes: the second time, a call is "seen" and its
red flag is held as the principal's routine. That is right when the first time was fine, and
wrong when the first time paged and nobody has said so yet: an AI agent's first shell on a
production host paged on 1050's first day, and the same agent's next host access a day later
was judged routine because the first one had taught Leash the call.

`Unvetted` remembers, per principal, the calls that were new to it when a finding about them
paged, with the alert that carries them. While that alert is not resolved the call is judged
as never made (detect.anomaly.behaviour.Novelty, PrincipalState.observe); resolving the alert
(an analyst's "benign" or "false positive") vets it. A repeat that pages grows that alert as
evidence rather than open one a day (AlertBook.merge's `resume`: for calls that run code or
open a host, or harm nothing; DetectionEngine._asked_before). `MAX_AGE_MS` of the principal's
own event time after the call first paged, the entry lapses: a call it kept making for a week
while nobody looked is its work.

`RunUp` keeps the calls a mature principal first made in the hours *before* its alert (or
inside it) without paging themselves: when the alert opens or grows they join it as unvetted
too -- a slow delete's first calls paged nothing until its fourth, and they are the same act.

Kept in memory only: after a restart every call is vetted again (the open alerts themselves
stay stored and open).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Mapping

__all__ = ["MAX_ACTIONS", "MAX_AGE_MS", "MAX_ALERTS", "ON_PROD", "RUNUP_MS", "RunUp", "Unvetted"]

# the key suffix of a call that was new to its maker only on production (a push to a production
# function by a principal that pushes to staging every day): only its production use is unvetted
ON_PROD = "@prod"

MAX_AGE_MS = 7 * 86_400_000  # after the call first paged, in the principal's event time
MAX_ACTIONS = 32  # unvetted calls kept per principal (oldest dropped first)
MAX_ALERTS = 8  # alerts remembered per call (a repeat that pages again adds its alert)

# a call first made this long before the alert that followed it is part of it (the 6-hour
# window of the slow detectors: a drip of deletes pages on its fourth or fifth)
RUNUP_MS = 6 * 3_600_000
RUNUP_KEPT = 16  # first calls kept per principal (oldest dropped first)
Entry = tuple[tuple[str, ...], int]  # (alerts that carry the call, event time it first paged)
_NONE: Mapping[str, Entry] = {}


class Unvetted:
    """principal -> {action: (alert ids, event time it first paged at)}.

    The week runs from the call's first page, not its latest: a call the principal makes
    daily grows its alert once a day (a delete or a permission change: pages) for a week while
    nobody looks, then is learned. Resolving any alert that carried it vets it (the first one
    is the one an analyst opens)."""

    def __init__(self) -> None:
        self._by_principal: dict[str, dict[str, Entry]] = {}
        # principal -> action -> first time of an entry recorded while the principal was mature
        # (`renews`): what an install-day page left unvetted is the principal's first days' work
        self._renew: dict[str, dict[str, int]] = {}
        # principal -> no entry of it first paged before this (a bound: entries only leave)
        self._oldest: dict[str, int] = {}

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_principal.values())

    def renews(self, principal: str, action: str, now_ms: int) -> bool:
        """`action` is unvetted for `principal`, from a page made when it was mature: a repeat
        is new again even to checks that remember a first use (detect.anomaly.destruction)."""
        entry = self.of(principal, now_ms).get(action)
        return entry is not None and self._renew.get(principal, {}).get(action) == entry[1]

    def of(self, principal: str, now_ms: int) -> Mapping[str, Entry]:
        """The principal's unvetted calls at its own event time `now_ms` (lapsed ones dropped)."""
        calls = self._by_principal.get(principal)
        if not calls:
            return _NONE
        if now_ms - self._oldest.get(principal, 0) <= MAX_AGE_MS:
            return calls  # (none can have lapsed: asked for every event, scanned rarely)
        lapsed = [a for a, (_, at) in calls.items() if now_ms - at > MAX_AGE_MS]
        for action in lapsed:
            del calls[action]
        if not calls:
            del self._by_principal[principal]
            self._oldest.pop(principal, None)
            return _NONE
        self._oldest[principal] = min(at for _, at in calls.values())
        return calls

    def record(
        self, principal: str, action: str, alert_id: str, time_ms: int, *, renew: bool = False
    ) -> None:
        """`action`, new to `principal`, paged in alert `alert_id` ("" while the alert is not
        known yet) at event time `time_ms`; a repeat keeps the first time and adds its alert.
        `renew`: the principal was mature (`renews`)."""
        calls = self._by_principal.setdefault(principal, {})
        ids, first_ms = calls.pop(action, ((), time_ms))
        if alert_id and alert_id not in ids:
            ids = (*ids, alert_id)[-MAX_ALERTS:]
        calls[action] = (ids, first_ms)
        self._oldest[principal] = min(self._oldest.get(principal, first_ms), first_ms)
        while len(calls) > MAX_ACTIONS:
            del calls[next(iter(calls))]
        flags = self._renew.get(principal)
        if renew or flags:
            kept = {a: t for a, t in (flags or {}).items() if a in calls}
            if renew:
                kept[action] = first_ms
            if kept:
                self._renew[principal] = kept
            else:
                self._renew.pop(principal, None)

    def discard(self, principal: str, action: str) -> None:
        """Drop `action`'s entry if no alert carries it (its page was suppressed)."""
        calls = self._by_principal.get(principal)
        if calls and action in calls and not calls[action][0]:
            del calls[action]
            if not calls:
                del self._by_principal[principal]
                self._oldest.pop(principal, None)

    def resolve(self, alert_id: str) -> int:
        """Someone resolved the alert: the calls it carried are vetted. Returns how many."""
        vetted = 0
        for principal, calls in list(self._by_principal.items()):
            for action in [a for a, (ids, _) in calls.items() if alert_id in ids]:
                del calls[action]
                vetted += 1
            if not calls:
                del self._by_principal[principal]
                self._oldest.pop(principal, None)
        return vetted

    def alert_ids(self) -> set[str]:
        """The alerts whose resolution would vet a call."""
        return {
            a for calls in self._by_principal.values() for ids, _ in calls.values() for a in ids
        }

    def forget(self, principal: str) -> None:
        self._by_principal.pop(principal, None)
        self._renew.pop(principal, None)
        self._oldest.pop(principal, None)


class RunUp:
    """principal -> the sensitive calls it first made (event id, event time) that paged nothing
    themselves: a mature principal's first uses are rare, and when an alert of it that followed
    within RUNUP_MS holds their events (a slow window counts them) they are the alert's
    (`take`), not the principal's habit. An alert that does not hold them (an unrelated page
    an hour later: review) leaves them the principal's own."""

    def __init__(self) -> None:
        self._by_principal: dict[str, deque[tuple[str, str, int]]] = {}

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_principal.values())

    def __bool__(self) -> bool:
        return bool(self._by_principal)

    def note(self, principal: str, action: str, event_id: str, time_ms: int) -> None:
        calls = self._by_principal.setdefault(principal, deque(maxlen=RUNUP_KEPT))
        while calls and calls[0][2] < time_ms - RUNUP_MS:
            calls.popleft()  # (no alert followed it in time: the principal's own after all)
        calls.append((action, event_id, time_ms))

    def take(self, principal: str, event_ids: Collection[str]) -> list[tuple[str, int]]:
        """The calls (action, event time) whose events `event_ids` holds, removed."""
        calls = self._by_principal.get(principal)
        if not calls:
            return []
        taken = [(a, t) for a, i, t in calls if i in event_ids]
        if taken:
            kept = [c for c in calls if c[1] not in event_ids]
            if kept:
                self._by_principal[principal] = deque(kept, maxlen=RUNUP_KEPT)
            else:
                del self._by_principal[principal]
        return taken

    def forget(self, principal: str) -> None:
        self._by_principal.pop(principal, None)
