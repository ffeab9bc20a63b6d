"""Tally: a sliding event-time count per principal with a high learned from its own days.

The streaming detectors beyond the feature vector (lasting destruction, secret sweeps, denied
bursts) share this shape: what happened in the last window, compared with the principal's own
usual. A day teaches its high when it ends quiet (no page for the principal that day); a
flagged day teaches only what the principal's previous active day also reached, so a job that
runs every working day is learned as routine while an incident, which does not repeat daily, is
not. What a flagged day reached beyond that is remembered apart (`paged`): the same volume back
on a later day is the principal's habit or a known incident, which triage holds (`recurs`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from operator import itemgetter

from detect.features.bucket import DAY_MS

__all__ = ["PAGED_DAYS_KEPT", "Tally", "TallyBook", "paged_days", "threshold", "youth_margin"]

PAGED_DAYS_KEPT = 4  # days a principal paged on that a tally (or a store) remembers, the latest


def paged_days(days: tuple[int, ...], day: int) -> tuple[int, ...]:
    """`days` with `day` among them: the latest PAGED_DAYS_KEPT (review: keeping only the
    latest let a day that paged before it teach, when that day's items came late)."""
    return days if day in days else tuple(sorted((*days, day))[-PAGED_DAYS_KEPT:])


JOB_MULTIPLIER = 3.0  # a principal that does this for a living pages at this multiple of its high
MULTIPLIER, SLACK = 1.5, 1.0  # everyone else: above 1.5 x its own high + 1


def youth_margin(learned_days: int) -> float:
    """How much further than its learned high a principal must go while few of its days are
    known: 1 + 1/d^2 for d learned days (2 after one day, 1.25 after two, 1.11 after three,
    1.04 after five). The highest of d days is a low estimate of the principal's usual: the
    next day beats it with chance 1/(d + 1), and its first week's growth is how work looks."""
    return 1.0 + 1.0 / max(learned_days, 1) ** 2


def threshold(
    floors: Mapping[str, float],
    actor_kind: str,
    high: float,
    job_high: float,
    job_multiplier: float = JOB_MULTIPLIER,
    *,
    learned_days: int,
) -> float:
    """The count that pages: the kind's floor, or 1.5 x high + 1 (a multiple of high for a
    daily job: JOB_MULTIPLIER unless the detector says otherwise) widened by the youth margin
    of a principal with few learned days."""
    floor = floors.get(actor_kind, max(floors.values()))
    usual = job_multiplier * high if high >= job_high else MULTIPLIER * high + SLACK
    return max(floor, usual * youth_margin(learned_days))


_ID = itemgetter(1)  # an item's event id


@dataclass(slots=True)
class Tally:
    """One principal's window of (event ms, event id, key); `count` is distinct keys.

    A list, not a deque, with slots: a principal holds about eight tallies (one per detector
    window), mostly near empty, and an empty deque alone is ~600 bytes (its first block) -- at
    20,000 principals the deques were ~120 MiB of the detector's memory."""

    window_ms: int
    items: list[tuple[int, str, str]] = field(default_factory=list)
    # key -> how many items hold it: the distinct count kept as items come and go (rebuilding a
    # set of a full window on every add was 16% of the detector child's time under 5k events/s)
    keys: dict[str, int] = field(default_factory=dict)
    high: float = 0.0
    day: int = -1
    day_high: float = 0.0
    flagged: bool = False
    yesterday: float = 0.0  # the previous active day's high (a weekend does not break a job)
    paged: float = 0.0  # the most a flagged day reached that its highs did not learn
    days: int = 0  # days this tally watched to their end (its `high` knows as many)
    flag_days: tuple[int, ...] = ()  # days the principal paged this had not reached: mark_flagged

    def add(self, time_ms: int, event_id: str, key: str) -> float:
        """Add one item (its `key` counts once per window); returns the window's count."""
        self.roll(time_ms)
        items, keys = self.items, self.keys
        items.append((time_ms, event_id, key))
        keys[key] = keys.get(key, 0) + 1
        cutoff, old = time_ms - self.window_ms, 0
        while items[old][0] <= cutoff:  # (the item just added is never this old)
            old += 1
        if old:
            for _, _, gone in items[:old]:
                left = keys[gone] - 1
                if left:
                    keys[gone] = left
                else:
                    del keys[gone]
            del items[:old]
        count = float(len(keys))
        self.day_high = max(self.day_high, count)
        return count

    def reach(self, time_ms: int, count: float) -> None:
        """Note a count the caller keeps itself (a window too big to hold item by item)."""
        self.roll(time_ms)
        self.day_high = max(self.day_high, count)

    def roll(self, time_ms: int) -> None:
        day = time_ms // DAY_MS
        if day > self.day:
            if self.day >= 0:
                learned = self.day_high if not self.flagged else min(self.day_high, self.yesterday)
                self.high = max(self.high, learned)
                if self.flagged:
                    self.paged = max(self.paged, self.day_high)
                self.yesterday = self.day_high
                self.days += 1
            self.day, self.day_high, self.flagged = day, 0.0, day in self.flag_days

    def mark_flagged(self, time_ms: int) -> None:
        """The principal paged at `time_ms`: that day does not become its usual -- flagged when
        this tally reaches it, if it has not yet (review: a page before the day's first item
        flagged the day before, and left the paged day free to teach its high). A page of a
        day this tally has left behind flags nothing: the day after it is not the incident's
        (that day has taught already -- a batch across midnight: the engine's pages come at
        its end)."""
        day = time_ms // DAY_MS
        if day == self.day:
            self.flagged = True
        elif day > self.day:
            self.flag_days = paged_days(self.flag_days, day)

    def recurs(self, count: float) -> bool:
        """Whether `count` is no more than a flagged earlier day reached (with the tolerance a
        learned high gets: MULTIPLIER x it + SLACK)."""
        return self.paged > 0 and count <= MULTIPLIER * self.paged + SLACK

    def ids(self, limit: int = 256) -> tuple[str, ...]:
        return tuple(map(_ID, self.items[-limit:]))

    def first_ms(self) -> int:
        return self.items[0][0] if self.items else 0


class TallyBook:
    """Tallies of one detector, per principal (bounded by the engine's principal eviction)."""

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self._tallies: dict[str, Tally] = {}

    def get(self, principal: str) -> Tally:
        tally = self._tallies.get(principal)
        if tally is None:
            tally = self._tallies[principal] = Tally(self.window_ms)
        return tally

    def mark_flagged(self, principal: str, time_ms: int) -> None:
        """The principal paged at `time_ms` (a tally it has none in yet starts flagged)."""
        self.get(principal).mark_flagged(time_ms)

    def forget(self, principal: str) -> None:
        self._tallies.pop(principal, None)
