"""Calls first made inside an alert that paged stay unvetted until someone resolves it.

A principal's state learns every call it makes: the second time, a call is "seen" and its
red flag is held as the principal's routine. That is right when the first time was fine, and
wrong when the first time paged and nobody has said so yet: an AI agent's first shell on a
production host paged on 1050's first day, and the same agent's next host access a day later
was judged routine because the first one had taught Leash the call.

`Unvetted` remembers, per principal, the calls that were new to it when a finding about them
paged, with the alert that carries them. While that alert is not resolved the call is judged
as never made (detect.anomaly.behaviour.Novelty, PrincipalState.observe); resolving the alert
(an analyst's "benign" or "false positive") vets it. After `MAX_AGE_MS` of the principal's own
event time an entry lapses: a call nobody looked at for a week is not a week-old page's
evidence any more.

Kept in memory only: after a restart every call is vetted again (the open alerts themselves
stay stored and open).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["MAX_AGE_MS", "MAX_ACTIONS", "Unvetted"]

MAX_AGE_MS = 7 * 86_400_000  # principal's own event time after which an entry lapses
MAX_ACTIONS = 32  # unvetted calls kept per principal (oldest dropped first)

_NONE: Mapping[str, tuple[str, int]] = {}


class Unvetted:
    """principal -> {action: (alert id, event time it paged at)}."""

    def __init__(self) -> None:
        self._by_principal: dict[str, dict[str, tuple[str, int]]] = {}

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_principal.values())

    def of(self, principal: str, now_ms: int) -> Mapping[str, tuple[str, int]]:
        """The principal's unvetted calls at its own event time `now_ms` (lapsed ones dropped)."""
        calls = self._by_principal.get(principal)
        if not calls:
            return _NONE
        lapsed = [a for a, (_, at) in calls.items() if now_ms - at > MAX_AGE_MS]
        for action in lapsed:
            del calls[action]
        if not calls:
            del self._by_principal[principal]
            return _NONE
        return calls

    def record(self, principal: str, action: str, alert_id: str, time_ms: int) -> None:
        """`action`, new to `principal`, paged in alert `alert_id` ("" until the alert is
        known) at event time `time_ms`."""
        calls = self._by_principal.setdefault(principal, {})
        calls.pop(action, None)
        calls[action] = (alert_id, time_ms)
        while len(calls) > MAX_ACTIONS:
            del calls[next(iter(calls))]

    def discard(self, principal: str, action: str, alert_id: str) -> None:
        """Drop `action`'s entry if it is the one recorded for `alert_id`."""
        calls = self._by_principal.get(principal)
        if calls and action in calls and calls[action][0] == alert_id:
            del calls[action]
            if not calls:
                del self._by_principal[principal]

    def resolve(self, alert_id: str) -> int:
        """Someone resolved the alert: its calls are vetted. Returns how many."""
        vetted = 0
        for principal, calls in list(self._by_principal.items()):
            for action in [a for a, (aid, _) in calls.items() if aid == alert_id]:
                del calls[action]
                vetted += 1
            if not calls:
                del self._by_principal[principal]
        return vetted

    def alert_ids(self) -> set[str]:
        """The alerts whose resolution would vet a call."""
        return {aid for calls in self._by_principal.values() for aid, _ in calls.values() if aid}

    def forget(self, principal: str) -> None:
        self._by_principal.pop(principal, None)
