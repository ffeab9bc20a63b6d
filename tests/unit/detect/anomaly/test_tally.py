"""Tally keeps its distinct-key count as items enter and leave the window, in or out of order."""

from __future__ import annotations

import random

from detect.anomaly.tally import Tally

WINDOW_MS = 600_000


def test_the_count_is_the_windows_distinct_keys_for_any_arrival_order() -> None:
    """Against a recount from scratch: items leave from the front only (an item that arrived
    late stays until the items before it have gone), so the window's keys are its items'."""
    rng = random.Random(7)
    tally = Tally(WINDOW_MS)
    now = 0
    for i in range(5_000):
        now += rng.choice((0, 1_000, 30_000, 120_000, 900_000))
        late = rng.random() < 0.1  # multi-region trails, backfills: a little out of order
        at = now - rng.randrange(WINDOW_MS * 2) if late else now
        key = f"secret-{rng.randrange(40)}"
        count = tally.add(at, f"e{i}", key)
        assert count == len({k for _, _, k in tally.items})
        assert set(tally.keys) == {k for _, _, k in tally.items}
        assert all(n > 0 for n in tally.keys.values())
    assert tally.day_high >= 1
