"""Seeded CloudTrail traffic: `generate(seed)` returns time-sorted records plus their labels.

The cast and its normal days come from `detect.eval.actors`; the incidents and hard negatives
injected into the test days from `detect.eval.incidents`; the record and label types from
`detect.eval.scenario`.
"""

from __future__ import annotations

import random

from detect.eval.actors import cast, run_background
from detect.eval.incidents import inject
from detect.eval.scenario import DAY_MS, START, Emitter, Scenario

__all__ = ["generate"]


def generate(seed: int, *, days: int = 7, train_days: int = 5, scale: float = 1.0) -> Scenario:
    """A labelled scenario: `train_days` of normal history, then test days with injected cases."""
    rnd = random.Random(seed)
    emitter = Emitter(rnd)
    start_ms = int(START.timestamp() * 1000)
    end_ms = start_ms + days * DAY_MS
    train_until = start_ms + train_days * DAY_MS
    actors = cast(rnd, scale=scale)
    labels = run_background(
        emitter, actors, start_ms=start_ms, end_ms=end_ms, test_from_ms=train_until, scale=scale
    )
    labels += inject(emitter, actors, test_from_ms=train_until, end_ms=end_ms)
    emitter.records.sort(key=lambda r: r["eventTime"])
    return Scenario(seed, emitter.records, labels, start_ms, train_until, end_ms)
