"""Daily volume and population of a full-size world (speed belongs in a benchmark)."""

from __future__ import annotations

from detect.eval.world import generate_world
from detect.eval.world.clock import DAY


def test_nine_day_world_is_busy() -> None:
    w = generate_world(5, baseline_days=7, test_days=2)
    per_day = len(w.records) / ((w.end_ms - w.start_ms) / DAY)
    assert 15_000 < per_day < 100_000
    assert 25 <= len(w.principals) <= 61
