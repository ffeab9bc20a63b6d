"""LastingDestruction: deletes of lasting resources in 10 minutes, against the principal's own.

Most deletes in a cloud account are clean-up: preview stacks torn down, test fixtures, scratch
buckets, expired snapshots, objects an agent wrote an hour ago. The damage in an incident is to
resources that were meant to last. A resource counts as lasting unless its name says it is
temporary or the organisation created it within the last day (detect.context.org), and a
principal's count of such deletes in 10 minutes is compared with its own quiet days: a principal
whose job is deleting lasting things (a retention janitor) pages only far beyond its usual.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

from detect.features import PROD_RESOURCE_RE, PrincipalState
from detect.findings import Finding
from ingest.events import AuditEvent

__all__ = ["FLOORS", "LastingDestruction"]

WINDOW_MS = 600_000  # the 10-minute window
DAY_MS = 86_400_000
FLOORS = {"agent": 3, "human": 4, "service": 5}  # lasting deletes in 10 min that page at least
JOB_HIGH = 5.0  # a principal whose quiet days reach this many deletes does it for a living ...
JOB_MULTIPLIER = 3.0  # ... and pages only at this multiple of its own high
MULTIPLIER, SLACK = 1.5, 1.0  # everyone else: above 1.5 x its own high + 1
CATASTROPHIC = 5  # lasting deletes of production-named resources in 10 min: no missing
# history excuses them (see detect.context.triage); names are matched by features.PROD_RESOURCE_RE
MAX_IDS = 256  # evidence ids kept per window
RULE = "baseline:lasting_destruction"
_PROD = re.compile(PROD_RESOURCE_RE)


@dataclass
class _Tally:
    window: deque[tuple[int, str, bool]] = field(default_factory=deque)  # (ms, id, prod)
    high: float = 0.0
    day: int = -1
    day_high: float = 0.0
    flagged: bool = False
    yesterday: float = 0.0  # the previous day's high, flagged or not (a daily job repeats)


class LastingDestruction:
    """Per principal: lasting deletes in the trailing 10 minutes, and quiet days' highs."""

    def __init__(self) -> None:
        self._tallies: dict[str, _Tally] = {}

    def add(self, state: PrincipalState, event: AuditEvent, lasting: list[str]) -> Finding | None:
        """Count `event` (which deleted the `lasting` resources) for `state`'s principal."""
        tally = self._tally(state)
        self._roll_day(tally, event.event_time_ms)
        if not lasting:
            return None
        prod = any(_PROD.search(name) for name in lasting)
        tally.window.append((event.event_time_ms, event.event_id, prod))
        while tally.window and tally.window[0][0] <= event.event_time_ms - WINDOW_MS:
            tally.window.popleft()
        count = float(len(tally.window))
        tally.day_high = max(tally.day_high, count)
        limit = self.threshold(state.actor_kind, tally.high)
        if count <= limit:
            return None
        ids = tuple(i for _, i, _ in list(tally.window)[-MAX_IDS:])
        usual = tally.high
        explanation: dict[str, object] = {
            "lasting_destroyed_10m": {"value": count, "baseline": usual, "threshold": limit}
        }
        prod_count = sum(1 for _, _, p in tally.window if p)
        if prod_count >= CATASTROPHIC:
            explanation["catastrophic"] = f"{prod_count} production resources deleted in 10 min"
        return Finding(
            principal=state.key,
            actor_kind=state.actor_kind,
            kind="anomaly",
            rule=RULE,
            severity="critical" if count >= 3 * limit else "high",
            score=round(0.5 + 0.5 * (1.0 - limit / count), 4),
            summary=(
                f"{count:g} lasting resources deleted in 10 min "
                f"(usual up to {usual:g}; threshold {limit:g})"
            ),
            event_ids=ids,
            first_event_ms=tally.window[0][0],
            last_event_ms=event.event_time_ms,
            explanation=explanation,
        )

    @staticmethod
    def threshold(actor_kind: str, high: float) -> float:
        floor = FLOORS.get(actor_kind, max(FLOORS.values()))
        if high >= JOB_HIGH:
            return max(floor, JOB_MULTIPLIER * high)
        return max(floor, MULTIPLIER * high + SLACK)

    def mark_flagged(self, principal: str) -> None:
        """The principal paged today: today's counts do not become its usual."""
        tally = self._tallies.get(principal)
        if tally is not None:
            tally.flagged = True

    def forget(self, principal: str) -> None:
        self._tallies.pop(principal, None)

    def _tally(self, state: PrincipalState) -> _Tally:
        tally = self._tallies.get(state.key)
        if tally is None:
            # learned from the stream only: a trained model's destructive high counts temporary
            # deletes too, far too lenient a bound (a restart relearns within a day)
            tally = self._tallies[state.key] = _Tally()
        return tally

    @staticmethod
    def _roll_day(tally: _Tally, time_ms: int) -> None:
        day = time_ms // DAY_MS
        if day > tally.day:
            if tally.day >= 0:
                # a quiet day teaches its high; a flagged one only when yesterday reached it
                # too -- a job that runs every day is routine, an incident does not repeat daily
                learned = (
                    tally.day_high if not tally.flagged else min(tally.day_high, tally.yesterday)
                )
                tally.high = max(tally.high, learned)
                tally.yesterday = tally.day_high if day == tally.day + 1 else 0.0
            tally.day, tally.day_high, tally.flagged = day, 0.0, False
