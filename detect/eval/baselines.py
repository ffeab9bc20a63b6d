"""Comparison detectors for `leash eval`: a CloudTrail-Insights-like write-rate z-score and rules.

Both plug into DetectionEngine as rules, so their findings are deduplicated into alerts exactly
like Leash's own.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from detect.findings import Finding
from detect.rules.base import Rule
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent

__all__ = ["InsightsRateRule", "eval_rules"]

MINUTE_MS = 60_000


@dataclass(frozen=True)
class _Stats:
    mean: float
    std: float


class InsightsRateRule:
    """Per-principal write calls per minute against the mean/std of that principal's history.

    Like CloudTrail Insights' "API call rate" insight: fires once the current minute's count of
    non-read calls is `z` standard deviations above the history (zero minutes included), with a
    floor on the deviation and on the count so one extra call never fires.
    """

    name = "insights:write_rate_zscore"

    def __init__(
        self,
        stats: dict[str, _Stats],
        *,
        z: float = 12.0,
        std_floor: float = 1.0,
        min_count: int = 5,
    ) -> None:
        self._stats = stats
        self.z = z
        self.std_floor = std_floor
        self.min_count = min_count
        self._minute: dict[str, tuple[int, int]] = {}

    @classmethod
    def fit(cls, events: Sequence[AuditEvent], *, start_ms: int, end_ms: int) -> InsightsRateRule:
        minutes = max((end_ms - start_ms) // MINUTE_MS, 1)
        counts: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for event in events:
            if event.action_class != "read":
                counts[event.principal_key][event.event_time_ms // MINUTE_MS] += 1
        stats = {}
        for key, per_minute in counts.items():
            total = sum(per_minute.values())
            mean = total / minutes
            square = sum(c * c for c in per_minute.values()) / minutes
            stats[key] = _Stats(mean, math.sqrt(max(square - mean * mean, 0.0)))
        return cls(stats)

    def evaluate(self, event: AuditEvent) -> Finding | None:
        if event.action_class == "read":
            return None
        minute = event.event_time_ms // MINUTE_MS
        last_minute, count = self._minute.get(event.principal_key, (minute, 0))
        count = count + 1 if last_minute == minute else 1
        self._minute[event.principal_key] = (minute, count)
        stats = self._stats.get(event.principal_key, _Stats(0.0, 0.0))
        z = (count - stats.mean) / max(stats.std, self.std_floor)
        if count < self.min_count or z < self.z:
            return None
        return Finding(
            principal=event.principal_key,
            actor_kind=event.actor_kind,
            kind="anomaly",
            rule=self.name,
            severity="medium",
            score=round(min(1.0, z / 10), 4),
            summary=f"{count} write calls this minute (z = {z:.1f})",
            event_ids=(event.event_id,),
            first_event_ms=event.event_time_ms,
            last_event_ms=event.event_time_ms,
            explanation={"write_calls_1m": {"value": count, "baseline": round(stats.mean, 3)}},
        )


def eval_rules() -> tuple[list[Rule], str]:
    """The single-event rules to evaluate (the packaged set) and how to name them in reports."""
    rules = load_rules()
    return rules, f"packaged red-flag and Sigma rules ({len(rules)})"
